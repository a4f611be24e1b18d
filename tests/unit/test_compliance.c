/* Compliance events (docs/compliance-protocol.md) built by the MUC engine:
 * the XML builder, the events a conversation produces (in-memory engine, so
 * events arrive through muc_io.compliance), and the strict-policy decision. */
#include "muc_harness.h"

#include <uv.h>

#include "compliance.h"
#include "outbox.h"

#define ROOM "coven@" DOMAIN
#define BOB "hag@shakespeare.example/pda"

static const unsigned char key[32] = { 9, 8, 7 };
static struct fx_opts opts = { .key = key, .compliance = true };

static const char *party(const struct fx_event *e, const char *el, const char *attr)
{
    const struct xml_node *p = xml_child(e->el, el, NS_COMPLIANCE);
    return p ? xml_attr(p, attr) : NULL;
}

static const struct xml_node *forwarded_stanza(const struct fx_event *e)
{
    const struct xml_node *f = xml_child(e->el, "forwarded", NS_FORWARD);
    assert_non_null(f);
    for (const struct xml_node *c = xml_first(f); c; c = xml_next(c))
        if (strcmp(c->name, "delay") != 0) {
            assert_string_equal(c->ns, NS_CLIENT);
            return c;
        }
    fail_msg("no stanza in <forwarded/>");
    return NULL;
}

static size_t recipients(const struct fx_event *e, const char **jids, size_t max)
{
    const struct xml_node *rs = xml_child(e->el, "recipients", NS_COMPLIANCE);
    size_t n = 0;
    for (const struct xml_node *r = rs ? xml_first(rs) : NULL; r && n < max; r = xml_next(r))
        jids[n++] = xml_attr(r, "jid");
    return n;
}

static bool has(const char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] && strcmp(l[i], s) == 0)
            return true;
    return false;
}

/* Owner creates and unlocks the room, alice joins. */
static void open_room(void)
{
    fx_in("<presence from='" OWNER "' to='" ROOM "/crone'><x xmlns='" NS_MUC "'/></presence>");
    fx_in("<iq type='set' id='c1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='submit'/></query></iq>");
    fx_in("<presence from='" ALICE "' to='" ROOM "/alice'><x xmlns='" NS_MUC "'/></presence>");
}

/* The same, then the stanzas and events of that forgotten. */
static void open_room_quiet(void)
{
    open_room();
    fx_clear();
    fx_clear_events();
}

/* The owner sends a groupchat message with payload; the one event of type
 * it makes, with the owner as its actor. */
static struct fx_event *owner_groupchat(const char *id, const char *payload, const char *type)
{
    fx_in("<message type='groupchat' id='%s' from='" OWNER "' to='" ROOM "'>%s</message>", id,
          payload);
    struct fx_event *ev = fx_event(type);
    assert_string_equal(party(ev, "actor", "jid"), OWNER);
    return ev;
}

/* ---- the builder ---- */

/* The stamp of the <delay/> on an event's forwarded stanza. */
static const char *delay_stamp(const struct fx_event *e)
{
    const struct xml_node *fwd = xml_child(e->el, "forwarded", NS_FORWARD);
    return xml_attr(xml_child(fwd, "delay", "urn:xmpp:delay"), "stamp");
}

static void test_event_attributes(void **state)
{
    (void)state;
    struct room *room = room_create(fx.m, ROOM, "coven", "crone@shakespeare.example", T0);
    struct xml_node *a = compliance_event(fx.m, "join", room, T0 + 250);
    struct xml_node *b = compliance_event(fx.m, "join", NULL, T0);
    const char *id = xml_attr(a, "id");
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[8], '-');
    assert_int_equal(id[14], '4'); /* version 4 */
    assert_non_null(strchr("89ab", id[19]));
    assert_string_not_equal(id, xml_attr(b, "id"));
    assert_string_equal(xml_attr(a, "type"), "join");
    assert_string_equal(xml_attr(a, "time"), "2023-11-14T22:13:20.250Z");
    assert_string_equal(xml_attr(a, "room"), ROOM);
    assert_null(xml_attr(b, "room"));
    assert_string_equal(a->ns, NS_COMPLIANCE);
    xml_unref(a);
    xml_unref(b);
    fx.m->compliance_on = false;
    assert_null(compliance_event(fx.m, "join", room, T0));
}

static void test_forward_in_client_namespace(void **state)
{
    (void)state;
    struct xml_node *ev = compliance_event(fx.m, "private", NULL, T0);
    struct xml_node *msg = unit_parse("<message from='a@b/c' type='chat' id='m1'><body>hi &amp; "
                                      "bye</body><x xmlns='urn:other'/></message>");
    compliance_party(ev, "actor", "a@b/c", "nick", "participant", "member");
    compliance_reason(ev, "because");
    compliance_reason(ev, "");
    compliance_forward(ev, msg, T0);
    size_t len;
    char *xml = compliance_serialize(ev, NULL, 0, -1, NULL, &len);
    struct fx_event e = { .el = fx_parse_event(xml, len) };
    assert_string_equal(party(&e, "actor", "jid"), "a@b/c");
    assert_string_equal(party(&e, "actor", "role"), "participant");
    assert_string_equal(party(&e, "actor", "affiliation"), "member");
    const struct xml_node *r = xml_child(e.el, "reason", NS_COMPLIANCE);
    fx_assert_text(r, "because");
    assert_null(xml_next(r) && strcmp(xml_next(r)->name, "reason") == 0 ? r : NULL);
    const struct xml_node *st = forwarded_stanza(&e);
    const struct xml_node *body = xml_child(st, "body", NS_CLIENT);
    assert_non_null(body);
    fx_assert_text(body, "hi & bye");
    assert_non_null(xml_child(st, "x", "urn:other"));
    assert_string_equal(delay_stamp(&e), "2023-11-14T22:13:20Z");
    xml_unref(e.el);
    free(xml);
    xml_unref(msg);
    xml_unref(ev);
}

static void test_history_splice(void **state)
{
    (void)state;
    struct xml_node *ev = compliance_event(fx.m, "history", NULL, T0);
    compliance_party(ev, "actor", "x@y/z", NULL, NULL, NULL);
    static const char raw[] = "<message from='" ROOM "/x' type='groupchat' id='h1'>"
                              "<body>old</body><stanza-id xmlns='urn:xmpp:sid:0' id='s'/>"
                              "</message>";
    size_t len;
    char *xml = compliance_serialize(ev, raw, strlen(raw), T0 - 5000, BOB, &len);
    struct fx_event e = { .el = fx_parse_event(xml, len) };
    const struct xml_node *st = forwarded_stanza(&e);
    assert_string_equal(st->name, "message");
    assert_string_equal(xml_attr(st, "to"), BOB);
    assert_string_equal(xml_attr(st, "id"), "h1");
    fx_assert_text(xml_child(st, "body", NS_CLIENT), "old");
    assert_non_null(xml_child(st, "stanza-id", "urn:xmpp:sid:0"));
    assert_string_equal(delay_stamp(&e), "2023-11-14T22:13:15Z");
    /* The rest of the event survived the splice. */
    assert_string_equal(party(&e, "actor", "jid"), "x@y/z");
    xml_unref(e.el);
    free(xml);
    xml_unref(ev);
}

/* ---- events from a conversation ---- */

static void test_join_create_config(void **state)
{
    (void)state;
    open_room();
    struct fx_event *c = fx_event("create");
    assert_string_equal(party(c, "actor", "jid"), OWNER);
    assert_string_equal(c->room, ROOM);
    assert_non_null(xml_child(xml_child(c->el, "detail", NS_COMPLIANCE), "x", "jabber:x:data"));
    struct fx_event *j[4];
    assert_int_equal(fx_events_of("join", j, 4), 2);
    assert_string_equal(party(j[0], "actor", "jid"), OWNER);
    assert_string_equal(party(j[0], "actor", "affiliation"), "owner");
    assert_string_equal(party(j[0], "actor", "role"), "moderator");
    assert_string_equal(party(j[1], "actor", "jid"), ALICE);
    assert_string_equal(party(j[1], "actor", "nick"), "alice");
    assert_string_equal(forwarded_stanza(j[1])->name, "presence");
    struct fx_event *cfg = fx_event("config");
    assert_string_equal(party(cfg, "actor", "jid"), OWNER);
    assert_string_equal(forwarded_stanza(cfg)->name, "iq");
}

static void test_groupchat_private_and_history(void **state)
{
    (void)state;
    open_room_quiet();
    struct fx_event *g = owner_groupchat("g1", "<body>hello</body>", "groupchat");
    assert_string_equal(party(g, "actor", "nick"), "crone");
    const char *rs[8];
    assert_int_equal(recipients(g, rs, 8), 2);
    assert_true(has(rs, 2, OWNER) && has(rs, 2, ALICE));
    const struct xml_node *st = forwarded_stanza(g);
    assert_string_equal(xml_attr(st, "from"), ROOM "/crone");
    assert_non_null(xml_child(st, "stanza-id", "urn:xmpp:sid:0"));

    fx_in("<message type='chat' id='p1' from='" ALICE "' to='" ROOM "/crone'><body>psst</body>"
          "</message>");
    struct fx_event *p = fx_event("private");
    assert_string_equal(party(p, "actor", "jid"), ALICE);
    assert_string_equal(party(p, "target", "jid"), OWNER);
    assert_string_equal(party(p, "target", "nick"), "crone");
    assert_int_equal(recipients(p, rs, 8), 1);
    assert_string_equal(rs[0], OWNER);

    /* Bob joins: one history event per message served, the sender as actor. */
    fx.now += 1000;
    fx_in("<presence from='" BOB "' to='" ROOM "/bob'><x xmlns='" NS_MUC "'/></presence>");
    struct fx_event *h = fx_event("history");
    assert_string_equal(party(h, "actor", "jid"), OWNER);
    assert_string_equal(party(h, "actor", "nick"), "crone");
    assert_string_equal(party(h, "target", "jid"), BOB);
    assert_int_equal(recipients(h, rs, 8), 1);
    assert_string_equal(rs[0], BOB);
    st = forwarded_stanza(h);
    assert_string_equal(xml_attr(st, "to"), BOB);
    fx_assert_text(xml_child(st, "body", NS_CLIENT), "hello");
}

static void test_subject_kick_ban_invite_nick_leave(void **state)
{
    (void)state;
    open_room_quiet();
    struct fx_event *s = owner_groupchat("s1", "<subject>plans</subject>", "subject");
    assert_non_null(xml_child(forwarded_stanza(s), "subject", NS_CLIENT));

    fx_in("<presence from='" ALICE "' to='" ROOM "/alicia'/>");
    struct fx_event *n = fx_event("nick");
    assert_string_equal(party(n, "actor", "nick"), "alice");
    assert_string_equal(party(n, "target", "nick"), "alicia");

    fx_in("<message id='i1' from='" OWNER "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'><invite to='"
          "hecate@shakespeare.example'><reason>join us</reason></invite></x></message>");
    struct fx_event *i = fx_event("invite");
    assert_string_equal(party(i, "target", "jid"), "hecate@shakespeare.example");
    assert_string_equal(party(i, "actor", "jid"), OWNER);

    fx_in("<iq type='set' id='k1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item nick='alicia' role='none'><reason>rude</reason></item></query></iq>");
    struct fx_event *k = fx_event("kick");
    assert_string_equal(party(k, "actor", "jid"), OWNER);
    assert_string_equal(party(k, "target", "jid"), ALICE);
    assert_string_equal(party(k, "target", "role"), "none");
    fx_assert_text(xml_child(k->el, "reason", NS_COMPLIANCE), "rude");

    fx_in("<iq type='set' id='b1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item jid='hag@shakespeare.example' affiliation='outcast'/></query></iq>");
    struct fx_event *b = fx_event("ban");
    assert_string_equal(party(b, "target", "jid"), "hag@shakespeare.example");
    assert_string_equal(party(b, "target", "affiliation"), "outcast");

    fx_in("<iq type='set' id='a1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item jid='wicca@shakespeare.example' affiliation='member'/></query></iq>");
    struct fx_event *a = fx_event("affiliation");
    assert_string_equal(party(a, "target", "affiliation"), "member");

    fx_in("<presence type='unavailable' from='" OWNER "' to='" ROOM "/crone'/>");
    struct fx_event *l = fx_event("leave");
    assert_string_equal(party(l, "actor", "jid"), OWNER);
    assert_string_equal(xml_attr(forwarded_stanza(l), "type"), "unavailable");
    /* The temporary room went with its last occupant: destroyed by the service. */
    struct fx_event *d = fx_event("destroy");
    assert_string_equal(party(d, "actor", "jid"), DOMAIN);
}

static void test_affiliation_from_config_form(void **state)
{
    (void)state;
    open_room_quiet();
    fx_in("<iq type='set' id='c2' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomadmins'>"
          "<value>hag@shakespeare.example</value></field></x></query></iq>");
    struct fx_event *a = fx_event("affiliation");
    assert_string_equal(party(a, "actor", "jid"), OWNER);
    assert_string_equal(party(a, "target", "jid"), "hag@shakespeare.example");
    assert_string_equal(party(a, "target", "affiliation"), "admin");
    /* The form is archived once, with the config event; the affiliation
     * event refers to it (issue 13). */
    struct fx_event *c = fx_event("config");
    assert_string_equal(forwarded_stanza(c)->name, "iq");
    assert_null(xml_child(a->el, "forwarded", NS_FORWARD));
    const struct xml_node *d = xml_child(a->el, "detail", NS_COMPLIANCE);
    const struct xml_node *ref = d ? xml_child(d, "ref", NS_COMPLIANCE) : NULL;
    assert_non_null(ref);
    assert_string_equal(xml_attr(ref, "id"), c->uuid);
}

static void test_off_records_nothing(void **state)
{
    (void)state;
    fx.m->compliance_on = false;
    open_room();
    fx_in("<message type='groupchat' id='g1' from='" OWNER "' to='" ROOM "'><body>x</body>"
          "</message>");
    assert_int_equal(fx.nev, 0);
}

/* ---- the strict policy ---- */

static bool error_wait_rc(const struct xml_node *st)
{
    const struct xml_node *e = stanza_child(st, "error");
    return e && strcmp(xml_attr(e, "type"), "wait") == 0 &&
           xml_child(e, "resource-constraint", NS_STANZAS);
}

static void test_strict_refuses_messages(void **state)
{
    (void)state;
    open_room();
    fx.m->compliance_refuse = true;
    fx_clear();
    fx_clear_events();
    fx_in("<message type='groupchat' id='g1' from='" OWNER "' to='" ROOM "'><body>x</body>"
          "</message>");
    fx_in("<message type='chat' id='p1' from='" ALICE "' to='" ROOM "/crone'><body>y</body>"
          "</message>");
    fx_in("<message type='groupchat' id='s1' from='" OWNER "' to='" ROOM "'><subject>z</subject>"
          "</message>");
    assert_int_equal(fx.n, 3);
    for (size_t i = 0; i < fx.n; i++)
        assert_true(error_wait_rc(fx.out[i].st));
    assert_int_equal(fx.nev, 0);
    /* Presence is not refused: joins still work and are recorded. */
    fx_in("<presence from='" BOB "' to='" ROOM "/bob'><x xmlns='" NS_MUC "'/></presence>");
    fx_event("join");
    fx.m->compliance_refuse = false;
    fx_clear();
    fx_clear_events();
    fx_in("<message type='groupchat' id='g2' from='" OWNER "' to='" ROOM "'><body>x</body>"
          "</message>");
    fx_event("groupchat");
}

static void test_policy_decision(void **state)
{
    (void)state;
    const int64_t now = T0;
    /* relaxed never refuses */
    assert_false(compliance_should_refuse(false, 1000000, 10, now, now - 3600000, 30000));
    /* nothing waiting */
    assert_false(compliance_should_refuse(true, 0, 10, now, 0, 30000));
    /* backlog within, archiver answering */
    assert_false(compliance_should_refuse(true, 10, 10, now, now - 1000, 30000));
    /* backlog over the bound */
    assert_true(compliance_should_refuse(true, 11, 10, now, now, 30000));
    /* unanswered for the timeout (boundary included) */
    assert_false(compliance_should_refuse(true, 1, 10, now, now - 29999, 30000));
    assert_true(compliance_should_refuse(true, 1, 10, now, now - 30000, 30000));
    /* a clock that stepped back does not count as a stall */
    assert_false(compliance_should_refuse(true, 1, 10, now, now + 5000, 30000));
    /* unhealthy is the same test without the policy */
    assert_true(compliance_unhealthy(1, 10, now, now - 60000, 30000));
    assert_false(compliance_unhealthy(0, 10, now, now - 60000, 30000));
}

/* ---- the sender (outbox.c), without a store, on a real loop ---- */

static struct {
    uv_loop_t loop;
    struct outbox *o;
    struct xml_node *sent[64];   /* the IQs, parsed */
    size_t nsent;
    int send_rc;
    int health_calls;
    bool refuse;
} ob;

static int ob_send(void *ud, const char *data, size_t len)
{
    (void)ud;
    if (ob.send_rc < 0)
        return ob.send_rc;
    assert_true(ob.nsent < ARRAY_SIZE(ob.sent));
    ob.sent[ob.nsent++] = unit_parse_len(data, len);
    return 0;
}

static void ob_health(void *ud, bool refuse)
{
    (void)ud;
    ob.health_calls++;
    ob.refuse = refuse;
}

static int ob_setup(void **state)
{
    (void)state;
    memset(&ob, 0, sizeof ob);
    assert_int_equal(uv_loop_init(&ob.loop), 0);
    struct outbox_cfg cfg = { .domain = DOMAIN, .archiver = "archive.example", .strict = true,
                              .max_backlog = 2, .unreachable_ms = 60000 };
    struct outbox_io io = { .send_raw = ob_send, .health = ob_health };
    ob.o = outbox_new(&ob.loop, &cfg, NULL, &io);
    return 0;
}

static void ob_clear(void)
{
    for (size_t i = 0; i < ob.nsent; i++)
        xml_unref(ob.sent[i]);
    ob.nsent = 0;
}

static int ob_teardown(void **state)
{
    (void)state;
    ob_clear();
    outbox_free(ob.o);
    uv_run(&ob.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&ob.loop), 0);
    return 0;
}

static void on_stop_timer(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Run the loop for ms milliseconds. */
static void ob_run(uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&ob.loop, &t);
    uv_timer_start(&t, on_stop_timer, ms, 0);
    uv_run(&ob.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&ob.loop, UV_RUN_NOWAIT);
}

static const char *const UUIDS[] = {
    "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003",
};

static void ob_push(size_t i)
{
    char *xml = xasprintf("<event xmlns='" NS_COMPLIANCE "' id='%s' type='join'/>", UUIDS[i]);
    outbox_push(ob.o, UUIDS[i], xml, strlen(xml));
    free(xml);
}

/* The archiver's answer to sent IQ i: type result, or error of etype. */
static bool ob_answer(size_t i, const char *etype)
{
    const struct xml_node *iq = ob.sent[i];
    char *xml = etype
        ? xasprintf("<iq type='error' from='archive.example' to='" DOMAIN "' id='%s'>"
                    "<error type='%s'><%s xmlns='" NS_STANZAS "'/></error></iq>",
                    stanza_id(iq), etype,
                    strcmp(etype, "modify") == 0 ? "bad-request" : "resource-constraint")
        : xasprintf("<iq type='result' from='archive.example' to='" DOMAIN "' id='%s'/>",
                    stanza_id(iq));
    struct xml_node *st = unit_parse(xml);
    free(xml);
    bool ours = outbox_answer(ob.o, st);
    xml_unref(st);
    return ours;
}

static const char *sent_uuid(size_t i)
{
    const struct xml_node *ev = xml_child(ob.sent[i], "event", NS_COMPLIANCE);
    assert_non_null(ev);
    return xml_attr(ev, "id");
}

static void test_outbox_sends_in_order_and_resends_after_wait(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++)
        ob_push(i);
    ob_run(20);
    assert_int_equal(ob.nsent, 0);   /* no link yet */
    outbox_link(ob.o, true);
    ob_run(20);
    assert_int_equal(ob.nsent, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(sent_uuid(i), UUIDS[i]);
        assert_string_equal(xml_attr(ob.sent[i], "type"), "set");
        assert_string_equal(stanza_to(ob.sent[i]), "archive.example");
        assert_string_equal(stanza_from(ob.sent[i]), DOMAIN);
    }
    /* strict, 3 waiting > max_backlog 2: refuse */
    assert_true(ob.refuse);
    assert_true(ob_answer(0, NULL));
    assert_true(ob_answer(1, "wait"));
    assert_true(ob_answer(2, NULL));      /* a later one may still succeed */
    ob_clear();
    ob_run(100);
    assert_int_equal(ob.nsent, 0);        /* backing off */
    ob_run(1300);
    assert_int_equal(ob.nsent, 1);        /* only the one not acknowledged, same UUID */
    assert_string_equal(sent_uuid(0), UUIDS[1]);
    assert_true(strstr(stanza_id(ob.sent[0]), ".2") != NULL);
    assert_true(ob_answer(0, NULL));
    ob_run(20);
    assert_false(ob.refuse);
    /* an answer nobody waits for any more is still ours, and harmless */
    assert_true(ob_answer(0, NULL));
}

static void test_outbox_parks_malformed_and_ignores_foreign(void **state)
{
    (void)state;
    outbox_link(ob.o, true);
    ob_push(0);
    ob_push(1);
    ob_run(20);
    assert_int_equal(ob.nsent, 2);
    assert_true(ob_answer(0, "modify"));
    assert_true(ob_answer(1, NULL));
    ob_clear();
    ob_run(1300);
    assert_int_equal(ob.nsent, 0);        /* parked: not sent again */
    /* not from the archiver, or not to our domain: for the engine */
    struct xml_node *st = unit_parse("<iq type='result' from='evil.example' to='" DOMAIN "' "
                                     "id='00000000-0000-4000-8000-000000000001.1'/>");
    assert_false(outbox_answer(ob.o, st));
    xml_unref(st);
    st = unit_parse("<iq type='result' from='archive.example' to='" DOMAIN "' id='q1'/>");
    assert_false(outbox_answer(ob.o, st));
    xml_unref(st);
}

/* After a failure only a few events go out until the archiver answers
 * `result` again (an archiver that is away is not sent the whole window on
 * every retry); then the rest follow, in order. */
static void test_outbox_probes_after_a_failure(void **state)
{
    (void)state;
    enum { N = 40 };
    char uuid[N][40];
    for (size_t i = 0; i < N; i++) {
        snprintf(uuid[i], sizeof uuid[i], "00000000-0000-4000-8000-%012zx", i + 100);
        char *xml = xasprintf("<event xmlns='" NS_COMPLIANCE "' id='%s' type='join'/>", uuid[i]);
        outbox_push(ob.o, uuid[i], xml, strlen(xml));
        free(xml);
    }
    outbox_link(ob.o, true);
    ob_run(20);
    assert_int_equal(ob.nsent, N);        /* the whole window at once */
    assert_true(ob_answer(0, "wait"));
    ob_clear();
    ob_run(1300);
    size_t probe = ob.nsent;
    assert_true(probe >= 1 && probe < N);   /* a probe, not the window */
    for (size_t i = 0; i < probe; i++)
        assert_string_equal(sent_uuid(i), uuid[i]);
    assert_true(ob_answer(0, NULL));      /* the archiver is back */
    size_t first = probe;
    ob_run(20);
    assert_int_equal(ob.nsent, first + (N - probe));   /* the rest, in order */
    for (size_t i = first; i < ob.nsent; i++)
        assert_string_equal(sent_uuid(i), uuid[probe + (i - first)]);
}

static void test_outbox_link_loss_resends(void **state)
{
    (void)state;
    outbox_link(ob.o, true);
    ob_push(0);
    ob_run(20);
    assert_int_equal(ob.nsent, 1);
    outbox_link(ob.o, false);
    ob_push(1);
    ob_clear();
    ob_run(20);
    assert_int_equal(ob.nsent, 0);
    outbox_link(ob.o, true);
    ob_run(20);
    assert_int_equal(ob.nsent, 2);
    assert_string_equal(sent_uuid(0), UUIDS[0]);
    assert_string_equal(sent_uuid(1), UUIDS[1]);
    /* a congested link: nothing is lost, it goes out later */
    ob_clear();
    ob.send_rc = -ENOBUFS;
    outbox_link(ob.o, true);
    ob_run(20);
    assert_int_equal(ob.nsent, 0);
    ob.send_rc = 0;
    ob_run(1100);
    assert_int_equal(ob.nsent, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_event_attributes, &opts),
        FX_TEST(test_forward_in_client_namespace, &opts),
        FX_TEST(test_history_splice, &opts),
        FX_TEST(test_join_create_config, &opts),
        FX_TEST(test_groupchat_private_and_history, &opts),
        FX_TEST(test_subject_kick_ban_invite_nick_leave, &opts),
        FX_TEST(test_affiliation_from_config_form, &opts),
        FX_TEST(test_off_records_nothing, &opts),
        FX_TEST(test_strict_refuses_messages, &opts),
        FX_TEST(test_policy_decision, &opts),
        cmocka_unit_test_setup_teardown(test_outbox_sends_in_order_and_resends_after_wait,
                                        ob_setup, ob_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_parks_malformed_and_ignores_foreign,
                                        ob_setup, ob_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_probes_after_a_failure, ob_setup,
                                        ob_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_link_loss_resends, ob_setup, ob_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
