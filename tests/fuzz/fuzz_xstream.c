/* libFuzzer: arbitrary router bytes into the XEP-0114 engine (and so the
 * stream parser), split into chunks chosen by the input itself. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "xml.h"

static size_t written;

static void f_write(void *ud, const char *d, size_t n) { written += n; }
static void f_ready(void *ud) { }
static void f_closed(void *ud, enum component_fail k, const char *reason) { }

static void f_stanza(void *ud, struct xml_node *st)
{
    /* Serialise every stanza: the tree must always be printable. */
    char *s = xml_to_string(st, "jabber:component:accept");
    free(s);
    struct xml_node *c = xml_copy(st);
    xml_unref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct component_handler h = { f_write, f_ready, f_stanza, f_closed, NULL };
    static const char hdr[] = "<stream:stream xmlns='jabber:component:accept' "
                              "xmlns:stream='http://etherx.jabber.org/streams' id='f'>"
                              "<handshake/>";
    if (size < 1)
        return 0;
    struct xstream_limits lim = { .max_stanza_bytes = 4096, .max_depth = 16, .max_attrs = 16 };
    struct component *c = component_new("c.example", "s", &lim, &h, NULL);
    component_start(c);
    /* Half the inputs start past the handshake so stanzas get exercised. */
    if (data[0] & 1)
        component_feed(c, hdr, sizeof hdr - 1);
    size_t chunk = (size_t)(data[0] >> 1) + 1;
    for (size_t off = 1; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (component_feed(c, (const char *)data + off, n) < 0)
            break;
    }
    component_free(c);
    return 0;
}
