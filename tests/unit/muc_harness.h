/* muc_harness.h — the MUC engine driven through muc_handle() with a fake clock,
 * every outgoing stanza captured in order and every compliance event kept,
 * shared by the MUC unit tests (muc_harness.c is linked into each of them). */
#ifndef CONFAB_TEST_MUC_HARNESS_H
#define CONFAB_TEST_MUC_HARNESS_H

#include "unit.h"

#include "mem.h"
#include "muc.h"
#include "stanza.h"

#define DOMAIN "conference.example"
#define OWNER "crone@shakespeare.example/desktop"
#define ALICE "wicca@shakespeare.example/laptop"
#define T0 INT64_C(1700000000000) /* 2023-11-14T22:13:20Z */

#define AVAIL "" /* as a type to match: stanzas without a type attribute */

/* One stanza the engine sent; raw: it came through send_raw (history replay). */
struct fx_rec {
    struct xml_node *st;
    bool raw;
};

/* One compliance event: its text as handed over, and parsed back. */
struct fx_event {
    char *uuid;
    char *room;
    char *xml;
    size_t len;
    struct xml_node *el; /* the <event/> */
};

struct fx_opts {
    const unsigned char *key;   /* the 32-byte service key; NULL: the default */
    bool fast;                  /* message rate limits out of the way */
    bool compliance;            /* compliance on, events kept in fx.evs */
    size_t max_event;           /* compliance_max_event; 0: the engine's */
};

extern struct fx_state {
    struct muc *m;
    struct fx_rec *out;
    size_t n, cap;
    int64_t now;               /* the fake clock, T0 at setup */
    struct fx_event *evs;
    size_t nev, evcap, evbytes;
    char **keep;               /* strings a test holds, freed by teardown even on failure */
    size_t nkeep, keepcap;
} fx;

int fx_setup_opts(const struct fx_opts *o);
/* *state (cmocka's prestate, may be NULL): the struct fx_opts to use. */
int fx_setup(void **state);
#define FX_TEST(f, opts) cmocka_unit_test_prestate_setup_teardown(f, fx_setup, fx_teardown, opts)
int fx_teardown(void **state);
/* Forget the captured stanzas / events. */
void fx_clear(void);
void fx_clear_events(void);
void fx_dump(void);
const char *fx_keep(char *s);
struct xml_node *fx_parse(const char *xml);
/* An event's text, parsed the way the archiver receives it: inside an iq. */
struct xml_node *fx_parse_event(const char *xml, size_t len);

/* Feed one stanza, as the router would deliver it. */
void fx_in(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct xml_node *fx_at(int i);

/* Looking through the output: name, to, from NULL for any; type NULL any,
 * AVAIL none, else that value. */
bool fx_matches(const struct xml_node *st, const char *name, const char *type, const char *to,
                const char *from);
/* Index of the first match at or after start, or -1. */
int fx_find_from(int start, const char *name, const char *type, const char *to, const char *from);
int fx_find(const char *name, const char *type, const char *to, const char *from);
int fx_count(const char *name, const char *type, const char *to, const char *from);
void fx_expect_count(int want, const char *name, const char *type, const char *to,
                     const char *from);
void fx_expect_total(size_t want);
/* The only stanza that matches; its index. */
int fx_one_idx(const char *name, const char *type, const char *to, const char *from);
struct xml_node *fx_one(const char *name, const char *type, const char *to, const char *from);
/* st is an error of condition cond (and of etype when not NULL). */
void fx_assert_stanza_error(const struct xml_node *st, const char *cond, const char *etype);
/* Exactly one error of element `name` to `to` (from `from` if given). */
struct xml_node *fx_expect_error(const char *name, const char *to, const char *from,
                                 const char *cond, const char *etype);
/* The answer to IQ id: the first one or NULL / exactly one / exactly one result. */
struct xml_node *fx_find_reply(const char *id);
struct xml_node *fx_reply(const char *id);
struct xml_node *fx_result(const char *id);
/* The error condition of the answer to id; app (may be NULL): an application
 * condition element expected beside it. */
void fx_error(const char *id, const char *cond, const char *app_ns, const char *app);
/* owner joins ROOM as nick and submits fields (muc#roomconfig form body);
 * NULL fields: an instant room. */
void fx_room(const char *room, const char *owner, const char *fields);

/* The compliance events of a type: how many; the first max of them in out. */
size_t fx_events_of(const char *type, struct fx_event **out, size_t max);
/* The one event of a type. */
struct fx_event *fx_event(const char *type);

char *fx_text(const struct xml_node *n);
void fx_assert_text(const struct xml_node *n, const char *want);
/* Children of n named name (NULL any) in ns (NULL any). */
int fx_children(const struct xml_node *n, const char *name, const char *ns);

#endif
