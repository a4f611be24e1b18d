"""Issue 5, archiver side: confab-archiver records compliance events in a
tamper-evident PostgreSQL schema, and the Prosody tap (contrib/prosody/
mod_confab_tap.lua) feeds it every 1:1 message passing c2s.

Real Prosody (with the tap loaded from contrib/prosody), a real PostgreSQL 15
cluster of this module's own (so it can be stopped and its roles changed without
disturbing other modules), the real confab-archiver, and real slixmpp clients. A
slixmpp component at conference.localhost plays confabd and sends events the way
docs/compliance-protocol.md says confabd does.

Rows are checked with psycopg 3 as the database owner; the roles tests connect as
confab_archiver, confab_officer and an unrelated login role. Tamper detection runs
tests/db/verify_chain, which recomputes the hash chain with src/core/hashchain.c."""

import asyncio
import json
import secrets
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import pytest

import confabtest as ct
from confabtest import ARCHIVE_DOMAIN, DOMAIN, HOST, MUC_DOMAIN, NS_STANZAS, describe

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.skipif("prosody" not in ct.muc_router_kinds(),
                                reason="CONFAB_TEST_ROUTERS excludes prosody")

NS = "urn:confab:compliance:0"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
TAP_DIR = ct.REPO / "contrib" / "prosody"
ROOM = f"compliance@{MUC_DOMAIN}"
SLOW = ct.SLOW
DB = "confab_compliance"


# ------------------------------------------------------------------ the fake confabd

class FakeConfabd:
    """A slixmpp component at MUC_DOMAIN that sends compliance IQs to the archiver
    and returns its answers (ElementTree elements); nothing ever blocks unbounded."""

    def __init__(self, domain, secret, port):
        import slixmpp
        self.domain = domain
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        x = slixmpp.ComponentXMPP(domain, secret, HOST, port)
        x.loop = self.loop
        self.xmpp = x
        started = self.loop.create_future()
        x.add_event_handler("session_start",
                            lambda _: started.done() or started.set_result(True))
        x.connect()
        try:
            self.loop.run_until_complete(asyncio.wait_for(started, 15))
        except asyncio.TimeoutError:
            self.close()
            raise AssertionError(f"component {domain} could not connect to the router")

    def start(self, payload, timeout=20):
        """Send one IQ set carrying payload (XML string); returns its future."""
        asyncio.set_event_loop(self.loop)
        iq = self.xmpp.make_iq_set(ito=ARCHIVE_DOMAIN, ifrom=self.domain)
        iq.append(ET.fromstring(payload))
        return iq.send(timeout=timeout * SLOW)

    def pump(self, seconds):
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def finish(self, fut, timeout=20):
        """The answer to a start()ed IQ: the reply element, result or error."""
        from slixmpp.exceptions import IqError, IqTimeout
        if not fut.done():
            self.loop.run_until_complete(asyncio.wait([fut], timeout=timeout * SLOW))
        assert fut.done(), f"no answer from the archiver within {timeout}s"
        try:
            return fut.result().xml
        except IqError as e:
            return e.iq.xml
        except IqTimeout:
            raise AssertionError("the archiver never answered (IQ timeout)")

    def send(self, payload, timeout=20):
        return self.finish(self.start(payload, timeout), timeout)

    def close(self):
        ct.close_slixmpp(self.loop, self.xmpp)


# ------------------------------------------------------------------ event builders

def stamp(t):
    """XEP-0082 UTC DateTime with milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def person(tag, p):
    if not p:
        return ""
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in p.items() if v is not None)
    return f"<{tag}{attrs}/>"


def message(body=None, frm=None, to=None, mtype="groupchat", subject=None, thread=None):
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in
                    (("from", frm), ("to", to), ("type", mtype)) if v is not None)
    inner = "".join(f"<{t}>{escape(v)}</{t}>" for t, v in
                    (("subject", subject), ("body", body), ("thread", thread)) if v is not None)
    return f"<message xmlns='jabber:client'{attrs}>{inner}</message>"


def forwarded(stanza, delay=None):
    d = f"<delay xmlns='{NS_DELAY}' stamp='{delay}'/>" if delay else ""
    return f"<forwarded xmlns='{NS_FORWARD}'>{d}{stanza}</forwarded>"


def event(etype, uid=None, when=None, room=ROOM, actor=None, target=None, recipients=(),
          reason=None, detail=None, stanza=None, delay=None):
    """An <event/> as confabd sends it (docs/compliance-protocol.md)."""
    uid = uid or str(uuid.uuid4())
    actor = actor if actor is not None else {"jid": f"alice@{DOMAIN}/r1", "nick": "alice",
                                             "role": "participant", "affiliation": "member"}
    room_attr = f" room={quoteattr(room)}" if room else ""
    parts = [person("actor", actor), person("target", target)]
    if recipients:
        parts.append("<recipients>" + "".join(
            f"<recipient jid={quoteattr(j)}/>" for j in recipients) + "</recipients>")
    if reason is not None:
        parts.append(f"<reason>{escape(reason)}</reason>")
    if detail is not None:
        parts.append(f"<detail>{detail}</detail>")
    if stanza is not None:
        parts.append(forwarded(stanza, delay))
    return (f"<event xmlns='{NS}' id='{uid}' type='{etype}' "
            f"time='{when or stamp(time.time())}'{room_attr}>{''.join(parts)}</event>")


def tap(direction, stanza, uid=None, when=None, session=None):
    s = f" session={quoteattr(session)}" if session else ""
    return (f"<tap xmlns='{NS}' id='{uid or uuid.uuid4()}' direction='{direction}' "
            f"time='{when or stamp(time.time())}'{s}>{forwarded(stanza)}</tap>")


def assert_result(reply):
    assert reply.get("type") == "result", describe(reply)


def error_of(reply):
    """(type, condition) of an error reply, whatever the stanza namespace. The
    archiver's <error/> comes first (slixmpp may append an empty one of its own in
    jabber:client when it looks at a component stanza's error)."""
    assert reply.get("type") == "error", f"expected an error, got {describe(reply)}"
    err = next(c for c in reply if c.tag.rsplit("}", 1)[-1] == "error")
    conds = [c.tag.rsplit("}", 1)[-1] for c in err
             if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith("}text")]
    return (err.get("type"), conds[0] if conds else "?")


# ------------------------------------------------------------------ the stack

class Env:
    def __init__(self, workdir):
        self.workdir = workdir
        self.secrets = {MUC_DOMAIN: "muc-" + secrets.token_hex(8),
                        ARCHIVE_DOMAIN: "archive-" + secrets.token_hex(8)}
        self.passwords = {u: f"{u}-pw-{secrets.token_hex(4)}" for u in ("alice", "bob")}
        self.pg = ct.Postgres(databases=(DB,))
        self.router = ct.ProsodyRouter(
            self.secrets, modules=("confab_tap", "carbons", "mam"), plugin_paths=(str(TAP_DIR),),
            host_config=f'confab_tap_archiver = "{ARCHIVE_DOMAIN}"\nconfab_tap_retry = 1\n'
                        f'confab_tap_timeout = 5')
        self.archiver = None
        self.fake = None
        self.clients = []
        self.db = None
        try:
            self.pg.start()
            for u, p in self.passwords.items():
                self.router.register(u, p)
            self.router.start()
            self.archiver = self.new_archiver("confab-archiver")
            self.start_archiver(first=True)
            self.fake = FakeConfabd(MUC_DOMAIN, self.secrets[MUC_DOMAIN],
                                    self.router.component_port)
            self.db = psycopg.connect(self.pg.dsn(DB), autocommit=True)
        except BaseException:
            self.stop(check=False)
            raise

    def new_archiver(self, name, dsn=None, extra=""):
        return ct.Daemon("confab-archiver", self.workdir,
                         ct.config_text(self.router.router_addr, self.secrets, self.pg,
                                        compliance_dsn=dsn, extra=extra), name=name)

    def start_archiver(self, first=False, daemon=None):
        d = daemon or self.archiver
        mark = d.mark()
        d.start()
        d.wait_link_up(after=mark)
        d.wait_log(r"compliance: connected to", after=mark, timeout=20)
        if first:
            assert d.wait_log(r"compliance schema migrated from version 0 to", after=mark)
        return d

    def client(self, user):
        c = ct.XmppClient(f"{user}@{DOMAIN}/r{len(self.clients)}", self.passwords[user],
                          self.router.c2s_port)
        self.clients.append(c)
        return c

    def rows(self, sql, *params):
        return self.db.execute(sql, params or None).fetchall()

    def one(self, sql, *params):
        r = self.rows(sql, *params)
        assert len(r) == 1, f"{sql} {params}: {r}"
        return r[0]

    def wait_rows(self, sql, *params, count=1, timeout=15):
        return ct.wait_for(lambda: (lambda r: r if len(r) >= count else None)(
            self.rows(sql, *params)), timeout * SLOW, f"{count} rows of {sql} {params}",
            interval=0.1)

    def stop(self, check=True):
        ct.close_clients(self.clients)
        if self.fake is not None:
            self.fake.close()
        if self.db is not None:
            self.db.close()
        ct.stop_each(lambda: ct.stop_daemon(self.archiver, check),
                     lambda: ct.stop_router(self.router),
                     lambda: ct.stop_postgres(self.pg))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from ct.owned(Env(tmp_path_factory.mktemp("archiver")))


@pytest.fixture
def stack(env):
    """The module's Env; the archiver must still be running after each test."""
    yield env
    ct.close_clients(env.clients)
    assert env.archiver.alive(), f"confab-archiver died\n{env.archiver.tail()}"


# ------------------------------------------------------------------ events

def test_groupchat_event_is_recorded_then_answered(stack):
    uid = str(uuid.uuid4())
    when = "2026-03-14T15:09:26.535Z"
    reply = stack.fake.send(event(
        "groupchat", uid=uid, when=when,
        recipients=[f"alice@{DOMAIN}/r1", f"bob@{DOMAIN}/phone"],
        stanza=message("the quarterly numbers", frm=f"{ROOM}/alice", thread="q1"),
        delay="2026-03-14T15:09:26Z"))
    assert_result(reply)
    # result came after the commit: the row is there the moment we look
    row = stack.one("SELECT type, room, actor_jid, actor_nick, actor_role, actor_affiliation, "
                    "body, thread, msg_type, recipients, sender, stanza, "
                    "to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'), "
                    "stamp IS NOT NULL, octet_length(hash) FROM events WHERE uuid = %s", uid)
    assert row[:11] == ("groupchat", ROOM, f"alice@{DOMAIN}/r1", "alice", "participant",
                        "member", "the quarterly numbers", "q1", "groupchat",
                        [f"alice@{DOMAIN}/r1", f"bob@{DOMAIN}/phone"], MUC_DOMAIN)
    assert "the quarterly numbers" in row[11] and "jabber:client" in row[11]
    assert row[12:] == ("2026-03-14T15:09:26.535", True, 32)
    # who saw it: one JM row in (to the room), one out per recipient
    jm = stack.rows("SELECT to_jid, direction, msg_type, history_flag FROM jm "
                    "WHERE body_string = 'the quarterly numbers' ORDER BY direction, to_jid")
    assert jm == [(ROOM, "I", "g", "N"), (f"alice@{DOMAIN}/r1", "O", "g", "N"),
                  (f"bob@{DOMAIN}/phone", "O", "g", "N")]
    # full-text search
    hit = stack.rows("SELECT uuid::text FROM events WHERE body_tsv @@ "
                     "to_tsquery('simple', 'quarterly & numbers')")
    assert (uid,) in hit


def test_duplicate_uuid_gives_one_row_and_results(stack):
    uid = str(uuid.uuid4())
    ev = event("groupchat", uid=uid, stanza=message("sent three times"))
    head = stack.one("SELECT seq FROM chain_head")[0]
    for _ in range(3):
        assert_result(stack.fake.send(ev))
    assert stack.one("SELECT count(*) FROM events WHERE uuid = %s", uid) == (1,)
    assert stack.one("SELECT seq FROM chain_head")[0] == head + 1


def test_every_event_type(stack):
    room = f"everything@{MUC_DOMAIN}"
    alice = {"jid": f"alice@{DOMAIN}/r1", "nick": "alice", "role": "moderator",
             "affiliation": "owner"}
    bob = {"jid": f"bob@{DOMAIN}/phone", "nick": "bob", "role": "participant",
           "affiliation": "none"}
    config = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
              "http://jabber.org/protocol/muc#roomconfig</value></field>"
              "<field var='muc#roomconfig_persistentroom'><value>1</value></field></x>")
    presence = "<presence xmlns='jabber:client' from='x@y/z'/>"
    evs = [
        event("create", room=room, actor=alice, detail=config),
        event("join", room=room, actor=alice, stanza=presence),
        event("config", room=room, actor=alice, detail=config),
        event("join", room=room, actor=bob),
        event("subject", room=room, actor=alice,
              stanza=message(None, subject="Budget talk", frm=f"{room}/alice")),
        event("groupchat", room=room, actor=bob, recipients=[alice["jid"], bob["jid"]],
              stanza=message("every type groupchat", frm=f"{room}/bob")),
        event("private", room=room, actor=bob, target={"jid": alice["jid"], "nick": "alice"},
              recipients=[alice["jid"]], stanza=message("psst", mtype="chat")),
        event("history", room=room, actor=bob, target={"jid": f"carol@{DOMAIN}/c",
                                                       "nick": "carol"},
              stanza=message("every type groupchat", frm=f"{room}/bob"),
              delay="2026-01-01T00:00:00Z"),
        event("mam", room=room, actor=alice,
              detail="<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'/></query>"),
        event("nick", room=room, actor=bob, target={"jid": bob["jid"], "nick": "robert"}),
        event("role", room=room, actor=alice,
              target={"jid": bob["jid"], "nick": "robert", "role": "visitor",
                      "affiliation": "none"}, reason="quiet please"),
        event("affiliation", room=room, actor=alice,
              target={"jid": f"bob@{DOMAIN}", "affiliation": "member"}),
        event("invite", room=room, actor=alice, target={"jid": f"carol@{DOMAIN}"},
              reason="join us"),
        event("kick", room=room, actor=alice,
              target={"jid": bob["jid"], "nick": "robert", "role": "none"}, reason="bye"),
        event("ban", room=room, actor=alice,
              target={"jid": f"dave@{DOMAIN}", "affiliation": "outcast"}),
        event("leave", room=room, actor=alice, stanza=presence),
        event("purge", room=room, actor={"jid": "admin@localhost/cli"},
              detail="<purge before='2026-01-01T00:00:00Z'/>"),
        event("destroy", room=room, actor=alice, reason="done"),
    ]
    for ev in evs:
        assert_result(stack.fake.send(ev))
    types = [t for (t,) in stack.rows("SELECT type FROM events WHERE room = %s ORDER BY seq",
                                      room)]
    assert types == ["create", "join", "config", "join", "subject", "groupchat", "private",
                     "history", "mam", "nick", "role", "affiliation", "invite", "kick", "ban",
                     "leave", "purge", "destroy"]
    # the Cisco-shaped views
    timelog = stack.rows("SELECT real_jid, nick_jid, direction FROM tc_timelog "
                         "WHERE nick_jid LIKE %s ORDER BY stamp, direction", room + "/%")
    assert (alice["jid"], f"{room}/alice", "E") in timelog
    assert (bob["jid"], f"{room}/bob", "L") in timelog          # nick change: old nick out
    assert (bob["jid"], f"{room}/robert", "E") in timelog       # ... new nick in
    assert (bob["jid"], f"{room}/robert", "L") in timelog       # kicked
    assert (alice["jid"], f"{room}/alice", "L") in timelog
    users = {r[0]: r[1:] for r in stack.rows(
        "SELECT real_jid, role, affiliation, nick_jid, reason, initiator_jid FROM tc_users "
        "WHERE room_jid = %s", room)}
    assert users[bob["jid"]] == ("none", "none", f"{room}/robert", "bye", alice["jid"])
    assert users[f"dave@{DOMAIN}"][:2] == ("none", "outcast")
    assert users[f"bob@{DOMAIN}"][:2] == ("none", "member")
    arch = stack.rows("SELECT from_jid, nick_jid, msg_type, subject FROM tc_msgarchive "
                      "WHERE to_jid = %s", room)
    assert arch == [(bob["jid"], f"{room}/bob", "g", "Budget talk")]
    # destroyed: not in TC_ROOMS any more
    assert stack.rows("SELECT 1 FROM tc_rooms WHERE room_jid = %s", room) == []
    hist = stack.rows("SELECT to_jid, from_jid, direction, history_flag FROM jm "
                      "WHERE history_flag = 'H' AND to_jid LIKE 'carol@%%'")
    assert hist == [(f"carol@{DOMAIN}/c", bob["jid"], "O", "H")]


def test_tc_rooms(stack):
    room = f"standing@{MUC_DOMAIN}"
    config = ("<x xmlns='jabber:x:data' type='submit'>"
              "<field var='muc#roomconfig_persistentroom'><value>1</value></field></x>")
    owner = {"jid": f"alice@{DOMAIN}/r1", "nick": "alice"}
    assert_result(stack.fake.send(event("create", room=room, actor=owner, detail=config)))
    assert_result(stack.fake.send(event(
        "subject", room=room, actor=owner,
        stanza=message(None, subject="Standing orders", frm=f"{room}/alice"))))
    for i in range(3):
        assert_result(stack.fake.send(event("groupchat", room=room, actor=owner,
                                            stanza=message(f"order {i}"))))
    row = stack.one("SELECT creator_jid, subject, type, config LIKE '%%persistentroom%%', "
                    "spacket LIKE '%%Standing orders%%', next_msg_id - start_msg_id "
                    "FROM tc_rooms WHERE room_jid = %s", room)
    assert row[:5] == (owner["jid"], "Standing orders", "persistent", True, True)
    assert row[5] >= 3


def test_malformed_events_get_bad_request_and_one_log_line(stack):
    mark = stack.archiver.mark()
    before = stack.one("SELECT seq FROM chain_head")[0]
    bad = [
        f"<event xmlns='{NS}' id='not-a-uuid' type='join' time='{stamp(time.time())}' "
        f"room='{ROOM}'><actor jid='a@b'/></event>",
        event("teleport"),                                     # no such type
        f"<event xmlns='{NS}' id='{uuid.uuid4()}' type='join' time='yesterday' "
        f"room='{ROOM}'><actor jid='a@b'/></event>",
        event("groupchat"),                                    # no forwarded message
        event("kick"),                                         # no target
        event("join", room="not a jid@@"),
    ]
    for b in bad:
        reply = stack.fake.send(b)
        assert error_of(reply) == ("modify", "bad-request"), describe(reply)
    lines = stack.archiver.wait_log(r"rejected a malformed event", after=mark, count=len(bad))
    assert len(lines) == len(bad)
    assert stack.one("SELECT seq FROM chain_head")[0] == before


def test_a_user_cannot_write_to_the_archive(stack):
    mallory = stack.client("alice")
    reply = mallory.iq(ARCHIVE_DOMAIN, "set", event("groupchat", stanza=message("forged")))
    assert error_of(reply) == ("auth", "forbidden")
    assert stack.rows("SELECT 1 FROM events WHERE body = 'forged'") == []


def test_result_only_after_commit(stack):
    """While another transaction holds the chain head, the event cannot commit:
    no answer. Once it commits, result."""
    uid = str(uuid.uuid4())
    with psycopg.connect(stack.pg.dsn(DB)) as locker:
        locker.execute("SELECT * FROM chain_head FOR UPDATE")
        fut = stack.fake.start(event("groupchat", uid=uid, stanza=message("held back")))
        stack.fake.pump(1.5)
        assert not fut.done(), "answered before the event could be committed"
        assert stack.rows("SELECT 1 FROM events WHERE uuid = %s", uid) == []
        locker.rollback()
    assert_result(stack.fake.finish(fut))
    assert stack.one("SELECT count(*) FROM events WHERE uuid = %s", uid) == (1,)


def test_database_down_answers_wait_then_recovers(stack):
    mark = stack.archiver.mark()
    stack.pg.stop_server()
    try:
        stack.archiver.wait_log(r"compliance: connection lost", after=mark, timeout=10)
        uid = str(uuid.uuid4())
        ev = event("groupchat", uid=uid, stanza=message("during the outage"))
        reply = stack.fake.send(ev)
        assert error_of(reply) == ("wait", "resource-constraint"), describe(reply)
    finally:
        stack.pg.start_server()
    stack.archiver.wait_log(r"compliance: connected to", after=mark, timeout=15)
    stack.db.close()
    stack.db = psycopg.connect(stack.pg.dsn(DB), autocommit=True)

    # as confabd's outbox does: the same event again until result
    def delivered():
        r = stack.fake.send(ev)
        return r.get("type") == "result"
    ct.wait_for(delivered, 15 * SLOW, "the event to be accepted again", interval=0.5)
    assert stack.one("SELECT count(*) FROM events WHERE uuid = %s", uid) == (1,)


def test_kill9_during_traffic_loses_nothing_duplicates_nothing(stack):
    uids = [str(uuid.uuid4()) for _ in range(300)]
    evs = {u: event("groupchat", uid=u, stanza=message(f"burst {i}")) for i, u in
           enumerate(uids)}
    futs = {u: stack.fake.start(evs[u]) for u in uids}
    stack.fake.pump(0.05)
    stack.archiver.proc.signal_group(signal.SIGKILL)
    stack.archiver.proc.wait(10)
    stack.archiver.returncode = -9
    stack.archiver.proc.stop()
    acked = set()
    stack.fake.pump(0.5)
    for u, f in futs.items():
        if f.done() and not f.exception() and f.result()["type"] == "result":
            acked.add(u)
        elif not f.done():
            f.cancel()
    print(f"kill -9 after {len(acked)} of {len(uids)} events were acknowledged")
    # what was acknowledged must be there already
    if acked:
        got = {r[0] for r in stack.rows("SELECT uuid::text FROM events WHERE uuid = ANY(%s)",
                                        list(acked))}
        assert got == acked
    stack.start_archiver()
    # the outbox sends everything not acknowledged again
    for u in uids:
        if u not in acked:
            def ok(u=u):
                return stack.fake.send(evs[u]).get("type") == "result"
            ct.wait_for(ok, 15 * SLOW, f"event {u} accepted", interval=0.2)
    counts = stack.rows("SELECT count(*), count(DISTINCT uuid) FROM events "
                        "WHERE uuid = ANY(%s)", uids)
    assert counts == [(300, 300)]


def test_bounded_queue_answers_wait(stack):
    """max_queue = 1: while one event is held by a lock, the next gets wait."""
    stack.archiver.stop()
    small = stack.new_archiver("archiver-small", extra="[archiver]\nmax_queue = 1\n")
    try:
        stack.start_archiver(daemon=small)
        with psycopg.connect(stack.pg.dsn(DB)) as locker:
            locker.execute("SELECT * FROM chain_head FOR UPDATE")
            first = stack.fake.start(event("groupchat", stanza=message("first in")))
            stack.fake.pump(0.5)
            reply = stack.fake.send(event("groupchat", stanza=message("one too many")))
            assert error_of(reply) == ("wait", "resource-constraint")
            small.wait_log(r"intake queue full")
            locker.rollback()
        assert_result(stack.fake.finish(first))
    finally:
        small.check_clean_exit()
        stack.start_archiver()


# ------------------------------------------------------------------ the Prosody tap

def chat(sender, receiver, to, body, mid=None):
    """sender says body to `to` (receiver's bare or full JID); returns once receiver
    has it."""
    id_attr = f" id='{mid}'" if mid else ""
    sender.send_raw(f"<message to='{to}' type='chat'{id_attr}><body>{escape(body)}</body>"
                    "</message>")
    receiver.wait_message(lambda m: m.findtext("{jabber:client}body") == body)


def test_tap_copies_chat_in_and_out(stack):
    alice, bob = stack.client("alice"), stack.client("bob")
    bob.send_raw("<presence/>")
    body = f"tap check {secrets.token_hex(4)}"
    chat(alice, bob, f"bob@{DOMAIN}", body, "t1")
    rows = stack.wait_rows("SELECT direction, actor_jid, target_jid, msg_type, sender "
                           "FROM events WHERE type = 'chat' AND body = %s ORDER BY direction",
                           body, count=2)
    assert rows == [("in", alice.jid, f"bob@{DOMAIN}", "chat", DOMAIN),
                    ("out", alice.jid, bob.jid, "chat", DOMAIN)]
    jm = stack.rows("SELECT from_jid, to_jid, direction, msg_type, history_flag FROM jm "
                    "WHERE body_string = %s ORDER BY direction", body)
    assert jm == [(alice.jid, f"bob@{DOMAIN}", "I", "c", "N"),
                  (alice.jid, bob.jid, "O", "c", "N")]


def test_tap_skips_what_the_server_says_on_its_own_behalf(stack):
    """Carbon copies (from the user's own bare JID) repeat a message the tap already
    copied: each message is recorded once in and once out, not again per carbon."""
    # The stack is shared by the module: look only at events recorded from here on.
    (since,) = stack.one("SELECT coalesce(max(seq), 0) FROM events")
    alice, alice2, bob = stack.client("alice"), stack.client("alice"), stack.client("bob")
    for c in (alice2, bob):
        c.send_raw("<presence/>")
    # (its result is not awaited: the carbon below proves carbons are on)
    alice2.send_raw("<iq type='set' id='cb1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    alice2.pump(0.5)
    body = f"carbon check {secrets.token_hex(4)}"
    alice.send_raw(f"<message to='bob@{DOMAIN}' type='chat' id='c1'><body>{body}</body>"
                   "</message>")
    bob.wait_message(lambda m: m.findtext("{jabber:client}body") == body)
    alice2.wait_message(lambda m: m.find("{urn:xmpp:carbons:2}sent") is not None)
    rows = stack.wait_rows("SELECT direction, target_jid FROM events WHERE type = 'chat' "
                           "AND body = %s ORDER BY direction", body, count=2)
    time.sleep(1)  # a copy of the carbon would come a moment after
    rows = stack.rows("SELECT direction, target_jid FROM events WHERE type = 'chat' "
                      "AND body = %s ORDER BY direction", body)
    assert rows == [("in", f"bob@{DOMAIN}"), ("out", bob.jid)], rows
    # The carbon itself (its body is inside <sent/>) is not recorded for alice2.
    carbons = stack.rows("SELECT direction, actor_jid FROM events WHERE target_jid = %s "
                         "AND seq > %s", alice2.jid, since)
    assert carbons == [], carbons


def test_tap_retries_while_the_archiver_is_away(stack):
    alice, bob = stack.client("alice"), stack.client("bob")
    bob.send_raw("<presence/>")
    stack.archiver.stop()
    try:
        body = f"while away {secrets.token_hex(4)}"
        alice.send_raw(f"<message to='{bob.jid}' type='chat'><body>{body}</body></message>")
        bob.wait_message(lambda m: m.findtext("{jabber:client}body") == body)
        time.sleep(1.5)
    finally:
        stack.start_archiver()
    rows = stack.wait_rows("SELECT direction FROM events WHERE body = %s ORDER BY direction",
                           body, count=2, timeout=20)
    assert rows == [("in",), ("out",)]


# ------------------------------------------------------------------ fidelity (issue 17 item 7)

def search(stack, *args):
    """confabctl compliance search as an officer runs it, JSON rows."""
    r = ct.run_tool("confabctl", "-c", stack.archiver.config, "compliance", "search",
                    "--format", "json", *args, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def sentinel(stack, alice, bob):
    """A 1:1 message sent after whatever a test did, waited for in the archive: the
    tap's copies of anything before it have been committed (one component stream,
    one ordered intake)."""
    body = f"sentinel {secrets.token_hex(4)}"
    chat(alice, bob, bob.jid, body)
    stack.wait_rows("SELECT seq FROM events WHERE body = %s", body, count=2)


def test_one_to_one_message_is_one_row_in_search_with_both_directions(stack):
    alice, bob = stack.client("alice"), stack.client("bob")
    bob.send_raw("<presence/>")
    body = f"once please {secrets.token_hex(4)}"
    chat(alice, bob, f"bob@{DOMAIN}", body, "once1")
    copies = stack.wait_rows("SELECT direction, msg_key FROM events WHERE body = %s "
                             "ORDER BY direction", body, count=2)
    assert [d for d, _ in copies] == ["in", "out"]
    assert copies[0][1] and copies[0][1] == copies[1][1], copies   # one key
    # the officer's view and the search: one message, both directions known
    view = stack.rows("SELECT from_jid, to_jid, directions, copies, delivered_to "
                      "FROM compliance_messages WHERE body = %s", body)
    assert view == [(f"alice@{DOMAIN}", f"bob@{DOMAIN}", ["in", "out"], 2, [bob.jid])], view
    rows = search(stack, "--words", body.split()[-1])
    assert [(r["type"], r["directions"], r["copies"], r["body"]) for r in rows] == [
        ("chat", "in+out", 2, body)], rows
    every = search(stack, "--words", body.split()[-1], "--all-copies")
    assert sorted(r["direction"] for r in every) == ["in", "out"]
    assert all(r["copies"] == 1 for r in every)
    # Cisco's JM keeps every copy, as Cisco's Message Archiver logs them
    assert len(stack.rows("SELECT 1 FROM jm WHERE body_string = %s", body)) == 2
    # the same id with another text is another message, not hidden behind the first
    other = f"not the same {secrets.token_hex(4)}"
    chat(alice, bob, f"bob@{DOMAIN}", other, "once1")
    stack.wait_rows("SELECT seq FROM events WHERE body = %s", other, count=2)
    assert len(search(stack, "--user", f"alice@{DOMAIN}", "--words",
                      f"{body.split()[-1]} or {other.split()[-1]}")) == 2


def test_error_bounces_and_replays_are_not_chat_events(stack):
    """A bounce says nothing and is not recorded; an error stanza that carries text
    is kept as type error; MAM results and carbons from the user's own account, and
    what confab's room service sends, are not recorded again by the archiver."""
    (since,) = stack.one("SELECT coalesce(max(seq), 0) FROM events")
    alice, bob = stack.client("alice"), stack.client("bob")
    bob.send_raw("<presence/>")
    alice.send_raw("<presence/>")
    # a message to an account that does not exist: Prosody bounces it
    lost = f"to nobody {secrets.token_hex(4)}"
    alice.send_raw(f"<message to='nobody@{DOMAIN}' type='chat' id='b1'><body>{lost}</body>"
                   "</message>")
    alice.wait_message(lambda m: m.get("type") == "error" and m.get("id") == "b1")
    # an error-typed message carrying text (the evasion case): delivered, so kept
    hidden = f"hidden in an error {secrets.token_hex(4)}"
    alice.send_raw(f"<message to='{bob.jid}' type='error' id='e1'><body>{hidden}</body>"
                   "<error type='cancel'><undefined-condition "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    # alice reads her archive (Prosody's mod_mam, slixmpp's XEP-0313 plugin)
    alice.xmpp.register_plugin("xep_0313")

    async def mam():
        return await alice.xmpp.plugin["xep_0313"].retrieve(jid=None, iterator=False,
                                                             timeout=10)
    alice.loop.run_until_complete(mam())
    # copies as an older tap (or mod_service_log) sends them: the archiver decides
    for copy in (tap("out", f"<message xmlns='jabber:client' from='alice@{DOMAIN}'>"
                            f"<result xmlns='urn:xmpp:mam:2' id='r1'><forwarded "
                            f"xmlns='{NS_FORWARD}'>{message('replayed', mtype='chat')}"
                            "</forwarded></result></message>", session=alice.jid),
                 tap("out", message("a room PM", frm=f"{ROOM}/carol", mtype="chat"),
                     session=alice.jid),
                 tap("out", f"<message xmlns='jabber:client' from='{ROOM}'><result "
                            f"xmlns='urn:xmpp:mam:2' id='r2'/></message>", session=alice.jid)):
        assert_result(stack.fake.send(copy))
    sentinel(stack, alice, bob)
    rows = stack.rows("SELECT type, direction, msg_type, body, actor_jid, target_jid "
                      "FROM events WHERE seq > %s AND sender = %s ORDER BY seq", since, DOMAIN)
    kinds = [(t, d, b) for t, d, _, b, _, _ in rows]
    assert ("chat", "in", lost) in kinds                      # what alice said is kept
    assert not [r for r in rows if r[2] == "error" and r[3] is None], rows  # no bounce
    assert ("error", "in", hidden) in kinds                   # text in an error is kept
    assert all(t != "chat" or b is not None for t, _, b in kinds), rows  # no replay
    from_fake = stack.rows("SELECT count(*) FROM events WHERE seq > %s AND sender = %s",
                           since, MUC_DOMAIN)
    assert from_fake == [(0,)]
    assert not [r for r in rows if MUC_DOMAIN in (r[4] or "") + (r[5] or "")], rows


def test_chat_states_follow_the_record_signals_switch(stack):
    """Chat states (slixmpp's XEP-0085 plugin) are skipped by default and recorded as
    type signal with [archiver] record_signals = true."""
    def send_composing(sender, to):
        sender.xmpp.register_plugin("xep_0085")
        m = sender.xmpp.make_message(mto=to, mtype="chat")
        m["chat_state"] = "composing"
        m["id"] = f"cs-{secrets.token_hex(4)}"
        m.send()
        sender.pump(0.05)
        return m["id"]

    alice, bob = stack.client("alice"), stack.client("bob")
    bob.send_raw("<presence/>")
    skipped = send_composing(alice, bob.jid)
    bob.wait_message(lambda m: m.get("id") == skipped)
    sentinel(stack, alice, bob)
    assert stack.rows("SELECT type FROM events WHERE stanza LIKE %s", f"%{skipped}%") == []

    stack.archiver.stop()
    signals = stack.new_archiver("archiver-signals",
                                 extra="[archiver]\nrecord_signals = true\n")
    try:
        stack.start_archiver(daemon=signals)
        kept = send_composing(alice, bob.jid)
        bob.wait_message(lambda m: m.get("id") == kept)
        rows = stack.wait_rows("SELECT type, direction, body FROM events WHERE stanza LIKE %s "
                               "ORDER BY direction", f"%{kept}%", count=2)
        assert rows == [("signal", "in", None), ("signal", "out", None)], rows
    finally:
        signals.check_clean_exit()
        stack.start_archiver()


# ------------------------------------------------------------------ Cisco's queries

# Cisco's documented compliance queries against JM (IM and Presence "Database Setup
# Guide", External Database Tables; ../shared/reference/seed-systems.md A.3),
# verbatim. Cisco elides the column list of the last two with "..."; it is the
# same list as the first query's.
CISCO_COLUMNS = ("to_jid, sent_date, subject, thread_id, msg_type, direction, body_len, "
                 "message_len, body_string, message_string, body_text, message_text, "
                 "history_flag")
CISCO_SENT_BY = ("SELECT to_jid, sent_date, subject, thread_id, msg_type, direction, body_len, "
                 "message_len, body_string, message_string, body_text, message_text, "
                 "history_flag FROM jm WHERE from_jid like 'bob@cisco.com%';")
CISCO_RECEIVED_BY = ("SELECT from_jid, sent_date, subject, thread_id, msg_type, direction, "
                     "body_len, message_len, body_string, message_string, body_text, "
                     "message_text, history_flag FROM jm WHERE to_jid like 'bob@cisco.com%';")
CISCO_CONTAINING = (f"SELECT {CISCO_COLUMNS} FROM jm "
                    "WHERE LOWER(body_string) like LOWER('%hello%');")
CISCO_ON_DATE = (f"SELECT {CISCO_COLUMNS} FROM jm "
                 "WHERE CAST(sent_date AS Character(32)) like '2011-01-31%';")


def test_cisco_compliance_queries_run_unchanged(stack):
    bob, alice, carol = "bob@cisco.com/jabber", "alice@cisco.com/jabber", "carol@cisco.com/x"
    sends = [
        tap("in", message("Hello Alice", to="alice@cisco.com", mtype="chat"),
            when="2011-01-31T09:15:00.000Z", session=bob),
        tap("out", message("hi bob", frm=alice, mtype="chat"),
            when="2011-01-31T09:16:00.000Z", session=bob),
        event("groupchat", room=f"lobby@{MUC_DOMAIN}", when="2011-02-01T08:00:00.000Z",
              actor={"jid": carol, "nick": "carol"}, recipients=[bob, carol],
              stanza=message("HELLO room", frm=f"lobby@{MUC_DOMAIN}/carol")),
    ]
    for s in sends:
        assert_result(stack.fake.send(s))
    with stack.db.cursor() as cur:
        # psycopg would take % as a placeholder marker only with parameters: none here
        sent = cur.execute(CISCO_SENT_BY).fetchall()
        received = cur.execute(CISCO_RECEIVED_BY).fetchall()
        containing = cur.execute(CISCO_CONTAINING).fetchall()
        on_date = cur.execute(CISCO_ON_DATE).fetchall()
    assert [(r[0], r[4], r[5], r[8]) for r in sent] == [("alice@cisco.com", "c", "I",
                                                         "Hello Alice")]
    assert sorted((r[0], r[4], r[5], r[8]) for r in received) == [
        (alice, "c", "O", "hi bob"), (carol, "g", "O", "HELLO room")]
    assert sorted((r[0], r[8]) for r in containing) == [
        ("alice@cisco.com", "Hello Alice"), (bob, "HELLO room"), (carol, "HELLO room"),
        (f"lobby@{MUC_DOMAIN}", "HELLO room")]
    assert sorted(r[8] for r in on_date) == ["Hello Alice", "hi bob"]
    assert str(on_date[0][1]).startswith("2011-01-31 09:1")


# ------------------------------------------------------------------ roles

def connect_as(stack, role):
    return psycopg.connect(f"host={HOST} port={stack.pg.port} user={role} dbname={DB}",
                           autocommit=True)


def denied(conn, sql):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql)


def test_roles_insert_only_select_only(stack):
    stack.pg.psql("postgres", "ALTER ROLE confab_archiver LOGIN; ALTER ROLE confab_officer "
                  "LOGIN; DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                  "'someone') THEN CREATE ROLE someone LOGIN; END IF; END $$;")
    # the archiver can run as confab_archiver: migrations checked, partitions made, events in
    stack.archiver.stop()
    limited = stack.new_archiver(
        "archiver-role", dsn=f"host={HOST} port={stack.pg.port} user=confab_archiver "
                             f"dbname={DB}")
    try:
        stack.start_archiver(daemon=limited)
        limited.wait_log(r"compliance schema: at version")
        uid = str(uuid.uuid4())
        assert_result(stack.fake.send(event("groupchat", uid=uid,
                                            stanza=message("by the insert-only role"))))
        assert stack.one("SELECT count(*) FROM events WHERE uuid = %s", uid) == (1,)
        assert "creating monthly partitions failed" not in limited.text()
    finally:
        limited.check_clean_exit()
        stack.start_archiver()
    with connect_as(stack, "confab_archiver") as arch:
        denied(arch, "SELECT * FROM events")
        denied(arch, "SELECT * FROM jm")
        denied(arch, "UPDATE events SET body = 'x'")
        denied(arch, "DELETE FROM events")
        denied(arch, "DELETE FROM event_ids")
        denied(arch, "TRUNCATE events")
        denied(arch, "CREATE TABLE events_evil PARTITION OF events FOR VALUES FROM "
                     "('2000-01-01') TO ('2000-02-01')")
    with connect_as(stack, "confab_officer") as officer:
        assert officer.execute("SELECT count(*) FROM jm").fetchone()[0] > 0
        for view in ("tc_msgarchive", "tc_timelog", "tc_rooms", "tc_users", "events",
                     "chain_head"):
            officer.execute(f"SELECT * FROM {view} LIMIT 1")
        denied(officer, "UPDATE events SET body = 'x'")
        denied(officer, "DELETE FROM events")
        denied(officer, "INSERT INTO event_ids (uuid) VALUES (gen_random_uuid())")
        denied(officer, "UPDATE chain_head SET seq = 0")
        denied(officer, "SELECT compliance_ensure_partitions(1)")
    with connect_as(stack, "someone") as other:
        denied(other, "SELECT * FROM events")
        denied(other, "SELECT * FROM jm")
        denied(other, "INSERT INTO event_ids (uuid) VALUES (gen_random_uuid())")


# ------------------------------------------------------------------ tamper evidence

def verify_chain(stack, *args):
    tool = ct.BUILD / "tests" / "db" / "verify_chain"
    if not tool.exists():
        subprocess.run(["make", "-C", str(ct.BUILD), "tests/db/verify_chain"], check=True,
                       capture_output=True, timeout=300)
    r = subprocess.run([str(tool), stack.pg.dsn(DB), *map(str, args)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, r.stdout.strip()


def sql_breaks(stack):
    """The same check in SQL with the schema's own functions (for officers with
    psql only): rows whose hash does not follow from the previous row's."""
    return [r[0] for r in stack.rows(
        "SELECT seq FROM (SELECT e.*, lag(hash) OVER (ORDER BY seq) AS prev FROM events e) x "
        "WHERE hash <> sha256(coalesce(prev, decode(repeat('00', 32), 'hex')) || "
        "compliance_canonical(seq, uuid, event_time, archived_at, type, sender, room, "
        "actor_jid, actor_nick, actor_role, actor_affiliation, target_jid, target_nick, "
        "target_role, target_affiliation, reason, direction, msg_type, subject, thread, body, "
        "recipients, detail, stanza, stamp)) ORDER BY seq")]


def test_verify_detects_tampering_by_the_owner(stack):
    uids = [str(uuid.uuid4()) for _ in range(3)]
    for i, u in enumerate(uids):
        assert_result(stack.fake.send(event("groupchat", uid=u, stanza=message(
            f"évidence {i} ✓", frm=f"{ROOM}/alice"), recipients=[f"bob@{DOMAIN}/x"])))
    rc, out = verify_chain(stack)
    assert rc == 0, out
    assert sql_breaks(stack) == []
    seq = stack.one("SELECT seq FROM events WHERE uuid = %s", uids[1])[0]
    # the owner edits a body
    stack.db.execute("UPDATE events SET body = 'nothing to see' WHERE seq = %s", (seq,))
    rc, out = verify_chain(stack)
    assert (rc, out.split(":")[0]) == (1, f"broken at seq {seq}")
    assert sql_breaks(stack) == [seq]
    stack.db.execute("UPDATE events SET body = %s WHERE seq = %s", ("évidence 1 ✓", seq))
    assert verify_chain(stack)[0] == 0
    # ... or removes who saw it
    stack.db.execute("UPDATE events SET recipients = '{}' WHERE seq = %s", (seq,))
    assert verify_chain(stack)[1].startswith(f"broken at seq {seq}")
    stack.db.execute("UPDATE events SET recipients = %s WHERE seq = %s",
                     ([f"bob@{DOMAIN}/x"], seq))
    # ... or deletes the row
    saved = stack.db.execute("SELECT * FROM events WHERE seq = %s", (seq,)).fetchone()
    cols = [d.name for d in stack.db.execute("SELECT * FROM events LIMIT 0").description]
    stack.db.execute("DELETE FROM events WHERE seq = %s", (seq,))
    rc, out = verify_chain(stack)
    assert (rc, out.split(":")[0]) == (1, f"broken at seq {seq + 1}")
    keep = [c for c in cols if c != "body_tsv"]
    stack.db.execute(f"INSERT INTO events ({', '.join(keep)}) VALUES "
                     f"({', '.join(['%s'] * len(keep))})",
                     [saved[cols.index(c)] for c in keep])
    rc, out = verify_chain(stack)
    assert rc == 0, out
    # a range in the middle starts from the stored hash of the row before it
    assert verify_chain(stack, seq, seq + 1)[0] == 0


# ------------------------------------------------------------------ schema lifecycle

def test_partitions_exist_ahead_and_creation_is_idempotent(stack):
    parts = [r[0] for r in stack.rows(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass ORDER BY 1")]
    this_month = time.strftime("events_%Y_%m", time.gmtime())
    assert this_month in parts and "events_default" in parts
    assert len(parts) >= 5
    assert stack.one("SELECT compliance_ensure_partitions(3)") == (0,)
    # where each event went: this month's partition, or the default one for 2011
    where = dict(stack.rows("SELECT DISTINCT tableoid::regclass::text, 1 FROM events"))
    assert "events_default" in where


def test_refuses_a_newer_schema(stack):
    stack.archiver.stop()
    stack.db.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    try:
        newer = stack.new_archiver("archiver-newer")
        newer.start()
        assert newer.proc.wait(20 * SLOW) == 78, newer.tail()
        assert "newer than this confab-archiver" in newer.text()
        newer.proc.stop()
    finally:
        stack.db.execute("DELETE FROM schema_version WHERE version = 999")
        stack.start_archiver()
