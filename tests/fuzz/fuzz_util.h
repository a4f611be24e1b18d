/* fuzz_util.h — what the libFuzzer targets share: the invariant check and the
 * component stream that stanzas are parsed from.
 *
 * Header-only and all static: each target is a program of its own, linked with
 * nothing but the core library, so there is no object file to share. Define
 * FUZZ_NAME (the target's name) before including it: scripts/fuzz.sh finds a
 * failed invariant in a log by "fuzz_NAME: ". */
#ifndef CONFAB_FUZZ_UTIL_H
#define CONFAB_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml.h"
#include "xstream.h"

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz_util.h"
#endif

/* An invariant of the target: a crash, so that libFuzzer keeps the input. */
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, FUZZ_NAME ": invariant failed at %s:%d: %s\n", __FILE__,     \
                    __LINE__, #cond);                                                    \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* What the router opens a component stream with; inputs are fed after it. */
static const char HDR[] = "<stream:stream xmlns='jabber:component:accept' "
                          "xmlns:stream='http://etherx.jabber.org/streams'>";

static struct xml_node *fuzz_first_stanza;

static inline void fuzz_keep_first(void *ud, struct xml_node *st)
{
    (void)ud;
    if (!fuzz_first_stanza)
        fuzz_first_stanza = xml_ref(st);
}

/* The first stanza of xml fed to a component stream (a reference the caller
 * drops), or NULL when there is none before the stream fails. */
static inline struct xml_node *parse_stream(const char *xml, size_t len)
{
    static const struct xstream_handler h = { .stanza = fuzz_keep_first };
    struct xstream *xs = xstream_new(NULL, &h, NULL);
    fuzz_first_stanza = NULL;
    if (xstream_feed(xs, HDR, strlen(HDR)) == 0)
        (void)xstream_feed(xs, xml, len);
    xstream_free(xs);
    struct xml_node *st = fuzz_first_stanza;
    fuzz_first_stanza = NULL;
    return st;
}

#endif
