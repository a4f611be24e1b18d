/* fuzz_compliance.c — libFuzzer target for the compliance event builder
 * (src/muc/compliance.c): the events confabd sends to confab-archiver.
 *
 * The input:
 *   byte 0     [compliance] max_event_size: 4096 + byte × 256
 *   byte 1     the event type (index into TYPES), bit 7: refer to an earlier
 *              event (<detail><ref/></detail>) instead of forwarding
 *   the rest   the content of a component stream: its first stanza is the
 *              one the event records, with its attributes as actor and target
 *              and its text as the reason.
 * What must hold:
 *   - the event handed over parses back as one <event/> in the compliance
 *     namespace, with the UUID, type and room it was made with;
 *   - with a ref: no <forwarded/>, and <detail><ref id/></detail>;
 *   - an event over the cap forwards a stub: the stanza's element, no attribute
 *     but from/to/type/id, at most half the cap of body and subject, and
 *     <omitted bytes sha256/> with the size and SHA-256 of what was forwarded
 *     before (as compliance_forward serialised it);
 *   - under the cap, the forwarded stanza is the stanza itself. */
#include "compat.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "muc.h"
#include "xml.h"
#include "xstream.h"

#define FUZZ_NAME "fuzz_compliance"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const TYPES[] = { "groupchat", "private", "config", "affiliation", "kick",
                                     "ban", "destroy", "mam", "join", "leave" };

static char *got;
static size_t got_len;

static void sink(void *ud, const char *uuid, const char *room, const char *xml, size_t len)
{
    (void)ud;
    (void)uuid;
    (void)room;
    CHECK(!got);
    got = malloc(len + 1);
    CHECK(got);
    memcpy(got, xml, len);
    got[len] = '\0';
    got_len = len;
}

static int64_t clock_ms(void *ud)
{
    (void)ud;
    return INT64_C(1700000000000);
}

static void nop_send(void *ud, const struct xml_node *st)
{
    (void)ud;
    (void)st;
}

static struct muc *engine(void)
{
    static struct muc *m;
    if (!m) {
        struct muc_limits lim;
        muc_limits_default(&lim);
        static const unsigned char key[32] = { 1 };
        struct muc_io io = { .send = nop_send, .now_ms = clock_ms };
        m = muc_new("conference.example", "Chatrooms", &lim, key, &io);
        m->compliance_on = true;
        m->compliance_sink = sink;
    }
    return m;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    CHECK(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const struct xml_node *forwarded_stanza(const struct xml_node *ev)
{
    const struct xml_node *f = xml_child(ev, "forwarded", NS_FORWARD);
    for (const struct xml_node *c = f ? xml_first(f) : NULL; c; c = xml_next(c))
        if (strcmp(c->name, "delay") != 0)
            return c;
    return NULL;
}

static char *serialize(const struct xml_node *n, size_t *len)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(n, NULL, &b);
    return buf_steal(&b, len);
}

/* Serialised, parsed and serialised again: what a reader of the event's text
 * gets (attribute values are normalised by the parser). */
static bool same_as_reread(const char *orig, size_t orig_len, const char *now, size_t now_len)
{
    struct xml_node *n = parse_stream(orig, orig_len);
    CHECK(n);
    size_t len;
    char *s = serialize(n, &len);
    bool same = len == now_len && memcmp(s, now, len) == 0;
    free(s);
    xml_unref(n);
    return same;
}

/* The stanza as compliance_forward puts it in an event, serialised. */
static char *forwarded_text(struct muc *m, const struct xml_node *st, size_t *len)
{
    struct xml_node *scratch = compliance_event(m, "join", NULL, 0);
    compliance_forward(scratch, st, 0);
    char *s = serialize(forwarded_stanza(scratch), len);
    xml_unref(scratch);
    return s;
}

static void check_stub(const struct xml_node *stub, const struct xml_node *st, const char *orig,
                       size_t orig_len, size_t max)
{
    CHECK(strcmp(stub->name, st->name) == 0);
    for (size_t i = 0; i < stub->nattrs; i++) {
        const char *n = stub->attrs[i].name;
        CHECK(!strcmp(n, "from") || !strcmp(n, "to") || !strcmp(n, "type") || !strcmp(n, "id"));
        CHECK(strlen(stub->attrs[i].value) <= 3071);
    }
    size_t kept = 0;
    const struct xml_node *om = NULL;
    for (const struct xml_node *c = xml_first(stub); c; c = xml_next(c)) {
        if (c->ns && strcmp(c->ns, NS_COMPLIANCE) == 0 && strcmp(c->name, "omitted") == 0) {
            CHECK(!om);
            om = c;
            continue;
        }
        CHECK(strcmp(c->name, "body") == 0 || strcmp(c->name, "subject") == 0);
        size_t len;
        free(serialize(c, &len));
        kept += len;
    }
    CHECK(kept <= max / 2);
    CHECK(om);
    char hex[65], bytes[24];
    sha256_hex(orig, orig_len, hex);
    snprintf(bytes, sizeof bytes, "%zu", orig_len);
    CHECK(strcmp(xml_attr(om, "sha256"), hex) == 0);
    CHECK(strcmp(xml_attr(om, "bytes"), bytes) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct muc *m = engine();
    size_t max = 4096 + (size_t)data[0] * 256;
    m->compliance_max_event = max;
    const char *type = TYPES[(data[1] & 0x7f) % ARRAY_SIZE(TYPES)];
    bool ref = data[1] & 0x80;
    struct xml_node *st = parse_stream((const char *)data + 2, size - 2);
    if (!st)
        return 0;
    /* A stanza in no namespace (<x xmlns=''/> at the top) cannot reach us from a
     * router: the stream's content namespace qualifies stanzas (RFC 6120 §4.8.3).
     * Its standalone serialisation, which the checks below re-read inside a
     * component stream, would come back in that stream's namespace. */
    if (!st->ns || !*st->ns) {
        xml_unref(st);
        return 0;
    }

    struct xml_node *ev = compliance_event(m, type, NULL, INT64_C(1700000000000));
    xml_set_attr(ev, "room", "room@conference.example");
    char uuid[COMPLIANCE_UUID_LEN];
    snprintf(uuid, sizeof uuid, "%s", xml_attr(ev, "id"));
    compliance_party(ev, "actor", xml_attr(st, "from"), xml_attr(st, "id"), NULL, NULL);
    compliance_party(ev, "target", xml_attr(st, "to"), NULL, NULL, NULL);
    char *reason = xml_text(st);
    compliance_reason(ev, reason);
    free(reason);
    char earlier[COMPLIANCE_UUID_LEN] = "";
    if (ref)
        snprintf(earlier, sizeof earlier, "%s", uuid);   /* any UUID will do */
    compliance_forward_once(ev, st, 0, earlier);
    CHECK(strcmp(earlier, uuid) == 0);
    compliance_emit(m, ev);
    CHECK(got);

    char *wrapped = malloc(got_len + 32);
    CHECK(wrapped);
    int n = snprintf(wrapped, got_len + 32, "<iq type='set'>%s</iq>", got);
    struct xml_node *iq = parse_stream(wrapped, (size_t)n);
    free(wrapped);
    CHECK(iq);
    const struct xml_node *back = xml_child(iq, "event", NS_COMPLIANCE);
    CHECK(back);
    CHECK(strcmp(xml_attr(back, "id"), uuid) == 0);
    CHECK(strcmp(xml_attr(back, "type"), type) == 0);
    const struct xml_node *fs = forwarded_stanza(back);
    if (ref) {
        CHECK(!fs);
        const struct xml_node *d = xml_child(back, "detail", NS_COMPLIANCE);
        const struct xml_node *r = d ? xml_child(d, "ref", NS_COMPLIANCE) : NULL;
        CHECK(r && strcmp(xml_attr(r, "id"), uuid) == 0);
    } else {
        CHECK(fs);
        size_t orig_len, fs_len;
        char *orig = forwarded_text(m, st, &orig_len);
        char *now = serialize(fs, &fs_len);
        if (got_len > max || xml_child(fs, "omitted", NS_COMPLIANCE)) {
            /* Shrunk (or a client sent its own <omitted/>: then it must be
             * the stanza itself, unchanged). */
            if (!same_as_reread(orig, orig_len, now, fs_len))
                check_stub(fs, st, orig, orig_len, max);
        } else {
            CHECK(same_as_reread(orig, orig_len, now, fs_len));
        }
        free(now);
        free(orig);
    }
    xml_unref(iq);
    xml_unref(st);
    free(got);
    got = NULL;
    return 0;
}
