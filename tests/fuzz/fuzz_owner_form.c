/* fuzz_owner_form.c — libFuzzer target: the owner's configuration form
 * (src/muc/owner.c) and muc#admin requests (admin.c) with compliance on, under
 * tight [muc] max_list_items and max_affiliations (issue 13 finding 1).
 *
 * The input:
 *   byte 0     max_list_items = 1 + (b & 7); max_affiliations = 2 + (b >> 3)
 *   byte 1     bit 0: the room starts with the owner's lists filled by an
 *              admin request of max_list_items members first
 *   the rest   stanzas separated by NUL bytes, each the inner XML of an IQ set
 *              to the room from its owner (a <query xmlns='…muc#owner'> with a
 *              form, a <query xmlns='…muc#admin'> with items, anything else).
 * What must hold, for each request:
 *   - every event serialises to XML that parses back as one <event/>;
 *   - at most one event of the request forwards a stanza, and every
 *     <ref id/> names that event;
 *   - a request makes at most 2 × max_list_items + 2 events (a list replaces
 *     the old entries and adds the new ones), and the room never holds more
 *     than max_affiliations entries;
 *   - every event within [compliance] max_event_size, unless its <detail/>
 *     (the resulting form, bounded by max_affiliations) or <reason/> (the
 *     stanza's own limit) is what is large. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "buf.h"
#include "compliance.h"
#include "muc.h"
#include "xml.h"
#include "xstream.h"

#define FUZZ_NAME "fuzz_owner_form"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOMAIN "conference.example"
#define ROOM "form@" DOMAIN
#define OWNER "crone@shakespeare.example/desktop"
#define MAX_EVENT 4096


static struct xml_node **evs;
static size_t *lens;
static size_t nev, cap;

static void sink(void *ud, const char *uuid, const char *room, const char *xml, size_t len)
{
    (void)ud;
    (void)room;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<iq type='set'>");
    buf_append(&b, xml, len);
    buf_puts(&b, "</iq>");
    struct xml_node *iq = parse_stream(b.data, b.len);
    buf_free(&b);
    CHECK(iq);
    struct xml_node *ev = xml_child(iq, "event", NS_COMPLIANCE);
    CHECK(ev && strcmp(xml_attr(ev, "id"), uuid) == 0);
    if (nev == cap) {
        cap = cap ? cap * 2 : 64;
        evs = realloc(evs, cap * sizeof *evs);
        lens = realloc(lens, cap * sizeof *lens);
        CHECK(evs && lens);
    }
    evs[nev] = xml_ref(ev);
    lens[nev++] = len;
    xml_unref(iq);
}

static void clear_events(void)
{
    for (size_t i = 0; i < nev; i++)
        xml_unref(evs[i]);
    nev = 0;
}

static int64_t now;

static int64_t clock_ms(void *ud)
{
    (void)ud;
    return now;
}

static void nop_send(void *ud, const struct xml_node *st)
{
    (void)ud;
    (void)st;
}

static void nop_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    (void)ud;
    (void)st;
    (void)to;
    (void)n;
}

static void handle(struct muc *m, const char *xml, size_t len)
{
    struct xml_node *st = parse_stream(xml, len);
    if (!st)
        return;
    now += 1000;   /* past the admin IQ token bucket: the lists are under test */
    muc_handle(m, st);
    xml_unref(st);
}

static void check_request(const struct muc *m, unsigned max_items, unsigned max_affil)
{
    const char *fwd = NULL;
    for (size_t i = 0; i < nev; i++)
        if (xml_child(evs[i], "forwarded", NS_FORWARD)) {
            CHECK(!fwd);
            fwd = xml_attr(evs[i], "id");
        }
    for (size_t i = 0; i < nev; i++) {
        const struct xml_node *d = xml_child(evs[i], "detail", NS_COMPLIANCE);
        const struct xml_node *r = d ? xml_child(d, "ref", NS_COMPLIANCE) : NULL;
        if (r)
            CHECK(fwd && strcmp(xml_attr(r, "id"), fwd) == 0);
        if (lens[i] > MAX_EVENT)
            CHECK(d || xml_child(evs[i], "reason", NS_COMPLIANCE));
    }
    CHECK(nev <= 2 * (size_t)max_items + 2);
    const struct room *room = room_find((struct muc *)m, ROOM);
    if (room)
        CHECK(HASH_COUNT(room->affiliations) <= max_affil);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct muc_limits lim;
    muc_limits_default(&lim);
    lim.max_list_items = 1 + (data[0] & 7);
    lim.max_affiliations = 2 + (data[0] >> 3);
    static const unsigned char key[32] = { 3 };
    struct muc_io io = { .send = nop_send, .send_each = nop_each, .now_ms = clock_ms };
    now = INT64_C(1700000000000);
    struct muc *m = muc_new(DOMAIN, "Chatrooms", &lim, key, &io);
    m->compliance_on = true;
    m->compliance_sink = sink;
    m->compliance_max_event = MAX_EVENT;

    static const char join[] = "<presence from='" OWNER "' to='" ROOM "/crone'>"
                               "<x xmlns='http://jabber.org/protocol/muc'/></presence>";
    static const char unlock[] = "<iq type='set' id='u' from='" OWNER "' to='" ROOM "'>"
                                 "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' "
                                 "type='submit'/></query></iq>";
    handle(m, join, strlen(join));
    handle(m, unlock, strlen(unlock));
    if (data[1] & 1) {
        struct buf b;
        buf_init(&b);
        buf_puts(&b, "<iq type='set' id='fill' from='" OWNER "' to='" ROOM "'><query xmlns='"
                 NS_MUC_ADMIN "'>");
        for (unsigned i = 0; i < lim.max_list_items; i++)
            buf_printf(&b, "<item affiliation='member' jid='m%u@shakespeare.example'/>", i);
        buf_puts(&b, "</query></iq>");
        handle(m, b.data, b.len);
        buf_free(&b);
    }
    clear_events();

    const char *p = (const char *)data + 2, *end = (const char *)data + size;
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        struct buf b;
        buf_init(&b);
        buf_puts(&b, "<iq type='set' id='f' from='" OWNER "' to='" ROOM "'>");
        buf_append(&b, p, len);
        buf_puts(&b, "</iq>");
        handle(m, b.data, b.len);
        buf_free(&b);
        check_request(m, lim.max_list_items, lim.max_affiliations);
        clear_events();
        p += len + 1;
    }
    muc_free(m);
    clear_events();
    return 0;
}
