"""Issue 5, confabd side: confabd's compliance stream to confab-archiver.

Real Prosody (with contrib/prosody/mod_confab_tap.lua loaded), two private
PostgreSQL 15 clusters (one for the chat database, one for the compliance
database, so the compliance database can be stopped while chat goes on), the real
confab-archiver, a real confabd with [compliance] archiver set, and real slixmpp
clients. Every test gets its own chat database and confabd; events are found in
the compliance database by their room (each test uses new rooms).

What is checked: every event of a scripted conversation arrives exactly once with
the right real JIDs (docs/compliance-protocol.md); the outbox (compliance_outbox
in the chat database) drains to empty; kill -9 of the archiver, an outage of the
compliance database and a router restart lose nothing and duplicate nothing;
[compliance] policy = strict refuses messages with wait/resource-constraint once
the backlog bound or the unreachable timeout is hit, relaxed does not."""

import hashlib
import json
import re
import secrets
import signal
import time

import pytest

import confabtest as ct
from confabtest import (ARCHIVE_DOMAIN, DOMAIN, MUC_DOMAIN, NS_CLIENT, NS_MUC_ADMIN,
                        NS_MUC_USER, NS_SID, NS_STANZAS, describe, local_name, status_codes)

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.skipif("prosody" not in ct.muc_router_kinds(),
                                reason="CONFAB_TEST_ROUTERS excludes prosody")

SLOW = ct.SLOW
TAP_DIR = ct.REPO / "contrib" / "prosody"
CDB = "confab_compliance"
NS_MAM = "urn:xmpp:mam:2"
DRAIN_S = 60 * SLOW


class Stack:
    """Prosody with the tap, the chat cluster, the compliance cluster, the archiver."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.secrets = {MUC_DOMAIN: "muc-" + secrets.token_hex(8),
                        ARCHIVE_DOMAIN: "archive-" + secrets.token_hex(8)}
        self.passwords = {u: f"{u}-pw-{secrets.token_hex(4)}" for u in ct.MUC_USERS}
        self.chat_pg = ct.Postgres(databases=(), settings={"synchronous_commit": "on"})
        self.comp_pg = ct.Postgres(databases=(CDB,), settings={"synchronous_commit": "on"})
        self.router = ct.ProsodyRouter(
            self.secrets, modules=("confab_tap",), plugin_paths=(str(TAP_DIR),),
            host_config=f'confab_tap_archiver = "{ARCHIVE_DOMAIN}"\nconfab_tap_retry = 1\n'
                        f'confab_tap_timeout = 5')
        self.archiver = None
        self.ndb = 0
        try:
            self.chat_pg.start()
            self.comp_pg.start()
            for user, password in self.passwords.items():
                self.router.register(user, password)
            self.router.start()
            self.archiver = ct.Daemon(
                "confab-archiver", workdir,
                ct.config_text(self.router.router_addr, self.secrets, None,
                               chat_dsn="dbname=unused", compliance_dsn=self.comp_pg.dsn(CDB)),
                name="confab-archiver")
            self.start_archiver()
        except BaseException:
            self.stop(check=False)
            raise

    def start_archiver(self):
        mark = self.archiver.mark()
        self.archiver.start()
        self.archiver.wait_link_up(after=mark)
        self.archiver.wait_log(r"compliance: connected to", after=mark, timeout=20)

    def events(self, sql, params=None):
        with psycopg.connect(self.comp_pg.dsn(CDB), autocommit=True, connect_timeout=10) as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def stop(self, check=True):
        ct.stop_each(lambda: ct.stop_daemon(self.archiver, check),
                     lambda: ct.stop_router(self.router),
                     lambda: ct.stop_postgres(self.chat_pg),
                     lambda: ct.stop_postgres(self.comp_pg))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from ct.owned(Stack(tmp_path_factory.mktemp("compliance")))


class Env:
    """One test: a fresh chat database, a confabd, clients."""

    def __init__(self, stack, workdir, name):
        self.stack = stack
        self.workdir = workdir
        stack.ndb += 1
        self.db, self.dsn = ct.fresh_database(stack.chat_pg, f"c{stack.ndb}", name)
        self.daemons = []
        self.clients = []

    def confabd(self, policy="relaxed", compliance_extra="", muc="", storage=True,
                storage_extra=""):
        cfg = ct.config_text(self.stack.router.router_addr, self.stack.secrets, None,
                             chat_dsn=self.dsn if storage else "",
                             extra=f"[muc]\nmessage_rate = 0\npresence_rate = 0\n{muc}\n")
        cfg = cfg.replace("[compliance]\narchiver =\npolicy = relaxed\n",
                          f"[compliance]\narchiver = {ARCHIVE_DOMAIN}\npolicy = {policy}\n"
                          f"{compliance_extra}")
        assert f"archiver = {ARCHIVE_DOMAIN}" in cfg
        if storage_extra:
            cfg = cfg.replace(f"[storage]\ndsn = {self.dsn}\n",
                              f"[storage]\ndsn = {self.dsn}\n{storage_extra}")
            assert storage_extra in cfg
        d = ct.Daemon("confabd", self.workdir, cfg, name=f"confabd-{len(self.daemons)}")
        self.daemons.append(d)
        d.start()
        d.wait_link_up()
        if storage:
            d.wait_rooms_ready()
        d.wait_log(r"compliance: events go to " + re.escape(ARCHIVE_DOMAIN))
        return d

    def owner_room(self, prefix, config=None):
        """alice (nick Alice) in a new room of hers, unlocked with config."""
        alice = self.client("alice")
        room = ct.new_room(prefix)
        alice.join(room, "Alice")
        alice.configure(room, config)
        return alice, room

    def client(self, user):
        c = ct.MucClient(f"{user}@{DOMAIN}/r{len(self.clients)}", self.stack.passwords[user],
                         self.stack.router.c2s_port)
        self.clients.append(c)
        c.available()
        return c

    def sql(self, query, params=None):
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as c:
            cur = c.execute(query, params)
            return cur.fetchall() if cur.description else []

    def outbox(self):
        return self.sql("SELECT count(*) FROM compliance_outbox")[0][0]

    def wait_drained(self, timeout=DRAIN_S):
        ct.wait_for(lambda: self.outbox() == 0, timeout, "the compliance outbox to drain",
                    interval=0.2, detail=lambda: f"outbox: {self.outbox()} rows")

    def finish(self):
        ct.close_clients(self.clients)
        # what a test stopped must be back for the next test
        for pg in (self.stack.chat_pg, self.stack.comp_pg):
            if not pg.running:
                pg.start_server()
        if not self.stack.archiver.alive():
            self.stack.start_archiver()
        ct.check_daemons(self.daemons)


@pytest.fixture
def env(stack, tmp_path, request):
    yield from ct.owned(Env(stack, tmp_path, request.node.name), "finish")


def body_events(stack, body):
    """(type, actor_jid) of every event whose message body is body."""
    return stack.events("SELECT type, actor_jid, target_jid FROM events WHERE body = %s "
                        "ORDER BY seq", (body,))


def is_error(st, condition, etype):
    if st.get("type") != "error":
        return False
    err = next((c for c in st if local_name(c) == "error"), None)
    return (err is not None and err.get("type") == etype
            and err.find(f"{{{NS_STANZAS}}}{condition}") is not None)


def send_stream(client, room, bodies):
    for b in bodies:
        client.groupchat(room, b)


def wait_bodies_stored(env, bodies, timeout=30):
    ct.wait_for(lambda: env.sql("SELECT count(*) FROM messages WHERE body = ANY(%s)",
                                (list(bodies),))[0][0] == len(bodies),
                timeout * SLOW, f"{len(bodies)} messages stored", interval=0.1)


def assert_each_once(stack, bodies, etype="groupchat"):
    rows = stack.events("SELECT body, count(*) FROM events WHERE type = %s AND body = ANY(%s) "
                        "GROUP BY body", (etype, list(bodies)))
    counts = dict(rows)
    missing = [b for b in bodies if b not in counts]
    doubled = {b: n for b, n in counts.items() if n != 1}
    assert not missing and not doubled, \
        f"{len(missing)} missing (e.g. {missing[:3]}), duplicated: {doubled}"


# ------------------------------------------------------------------ 1. a conversation

def test_scripted_conversation_recorded_once_with_real_jids(stack, env):
    env.confabd()
    alice, bob, carol = env.client("alice"), env.client("bob"), env.client("carol")
    A, B, C = alice.full_jid, bob.full_jid, carol.full_jid
    room = ct.new_room("comp")
    j = alice.join(room, "Alice")
    assert 201 in status_codes(j.self_presence)
    alice.configure(room, {"muc#roomconfig_persistentroom": True,
                           "muc#roomconfig_enablelogging": True})
    bob.join(room, "Bob")
    tag = secrets.token_hex(4)
    hello = f"hello compliance {tag}"
    alice.groupchat(room, hello)
    alice.wait_groupchat(room, hello)
    bob.wait_groupchat(room, hello)
    # a private message (§7.5)
    psst = f"psst {tag}"
    bob.send(f"<message to='{room}/Alice' type='chat' id='pm1'><body>{psst}</body>"
             f"<x xmlns='{NS_MUC_USER}'/></message>")
    alice.wait(lambda s: local_name(s) == "message" and
               s.findtext(f"{{{NS_CLIENT}}}body") == psst, what="the private message")
    # subject, configuration, affiliation, invitation, nick change
    alice.send(f"<message to='{room}' type='groupchat' id='s1'><subject>Plans {tag}"
               f"</subject></message>")
    alice.wait(lambda s: s.findtext(f"{{{NS_CLIENT}}}subject") == f"Plans {tag}",
               what="the subject")
    alice.configure(room, {"muc#roomconfig_roomname": f"Room {tag}"})
    r = alice.admin(room, f"<item jid='carol@{DOMAIN}' affiliation='member'/>")
    assert r.get("type") == "result", describe(r)
    alice.send(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'><invite to='carol@{DOMAIN}'>"
               f"<reason>join us {tag}</reason></invite></x></message>")
    carol.wait(lambda s: local_name(s) == "message" and s.get("from") == room,
               what="the invitation")
    bob.send(f"<presence to='{room}/Robert'/>")
    bob.wait(lambda s: local_name(s) == "presence" and s.get("from") == f"{room}/Robert"
             and 110 in status_codes(s), what="bob's new nick")
    # history on join: carol is served the groupchat message
    jc = carol.join(room, "Carol")
    assert hello in jc.bodies()
    # a kick
    r = alice.admin(room, f"<item nick='Robert' role='none'><reason>bye {tag}</reason></item>")
    assert r.get("type") == "result", describe(r)
    # a MAM query
    r = alice.iq(room, "set", f"<query xmlns='{NS_MAM}' queryid='q1'/>")
    assert r.get("type") == "result", describe(r)
    # a 1:1 chat, copied by the Prosody tap
    chat = f"one to one {tag}"
    alice.send(f"<message to='{C}' type='chat' id='c1'><body>{chat}</body></message>")
    carol.wait(lambda s: s.findtext(f"{{{NS_CLIENT}}}body") == chat, what="the 1:1 chat")
    carol.leave(room, "Carol")

    env.wait_drained()
    expected = {"create": 1, "config": 2, "join": 3, "groupchat": 1, "private": 1,
                "subject": 1, "affiliation": 1, "invite": 1, "nick": 1, "history": 1,
                "kick": 1, "mam": 1, "leave": 1}
    ct.wait_for(lambda: sum(n for (_, n) in stack.events(
        "SELECT type, count(*) FROM events WHERE room = %s GROUP BY type", (room,)))
        >= sum(expected.values()), 20 * SLOW, "every event in the compliance database",
        interval=0.2)
    counts = dict(stack.events("SELECT type, count(*) FROM events WHERE room = %s "
                               "GROUP BY type", (room,)))
    assert counts == expected, counts

    def one(etype, extra=""):
        rows = stack.events(
            "SELECT actor_jid, actor_nick, target_jid, target_nick, target_role, "
            "target_affiliation, recipients, body, reason, subject FROM events "
            f"WHERE room = %s AND type = %s {extra}", (room, etype))
        assert len(rows) == 1, (etype, rows)
        return rows[0]

    assert one("create")[0] == A
    g = one("groupchat")
    assert (g[0], g[1], g[7]) == (A, "Alice", hello)
    assert sorted(g[6]) == sorted([A, B])
    p = one("private")
    assert (p[0], p[2], p[3], p[6], p[7]) == (B, A, "Alice", [A], psst)
    s = one("subject")
    assert (s[0], s[9]) == (A, f"Plans {tag}")
    a = one("affiliation")
    assert (a[0], a[2], a[5]) == (A, f"carol@{DOMAIN}", "member")
    i = one("invite")
    assert (i[0], i[2], i[8]) == (A, f"carol@{DOMAIN}", f"join us {tag}")
    n = one("nick")
    assert (n[0], n[1], n[3]) == (B, "Bob", "Robert")
    h = one("history")
    assert (h[0], h[2], h[6], h[7]) == (A, C, [C], hello)
    k = one("kick")
    assert (k[0], k[2], k[3], k[4], k[8]) == (A, B, "Robert", "none", f"bye {tag}")
    assert one("mam")[0] == A
    assert one("leave")[0] == C
    joins = {r[0] for r in stack.events("SELECT actor_jid FROM events WHERE room = %s AND "
                                        "type = 'join'", (room,))}
    assert joins == {A, B, C}
    # the tap's copies of the 1:1 chat: as sent (in) and as delivered (out)
    taps = ct.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(stack.events(
        "SELECT direction, actor_jid FROM events WHERE type = 'chat' AND body = %s "
        "ORDER BY direction", (chat,))), 20 * SLOW, "two tap copies", interval=0.2)
    assert taps == [("in", A), ("out", A)]
    # Cisco's JM view: who received the groupchat message (history flagged H)
    jm = stack.events("SELECT to_jid, direction, history_flag FROM jm WHERE body_string = %s "
                      "ORDER BY history_flag, direction, to_jid", (hello,))
    assert (C, "O", "H") in jm and (A, "O", "N") in jm and (B, "O", "N") in jm


# ------------------------------------------------------------------ 2. kill -9 the archiver

def test_kill9_archiver_during_stream_no_loss_no_duplicates(stack, env):
    env.confabd()
    alice, room = env.owner_room("kill9")
    tag = secrets.token_hex(4)
    bodies = [f"k9 {tag} #{i}" for i in range(300)]
    send_stream(alice, room, bodies[:100])
    stack.archiver.proc.stop(signal.SIGKILL, timeout=5)   # kill -9, mid-stream
    send_stream(alice, room, bodies[100:200])
    wait_bodies_stored(env, bodies[:200])
    # what was sent while it was dead waits in the outbox
    assert env.outbox() >= 100, env.outbox()
    stack.start_archiver()
    send_stream(alice, room, bodies[200:])
    wait_bodies_stored(env, bodies)
    env.wait_drained()
    assert_each_once(stack, bodies)


def test_stream_goes_from_commit_to_archiver_without_reading_back(stack, env):
    """Caught up, the sender takes each row the store committed as it is handed
    over (issue 5): a steady stream is not read back from the outbox table, and
    arrives in order."""
    d = env.confabd()
    alice, room = env.owner_room("live")
    env.wait_drained()   # the join and the configuration: the sender is caught up
    tag = secrets.token_hex(4)
    bodies = [f"live {tag} #{i}" for i in range(400)]
    send_stream(alice, room, bodies)
    wait_bodies_stored(env, bodies)
    env.wait_drained()
    assert_each_once(stack, bodies)
    order = [r[0] for r in stack.events(
        "SELECT body FROM events WHERE type = 'groupchat' AND body = ANY(%s) ORDER BY seq",
        (bodies,))]
    assert order == bodies, "groupchat events archived out of order"
    mark = d.mark()
    d.check_clean_exit()
    env.daemons.remove(d)   # checked: finish() must not stop it again
    line = d.wait_log(r"compliance: sender: ", after=mark)[0]
    m = re.search(r"(\d+) events taken as they committed, (\d+) read back", line)
    assert m, line
    direct, read = int(m.group(1)), int(m.group(2))
    # Each of the 400 was either handed over or read back; a read-back may still
    # happen (the once-a-second look, a notice during a read) but not for most.
    assert direct + read >= len(bodies), line
    assert direct >= len(bodies) // 2, line


# ------------------------------------------------------------------ 3. compliance db outage

def stop_compliance_db(stack):
    stack.comp_pg.stop_server("fast")


def test_db_outage_strict_refuses_then_drains(stack, env):
    d = env.confabd(policy="strict",
                    compliance_extra="max_backlog = 30\nunreachable_timeout = 3s\n")
    alice, room = env.owner_room("strict")
    tag = secrets.token_hex(4)
    before = [f"st {tag} before #{i}" for i in range(20)]
    send_stream(alice, room, before)
    wait_bodies_stored(env, before)
    env.wait_drained()
    mark = d.mark()
    stop_compliance_db(stack)
    try:
        accepted, refused = [], []
        deadline = time.monotonic() + 30 * SLOW
        i = 0
        while not refused and time.monotonic() < deadline:
            body = f"st {tag} during #{i}"
            i += 1
            mid = f"m{i}"
            alice.groupchat(room, body, mid=mid)
            st = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == mid,
                            what=f"reflection or error of {mid}")
            if st.get("type") == "error":
                assert is_error(st, "resource-constraint", "wait"), describe(st)
                refused.append(body)
            else:
                accepted.append(body)
            alice.pump(0.05)
        assert refused, "strict never refused a message while the archive was away"
        assert accepted, "strict refused at once, before the bound or the timeout"
        assert env.outbox() >= len(accepted), "the outbox did not grow"
        d.wait_log(r"WARN: compliance: archiver .* is behind", after=mark)
        # a presence still works while messages are refused
        bob = env.client("bob")
        bob.join(room, "Bob")
    finally:
        stack.comp_pg.start_server()
    d.wait_log(r"INFO: compliance: archiver .* keeping up again", after=mark,
               timeout=DRAIN_S)
    env.wait_drained()
    after = [f"st {tag} after #{i}" for i in range(5)]
    send_stream(alice, room, after)
    wait_bodies_stored(env, after)
    env.wait_drained()
    assert_each_once(stack, before + accepted + after)
    assert body_events(stack, refused[0]) == [], "a refused message was recorded"
    assert len(d.wait_log(r"WARN: compliance: archiver", after=mark)) == 1


def test_archiver_away_strict_refuses_after_unreachable_timeout(stack, env):
    """The archiver itself is gone (the router bounces the IQs): with a large backlog
    bound, strict refuses once unreachable_timeout has passed without a `result`."""
    d = env.confabd(policy="strict",
                    compliance_extra="max_backlog = 100000\nunreachable_timeout = 2s\n")
    alice, room = env.owner_room("away")
    tag = secrets.token_hex(4)
    mark = d.mark()
    stack.archiver.stop()
    try:
        first = f"aw {tag} first"
        alice.groupchat(room, first, mid="a0")
        st = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == "a0")
        assert st.get("type") != "error", "refused before the timeout: " + describe(st)
        d.wait_log(r"WARN: compliance: archiver .* no confirmation within unreachable_timeout",
                   after=mark, timeout=10)
        alice.groupchat(room, f"aw {tag} refused", mid="a1")
        st = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == "a1")
        assert is_error(st, "resource-constraint", "wait"), describe(st)
    finally:
        stack.start_archiver()
    d.wait_log(r"INFO: compliance: archiver .* keeping up again", after=mark, timeout=DRAIN_S)
    env.wait_drained()
    last = f"aw {tag} last"
    alice.groupchat(room, last, mid="a2")
    st = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == "a2")
    assert st.get("type") != "error", describe(st)
    wait_bodies_stored(env, [first, last])
    env.wait_drained()
    assert_each_once(stack, [first, last])
    assert body_events(stack, f"aw {tag} refused") == []


def test_db_outage_relaxed_keeps_chatting_then_drains(stack, env):
    d = env.confabd(policy="relaxed",
                    compliance_extra="max_backlog = 30\nunreachable_timeout = 2s\n")
    alice, room = env.owner_room("relaxed")
    tag = secrets.token_hex(4)
    mark = d.mark()
    stop_compliance_db(stack)
    try:
        during = [f"rx {tag} #{i}" for i in range(80)]
        for i, body in enumerate(during):
            alice.groupchat(room, body, mid=f"r{i}")
        for i in range(len(during)):
            st = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == f"r{i}",
                            what=f"reflection r{i}")
            assert st.get("type") != "error", describe(st)
        wait_bodies_stored(env, during)
        assert env.outbox() >= len(during), env.outbox()
        d.wait_log(r"WARN: compliance: archiver .* chat goes on", after=mark)
    finally:
        stack.comp_pg.start_server()
    env.wait_drained()
    assert_each_once(stack, during)


# ------------------------------------------------------------------ 4. router restart

def test_router_restart_mid_stream_drains_without_duplicates(stack, env):
    d = env.confabd()
    alice, room = env.owner_room("router", {"muc#roomconfig_persistentroom": True})
    tag = secrets.token_hex(4)
    first = [f"rr {tag} first #{i}" for i in range(150)]
    send_stream(alice, room, first)
    mark = d.mark()
    amark = stack.archiver.mark()
    stack.router.stop()
    env.clients = [c for c in env.clients if c is not alice]
    alice.close()
    stack.router.start()
    d.wait_link_up(after=mark, timeout=30)
    stack.archiver.wait_link_up(after=amark, timeout=30)
    alice = env.client("alice")
    alice.join(room, "Alice")
    second = [f"rr {tag} second #{i}" for i in range(50)]
    send_stream(alice, room, second)
    wait_bodies_stored(env, second)
    env.wait_drained()
    # what was stored before the restart is recorded once; what the router lost
    # in flight never reached confabd and is in neither place
    stored = [b for (b,) in env.sql("SELECT body FROM messages WHERE body = ANY(%s)",
                                    (first,))]
    assert len(stored) > 0
    assert_each_once(stack, stored + second)
    extra = stack.events("SELECT count(*) FROM events WHERE type = 'groupchat' AND "
                         "body = ANY(%s)", (list(set(first) - set(stored)),))[0][0]
    assert extra == 0


# ------------------------------------------------------------------ without [storage]

def test_in_memory_confabd_sends_events_too(stack, env):
    """Rooms in memory only: events go from the engine straight to the sender."""
    env.confabd(storage=False)
    alice, bob = env.client("alice"), env.client("bob")
    room = ct.new_room("mem")
    alice.join(room, "Alice")
    alice.configure(room)
    bob.join(room, "Bob")
    tag = secrets.token_hex(4)
    bodies = [f"mem {tag} #{i}" for i in range(20)]
    send_stream(alice, room, bodies)
    for b in bodies:
        bob.wait_groupchat(room, b)
    ct.wait_for(lambda: stack.events("SELECT count(*) FROM events WHERE room = %s AND "
                                     "type = 'groupchat'", (room,))[0][0] == len(bodies),
                20 * SLOW, "the groupchat events", interval=0.2)
    assert_each_once(stack, bodies)
    rec = stack.events("SELECT recipients FROM events WHERE body = %s", (bodies[0],))[0][0]
    assert sorted(rec) == sorted([alice.full_jid, bob.full_jid])


# ------------------------------------------------------------------ a malformed event

def test_malformed_event_is_parked_and_logged_once(stack, env):
    """An event the archiver refuses as malformed (modify/bad-request) is logged once
    and left in the outbox; it does not hold up the events after it."""
    import uuid as uuidlib
    d = env.confabd()
    alice, room = env.owner_room("bad")
    env.wait_drained()
    bad = str(uuidlib.uuid4())
    mark = d.mark()
    # no <actor/> and no forwarded message: the archiver answers modify/bad-request
    env.sql("INSERT INTO compliance_outbox (uuid, room, xml) VALUES (%s, %s, %s)",
            (bad, room, f"<event xmlns='urn:confab:compliance:0' id='{bad}' type='groupchat' "
                        f"time='2026-01-01T00:00:00Z' room='{room}'/>"))
    tag = secrets.token_hex(4)
    bodies = [f"bad {tag} #{i}" for i in range(10)]
    send_stream(alice, room, bodies)
    wait_bodies_stored(env, bodies)
    ct.wait_for(lambda: env.sql("SELECT uuid::text FROM compliance_outbox") == [(bad,)],
                DRAIN_S, "only the malformed event left in the outbox", interval=0.2)
    assert_each_once(stack, bodies)
    lines = d.wait_log(r"ERROR: compliance: .* refused event " + bad, after=mark)
    alice.pump(2)
    assert len([ln for ln in d.lines(mark) if bad in ln]) == 1, lines
    assert stack.events("SELECT count(*) FROM events WHERE uuid = %s", (bad,)) == [(0,)]


# ------------------------------------------------------------------ confabd restarts

def test_kill9_confabd_with_backlog_resends_at_start(stack, env):
    """Events committed to the outbox survive confabd's crash and are sent at start-up."""
    d = env.confabd()
    alice, room = env.owner_room("crash", {"muc#roomconfig_persistentroom": True})
    env.wait_drained()
    stack.archiver.stop()
    try:
        tag = secrets.token_hex(4)
        bodies = [f"cr {tag} #{i}" for i in range(100)]
        send_stream(alice, room, bodies)
        wait_bodies_stored(env, bodies)
        assert env.outbox() >= len(bodies)
        d.proc.stop(signal.SIGKILL, timeout=5)
        d.returncode = -9
    finally:
        stack.start_archiver()
    mark = d.mark()
    d.start()
    d.wait_link_up(after=mark)
    d.wait_log(r"compliance: \d+ events in the outbox to send", after=mark, timeout=20)
    env.wait_drained()
    assert_each_once(stack, bodies)


# ------------------------------------------------------------------ retention

def the_purge_event(stack, room):
    """(actor, reason, detail) of room's one purge event, once it is archived."""
    rows = ct.wait_for(lambda: stack.events(
        "SELECT actor_jid, reason, detail FROM events WHERE room = %s AND type = 'purge'",
        (room,)) or None, 20 * SLOW, "the purge event", interval=0.2)
    assert len(rows) == 1, rows
    return rows[0]


def texts_sha256(bodies):
    """A purge event's digest of the texts it removed (include/purge_digest.h)."""
    data = "".join(f"{len(b.encode())}:{b}," for b in bodies)
    return hashlib.sha256(data.encode()).hexdigest()


def test_retention_sweep_records_a_purge_event(stack, env):
    """The retention sweep deletes expired messages and records one `purge` event per
    room in the same transaction (the sweep first runs 5 s after start-up)."""
    d = env.confabd(storage_extra="retention = 1s\n")
    alice, room = env.owner_room("purge", {"muc#roomconfig_persistentroom": True})
    tag = secrets.token_hex(4)
    bodies = [f"pg {tag} #{i}" for i in range(5)]
    send_stream(alice, room, bodies)
    wait_bodies_stored(env, bodies)
    ct.wait_for(lambda: env.sql("SELECT count(*) FROM messages m JOIN rooms r ON "
                                "r.id = m.room_id WHERE r.jid = %s", (room,)) == [(0,)],
                30 * SLOW, "the retention sweep", interval=0.2)
    env.wait_drained()
    actor, reason, detail = the_purge_event(stack, room)
    assert (actor, reason) == (MUC_DOMAIN, "retention")
    assert "messages='5'" in detail or 'messages="5"' in detail, detail
    assert f"texts-sha256='{texts_sha256(bodies)}'" in detail.replace('"', "'"), detail
    assert_each_once(stack, bodies)


def persistent_room_with(env, prefix, n):
    """A confabd, and a persistent room of alice's with n stored messages."""
    d = env.confabd()
    alice, room = env.owner_room(prefix, {"muc#roomconfig_persistentroom": True})
    tag = secrets.token_hex(4)
    bodies = [f"{prefix} {tag} #{i}" for i in range(n)]
    send_stream(alice, room, bodies)
    wait_bodies_stored(env, bodies)
    return d, room, bodies


def test_confabctl_import_records_a_create_event(stack, env, tmp_path):
    """`confabctl import` writes one `create` event per imported room into confabd's
    outbox, in the room's transaction; the archiver accepts it (actor the service, nick
    the operator, how many messages came from which file)."""
    d, room, _bodies = persistent_room_with(env, "imported", 3)
    f = tmp_path / "room.jsonl"
    for args in (("export", "--room", room, "--out", f), ("import", f, "--replace")):
        r = ct.run_tool("confabctl", "-c", d.config, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    env.wait_drained()
    rows = ct.wait_for(lambda: stack.events(
        "SELECT actor_jid, actor_nick, reason, detail FROM events WHERE room = %s "
        "AND type = 'create' AND detail LIKE '%%<import %%'", (room,)) or None,
        20 * SLOW, "the import's create event", interval=0.2)
    assert len(rows) == 1, rows
    actor, nick, reason, detail = rows[0]
    assert (actor, reason) == (MUC_DOMAIN, "imported by confabctl import") and nick, rows
    assert "messages='3'" in detail.replace('"', "'") and str(f) in detail, detail


def test_confabctl_history_purge_records_a_purge_event(stack, env):
    """`confabctl history purge` (an administrator's purge, not confabd's sweep) writes a
    `purge` event to confabd's outbox in each batch's transaction; confabd's sender takes
    it to the archiver like any other event."""
    d, room, bodies = persistent_room_with(env, "adminpurge", 7)
    r = ct.run_tool("confabctl", "-c", d.config, "history", "purge", "--room", room,
                    "--before", "2999-01-01T00:00:00Z")
    assert r.returncode == 0, r.stderr
    assert "purged 7 messages" in r.stdout, r.stdout
    env.wait_drained()
    actor, reason, detail = the_purge_event(stack, room)
    assert (actor, reason) == (MUC_DOMAIN, "history purge"), (actor, reason, detail)
    assert "messages='7'" in detail or 'messages="7"' in detail, detail
    assert f"texts-sha256='{texts_sha256(bodies)}'" in detail.replace('"', "'"), detail


# ------------------------------------------------------------------ fidelity (issue 17 item 7)

def officer_search(stack, *args):
    r = ct.run_tool("confabctl", "-c", stack.archiver.config, "compliance", "search", *args,
                    timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_each_message_once_nick_changes_in_order_moderation_hashed(stack, env):
    """Through the real tap and the real confabd: a private message in a room is one
    `private` event (not again as the tap's two copies); a 1:1 message is one search
    row with both directions; a room's MAM results are no chat events; the search
    lists a room's events in chain order with the nick change; a moderation carries
    the SHA-256 of the text it took down."""
    env.confabd()
    alice, room = env.owner_room("fidelity", {"muc#roomconfig_persistentroom": True,
                                              "muc#roomconfig_enablelogging": True})
    bob = env.client("bob")
    bob.join(room, "Bob")
    tag = secrets.token_hex(4)
    psst = f"psst {tag}"
    bob.send(f"<message to='{room}/Alice' type='chat' id='pm1'><body>{psst}</body>"
             f"<x xmlns='{NS_MUC_USER}'/></message>")
    alice.wait(lambda s: s.findtext(f"{{{NS_CLIENT}}}body") == psst, what="the PM")
    bob.send(f"<presence to='{room}/Robert'/>")
    bob.wait(lambda s: local_name(s) == "presence" and s.get("from") == f"{room}/Robert"
             and 110 in status_codes(s), what="bob's new nick")
    after = f"after the nick change {tag}"
    bob.groupchat(room, after)
    alice.wait_groupchat(room, after)
    spam = f"buy potions {tag}"
    bob.groupchat(room, spam)
    seen = alice.wait_groupchat(room, spam)
    sid = seen.find(f"{{{NS_SID}}}stanza-id").get("id")
    r = alice.iq(room, "set", f"<moderate xmlns='urn:xmpp:message-moderate:1' id='{sid}'>"
                              "<retract xmlns='urn:xmpp:message-retract:1'/><reason>spam"
                              "</reason></moderate>")
    assert r.get("type") == "result", describe(r)
    r = alice.iq(room, "set", f"<query xmlns='{NS_MAM}' queryid='fq'/>")
    assert r.get("type") == "result", describe(r)
    chat = f"one to one {tag}"
    alice.send(f"<message to='{bob.full_jid}' type='chat' id='c1'><body>{chat}</body>"
               "</message>")
    bob.wait(lambda s: s.findtext(f"{{{NS_CLIENT}}}body") == chat, what="the 1:1 chat")
    env.wait_drained()
    # the tap's copies of the 1:1 chat come after everything above (one tap, in order)
    ct.wait_for(lambda: len(body_events(stack, chat)) == 2, 20 * SLOW, "the tap's copies",
                interval=0.2)
    assert [t for t, _, _ in body_events(stack, psst)] == ["private"]
    muc_copies = stack.events(
        "SELECT type, actor_jid, target_jid FROM events WHERE room IS NULL AND "
        "(actor_jid LIKE %s OR target_jid LIKE %s)", (f"%@{MUC_DOMAIN}%", f"%@{MUC_DOMAIN}%"))
    assert muc_copies == [], muc_copies

    # one row per 1:1 message, both directions known
    rows = json.loads(officer_search(stack, "--words", tag, "--type", "chat", "--format",
                                     "json"))
    assert [(r["body"], r["directions"], r["copies"]) for r in rows] == [(chat, "in+out", 2)]
    # the room in chain order, the nick change with both nicks, before what followed it
    table = officer_search(stack, "--room", room).splitlines()
    head = table[0].split()
    assert head == ["seq", "time", "type", "room", "from", "nick", "to", "dir", "text"]
    seqs = [int(line.split()[0]) for line in table[1:-1]]
    assert seqs == sorted(seqs) and len(seqs) == int(table[-1].split()[0][1:])
    types = [line.split()[2] for line in table[1:-1]]
    nick_line = next(line for line in table[1:-1] if line.split()[2] == "nick")
    assert " Bob " in nick_line and " Robert" in nick_line, nick_line
    assert types.index("nick") < types.index("groupchat") < types.index("moderate"), types
    # the moderation: who, why, and the hash of the text taken down
    (detail, actor, reason), = stack.events(
        "SELECT detail, actor_jid, reason FROM events WHERE room = %s AND type = 'moderate'",
        (room,))
    assert (actor, reason) == (alice.full_jid, "spam")
    digest = hashlib.sha256(spam.encode()).hexdigest()
    assert f"text-sha256='{digest}'" in detail.replace('"', "'"), detail
    assert f"stanza-id='{sid}'" in detail.replace('"', "'"), detail


def test_confabctl_category_and_group_changes_reach_the_archive(stack, env):
    """Issue 16: confabctl's category, group and set-category changes write their
    events to confabd's outbox in the change's transaction; confabd's sender takes
    them to the archiver, which stores the room-less ones too (room NULL), with the
    service as actor and the officer as nick."""
    d = env.confabd()
    alice, room = env.owner_room("walled", {"muc#roomconfig_persistentroom": True})
    tag = secrets.token_hex(3)
    cat, grp = f"Desk{tag}", f"desk{tag}"

    def ctl(*args):
        r = ct.run_tool("confabctl", "-c", d.config, *args, "--officer", "Olivia")
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
    ctl("group", "create", grp)
    ctl("group", "add", grp, f"bob@{DOMAIN}")
    ctl("category", "create", cat, "--allow", "everyone", "--deny", f"group:{grp}")
    ctl("rooms", "set-category", room, cat)
    env.wait_drained()
    rows = ct.wait_for(lambda: (lambda r: r if len(r) == 4 else None)(stack.events(
        "SELECT type, room, actor_jid, actor_nick, detail FROM events "
        "WHERE type IN ('category', 'group') AND (detail LIKE %s OR detail LIKE %s) "
        "ORDER BY seq", (f"%{cat}%", f"%{grp}%"))), 20 * SLOW, "the four events", interval=0.2)
    assert [r[0] for r in rows] == ["group", "group", "category", "category"], rows
    assert [r[1] for r in rows] == [None, None, None, room], rows
    assert all(r[2] == MUC_DOMAIN and r[3] == "Olivia" for r in rows), rows
    assert f"bob@{DOMAIN}" in rows[1][4] and f"name='{grp}'" in rows[2][4].replace('"', "'"), rows
