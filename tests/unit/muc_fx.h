/* muc_fx.h — the MUC engine driven through muc_handle() with a fake clock and
 * every outgoing stanza captured, for test_search.c and test_vcard.c. */
#ifndef CONFAB_TEST_MUC_FX_H
#define CONFAB_TEST_MUC_FX_H

#include "unit.h"

#include "mem.h"
#include "muc.h"
#include "stanza.h"
#include "xstream.h"

#define DOMAIN "conference.example"
#define OWNER "crone@shakespeare.example/desktop"
#define ALICE "wicca@shakespeare.example/laptop"
#define T0 INT64_C(1700000000000)

static struct {
    struct muc *m;
    struct xml_node **out;
    size_t n, cap;
    int64_t now;
} fx;

static inline void fx_record(struct xml_node *st)
{
    if (fx.n == fx.cap) {
        fx.cap = fx.cap ? fx.cap * 2 : 64;
        fx.out = realloc(fx.out, fx.cap * sizeof *fx.out);
        assert_non_null(fx.out);
    }
    fx.out[fx.n++] = st;
}

static inline void fx_send(void *ud, const struct xml_node *st)
{
    (void)ud;
    fx_record(xml_copy(st));
}

static inline void fx_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    (void)ud;
    for (size_t i = 0; i < n; i++) {
        struct xml_node *c = xml_copy(st);
        xml_set_attr(c, "to", to[i]);
        fx_record(c);
    }
}

static struct xml_node *fx_parsed;

static inline void fx_grab(void *ud, struct xml_node *st)
{
    (void)ud;
    fx_parsed = xml_ref(st);
}

static inline struct xml_node *fx_parse(const char *xml)
{
    static const struct xstream_handler h = { .stanza = fx_grab };
    struct xstream *xs = xstream_new(NULL, &h, NULL);
    const char *hdr = "<stream:stream xmlns='jabber:component:accept' "
                      "xmlns:stream='http://etherx.jabber.org/streams'>";
    fx_parsed = NULL;
    assert_int_equal(xstream_feed(xs, hdr, strlen(hdr)), 0);
    assert_int_equal(xstream_feed(xs, xml, strlen(xml)), 0);
    xstream_free(xs);
    assert_non_null(fx_parsed);
    return fx_parsed;
}

static inline void fx_raw(void *ud, const char *data, size_t len)
{
    (void)ud;
    char *s = xstrndup(data, len);
    fx_record(fx_parse(s));
    free(s);
}

static inline int64_t fx_clock(void *ud)
{
    (void)ud;
    return fx.now;
}

static inline int fx_setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    fx.now = T0;
    struct muc_limits lim;
    muc_limits_default(&lim);
    static const unsigned char key[32] = { 7, 1, 2, 3 };
    struct muc_io io = { fx_send, fx_each, fx_raw, fx_clock, NULL };
    fx.m = muc_new(DOMAIN, "Chatrooms", &lim, key, &io);
    return 0;
}

static inline void fx_clear(void)
{
    for (size_t i = 0; i < fx.n; i++)
        xml_unref(fx.out[i]);
    fx.n = 0;
}

static inline int fx_teardown(void **state)
{
    (void)state;
    fx_clear();
    free(fx.out);
    muc_free(fx.m);
    memset(&fx, 0, sizeof fx);
    return 0;
}

static inline void fx_dump(void)
{
    for (size_t i = 0; i < fx.n; i++) {
        char *s = xml_to_string(fx.out[i], NS_COMPONENT);
        fprintf(stderr, "  [%zu] %s\n", i, s);
        free(s);
    }
}

/* Feed one stanza, as the router would deliver it. */
static inline void fx_in(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fx_in(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(r >= 0);
    struct xml_node *st = fx_parse(s);
    free(s);
    muc_handle(fx.m, st);
    xml_unref(st);
}

/* The answer to IQ id (exactly one). */
static inline struct xml_node *fx_reply(const char *id)
{
    struct xml_node *found = NULL;
    int k = 0;
    for (size_t i = 0; i < fx.n; i++)
        if (strcmp(fx.out[i]->name, "iq") == 0 && stanza_id(fx.out[i]) &&
            strcmp(stanza_id(fx.out[i]), id) == 0) {
            found = fx.out[i];
            k++;
        }
    if (k != 1) {
        fprintf(stderr, "expected one answer to iq '%s', got %d:\n", id, k);
        fx_dump();
    }
    assert_int_equal(k, 1);
    return found;
}

static inline struct xml_node *fx_result(const char *id)
{
    struct xml_node *r = fx_reply(id);
    if (strcmp(xml_attr(r, "type"), "result") != 0)
        fx_dump();
    assert_string_equal(xml_attr(r, "type"), "result");
    return r;
}

/* The error condition of the answer to id; app (may be NULL): an application
 * condition element expected beside it. */
static inline void fx_error(const char *id, const char *cond, const char *app_ns, const char *app)
{
    struct xml_node *r = fx_reply(id);
    if (strcmp(xml_attr(r, "type"), "error") != 0)
        fx_dump();
    assert_string_equal(xml_attr(r, "type"), "error");
    struct xml_node *e = stanza_child(r, "error");
    assert_non_null(e);
    assert_string_equal(stanza_error_condition(e, NS_STANZAS), cond);
    if (app)
        assert_non_null(xml_child(e, app, app_ns));
}

/* owner joins ROOM as nick and submits fields (muc#roomconfig form body);
 * NULL fields: an instant room. */
static inline void fx_room(const char *room, const char *owner, const char *fields)
{
    fx_in("<presence from='%s' to='%s/owner'><x xmlns='" NS_MUC "'/></presence>", owner, room);
    fx_in("<iq type='set' id='cfg' from='%s' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_ROOMCONFIG
          "</value></field>%s</x></query></iq>",
          owner, room, fields ? fields : "");
    fx_result("cfg");
    fx_clear();
}

static inline char *fx_text(const struct xml_node *n)
{
    assert_non_null(n);
    return xml_text(n);
}

static inline void fx_assert_text(const struct xml_node *n, const char *want)
{
    char *t = fx_text(n);
    if (strcmp(t, want) != 0)
        fprintf(stderr, "text '%s', want '%s'\n", t, want);
    assert_string_equal(t, want);
    free(t);
}

static inline int fx_children(const struct xml_node *n, const char *name, const char *ns)
{
    int k = 0;
    for (struct xml_node *c = xml_first(n); c; c = xml_next(c))
        if (strcmp(c->name, name) == 0 && c->ns && strcmp(c->ns, ns) == 0)
            k++;
    return k;
}

#endif
