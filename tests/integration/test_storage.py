"""Issue 4 "Must show": rooms, affiliations, subject and every message live in
PostgreSQL and survive confabd restarts, crashes (kill -9) and database outages.

Real Prosody, a real PostgreSQL 15 cluster, real slixmpp clients; no mocks. The module
has one Prosody router and one PostgreSQL cluster of its own (so restarting or
stopping PostgreSQL here never disturbs other modules); every test gets a fresh
database (CREATE DATABASE) and its own confabd. The cluster runs with
synchronous_commit=on: an immediate (crash) shutdown must not lose what PostgreSQL
acknowledged, or a lost message would be PostgreSQL's doing, not confabd's.

SQL checks use psycopg 3 (Debian python3-psycopg) against the test's database.
Every message body carries a unique "<tag> <nick> #<seq>" marker, so a row is found
(and counted) by its body."""

import os
import re
import secrets
import signal
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import confabtest as ct
from confabtest import (MUC_DOMAIN, NS_CLIENT, NS_DATA, NS_DELAY, NS_DISCO_INFO, NS_MUC_ADMIN,
                        NS_MUC_OWNER, NS_MUC_REGISTER, NS_MUC_USER, NS_REGISTER, NS_SID,
                        NS_STANZAS, describe, error_condition, form_fields, jid_bare,
                        local_name, muc_item, ok, q, stanza_error, status_codes, submit_form)

psycopg = pytest.importorskip("psycopg")

SLOW = ct.SLOW
# confabd's chat database reconnect backoff is capped at 30 s (include/db.h: "0 → 250 ms
# and 30 s"; [storage] has no key for it): after a long outage, recovery may take
# up to one capped step after the database is back.
RECOVERY_S = 35 * SLOW
# The eviction timer runs every 10 s (src/muc/main.c, on_evict).
EVICT_WAIT_S = 15 * SLOW
# CONFAB_TEST_LONG=1 also runs the tests that take longer than ~45 s.
LONG = os.environ.get("CONFAB_TEST_LONG") == "1"

pytestmark = pytest.mark.skipif("prosody" not in ct.muc_router_kinds(),
                                reason="CONFAB_TEST_ROUTERS excludes prosody")

MUC_DEFAULTS = "message_rate = 0\npresence_rate = 0\n"


# ------------------------------------------------------------------ fixtures

class Stack:
    """One Prosody router with the MUC users, and one private PostgreSQL cluster."""

    def __init__(self):
        self.secrets = {MUC_DOMAIN: "muc-" + secrets.token_hex(8),
                        ct.ARCHIVE_DOMAIN: "archive-" + secrets.token_hex(8)}
        self.passwords = {u: f"{u}-pw-{secrets.token_hex(4)}" for u in ct.MUC_USERS}
        self.pg = ct.Postgres(databases=(), settings={"synchronous_commit": "on"})
        self.router = ct.ROUTERS["prosody"](self.secrets)
        self.ndb = 0
        try:
            self.pg.start()
            for user, password in self.passwords.items():
                self.router.register(user, password)
            self.router.start()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        ct.stop_each(lambda: ct.stop_router(self.router), lambda: ct.stop_postgres(self.pg))


@pytest.fixture(scope="module")
def stack():
    yield from ct.owned(Stack())


class Env:
    """What one test works with: a fresh database, confabd(s) and clients."""

    def __init__(self, stack, workdir, name):
        self.stack = stack
        self.pg = stack.pg
        self.router = stack.router
        self.workdir = workdir
        stack.ndb += 1
        self.db, self.dsn = ct.fresh_database(self.pg, f"t{stack.ndb}", name)
        self.daemons = []
        self.clients = []
        self.expected_exit = set()

    # -- confabd
    def confabd(self, storage="", muc="", log_level="info", dsn=None, start=True):
        extra = f"[muc]\n{MUC_DEFAULTS}{muc}\n"
        if storage:
            extra += f"[storage]\n{storage}\n"
        d = ct.Daemon("confabd", self.workdir,
                      ct.config_text(self.router.router_addr, self.stack.secrets, None,
                                     chat_dsn=dsn or self.dsn, log_level=log_level,
                                     extra=extra),
                      name=f"confabd-{len(self.daemons)}")
        self.daemons.append(d)
        if start:
            d.start()
            wait_ready(d)
        return d

    def restart(self, d, sig=signal.SIGTERM):
        """Stop confabd with sig (SIGTERM: must exit 0 within 5 s) and start it again."""
        rc = d.stop(sig)
        if sig == signal.SIGTERM:
            assert rc == 0, f"confabd exited with {rc} on SIGTERM\n{d.tail()}"
        mark = d.mark()
        d.start()
        wait_ready(d, after=mark)
        return mark

    # -- clients
    def client(self, user, resource=None):
        resource = resource or f"r{len(self.clients)}"
        c = ct.MucClient(f"{user}@{ct.DOMAIN}/{resource}", self.stack.passwords[user],
                         self.router.c2s_port)
        self.clients.append(c)
        c.available()
        return c

    def create_room(self, owner, nick="Owner", config=None, prefix="room"):
        room = ct.new_room(prefix)
        j = owner.join(room, nick)
        assert 201 in status_codes(j.self_presence), \
            f"creating {room}: no 201 in {describe(j.self_presence)}"
        owner.configure(room, config)
        return room

    # -- SQL
    def sql(self, query, params=None, dsn=None):
        with psycopg.connect(dsn or self.dsn, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def finish(self):
        errors = []
        ct.close_clients(self.clients)
        if not self.pg.running:  # a test failed during an outage: later tests need it
            try:
                self.pg.start_server()
            except Exception as e:  # pragma: no cover - reported below
                errors.append(f"restarting PostgreSQL: {e}")
        ct.check_daemons([d for d in self.daemons
                          if d not in self.expected_exit and d.proc is not None], errors)


@pytest.fixture
def env(stack, tmp_path, request):
    yield from ct.owned(Env(stack, tmp_path, request.node.name), "finish")


SCHEMA_LINE = r"chat schema(: at version \d+| migrated from version \d+ to \d+)"
STORE_UP = r"store: chat database available"
STORE_DOWN = r"store: chat database unavailable"


def wait_ready(d, after=0):
    """Link up, schema checked/migrated, and the store's connection up (before that,
    messages are refused with resource-constraint)."""
    d.wait_link_up(after=after)
    d.wait_log(SCHEMA_LINE, timeout=15, after=after)
    d.wait_rooms_ready(after=after)


def schema_line(d, after=0):
    return d.wait_log(SCHEMA_LINE, timeout=15, after=after)[0]


def newest_bodies(env, room, n=20):
    """Bodies of the room's n newest stored messages, oldest first (by seq)."""
    return [b for (b,) in env.sql(
        "SELECT m.body FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.jid = %s "
        "ORDER BY m.seq DESC LIMIT %s", (room, n))][::-1]


# ------------------------------------------------------------------ stanza helpers

def body_of(st):
    return st.findtext(q("body", NS_CLIENT))


def stanza_id(st, room):
    for sid in st.findall(q("stanza-id", NS_SID)):
        if sid.get("by") == room:
            return sid.get("id")
    return None


def stored_stanza_id(xml_text, room):
    """The XEP-0359 stanza-id inside a stored stanza (messages.stanza)."""
    root = ET.fromstring(xml_text)
    for el in root.iter():
        if el.tag.endswith("}stanza-id") and el.get("by") == room:
            return el.get("id")
    return None


def history_view(join):
    """(from, body, stanza-id, delay stamp, delay from) of each history message."""
    out = []
    for m in join.history:
        delay = m.find(q("delay", NS_DELAY))
        out.append((m.get("from"), body_of(m), stanza_id(m, join.room),
                    delay.get("stamp"), delay.get("from")))
    return out


def subject_view(join):
    return (join.subject.get("from"), join.subject.findtext(q("subject", NS_CLIENT)))


def form_view(x):
    """form_fields with the values of multi-value fields sorted (their order means
    nothing, and may follow hash order)."""
    out = {}
    for var, (ftype, values) in form_fields(x).items():
        out[var] = (ftype, sorted(values) if ftype and ftype.endswith("-multi") else values)
    return out


def disco_view(client, room):
    r = client.iq(room, "get", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert r.get("type") == "result", f"disco#info of {room}: {describe(r)}"
    query = r.find(q("query", NS_DISCO_INFO))
    idents = sorted((i.get("category"), i.get("type"), i.get("name"))
                    for i in query.findall(q("identity", NS_DISCO_INFO)))
    feats = sorted(f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO)))
    x = query.find(q("x", NS_DATA))
    info = form_view(x) if x is not None else {}
    info.pop("muc#roominfo_occupants", None)  # who is in the room right now
    return {"identities": idents, "features": feats, "roominfo": info}


def affiliation_lists(client, room):
    out = {}
    for affil in ("owner", "admin", "member", "outcast"):
        r = client.admin_list(room, affiliation=affil)
        assert r.get("type") == "result", f"{affil} list of {room}: {describe(r)}"
        items = r.findall(f"{q('query', NS_MUC_ADMIN)}/{q('item', NS_MUC_ADMIN)}")
        out[affil] = sorted((i.get("jid"), i.get("affiliation"), i.get("nick"),
                             i.findtext(q("reason", NS_MUC_ADMIN))) for i in items)
    return out


def config_view(client, room):
    return form_view(client.config_form(room))


def reserved_nick(client, room):
    r = client.iq(room, "get", f"<query xmlns='{NS_DISCO_INFO}' node='x-roomuser-item'/>")
    assert r.get("type") == "result", describe(r)
    ident = r.find(f"{q('query', NS_DISCO_INFO)}/{q('identity', NS_DISCO_INFO)}")
    return ident.get("name") if ident is not None else None


def register_nick(client, room, nick):
    form = submit_form(NS_MUC_REGISTER, {"muc#register_roomnick": nick})
    r = client.iq(room, "set", f"<query xmlns='{NS_REGISTER}'>{form}</query>")
    assert r.get("type") == "result", f"registering {nick} in {room}: {describe(r)}"


def say(client, room, nick, body):
    """A groupchat message that must be reflected; returns its stanza-id."""
    mid = client.groupchat(room, body)
    st = client.wait(lambda s: local_name(s) == "message" and (
        (s.get("from") == f"{room}/{nick}" and body_of(s) == body and s.get("type") != "error")
        or (s.get("type") == "error" and s.get("id") == mid)),
        what=f"reflection of {body!r}")
    assert st.get("type") == "groupchat", f"{body!r} was refused: {describe(st)}"
    sid = stanza_id(st, room)
    assert sid, f"no stanza-id by {room}: {describe(st)}"
    return sid


# ------------------------------------------------------------------ traffic accounting

class Traffic:
    """Groupchat traffic from several occupants, sent as fast as the sockets take it.

    Each body is '<tag> <nick> #<n>' (unique). For every message it records what its
    sender got back: the reflection (with its stanza-id) or an error, matched by the
    message id. Anything odd (a second reflection, a reflection and an error, an
    error for a message that was reflected) goes to self.anomalies."""

    def __init__(self, room, senders, tag=None):
        self.room = room
        self.senders = senders  # [(nick, MucClient)], nick = the occupant's room nick
        self.tag = tag or "m" + secrets.token_hex(3)
        self.n = 0
        self.sent = {}          # body -> (nick, id, phase)
        self.by_id = {}         # id -> body
        self.order = []         # bodies in sending order
        self.reflected = {}     # body -> stanza-id
        self.errors = {}        # body -> (type, condition)
        self.anomalies = []

    def send_round(self, per_sender=1, phase=None):
        out = []
        for nick, c in self.senders:
            c._activate()
            for _ in range(per_sender):
                self.n += 1
                body = f"{self.tag} {nick} #{self.n:06d}"
                mid = f"{self.tag}-{self.n}"
                c.xmpp.send_raw(f"<message to='{self.room}' type='groupchat' id='{mid}'>"
                                f"<body>{body}</body></message>")
                self.sent[body] = (nick, mid, phase)
                self.by_id[mid] = body
                self.order.append(body)
                out.append(body)
        return out

    def _note(self, nick, st):
        if st.get("type") == "error":
            body = self.by_id.get(st.get("id"))
            if body is None or self.sent[body][0] != nick:
                return
            err = stanza_error(st)
            if body in self.reflected:
                self.anomalies.append(f"error after the reflection of {body!r}: {describe(st)}")
            elif body in self.errors:
                self.anomalies.append(f"second error for {body!r}: {describe(st)}")
            else:
                self.errors[body] = err
            return
        body = body_of(st)
        if st.get("type") != "groupchat" or body not in self.sent:
            return
        sender = self.sent[body][0]
        if sender != nick:
            return  # a copy of someone else's message
        if st.get("from") != f"{self.room}/{nick}":
            self.anomalies.append(f"reflection of {body!r} from the wrong occupant: "
                                  f"{describe(st)}")
        if body in self.reflected:
            self.anomalies.append(f"{body!r} reflected twice: {describe(st)}")
        elif body in self.errors:
            self.anomalies.append(f"{body!r} reflected after an error {self.errors[body]}")
        self.reflected[body] = stanza_id(st, self.room)
        if not self.reflected[body]:
            self.anomalies.append(f"reflection without a stanza-id: {describe(st)}")

    def collect(self):
        ct.pump_all()
        for nick, c in self.senders:
            for st in c.take(lambda s: local_name(s) == "message"
                             and jid_bare(s.get("from")) == self.room):
                self._note(nick, st)

    def pending(self, bodies=None):
        bodies = self.order if bodies is None else bodies
        return [b for b in bodies if b not in self.reflected and b not in self.errors]

    def settle(self, timeout, bodies=None):
        """Collect until every message (of bodies) has an outcome or timeout passes."""
        deadline = time.monotonic() + timeout * SLOW
        while self.pending(bodies) and time.monotonic() < deadline:
            self.collect()
        return self.pending(bodies)

    def quiet(self, seconds=1.0, timeout=20):
        """Collect until nothing new arrived for `seconds` (bounded by timeout)."""
        deadline = time.monotonic() + timeout * SLOW
        last = (len(self.reflected), len(self.errors))
        still = time.monotonic()
        while time.monotonic() < deadline:
            self.collect()
            now = (len(self.reflected), len(self.errors))
            if now != last:
                last, still = now, time.monotonic()
            elif time.monotonic() - still >= seconds:
                return

    def summary(self):
        return (f"sent {len(self.order)}, reflected {len(self.reflected)}, errors "
                f"{len(self.errors)}, no outcome {len(self.pending())}")


def check_archive(env, traffic):
    """Every reflected message is stored exactly once, with the stanza-id its sender
    saw; no message of the run is stored twice."""
    rows = env.sql("SELECT body, count(*), min(stanza) FROM messages WHERE body LIKE %s "
                   "GROUP BY body", (traffic.tag + " %",))
    counts = {b: n for b, n, _ in rows}
    stanzas = {b: s for b, _, s in rows}
    twice = sorted((b, n) for b, n in counts.items() if n > 1)
    assert not twice, f"stored more than once: {twice[:20]} ({len(twice)} in all)"
    missing = [b for b in traffic.order if b in traffic.reflected and b not in counts]
    assert not missing, (f"{len(missing)} reflected (acknowledged) messages are not in the "
                         f"messages table, e.g. {missing[:10]}; {traffic.summary()}")
    unknown = [b for b in counts if b not in traffic.sent]
    assert not unknown, f"stored bodies nobody sent: {unknown[:10]}"
    wrong_id = [(b, traffic.reflected[b], stored_stanza_id(stanzas[b], traffic.room))
                for b in traffic.reflected
                if stored_stanza_id(stanzas[b], traffic.room) != traffic.reflected[b]]
    assert not wrong_id, f"stored stanza-id differs from the reflected one: {wrong_id[:5]}"
    return counts


def wait_db_rows(env, query, params, expect, timeout=5, what="rows"):
    last = []

    def check():
        last[:] = [env.sql(query, params)]
        return last[0] == expect
    ct.wait_for(check, timeout * SLOW, what, interval=0.1,
                detail=lambda: f"last result: {last[0] if last else None}, expected {expect}")


# ------------------------------------------------------------------ 1. restart

DURABLE_CONFIG = {
    "muc#roomconfig_roomname": "Durable Room",
    "muc#roomconfig_roomdesc": "Survives restarts",
    "muc#roomconfig_lang": "en",
    "muc#roomconfig_persistentroom": True,
    "muc#roomconfig_publicroom": False,
    "muc#roomconfig_membersonly": True,
    "muc#roomconfig_moderatedroom": True,
    "muc#roomconfig_passwordprotectedroom": True,
    "muc#roomconfig_roomsecret": "cauldronburn",
    "muc#roomconfig_whois": "anyone",
    "muc#roomconfig_changesubject": False,
    "muc#roomconfig_allowinvites": True,
    "muc#roomconfig_allowpm": "moderators",
    "muc#roomconfig_maxusers": 30,
    "muc#roomconfig_presencebroadcast": ["moderator", "participant"],
    "muc#roomconfig_getmemberlist": ["moderator"],
    "muc#roomconfig_historylength": 15,
}


def build_durable_room(env, alice, bob, carol, erin):
    """A persistent, members-only, moderated, password-protected, non-anonymous room
    with owners, an admin, members (one with a registered nick), outcasts with
    reasons, a subject and a few messages. Returns (room, stanza-ids by body)."""
    room = env.create_room(alice, "Owner", DURABLE_CONFIG)
    items = ("<item affiliation='owner' jid='ghost@localhost'/>"
             "<item affiliation='admin' jid='carol@localhost'><reason>Keeps order</reason></item>"
             "<item affiliation='member' jid='bob@localhost'/>"
             "<item affiliation='member' jid='erin@localhost'><reason>Trusted</reason></item>"
             "<item affiliation='outcast' jid='dave@localhost'><reason>Spammer</reason></item>"
             "<item affiliation='outcast' jid='evil.example'><reason>Whole domain</reason>"
             "</item>")
    ok(alice.admin(room, items), "setting affiliations")
    register_nick(bob, room, "Hecate")
    alice.send(f"<message to='{room}' type='groupchat'><subject>Restart-proof subject"
               f"</subject></message>")
    alice.wait(lambda s: ct.is_subject(s, room), what="subject change")
    bob.join(room, "Hecate", password="cauldronburn")
    erin.join(room, "Erin", password="cauldronburn")
    sids = {}
    for client, nick, text in ((alice, "Owner", "first words"), (bob, "Hecate", "double double"),
                               (erin, "Erin", "toil and trouble"), (alice, "Owner", "last words")):
        sids[text] = say(client, room, nick, text)
    return room, sids


def room_state(env, room, owner, bob):
    return {"disco": disco_view(owner, room), "config": config_view(owner, room),
            "affiliations": affiliation_lists(owner, room),
            "bob's reserved nick": reserved_nick(bob, room)}


def test_restart_restores_rooms_config_affiliations_subject_history(env):
    """SIGTERM + start: a persistent room comes back exactly as it was: disco#info,
    configuration, affiliation lists (reasons, registered nick), subject, and the join
    history with the same stanza-ids and <delay/> stamps; outcasts and non-members are
    still refused, the password still required and the registered nick reserved."""
    d = env.confabd()
    alice, bob, carol, dave, erin, frank = (env.client(u) for u in ct.MUC_USERS)
    room, sids = build_durable_room(env, alice, bob, carol, erin)

    before = room_state(env, room, alice, bob)
    # sanity: the state we are about to compare is the one we configured
    feats = before["disco"]["features"]
    for f in ("muc_persistent", "muc_membersonly", "muc_moderated", "muc_passwordprotected",
              "muc_nonanonymous", "muc_hidden"):
        assert f in feats, f"{f} missing from disco#info before the restart: {feats}"
    assert ("conference", "text", "Durable Room") in before["disco"]["identities"], before
    assert before["affiliations"]["member"] == [
        ("bob@localhost", "member", "Hecate", None),
        ("erin@localhost", "member", None, "Trusted")], before["affiliations"]
    assert before["affiliations"]["outcast"] == [
        ("dave@localhost", "outcast", None, "Spammer"),
        ("evil.example", "outcast", None, "Whole domain")], before["affiliations"]
    assert before["bob's reserved nick"] == "Hecate"
    j = carol.join(room, "Carol", password="cauldronburn")
    hist_before, subj_before = history_view(j), subject_view(j)
    subj_delay = j.subject.find(q("delay", NS_DELAY))
    assert subj_delay is not None, f"no <delay/> on the subject: {describe(j.subject)}"
    assert [h[1] for h in hist_before] == list(sids), carol.dump(j.history)
    assert [h[2] for h in hist_before] == list(sids.values()), carol.dump(j.history)
    assert subj_before == (f"{room}/Owner", "Restart-proof subject"), describe(j.subject)
    carol.leave(room, "Carol")

    # alice, bob and erin are still in the room when confabd stops
    env.restart(d)

    # The first stanza after the restart is a disco#info: the room loads lazily for it.
    after = room_state(env, room, alice, bob)
    for key in before:
        assert after[key] == before[key], \
            f"{key} differs after the restart:\nbefore: {before[key]}\nafter:  {after[key]}"

    j = carol.join(room, "Carol", password="cauldronburn")
    assert history_view(j) == hist_before, \
        ("join history differs after the restart\nbefore: " + repr(hist_before)
         + "\nafter:  " + repr(history_view(j)))
    assert subject_view(j) == subj_before, describe(j.subject)
    # The subject's time is stored with it (issue 11): the same <delay/> after a restart.
    d2 = j.subject.find(q("delay", NS_DELAY))
    assert d2 is not None and d2.get("stamp") == subj_delay.get("stamp"), \
        f"subject <delay/> lost or changed by the restart: {describe(j.subject)}"
    assert 100 in status_codes(j.self_presence), \
        f"whois=anyone lost: no status 100 in {describe(j.self_presence)}"
    item = muc_item(j.self_presence)
    assert (item.get("affiliation"), item.get("role")) == ("admin", "moderator"), \
        describe(j.self_presence)

    err = dave.join_error(room, "Dave", password="cauldronburn")
    assert error_condition(err) == "forbidden", f"outcast let in / wrong error: {describe(err)}"
    err = frank.join_error(room, "Frank", password="cauldronburn")
    assert error_condition(err) == "registration-required", \
        f"members-only lost after restart: {describe(err)}"
    err = erin.join_error(room, "Erin")
    assert error_condition(err) == "not-authorized", f"password lost: {describe(err)}"
    err = erin.join_error(room, "Hecate", password="cauldronburn")
    assert error_condition(err) == "conflict", \
        f"registered nick Hecate not reserved after restart: {describe(err)}"
    j = bob.join(room, "Hecate", password="cauldronburn")
    item = muc_item(j.self_presence)
    assert (item.get("affiliation"), item.get("role")) == ("member", "participant"), \
        describe(j.self_presence)

    # the room goes on: a new message gets a fresh stanza-id and is stored once
    sid = say(bob, room, "Hecate", "after the restart")
    assert sid not in sids.values(), "a stanza-id was reused after the restart"
    wait_db_rows(env, "SELECT count(*) FROM messages WHERE body = %s", ("after the restart",),
                 [(1,)], what="the new message in the messages table")


# ------------------------------------------------------------------ 2. kill -9

def test_kill9_mid_stream_every_reflected_message_is_stored_once(env):
    """kill -9 confabd while three occupants send 2000 messages as fast as they can:
    after a restart every message its sender got back is in the messages table exactly
    once (with the stanza-id the sender saw); nothing is stored twice; the room goes
    on with fresh stanza-ids and serves the stored history."""
    total = 2000
    d = env.confabd()
    alice, bob, carol = env.client("alice"), env.client("bob"), env.client("carol")
    room = env.create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True})
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    traffic = Traffic(room, [("Alice", alice), ("Bob", bob), ("Carol", carol)])

    # Bursts of 300 (the sockets take them at once): confabd has a backlog to work
    # through when it is killed, once the senders have seen some of it come back.
    killed = None
    t0 = time.monotonic()
    while len(traffic.order) < total:
        traffic.send_round(min(100, (total - len(traffic.order)) // 3 or 1))
        traffic.collect()
        if killed is None and len(traffic.order) >= total // 2:
            deadline = time.monotonic() + 10 * SLOW
            while len(traffic.reflected) < 150 and time.monotonic() < deadline:
                traffic.collect()
            d.stop(signal.SIGKILL)
            killed = {"sent": len(traffic.order), "reflected": len(traffic.reflected),
                      "at_s": round(time.monotonic() - t0, 2)}
    assert killed and d.proc.popen.returncode == -signal.SIGKILL, d.tail()
    traffic.quiet(seconds=1.5, timeout=30)
    print(f"kill -9 at {killed}; then {traffic.summary()}")
    assert not traffic.anomalies, "\n".join(traffic.anomalies[:20])
    assert traffic.reflected, "nothing was reflected before the kill"

    mark = d.mark()
    d.start()
    wait_ready(d, after=mark)
    counts = check_archive(env, traffic)
    print(f"stored {len(counts)} of the {killed['sent']} sent before the kill; "
          f"reflected {len(traffic.reflected)}")

    # The room goes on after the crash: the occupants rejoin, get the newest stored
    # messages as history, and new messages get stanza-ids never used before.
    newest = newest_bodies(env, room)
    j = alice.join(room, "Alice")
    assert j.bodies() == newest, \
        f"join history after the crash is not the newest stored messages:\n{j.bodies()}\n{newest}"
    bob.join(room, "Bob")
    old_ids = set(traffic.reflected.values())
    for client, nick in ((alice, "Alice"), (bob, "Bob")):
        body = f"{traffic.tag} {nick} after the crash"
        sid = say(client, room, nick, body)
        assert sid not in old_ids, f"stanza-id {sid} reused after the crash"
        wait_db_rows(env, "SELECT count(*) FROM messages WHERE body = %s", (body,), [(1,)],
                     what=f"{body!r} stored once")


# ------------------------------------------------------------------ 3./4. database outages

def outage_room(env):
    alice, bob, carol = env.client("alice"), env.client("bob"), env.client("carol")
    room = env.create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True})
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    return room, alice, bob, carol, Traffic(room, [("Alice", alice), ("Bob", bob),
                                                   ("Carol", carol)])


def in_thread(fn, *args):
    """Run fn (a blocking pg_ctl call) while the test keeps the clients busy."""
    box = {}

    def run():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # re-raised by join()
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=90):
        t.join(timeout)
        assert not t.is_alive(), f"{fn.__name__} did not finish within {timeout}s"
        if "error" in box:
            raise box["error"]
        return box.get("result")
    t.finished = lambda: not t.is_alive()
    t.join_result = join
    return t


def store_down_line(d, after):
    return d.wait_log(STORE_DOWN, timeout=10, after=after)


def store_up_seen(d, after):
    return any(re.search(STORE_UP, ln) for ln in d.lines(after))


def presence_during_outage(env, room, alice, what):
    """A new occupant enters the (loaded) room, changes its show and leaves, while
    the database is down; the others see it all."""
    dave = env.client("dave")
    j = dave.join(room, "Dave")
    assert j.subject is not None and j.self_presence is not None, f"{what}: join incomplete"
    alice.wait_presence(f"{room}/Dave", what=f"{what}: Dave's arrival seen by Alice")
    dave.send(f"<presence to='{room}/Dave'><show>away</show></presence>")
    p = alice.wait_presence(f"{room}/Dave", lambda s: s.findtext(q("show", NS_CLIENT)) == "away",
                            what=f"{what}: Dave's show=away seen by Alice")
    assert p.get("type") is None, describe(p)
    dave.leave(room, "Dave")
    alice.wait_presence(f"{room}/Dave", lambda s: s.get("type") == "unavailable",
                        what=f"{what}: Dave leaving seen by Alice")
    dave.close()
    env.clients.remove(dave)


def run_outage(env, *, stop_mode, down_s, presence=True):
    """Traffic before, during and after a database outage of down_s seconds (stop with
    pg_ctl -m stop_mode mid-traffic, start again); returns timings."""
    d = env.confabd()
    pid = d.proc.pid
    room, alice, bob, carol, traffic = outage_room(env)

    before = []
    for _ in range(20):
        before += traffic.send_round(5, "before")
        traffic.collect()
    assert not traffic.settle(15, before), f"before the outage: {traffic.summary()}"
    assert len([b for b in before if b in traffic.errors]) == 0, \
        f"errors before the outage: {[traffic.errors[b] for b in before if b in traffic.errors]}"

    # Stop PostgreSQL while messages flow.
    mark = d.mark()
    stopper = in_thread(env.pg.stop_server, stop_mode)
    deadline = time.monotonic() + 60
    while not stopper.finished() and time.monotonic() < deadline:
        traffic.send_round(2, "stopping")
        traffic.collect()
    stopper.join_result()
    t_down = time.monotonic()
    store_down_line(d, mark)

    # The database is down: confabd keeps running, presence works, and every message
    # sent now gets a wait/resource-constraint error.
    down = []
    if presence:
        presence_during_outage(env, room, alice, "database down")
    while time.monotonic() - t_down < down_s:
        down += traffic.send_round(1, "down")
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            traffic.collect()
    assert not traffic.settle(10, down), \
        f"messages sent while the database was down got no answer: {traffic.pending(down)[:10]}"
    refused = [traffic.errors.get(b) for b in down]
    assert down and all(e == ("wait", "resource-constraint") for e in refused), \
        (f"while the database is down every message must get a wait/resource-constraint "
         f"error; got {sorted(set(map(str, refused)))}; reflected: "
         f"{[b for b in down if b in traffic.reflected][:5]}")
    assert d.alive() and d.proc.pid == pid, f"confabd did not survive the outage\n{d.tail()}"

    # The database returns; confabd recovers by itself.
    mark = d.mark()
    starter = in_thread(env.pg.start_server)
    while not starter.finished() and time.monotonic() - t_down < down_s + 60:
        traffic.send_round(1, "starting")
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            traffic.collect()
    starter.join_result()
    t_up = time.monotonic()
    while True:
        traffic.send_round(1, "recovering")
        end = time.monotonic() + 0.25
        while time.monotonic() < end:
            traffic.collect()
        if store_up_seen(d, mark):
            break
        assert time.monotonic() - t_up < RECOVERY_S, \
            (f"confabd did not reconnect to the chat database within {RECOVERY_S:.0f}s of "
             f"its return\n{d.tail()}")
        assert d.alive(), d.tail()
    recovery = time.monotonic() - t_up

    after = []
    for _ in range(20):
        after += traffic.send_round(5, "after")
        traffic.collect()
    assert not traffic.settle(15), \
        f"messages without reflection or error (silently dropped?): {traffic.pending()[:10]}"
    assert not traffic.anomalies, "\n".join(traffic.anomalies[:20])
    errs = {b: e for b, e in traffic.errors.items()}
    assert all(e == ("wait", "resource-constraint") for e in errs.values()), \
        f"unexpected errors: {sorted(set(map(str, errs.values())))}"
    late = [b for b in after if b in traffic.errors]
    assert not late, f"messages refused after recovery: {late[:10]} {traffic.errors[late[0]]}"
    assert d.alive() and d.proc.pid == pid, "confabd was restarted or died"
    counts = check_archive(env, traffic)
    assert all(counts.get(b) == 1 for b in after), "post-recovery messages not stored"

    # The room is intact: a newcomer gets the newest messages as history.
    erin = env.client("erin")
    j = erin.join(room, "Erin")
    newest = newest_bodies(env, room)
    assert j.bodies() == newest, f"history after the outage:\n{j.bodies()}\nexpected\n{newest}"
    return {"recovery_s": round(recovery, 2), "summary": traffic.summary(),
            "refused_while_down": len(down)}


def test_pg_restart_fast_mid_traffic_nothing_acknowledged_lost(env):
    """pg_ctl restart -m fast while three occupants send: every message gets its
    reflection or a wait/resource-constraint error; every reflected one is stored
    exactly once; confabd recovers without a restart."""
    d = env.confabd()
    pid = d.proc.pid
    room, alice, bob, carol, traffic = outage_room(env)
    for _ in range(10):
        traffic.send_round(5)
        traffic.collect()
    mark = d.mark()
    restarter = in_thread(env.pg.restart, "fast")
    t0 = time.monotonic()
    while not restarter.finished() and time.monotonic() - t0 < 60:
        traffic.send_round(2)
        traffic.collect()
    restarter.join_result()
    store_down_line(d, mark)
    t_up = time.monotonic()
    while not store_up_seen(d, mark):
        assert time.monotonic() - t_up < RECOVERY_S, \
            f"no recovery within {RECOVERY_S:.0f}s of the restart\n{d.tail()}"
        traffic.send_round(1)
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            traffic.collect()
    after = []
    for _ in range(20):
        after += traffic.send_round(5)
        traffic.collect()
    assert not traffic.settle(15), \
        f"messages without reflection or error (silently dropped?): {traffic.pending()[:10]}"
    print(traffic.summary())
    assert not traffic.anomalies, "\n".join(traffic.anomalies[:20])
    assert all(e == ("wait", "resource-constraint") for e in traffic.errors.values()), \
        f"unexpected errors: {sorted(set(map(str, traffic.errors.values())))}"
    late = [b for b in after if b not in traffic.reflected]
    assert not late, f"messages not reflected after recovery: {late[:10]}"
    assert d.alive() and d.proc.pid == pid, "confabd was restarted or died"
    check_archive(env, traffic)


def test_pg_stop_immediate_mid_traffic_refuses_then_recovers(env):
    """PostgreSQL crashes (stop -m immediate) mid-traffic and is down ~3 s: presence
    keeps working, messages get wait/resource-constraint, never silence; after it is
    started again confabd recovers by itself and nothing acknowledged is lost."""
    res = run_outage(env, stop_mode="immediate", down_s=3)
    print(res)


@pytest.mark.slow
def test_pg_outage_30s_refuses_then_recovers(env):
    """A 30 s database outage (stop -m fast mid-traffic): same guarantees as the short
    one, and confabd reconnects by itself within its capped backoff (2 s for the chat
    database; the whole test takes about 33 s)."""
    res = run_outage(env, stop_mode="fast", down_s=30)
    print(res)


# ------------------------------------------------------------------ 5. eviction

def test_evicted_room_reloads_with_its_state(env):
    """[storage] idle_timeout = 1s: an empty persistent room leaves memory (log line
    'evicted N idle rooms from memory'); the next stanza reads it back from the
    database (an edit made in the table while it was out shows), with configuration,
    affiliations, registered nick, subject and history intact."""
    d = env.confabd(storage="idle_timeout = 1s", log_level="debug")
    alice, bob, carol, dave, erin, frank = (env.client(u) for u in ct.MUC_USERS)
    room, sids = build_durable_room(env, alice, bob, carol, erin)
    # §8.1: with a <thread/> a bodyless <subject/> is a message, stored and archived,
    # but never join history (it would read as the room's subject) — also when the
    # history comes back from the database.
    alice.send(f"<message to='{room}' type='groupchat'><subject>Side topic</subject>"
               f"<thread>t-side</thread></message>")
    alice.wait(lambda s: local_name(s) == "message" and s.get("from") == f"{room}/Owner"
               and s.findtext(q("thread", NS_CLIENT)) == "t-side", what="threaded subject")
    before = room_state(env, room, alice, bob)
    j = carol.join(room, "Carol", password="cauldronburn")
    hist_before, subj_before = history_view(j), subject_view(j)
    assert [h[1] for h in hist_before] == list(sids), carol.dump(j.history)
    mark = d.mark()
    for c, nick in ((carol, "Carol"), (erin, "Erin"), (bob, "Hecate"), (alice, "Owner")):
        c.leave(room, nick)
    line = d.wait_log(r"evicted \d+ idle rooms? from memory", timeout=EVICT_WAIT_S, after=mark)
    print(line)

    # Only a room read back from the database can show this edit.
    env.sql("UPDATE rooms SET description = 'edited while evicted' WHERE jid = %s", (room,))
    after = room_state(env, room, alice, bob)
    assert after["disco"]["roominfo"]["muc#roominfo_description"][1] == ["edited while evicted"], \
        f"the room was not reloaded from the database: {after['disco']['roominfo']}"
    assert after["config"]["muc#roomconfig_roomdesc"][1] == ["edited while evicted"], \
        after["config"]
    before["disco"]["roominfo"]["muc#roominfo_description"] = \
        after["disco"]["roominfo"]["muc#roominfo_description"]
    before["config"]["muc#roomconfig_roomdesc"] = after["config"]["muc#roomconfig_roomdesc"]
    for key in before:
        assert after[key] == before[key], \
            f"{key} differs after eviction:\nbefore: {before[key]}\nafter:  {after[key]}"
    j = carol.join(room, "Carol", password="cauldronburn")
    assert history_view(j) == hist_before, \
        f"history differs after eviction:\n{hist_before}\n{history_view(j)}"
    assert subject_view(j) == subj_before, describe(j.subject)
    err = dave.join_error(room, "Dave", password="cauldronburn")
    assert error_condition(err) == "forbidden", describe(err)
    err = erin.join_error(room, "Hecate", password="cauldronburn")
    assert error_condition(err) == "conflict", describe(err)
    err = frank.join_error(room, "Frank", password="cauldronburn")
    assert error_condition(err) == "registration-required", describe(err)
    sid = say(carol, room, "Carol", "after eviction")
    assert sid not in sids.values(), "stanza-id reused after eviction"
    wait_db_rows(env, "SELECT count(*) FROM messages WHERE body = %s", ("after eviction",),
                 [(1,)], what="the new message stored")


# ------------------------------------------------------------------ 6. lifecycle

def test_temporary_room_deleted_when_last_occupant_leaves(env):
    """A non-persistent room has a row while occupied; when the last occupant leaves,
    its row (and with it its messages and affiliations) is deleted, and the name makes
    a brand-new room."""
    env.confabd()
    alice, bob = env.client("alice"), env.client("bob")
    room = env.create_room(alice, "Alice")  # instant room: not persistent
    bob.join(room, "Bob")
    say(bob, room, "Bob", "temporary words")
    wait_db_rows(env, "SELECT persistent FROM rooms WHERE jid = %s", (room,), [(False,)],
                 what="the temporary room's row")
    wait_db_rows(env, "SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id "
                 "WHERE r.jid = %s", (room,), [(1,)], what="its message stored")
    bob.leave(room, "Bob")
    alice.leave(room, "Alice")
    wait_db_rows(env, "SELECT count(*) FROM rooms WHERE jid = %s", (room,), [(0,)],
                 what="the temporary room deleted from the database")
    assert env.sql("SELECT count(*) FROM messages") == [(0,)]
    assert env.sql("SELECT count(*) FROM affiliations") == [(0,)]
    assert env.sql("SELECT count(*) FROM tombstones") == [(0,)], \
        "a temporary room must not leave a tombstone"
    j = bob.join(room, "Bob")
    assert 201 in status_codes(j.self_presence), \
        f"the name must make a new room: {describe(j.self_presence)}"
    assert j.history == [], f"a new room with old history: {bob.dump(j.history)}"


def assert_gone(err, venue, reason, what):
    assert error_condition(err) == "gone", f"{what}: expected gone: {describe(err)}"
    assert stanza_error(err)[0] == "cancel", describe(err)
    gone = err.find(f"{q('error', NS_CLIENT)}/{q('gone', NS_STANZAS)}")
    assert (gone.text or "").strip() == f"xmpp:{venue}?join", \
        f"{what}: the gone element must name the new venue: {describe(err)}"
    text = err.findtext(f"{q('error', NS_CLIENT)}/{q('text', NS_STANZAS)}")
    assert text == reason, f"{what}: the reason should come along: {describe(err)}"


def test_destroyed_persistent_room_leaves_tombstone_gone_after_restart(env):
    """Destroying a persistent room deletes its row and writes a tombstone (venue,
    reason); joining the name then gets <gone/> pointing at the venue, before and after
    a confabd restart, and the name is not silently reused."""
    d = env.confabd()
    alice, bob = env.client("alice"), env.client("bob")
    room = env.create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True})
    bob.join(room, "Bob")
    say(bob, room, "Bob", "soon gone")
    venue = ct.new_room("venue")
    r = alice.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><destroy jid='{venue}'>"
                              f"<reason>Moved on</reason></destroy></query>")
    ok(r, "destroy")
    p = bob.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable",
                          what="bob's unavailable presence for the destruction")
    destroy = ct.muc_user_x(p).find(q("destroy", NS_MUC_USER))
    assert destroy is not None and destroy.get("jid") == venue, describe(p)
    wait_db_rows(env, "SELECT count(*) FROM rooms WHERE jid = %s", (room,), [(0,)],
                 what="the destroyed room's row deleted")
    wait_db_rows(env, "SELECT venue, reason FROM tombstones WHERE jid = %s", (room,),
                 [(venue, "Moved on")], what="the tombstone row")
    assert_gone(bob.join_error(room, "Bob"), venue, "Moved on", "join after destroy")

    env.restart(d)
    assert_gone(bob.join_error(room, "Bob"), venue, "Moved on", "join after restart")
    assert_gone(alice.join_error(room, "Alice"), venue, "Moved on",
                "the former owner's join after restart")
    assert env.sql("SELECT count(*) FROM rooms WHERE jid = %s", (room,)) == [(0,)], \
        "a join recreated the destroyed room"


# ------------------------------------------------------------------ 7. schema version

def test_schema_newer_than_binary_exit_78(env):
    """A database whose schema_version has version 999: confabd logs a clear ERROR
    line and exits with status 78 (EX_CONFIG) without touching the schema."""
    env.sql("CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())")
    env.sql("INSERT INTO schema_version (version, name) VALUES (999, 'from the future')")
    d = env.confabd(start=False)
    env.expected_exit.add(d)
    d.start()
    rc = d.proc.wait(20 * SLOW)
    d.returncode = rc
    d.proc.stop()
    assert rc == 78, f"confabd exit status {rc} (expected 78)\n{d.tail()}"
    lines = [ln for ln in d.lines() if re.search(r" ERROR: .*999.*newer|ERROR: .*newer.*999",
                                                 ln)]
    assert lines, f"no ERROR line naming version 999 as newer\n{d.tail()}"
    assert not d.malformed_lines(), d.malformed_lines()
    assert not d.sanitizer_reports(), d.sanitizer_reports()
    tables = {t for (t,) in env.sql("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'public'")}
    assert tables == {"schema_version"}, f"confabd changed a newer schema: {tables}"
    assert env.sql("SELECT version FROM schema_version") == [(999,)]


def test_schema_created_on_fresh_database(env):
    """An empty database: confabd creates the schema itself (all tables, the latest
    version recorded), works, and a restart finds the schema current."""
    d = env.confabd()
    line = schema_line(d)
    m = re.search(r"migrated from version (\d+) to (\d+)", line)
    assert m and m.group(1) == "0", f"expected a migration from version 0: {line}"
    latest = int(m.group(2))
    tables = {t for (t,) in env.sql("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'public'")}
    for t in ("schema_version", "rooms", "affiliations", "messages", "tombstones"):
        assert t in tables, f"table {t} missing after start-up: {sorted(tables)}"
    assert env.sql("SELECT max(version) FROM schema_version") == [(latest,)]
    alice = env.client("alice")
    room = env.create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True})
    say(alice, room, "Alice", "on a fresh schema")
    wait_db_rows(env, "SELECT count(*) FROM messages WHERE body = %s", ("on a fresh schema",),
                 [(1,)], what="a message stored on the fresh schema")
    mark = env.restart(d)
    line = schema_line(d, after=mark)
    assert f"at version {latest}" in line, f"restart must find the schema current: {line}"
