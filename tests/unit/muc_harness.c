/* muc_harness.c — see muc_harness.h. */
#include "muc_harness.h"

#include "compliance.h"

struct fx_state fx;

static void record(struct xml_node *st, bool raw)
{
    if (fx.n == fx.cap) {
        fx.cap = fx.cap ? fx.cap * 2 : 64;
        fx.out = realloc(fx.out, fx.cap * sizeof *fx.out);
        assert_non_null(fx.out);
    }
    fx.out[fx.n++] = (struct fx_rec){ st, raw };
}

static void cap_send(void *ud, const struct xml_node *st)
{
    (void)ud;
    record(xml_copy(st), false);
}

static void cap_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    (void)ud;
    /* The contract of send_each: the stanza carries no 'to' of its own. */
    assert_null(stanza_to(st));
    for (size_t i = 0; i < n; i++) {
        struct xml_node *c = xml_copy(st);
        xml_set_attr(c, "to", to[i]);
        record(c, false);
    }
}

static void cap_raw(void *ud, const char *data, size_t len)
{
    (void)ud;
    /* Every raw send must be exactly one well-formed stanza. */
    record(unit_parse_len(data, len), true);
}

static int64_t fake_now(void *ud)
{
    (void)ud;
    return fx.now;
}

struct xml_node *fx_parse_event(const char *xml, size_t len)
{
    char *wrapped = xasprintf("<iq type='set'>%.*s</iq>", (int)len, xml);
    struct xml_node *iq = unit_parse(wrapped);
    free(wrapped);
    struct xml_node *ev = xml_ref(xml_child(iq, "event", NS_COMPLIANCE));
    assert_non_null(ev);
    xml_unref(iq);
    return ev;
}

static void cap_event(void *ud, const char *uuid, const char *room, const char *xml, size_t len)
{
    (void)ud;
    if (fx.nev == fx.evcap) {
        fx.evcap = fx.evcap ? fx.evcap * 2 : 64;
        fx.evs = realloc(fx.evs, fx.evcap * sizeof *fx.evs);
        assert_non_null(fx.evs);
    }
    struct xml_node *el = fx_parse_event(xml, len);
    fx.evs[fx.nev++] = (struct fx_event){ .uuid = xstrdup(uuid),
                                          .room = room ? xstrdup(room) : NULL,
                                          .xml = xstrndup(xml, len),
                                          .len = len,
                                          .el = el };
    fx.evbytes += len;
}

int fx_setup_opts(const struct fx_opts *o)
{
    static const unsigned char default_key[32] = { 7, 1, 2, 3 };
    memset(&fx, 0, sizeof fx);
    fx.now = T0;
    struct muc_limits lim;
    muc_limits_default(&lim);
    if (o->fast) {
        lim.msg_rate = 1000000; /* the tests talk fast */
        lim.msg_burst = 1000000;
    }
    struct muc_io io = { cap_send, cap_each, cap_raw, fake_now, NULL, NULL, NULL };
    fx.m = muc_new(DOMAIN, "Chatrooms", &lim, o->key ? o->key : default_key, &io);
    if (o->compliance) {
        fx.m->compliance_on = true;
        fx.m->compliance_sink = cap_event;
    }
    if (o->max_event)
        fx.m->compliance_max_event = o->max_event;
    return 0;
}

int fx_setup(void **state)
{
    static const struct fx_opts defaults;
    return fx_setup_opts(state && *state ? *state : &defaults);
}

void fx_clear(void)
{
    for (size_t i = 0; i < fx.n; i++)
        xml_unref(fx.out[i].st);
    fx.n = 0;
}

void fx_clear_events(void)
{
    for (size_t i = 0; i < fx.nev; i++) {
        free(fx.evs[i].uuid);
        free(fx.evs[i].room);
        free(fx.evs[i].xml);
        xml_unref(fx.evs[i].el);
    }
    fx.nev = 0;
    fx.evbytes = 0;
}

int fx_teardown(void **state)
{
    (void)state;
    fx_clear();
    fx_clear_events();
    free(fx.out);
    free(fx.evs);
    for (size_t i = 0; i < fx.nkeep; i++)
        free(fx.keep[i]);
    free(fx.keep);
    muc_free(fx.m);
    memset(&fx, 0, sizeof fx);
    return 0;
}

const char *fx_keep(char *s)
{
    if (fx.nkeep == fx.keepcap) {
        fx.keepcap = fx.keepcap ? fx.keepcap * 2 : 64;
        fx.keep = realloc(fx.keep, fx.keepcap * sizeof *fx.keep);
        assert_non_null(fx.keep);
    }
    fx.keep[fx.nkeep++] = s;
    return s;
}

struct xml_node *fx_parse(const char *xml)
{
    return unit_parse(xml);
}

void fx_dump(void)
{
    for (size_t i = 0; i < fx.n; i++) {
        char *s = xml_to_string(fx.out[i].st, NS_COMPONENT);
        fprintf(stderr, "  [%zu]%s %s\n", i, fx.out[i].raw ? " raw" : "", s);
        free(s);
    }
}

void fx_in(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(r >= 0);
    struct xml_node *st = unit_parse(s);
    free(s);
    muc_handle(fx.m, st);
    xml_unref(st);
}

struct xml_node *fx_at(int i)
{
    assert_true(i >= 0 && (size_t)i < fx.n);
    return fx.out[i].st;
}

bool fx_matches(const struct xml_node *st, const char *name, const char *type, const char *to,
                    const char *from)
{
    if (name && strcmp(st->name, name) != 0)
        return false;
    if (type) {
        const char *t = xml_attr(st, "type");
        if (*type ? !str_eq(t, type) : t != NULL)
            return false;
    }
    if (to && !str_eq(stanza_to(st), to))
        return false;
    if (from && !str_eq(stanza_from(st), from))
        return false;
    return true;
}

int fx_find_from(int start, const char *name, const char *type, const char *to, const char *from)
{
    for (size_t i = (size_t)start; i < fx.n; i++)
        if (fx_matches(fx.out[i].st, name, type, to, from))
            return (int)i;
    return -1;
}

int fx_find(const char *name, const char *type, const char *to, const char *from)
{
    return fx_find_from(0, name, type, to, from);
}

int fx_count(const char *name, const char *type, const char *to, const char *from)
{
    int n = 0;
    for (size_t i = 0; i < fx.n; i++)
        if (fx_matches(fx.out[i].st, name, type, to, from))
            n++;
    return n;
}

void fx_expect_count(int want, const char *name, const char *type, const char *to,
                     const char *from)
{
    int got = fx_count(name, type, to, from);
    if (got != want) {
        fprintf(stderr, "expected %d <%s type=%s to=%s from=%s>, got %d; output:\n", want,
                name ? name : "*", type ? (*type ? type : "(none)") : "*", to ? to : "*",
                from ? from : "*", got);
        fx_dump();
    }
    assert_int_equal(got, want);
}

void fx_expect_total(size_t want)
{
    if (fx.n != want) {
        fprintf(stderr, "expected %zu stanzas, got %zu:\n", want, fx.n);
        fx_dump();
    }
    assert_int_equal(fx.n, want);
}

int fx_one_idx(const char *name, const char *type, const char *to, const char *from)
{
    fx_expect_count(1, name, type, to, from);
    return fx_find(name, type, to, from);
}

struct xml_node *fx_one(const char *name, const char *type, const char *to, const char *from)
{
    return fx_at(fx_one_idx(name, type, to, from));
}

void fx_assert_stanza_error(const struct xml_node *st, const char *cond, const char *etype)
{
    assert_string_equal(xml_attr(st, "type"), "error");
    struct xml_node *e = stanza_child(st, "error");
    assert_non_null(e);
    const char *c = stanza_error_condition(e, NS_STANZAS);
    assert_non_null(c);
    assert_string_equal(c, cond);
    if (etype)
        assert_string_equal(xml_attr(e, "type"), etype);
}

struct xml_node *fx_expect_error(const char *name, const char *to, const char *from,
                                 const char *cond, const char *etype)
{
    struct xml_node *st = fx_one(name, "error", to, NULL);
    if (from)
        assert_string_equal(stanza_from(st), from);
    fx_assert_stanza_error(st, cond, etype);
    return st;
}

struct xml_node *fx_find_reply(const char *id)
{
    for (size_t i = 0; i < fx.n; i++)
        if (strcmp(fx.out[i].st->name, "iq") == 0 && str_eq(stanza_id(fx.out[i].st), id))
            return fx.out[i].st;
    return NULL;
}

struct xml_node *fx_reply(const char *id)
{
    struct xml_node *found = NULL;
    int k = 0;
    for (size_t i = 0; i < fx.n; i++)
        if (strcmp(fx.out[i].st->name, "iq") == 0 && str_eq(stanza_id(fx.out[i].st), id)) {
            found = fx.out[i].st;
            k++;
        }
    if (k != 1) {
        fprintf(stderr, "expected one answer to iq '%s', got %d:\n", id, k);
        fx_dump();
    }
    assert_int_equal(k, 1);
    return found;
}

struct xml_node *fx_result(const char *id)
{
    struct xml_node *r = fx_reply(id);
    if (strcmp(xml_attr(r, "type"), "result") != 0)
        fx_dump();
    assert_string_equal(xml_attr(r, "type"), "result");
    return r;
}

void fx_error(const char *id, const char *cond, const char *app_ns, const char *app)
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

void fx_room(const char *room, const char *owner, const char *fields)
{
    fx_in("<presence from='%s' to='%s/owner'><x xmlns='" NS_MUC "'/></presence>", owner, room);
    fx_in("<iq type='set' id='cfg' from='%s' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_ROOMCONFIG
          "</value></field>%s</x></query></iq>",
          owner, room, fields ? fields : "");
    fx_result("cfg");
    fx_clear();
}

size_t fx_events_of(const char *type, struct fx_event **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < fx.nev; i++)
        if (str_eq(xml_attr(fx.evs[i].el, "type"), type)) {
            if (n < max)
                out[n] = &fx.evs[i];
            n++;
        }
    return n;
}

struct fx_event *fx_event(const char *type)
{
    struct fx_event *e[1];
    size_t n = fx_events_of(type, e, 1);
    if (n != 1)
        fail_msg("expected one %s event, got %zu", type, n);
    return e[0];
}

char *fx_text(const struct xml_node *n)
{
    assert_non_null(n);
    return xml_text(n);
}

void fx_assert_text(const struct xml_node *n, const char *want)
{
    char *t = fx_text(n);
    if (strcmp(t, want) != 0)
        fprintf(stderr, "text '%s', want '%s'\n", t, want);
    assert_string_equal(t, want);
    free(t);
}

int fx_children(const struct xml_node *n, const char *name, const char *ns)
{
    int k = 0;
    for (struct xml_node *c = xml_first(n); c; c = xml_next(c))
        if ((!name || strcmp(c->name, name) == 0) && (!ns || str_eq(c->ns, ns)))
            k++;
    return k;
}
