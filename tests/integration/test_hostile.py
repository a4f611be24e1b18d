"""Hostile clients through a real router (Prosody): floods, oversized and malformed
stanzas, spoofing and escalation attempts, and a router crash. Throughout, confabd must
keep serving everyone else: every hostile stanza gets the right answer (never silence),
nothing forged or forbidden reaches another occupant, and a canary in another room keeps
getting its own messages back within a bound.

One Prosody + confabd for the module, with tight [muc] limits (MUC_CONFIG below). The
router-restart test kills that Prosody, so it runs last."""

import time

import pytest

import confabtest as ct
from confabtest import (NS_CLIENT, NS_DATA, NS_DELAY, NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_USER,
                        NS_OCCUPANT_ID, NS_SID, NS_STANZAS, describe, error_condition,
                        form_fields, jid_bare, in_room, local_name, muc_item, ok, pump_all, q,
                        status_codes)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

RATE, BURST = 5, 10            # groupchat token bucket per occupant
P_RATE, P_BURST = 2, 5         # presence-update token bucket per occupant
QUEUE, P_QUEUE = 5, 3          # what may wait past the bucket (shaped, then refused)
MAX_BODY = 1024                # bytes of <body/> text
MAX_NICK = 32                  # bytes, after resourceprep
MAX_JOINED = 3                 # rooms one bare JID may be in at once
MAX_CREATED = 3                # rooms one bare JID may have created (existing at once)
MAX_OCCUPANTS = 5              # occupants per room (admins and owners exempt)

MUC_CONFIG = (f"message_rate = {RATE}\nmessage_burst = {BURST}\n"
              f"presence_rate = {P_RATE}\npresence_burst = {P_BURST}\n"
              f"message_queue = {QUEUE}\npresence_queue = {P_QUEUE}\n"
              f"max_message_size = {MAX_BODY}\nmax_nick_length = {MAX_NICK}\n"
              f"max_joined_rooms = {MAX_JOINED}\nmax_rooms_per_user = {MAX_CREATED}\n"
              f"max_occupants = {MAX_OCCUPANTS}\n")

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
CANARY_BOUND = 3.0             # s: a canary's message comes back within this, flood or not

_first_pid = {}


@pytest.fixture(autouse=True)
def _close_newest_first(muc_env):
    """Log the test's clients out newest first, so a room's creator (made first) leaves
    last. Clients that tried refused nicks leave stray directed presence behind them
    that would otherwise reach a room just ended and resurrect it (see
    test_stray_stanza_does_not_resurrect_ended_room), eating into its creator's
    max_rooms_per_user in later tests."""
    yield
    for c in reversed(muc_env.clients):
        c.close()


# ------------------------------------------------------------------ helpers

def admin_jids(client, room, affiliation):
    reply = ok(client.admin_list(room, affiliation=affiliation), f"{affiliation} list")
    return sorted(i.get("jid") for i in
                  reply.findall(f"{q('query', NS_MUC_ADMIN)}/{q('item', NS_MUC_ADMIN)}"))


def confabd_pid(muc):
    """confabd's PID, which must stay the same for the whole module (no crash, no
    restart behind our back)."""
    assert muc.confabd.alive(), f"confabd is not running\n{muc.confabd.tail()}"
    pid = muc.confabd.proc.pid
    first = _first_pid.setdefault("pid", pid)
    assert pid == first, f"confabd was restarted: PID {first} -> {pid}"
    return pid


def assert_still_serving(muc, user="erin"):
    """confabd is the same process and a fresh user can create a room, enter it and
    get a message back."""
    confabd_pid(muc)
    c = muc.client(user)
    room = ct.new_room("alive")
    j = c.join(room, "Fresh")
    assert 201 in status_codes(j.self_presence), describe(j.self_presence)
    c.configure(room)
    c.groupchat(room, "still serving")
    c.wait_groupchat(room, "still serving")
    c.leave(room, "Fresh")
    confabd_pid(muc)


def flood_rooms(muc):
    """alice (nick Flooder) in bob's room, and carol alone in a room of her own (the
    canary); returns (room, alice, bob, carol, canary_room)."""
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(bob, "Bob")
    alice.join(room, "Flooder")
    bob.wait_presence(f"{room}/Flooder")
    return room, alice, bob, carol, muc.create_room(carol, "Canary")


def canary_roundtrip(client, room, text, bound=CANARY_BOUND):
    """client (alone in room) sends text; it must come back within bound seconds.
    Returns the round-trip time."""
    t0 = time.monotonic()
    client.groupchat(room, text)
    client.wait_groupchat(room, text, timeout=bound)
    return time.monotonic() - t0


def wait_trace(client, pred, timeout=5, what="stanza"):
    """The first stanza in client's full trace (IQ results and errors included) that
    matches pred, waiting up to timeout."""
    deadline = time.monotonic() + timeout * ct.SLOW
    while True:
        for st in client.trace:
            if pred(st):
                return st
        if time.monotonic() >= deadline:
            raise AssertionError(f"{client.jid}: no {what} within {timeout}s; trace tail:\n"
                                 + client.dump(client.trace[-15:]))
        pump_all()


def join_refused(client, room, nick):
    """Try to enter room as nick; return the presence error. The router may have
    prepped the nick (NFKC, dropping ignorables), so the error is matched by id."""
    pid = client.send_join(room, nick)
    st = client.wait(lambda s: local_name(s) == "presence" and jid_bare(s.get("from")) == room
                     and (s.get("id") == pid or ct.is_self_presence(s, room)),
                     what=f"an answer to joining {room} as {nick!r}")
    assert st.get("type") == "error", f"{nick!r} was let in: {describe(st)}"
    return st


def raw_iq_reply(client, xml, iq_id, timeout=5):
    client.send(xml)
    return wait_trace(client, lambda s: local_name(s) == "iq" and s.get("id") == iq_id
                      and s.get("type") in ("result", "error"), timeout, f"reply to iq {iq_id}")


def error_text(st):
    err = st.find(q("error", NS_CLIENT))
    return (err.findtext(q("text", NS_STANZAS)) or "") if err is not None else ""


def groupchats(client, room):
    return [s for s in client.inbox if local_name(s) == "message"
            and jid_bare(s.get("from")) == room and s.get("type") == "groupchat"
            and s.find(q("body", NS_CLIENT)) is not None]


def bodies(stanzas):
    return [s.findtext(q("body", NS_CLIENT)) for s in stanzas]


def quiet_check(sender, receivers, room, marker_from, marker="marker"):
    """After sender's rejected stanzas were answered: send a marker through the room and
    return everything each receiver got from the room before it (in arrival order)."""
    sender.sync()
    marker_from.groupchat(room, marker)
    got = {}
    for r in receivers:
        r.wait_groupchat(room, marker)
        got[r] = [s for s in r.inbox if jid_bare(s.get("from")) == room]
    return got


# ------------------------------------------------------------------ floods

def test_flood_groupchat_rate_limited_and_others_keep_working(muc):
    """500 groupchat messages as fast as the client can write: each one is either
    reflected or answered with resource-constraint, no more than the token bucket
    and the sender's queue allow get through, and meanwhile the flooder's roommate and a canary in another
    room are served within a bound."""
    confabd_pid(muc)
    room, alice, bob, carol, canary_room = flood_rooms(muc)
    canary_roundtrip(carol, canary_room, "canary before")

    n = 500
    ids = [f"flood-{i}" for i in range(n)]
    t0 = time.monotonic()
    rtts = []
    for i, mid in enumerate(ids):
        alice.xmpp.send_raw(f"<message to='{room}' type='groupchat' id='{mid}'>"
                            f"<body>flood {i}</body></message>")
        if i % 100 == 99:
            pump_all()
            rtts.append(canary_roundtrip(carol, canary_room, f"canary {i}"))
    sent = time.monotonic() - t0
    # the flooder's roommate may still speak, and is heard
    bob.groupchat(room, "bob during the flood")
    bob.wait_groupchat(room, "bob during the flood", timeout=CANARY_BOUND)
    rtts.append(canary_roundtrip(carol, canary_room, "canary after"))

    # every flood message gets exactly one outcome
    idset = set(ids)
    outcome = {}

    def all_answered():
        for st in alice.take(lambda s: local_name(s) == "message" and s.get("id") in idset):
            mid = st.get("id")
            assert mid not in outcome, f"two answers for {mid}: {describe(st)}"
            outcome[mid] = st
        return len(outcome) == n
    ct.wait_for(lambda: (pump_all(), all_answered())[1], 20 * ct.SLOW,
                "an answer (reflection or error) to every flood message",
                detail=lambda: f"{len(outcome)}/{n} answered; missing e.g. "
                f"{sorted(idset - set(outcome))[:5]}")
    elapsed = time.monotonic() - t0
    reflected = [mid for mid, st in outcome.items() if st.get("type") == "groupchat"]
    errors = [st for st in outcome.values() if st.get("type") == "error"]
    assert len(reflected) + len(errors) == n, [describe(s) for s in outcome.values()][:3]
    bad = [describe(e) for e in errors if error_condition(e) != "resource-constraint"]
    assert not bad, f"flood errors must be resource-constraint: {bad[:3]}"
    assert errors and all(e.get("from") == room for e in errors), describe(errors[0])
    allowed = BURST + QUEUE + RATE * elapsed + 2
    assert BURST + QUEUE <= len(reflected) <= allowed, \
        f"{len(reflected)} of {n} flood messages got through in {elapsed:.1f}s " \
        f"(bucket {RATE}/s, burst {BURST}, queue {QUEUE}: at most {allowed:.0f})"
    # bob saw exactly the reflected ones, nothing else of the flood
    bob.sync()
    got = [s.get("id") for s in groupchats(bob, room) if s.get("id") in idset]
    assert sorted(got) == sorted(reflected), \
        f"bob got {len(got)} flood messages, {len(reflected)} were reflected"
    assert max(rtts) < CANARY_BOUND * ct.SLOW, \
        f"canary round trips {rtts} (flood sent in {sent:.2f}s)"
    # the bucket refills: after a pause the flooder may speak again
    time.sleep(2.0 / RATE)
    alice.groupchat(room, "after the flood")
    bob.wait_groupchat(room, "after the flood")
    assert_still_serving(muc)


def test_flood_presence_rate_limited_and_others_keep_working(muc):
    """200 presence updates as fast as possible: each one is either broadcast (the
    flooder's self-presence carries its status) or answered resource-constraint; the
    room sees only the broadcast ones and a canary elsewhere is served throughout."""
    confabd_pid(muc)
    room, alice, bob, carol, canary_room = flood_rooms(muc)

    n = 200
    occupant = f"{room}/Flooder"
    t0 = time.monotonic()
    rtts = []
    for i in range(n):
        alice.xmpp.send_raw(f"<presence to='{occupant}' id='pf-{i}'><show>away</show>"
                            f"<status>pf-{i}</status></presence>")
        if i % 50 == 49:
            pump_all()
            rtts.append(canary_roundtrip(carol, canary_room, f"canary {i}"))
    done = {}

    def collect():
        pump_all()
        for st in alice.take(lambda s: local_name(s) == "presence" and s.get("from") == occupant):
            if st.get("type") == "error":
                key = st.get("id")
            elif 110 in status_codes(st):
                key = st.findtext(q("status", NS_CLIENT))
            else:
                continue
            assert key and key.startswith("pf-"), describe(st)
            assert key not in done, f"two answers for presence {key}: {describe(st)}"
            done[key] = st
        return len(done) == n
    ct.wait_for(collect, 20 * ct.SLOW, "an answer to every presence update",
                detail=lambda: f"{len(done)}/{n} answered")
    elapsed = time.monotonic() - t0
    errors = [st for st in done.values() if st.get("type") == "error"]
    passed = sorted(k for k, st in done.items() if st.get("type") != "error")
    bad = [describe(e) for e in errors if error_condition(e) != "resource-constraint"]
    assert not bad, f"presence flood errors must be resource-constraint: {bad[:3]}"
    allowed = P_BURST + P_QUEUE + P_RATE * elapsed + 2
    assert 1 <= len(passed) <= allowed, \
        f"{len(passed)} of {n} presence updates broadcast in {elapsed:.1f}s (at most {allowed:.0f})"
    bob.sync()
    seen = sorted(s.findtext(q("status", NS_CLIENT)) for s in
                  bob.take(lambda s: local_name(s) == "presence" and s.get("from") == occupant))
    assert seen == passed, f"bob saw {len(seen)} updates, {len(passed)} were accepted"
    assert max(rtts) < CANARY_BOUND * ct.SLOW, f"canary round trips {rtts}"
    # the flooder is still an occupant and still heard
    alice.groupchat(room, "flooder still here")
    bob.wait_groupchat(room, "flooder still here")
    assert_still_serving(muc)


# ------------------------------------------------------------------ oversized

def test_oversized_body_policy_violation(muc):
    room, alice, bob = in_room(muc, "alice", "bob")
    # exactly the limit passes (bytes, not characters: 512 x 2-byte 'é')
    alice.groupchat(room, "é" * (MAX_BODY // 2))
    bob.wait_groupchat(room, "é" * (MAX_BODY // 2))
    for body in ("x" * (MAX_BODY + 1), "é" * (MAX_BODY // 2 + 1), "y" * 100_000):
        mid = alice.groupchat(room, body)
        err = alice.wait_error("message", room, mid)
        assert error_condition(err) == "policy-violation", describe(err)[:300]
    # the same for a private message
    alice.send(f"<message to='{room}/Bob' type='chat' id='bigpm'><body>{'z' * (MAX_BODY + 1)}"
               "</body></message>")
    err = alice.wait_error("message", f"{room}/Bob", "bigpm")
    assert error_condition(err) == "policy-violation", describe(err)[:300]
    got = quiet_check(alice, [bob], room, alice)[bob]
    assert [b for b in bodies(got) if b and len(b.encode()) > MAX_BODY] == [], \
        "an oversized body reached another occupant"
    assert not [s for s in bob.inbox if s.get("id") == "bigpm"], "oversized PM delivered"
    assert_still_serving(muc)


def test_overlong_nick_not_acceptable(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    for nick in ("n" * (MAX_NICK + 1), "€" * (MAX_NICK // 3 + 1), "N" * 1000):
        err = bob.join_error(room, nick)
        assert error_condition(err) == "not-acceptable", f"{len(nick.encode())}-byte nick: " \
                                                         f"{describe(err)[:300]}"
    j = bob.join(room, "b" * MAX_NICK)  # exactly the limit is fine
    # ... and renaming to an overlong nick is refused the same way
    bob.send(f"<presence to='{room}/{'c' * (MAX_NICK + 1)}'/>")
    err = bob.wait_error("presence", f"{room}/{'c' * (MAX_NICK + 1)}")
    assert error_condition(err) == "not-acceptable", describe(err)
    alice.sync()
    assert [s.get("from") for s in alice.inbox if local_name(s) == "presence"
            and jid_bare(s.get("from")) == room] == [j.occupant_jid], \
        "the room saw presence for a refused nick"
    assert_still_serving(muc)


def test_overlong_room_name_refused(muc):
    """A room node over 1023 bytes is not a JID: jid-malformed (from the router or from
    confabd), never silence or a crash. One of exactly 1023 bytes is answered too."""
    bob = muc.client("bob")
    for node in ("a" * 1024, "é" * 600):
        room = f"{node}@{ct.MUC_DOMAIN}"
        err = bob.join_error(room, "Bob")
        assert error_condition(err) == "jid-malformed", describe(err)[:300]
        iq_id = bob.next_id("long")
        iq_reply = raw_iq_reply(bob, f"<iq to='{room}' type='get' id='{iq_id}'>"
                                     f"<query xmlns='{ct.NS_DISCO_INFO}'/></iq>", iq_id)
        assert error_condition(iq_reply) == "jid-malformed", describe(iq_reply)[:300]
    # the longest legal node: either a room or a clean refusal
    room = f"{'m' * 1023}@{ct.MUC_DOMAIN}"
    bob.send_join(room, "Bob")
    st = bob.wait(lambda s: local_name(s) == "presence" and jid_bare(s.get("from")) == room,
                  what="an answer to joining a room with a 1023-byte name")
    if st.get("type") != "error":
        assert 201 in status_codes(st), describe(st)[:300]
        bob.leave(room, "Bob")
    assert_still_serving(muc)


DEEP = "<a>" * 40 + "</a>" * 40
MANY_ATTRS = " ".join(f"a{i}='v'" for i in range(100))
PARSER_PROBES = {
    # confabd's link parser allows depth 32 (from the stream element) and 64 attributes
    "deep": f"<x xmlns='urn:example:deep'>{DEEP}</x>",
    "attrs": f"<x xmlns='urn:example:attrs' {MANY_ATTRS}/>",
}


@pytest.mark.parametrize("probe", sorted(PARSER_PROBES))
def test_parser_limit_stanza_from_client_keeps_link(muc, probe):
    """A client can make Prosody forward a stanza nested deeper, or with more
    attributes, than confabd's link parser allows (Prosody has no such limits). It is
    one client's stanza: it must be refused on its own (an error to its sender) and must
    not take the router link, and with it every room, down; a canary message sent right
    behind it in another room comes back."""
    alice, carol = muc.client("alice"), muc.client("carol")
    room = muc.create_room(alice, "Owner")
    canary_room = muc.create_room(carol, "Canary")
    mark = muc.confabd.mark()
    alice.send(f"<message to='{room}' type='groupchat' id='{probe}'><body>{probe}</body>"
               f"{PARSER_PROBES[probe]}</message>")
    carol.groupchat(canary_room, f"canary behind {probe}")
    canary = None
    try:
        carol.wait_groupchat(canary_room, f"canary behind {probe}", timeout=CANARY_BOUND)
    except AssertionError as e:
        canary = str(e)
    time.sleep(0.3)
    down = [ln for ln in muc.confabd.lines(mark) if "link down" in ln]
    assert not down, f"one client's {probe} stanza dropped confabd's router link: {down}" \
                     + (f"\ncanary: {canary}" if canary else "")
    assert canary is None, canary
    st = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == probe,
                    what=f"an answer (error or reflection) to the {probe} stanza")
    assert st.get("type") in ("error", "groupchat"), describe(st)[:300]
    assert_still_serving(muc)


# ------------------------------------------------------------------ limits on rooms

def test_limits_rooms_per_creator_joined_rooms_occupants(muc):
    frank = muc.client("frank")
    made = [muc.create_room(frank, "Frank") for _ in range(MAX_CREATED)]
    err = frank.join_error(ct.new_room(), "Frank")
    assert error_condition(err) == "policy-violation", describe(err)
    assert "created" in error_text(err), describe(err)
    frank.leave(made[-1], "Frank")           # that room ends: frank may create one again
    made[-1] = muc.create_room(frank, "Frank")

    # joined rooms: erin is in MAX_JOINED rooms, a further one is refused
    erin, dave = muc.client("erin"), muc.client("dave")
    other = muc.create_room(dave, "Dave")
    for r in made:
        erin.join(r, "Erin")
    err = erin.join_error(other, "Erin")
    assert error_condition(err) == "policy-violation", describe(err)
    erin.leave(made[0], "Erin")
    erin.join(other, "Erin")

    # occupants per room: dave's room holds MAX_OCCUPANTS, the next is told to wait
    others = [muc.client(u) for u in ("alice", "bob", "carol")]
    for c, nick in zip(others, ("A", "B", "C")):
        c.join(other, nick)
    frank.leave(made[0], "Frank")            # frank: 2 rooms, under the joined limit
    err = frank.join_error(other, "Frank")  # dave, erin, A, B, C = 5
    assert error_condition(err) == "service-unavailable", describe(err)
    assert ct.stanza_error(err)[0] == "wait", describe(err)
    assert_still_serving(muc, user="alice")


def test_stray_stanza_does_not_resurrect_ended_room(muc):
    """A temporary room ends when its last occupant leaves. A stanza for it right
    behind that departure (here a disco#info; a client that tried a refused nick
    before gets the same from its router's directed-presence unavailables on logout)
    must find no room: it must not bring the room back from the store as an empty
    ghost that nobody can end and that counts against its creator's
    max_rooms_per_user."""
    alice, bob = muc.client("alice"), muc.client("bob")
    for attempt in range(10):
        room = muc.create_room(alice, "Owner")
        bob.join(room, "Bob")
        alice.leave(room, "Owner")
        iq_id = bob.next_id("stray")
        bob.send(f"<presence to='{room}/Bob' type='unavailable'/>"
                 f"<iq to='{room}' type='get' id='{iq_id}'>"
                 f"<query xmlns='{ct.NS_DISCO_INFO}'/></iq>")
        reply = wait_trace(bob, lambda s: local_name(s) == "iq" and s.get("id") == iq_id,
                           what="the disco#info reply")
        time.sleep(0.2)
        j = alice.join(room, "Owner")
        assert 201 in status_codes(j.self_presence), \
            f"attempt {attempt}: the ended room came back (disco#info right behind the " \
            f"last departure answered {describe(reply)[:400]}); a fresh join found it: " \
            f"{describe(j.self_presence)}"
        assert error_condition(reply) == "item-not-found", describe(reply)
        alice.configure(room)
        alice.leave(room, "Owner")
    assert_still_serving(muc)


# ------------------------------------------------------------------ malformed

def test_malformed_iqs(muc):
    """IQs with two payloads, none, or an unknown type never reach confabd: Prosody's
    stanza router answers them bad-request itself (either one answering is fine). The
    muc#admin items that are nonsense do reach confabd."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    disco = f"<query xmlns='{ct.NS_DISCO_INFO}'/>"
    cases = {
        "two": f"<iq to='{room}' type='get' id='two'>{disco}"
               f"<query xmlns='{ct.NS_DISCO_ITEMS}'/></iq>",
        "none": f"<iq to='{room}' type='get' id='none'/>",
        "bogus": f"<iq to='{room}' type='bogus' id='bogus'>{disco}</iq>",
        "svc-two": f"<iq to='{ct.MUC_DOMAIN}' type='get' id='svc-two'>{disco}{disco}</iq>",
        "occ-bogus": f"<iq to='{room}/Owner' type='bogus' id='occ-bogus'>{disco}</iq>",
    }
    for iq_id, xml in cases.items():
        reply = raw_iq_reply(bob, xml, iq_id)
        assert error_condition(reply) == "bad-request", f"{iq_id}: {describe(reply)}"
    # muc#admin items with both role and affiliation, neither, or unknown values
    for items, cond in (
            ("<item nick='Bob' role='visitor' affiliation='member' jid='bob@localhost'/>",
             "bad-request"),
            ("<item nick='Bob'/>", "bad-request"),
            ("<item nick='Bob' role='god'/>", "bad-request"),
            ("<item jid='bob@localhost' affiliation='emperor'/>", "bad-request"),
            ("<item jid='@@bad@@' affiliation='member'/>", "jid-malformed"),
            ("", "bad-request")):
        r = alice.admin(room, items)
        assert error_condition(r) == cond, f"{items!r}: {describe(r)}"
        if cond == "bad-request":
            r = alice.admin(room, items, itype="get")
            assert error_condition(r) == "bad-request", f"get {items!r}: {describe(r)}"
    assert admin_jids(alice, room, "member") == []
    assert_still_serving(muc)


def test_malformed_presence_and_messages(muc):
    room, alice, bob = in_room(muc, "alice", "bob")
    for kind, to, sid, attrs, payload, cond in (
            # presence to the room without a nick
            ("presence", room, "nonick", "", f"<x xmlns='{ct.NS_MUC}'/>", "jid-malformed"),
            # a groupchat to an occupant JID
            ("message", f"{room}/Owner", "gc2occ", " type='groupchat'", "<body>x</body>",
             "bad-request"),
            # a message of no known kind to the room, and a PM to nobody
            ("message", room, "chat2room", " type='chat'", "<body>x</body>", "bad-request"),
            ("message", f"{room}/Nobody", "pm2none", " type='chat'", "<body>x</body>",
             "item-not-found")):
        bob.send(f"<{kind} to='{to}'{attrs} id='{sid}'>{payload}</{kind}>")
        err = bob.wait_error(kind, to, sid)
        assert error_condition(err) == cond, describe(err)
    got = quiet_check(bob, [alice], room, bob)[alice]
    assert [b for b in bodies(got) if b == "x"] == [], "a refused message reached the owner"
    assert_still_serving(muc)


def test_malformed_history_request_ignored(muc):
    """<history/> with negative or garbage attributes: ignored as Prosody does (the
    defaults apply), the join still completes."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    for i in range(3):
        alice.groupchat(room, f"h{i}")
        alice.wait_groupchat(room, f"h{i}")
    for hist in ({"maxstanzas": "-1"}, {"maxchars": "-100"}, {"seconds": "abc"},
                 {"since": "yesterday"}, {"maxstanzas": "99999999999999999999999"},
                 {"maxstanzas": "2", "maxchars": "lots", "seconds": "-5", "since": "0"}):
        j = bob.join(room, "Bob", history=hist)
        assert j.bodies() == ["h0", "h1", "h2"], f"{hist}: {j.bodies()}"
        bob.leave(room, "Bob")
    assert_still_serving(muc)


def test_malformed_config_form_not_acceptable(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    before = form_fields(alice.config_form(room))
    for fields in ({"muc#roomconfig_maxusers": "lots"},
                   {"muc#roomconfig_maxusers": "-3"},
                   {"muc#roomconfig_membersonly": "maybe"},
                   {"muc#roomconfig_historylength": "-1"},
                   {"muc#roomconfig_whois": "everyone"},
                   {"muc#roomconfig_allowpm": "all-the-things"},
                   {"muc#roomconfig_presencebroadcast": ["god"]},
                   {"muc#roomconfig_roomowners": ["@@not a jid@@"]},
                   {"muc#roomconfig_passwordprotectedroom": True,
                    "muc#roomconfig_roomsecret": ""},
                   # a valid field next to a bad one: all or nothing
                   {"muc#roomconfig_roomname": "Hijacked", "muc#roomconfig_moderatedroom": "2"}):
        r = alice.configure(room, fields, check=False)
        assert error_condition(r) == "not-acceptable", f"{fields}: {describe(r)}"
    r = alice.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' "
                              f"type='submit'><field><value>no var</value></field></x></query>")
    assert r.get("type") == "error", f"field without var: {describe(r)}"
    r = alice.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><bogus/></query>")
    assert error_condition(r) == "bad-request", describe(r)
    assert form_fields(alice.config_form(room)) == before, "a refused form changed the room"
    bob.join(room, "Bob")
    assert_still_serving(muc)


def test_mam_garbage_rsm(muc):
    alice = muc.client("alice")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_enablelogging": True})
    alice.groupchat(room, "archived")
    alice.wait_groupchat(room, "archived")
    bob = muc.client("bob")
    other = muc.create_room(bob, "Bob", {"muc#roomconfig_enablelogging": True})
    bob.groupchat(other, "elsewhere")
    m = bob.wait_groupchat(other, "elsewhere")
    other_sid = m.find(q("stanza-id", NS_SID)).get("id")

    def mam(rsm="", form=""):
        return alice.iq(room, "set", f"<query xmlns='{NS_MAM}' queryid='g'>{form}"
                                     f"<set xmlns='{NS_RSM}'>{rsm}</set></query>")
    foreign = "0" * 32
    cases = [
        ("<after>garbage</after>", "item-not-found"),
        ("<before>not-an-id</before>", "item-not-found"),
        (f"<after>{'f' * 32}</after>", "item-not-found"),
        (f"<before>{foreign}</before>", "item-not-found"),
        ("<after>" + "zz" * 16 + "</after>", "item-not-found"),
        ("<after>" + "a" * 10000 + "</after>", "item-not-found"),
        ("<max>-5</max>", "bad-request"),
        ("<max>abc</max>", "bad-request"),
        ("<max>99999999999999999999999999</max>", "bad-request"),
        ("<index>-1</index>", "bad-request"),
    ]
    for rsm, cond in cases:
        r = mam(rsm)
        assert error_condition(r) == cond, f"{rsm[:60]}: {describe(r)[:300]}"
    # a real id of another room is not an id of this one
    for rsm in (f"<after>{other_sid}</after>", f"<before>{other_sid}</before>"):
        r = mam(rsm)
        assert error_condition(r) == "item-not-found", f"{rsm}: {describe(r)[:300]}"
    form = ct.submit_form(NS_MAM, {"start": "yesterday"})
    r = mam(form=form)
    assert error_condition(r) == "bad-request", describe(r)
    form = ct.submit_form(NS_MAM, {"with": "@@bad@@"})
    r = mam(form=form)
    assert error_condition(r) == "bad-request", describe(r)
    # a good query still works
    r = mam("<max>10</max>")
    assert r.get("type") == "result", describe(r)
    assert_still_serving(muc)


# ------------------------------------------------------------------ spoofing

def test_spoofed_room_elements_never_reach_others(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    # a join that claims to be the owner, with the room's own status codes and ids
    spoof_pres = (f"<x xmlns='{NS_MUC_USER}'><item affiliation='owner' role='moderator' "
                  f"jid='alice@localhost/evil'/><status code='110'/><status code='201'/></x>"
                  f"<occupant-id xmlns='{NS_OCCUPANT_ID}' id='forged-oid'/>"
                  f"<delay xmlns='{NS_DELAY}' stamp='2001-01-01T00:00:00Z' from='{room}'/>")
    j = bob.join(room, "Bob", children=spoof_pres)
    seen = alice.wait_presence(f"{room}/Bob")
    xs = seen.findall(q("x", NS_MUC_USER))
    assert len(xs) == 1, f"two muc#user payloads: {describe(seen)}"
    item = muc_item(seen)
    assert (item.get("affiliation"), item.get("role"), item.get("jid")) == \
        ("none", "participant", bob.full_jid), describe(seen)
    assert status_codes(seen) == set(), describe(seen)
    oids = [e.get("id") for e in seen.findall(q("occupant-id", NS_OCCUPANT_ID))]
    real_oid = [e.get("id") for e in j.self_presence.findall(q("occupant-id", NS_OCCUPANT_ID))]
    assert len(oids) == 1 and oids == real_oid and oids[0] != "forged-oid", describe(seen)
    assert seen.find(q("delay", NS_DELAY)) is None, describe(seen)

    # a groupchat carrying the room's stanza-id, occupant-id, delay and muc#user
    spoof_msg = (f"<stanza-id xmlns='{NS_SID}' id='forged-sid' by='{room}'/>"
                 f"<stanza-id xmlns='{NS_SID}' id='forged-sid2' by='bob@localhost'/>"
                 f"<occupant-id xmlns='{NS_OCCUPANT_ID}' id='forged-oid'/>"
                 f"<delay xmlns='{NS_DELAY}' stamp='2001-01-01T00:00:00Z' from='{room}'/>"
                 f"<x xmlns='{NS_MUC_USER}'><status code='104'/><status code='110'/>"
                 f"<item affiliation='owner' role='moderator' jid='alice@localhost'/></x>")
    bob.groupchat(room, "spoofed", children=spoof_msg)
    for c in (alice, bob):
        m = c.wait_groupchat(room, "spoofed")
        assert m.get("from") == f"{room}/Bob", describe(m)
        sids = [(e.get("id"), e.get("by")) for e in m.findall(q("stanza-id", NS_SID))]
        assert len(sids) == 1 and sids[0][1] == room and sids[0][0] not in \
            ("forged-sid", "forged-sid2"), f"{c.jid}: stanza-ids {sids}: {describe(m)}"
        oids = [e.get("id") for e in m.findall(q("occupant-id", NS_OCCUPANT_ID))]
        assert oids == real_oid, f"{c.jid}: occupant-ids {oids}, real {real_oid}"
        assert m.find(q("delay", NS_DELAY)) is None, describe(m)
        assert m.find(q("x", NS_MUC_USER)) is None, describe(m)
    # a private message: the room's empty <x/> only
    bob.send(f"<message to='{room}/Owner' type='chat' id='pm-spoof'><body>pm</body>"
             f"{spoof_msg}</message>")
    pm = alice.wait(lambda s: local_name(s) == "message" and s.get("id") == "pm-spoof",
                    what="the private message")
    xs = pm.findall(q("x", NS_MUC_USER))
    assert len(xs) == 1 and len(list(xs[0])) == 0, describe(pm)
    assert [e.get("id") for e in pm.findall(q("occupant-id", NS_OCCUPANT_ID))] == real_oid
    assert pm.find(q("stanza-id", NS_SID)) is None and pm.find(q("delay", NS_DELAY)) is None, \
        describe(pm)
    # a presence update with the same forgeries
    bob.send(f"<presence to='{room}/Bob'><status>upd</status>{spoof_pres}</presence>")
    p = alice.wait_presence(f"{room}/Bob", lambda s: s.findtext(q("status", NS_CLIENT)) == "upd")
    assert len(p.findall(q("x", NS_MUC_USER))) == 1 and status_codes(p) == set(), describe(p)
    assert muc_item(p).get("affiliation") == "none", describe(p)
    assert [e.get("id") for e in p.findall(q("occupant-id", NS_OCCUPANT_ID))] == real_oid
    assert admin_jids(alice, room, "owner") == ["alice@localhost"]
    assert_still_serving(muc)


LOOKALIKES = [
    "alice",                 # case
    "ALICE",
    "Ａｌｉｃｅ",             # fullwidth
    "Al\u200bice",           # zero-width space
    "\u200bAlice",
    "Alice ",                # trailing space(s)
    "Alice   ",
    " Alice",
    "Alice\u00ad",          # soft hyphen
    "\u2060Alice",           # word joiner
    "A\ufe0flice",           # variation selector
]


def test_lookalike_nicks_conflict(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Alice")
    for nick in LOOKALIKES:
        err = join_refused(bob, room, nick)
        assert error_condition(err) == "conflict", f"{nick!r}: {describe(err)}"
    bob.join(room, "Bob")
    for nick in LOOKALIKES[:4]:
        bob.send(f"<presence to={ct.xml_attr_quote(room + '/' + nick)}/>")
        st = bob.wait(lambda s: local_name(s) == "presence" and jid_bare(s.get("from")) == room
                      and (s.get("type") == "error" or 303 in status_codes(s)),
                      what=f"answer to renaming to {nick!r}")
        assert error_condition(st) == "conflict", f"rename to {nick!r}: {describe(st)}"
    alice.sync()
    assert not [s for s in alice.inbox if local_name(s) == "presence"
                and jid_bare(s.get("from")) == room
                and s.get("from") not in (f"{room}/Bob", f"{room}/Alice")], \
        f"a lookalike nick appeared: {alice.dump()}"
    assert_still_serving(muc)


# ------------------------------------------------------------------ escalation

def test_escalation_by_participant_refused(muc):
    alice, bob, carol, dave = (muc.client(u) for u in ("alice", "bob", "carol", "dave"))
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_changesubject": False,
                                            "muc#roomconfig_roomadmins": ["dave@localhost"]})
    ok(alice.admin(room, "<item affiliation='member' jid='carol@localhost'/>"))
    alice.send(f"<message to='{room}' type='groupchat' id='subj'><subject>Owner's topic"
               f"</subject></message>")
    alice.wait(lambda s: ct.is_subject(s, room), what="the owner's subject")
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    dave.join(room, "Dave")
    alice.wait_presence(f"{room}/Dave")

    attempts = [  # (who, items, expected condition)
        (bob, "<item affiliation='admin' jid='bob@localhost'/>", "forbidden"),
        (bob, "<item affiliation='owner' jid='bob@localhost'/>", "forbidden"),
        (bob, "<item affiliation='member' jid='bob@localhost'/>", "forbidden"),
        (bob, "<item nick='Bob' role='moderator'/>", "forbidden"),
        (bob, "<item nick='Dave' role='participant'/>", "forbidden"),
        (bob, "<item nick='Dave' role='visitor'/>", "forbidden"),
        (bob, "<item nick='Owner' role='none'/>", "forbidden"),
        (bob, "<item affiliation='outcast' jid='alice@localhost'/>", "forbidden"),
        (bob, "<item affiliation='none' jid='dave@localhost'/>", "forbidden"),
        # a member cannot either, nor an admin above its station
        (carol, "<item affiliation='admin' jid='carol@localhost'/>", "forbidden"),
        (carol, "<item nick='Carol' role='moderator'/>", "forbidden"),
        (dave, "<item affiliation='owner' jid='dave@localhost'/>", "forbidden"),
        (dave, "<item affiliation='outcast' jid='alice@localhost'/>", "not-allowed"),
        (dave, "<item nick='Owner' role='participant'/>", "not-allowed"),
        # one good item does not carry a bad one (all or nothing)
        (dave, "<item affiliation='member' jid='erin@localhost'/>"
               "<item affiliation='owner' jid='dave@localhost'/>", "forbidden"),
    ]
    for who, items, cond in attempts:
        r = who.admin(room, items)
        assert error_condition(r) == cond, f"{who.jid} {items}: {describe(r)}"
    # CVE-2021-37601: the lists are not for a participant (nor a member)
    for who in (bob, carol):
        for affiliation in ("member", "owner", "admin", "outcast"):
            r = who.admin_list(room, affiliation=affiliation)
            assert error_condition(r) == "forbidden", \
                f"{who.jid} got the {affiliation} list: {describe(r)}"
            assert "alice@" not in describe(r) and "dave@" not in describe(r), describe(r)
        for role in ("moderator", "participant"):
            assert error_condition(who.admin_list(room, role=role)) == "forbidden", role
    # configuring or destroying: owners only
    for who in (bob, dave):
        r = who.iq(room, "get", f"<query xmlns='{NS_MUC_OWNER}'/>")
        assert error_condition(r) == "forbidden", describe(r)
        r = who.configure(room, {"muc#roomconfig_roomowners": [who.jid.split('/')[0]],
                                 "muc#roomconfig_roomname": "pwned"}, check=False)
        assert error_condition(r) == "forbidden", describe(r)
        r = who.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><destroy>"
                                f"<reason>mine now</reason></destroy></query>")
        assert error_condition(r) == "forbidden", describe(r)
    # changing the subject without permission
    bob.send(f"<message to='{room}' type='groupchat' id='subj2'><subject>pwned</subject>"
             "</message>")
    err = bob.wait_error("message", room, "subj2")
    assert error_condition(err) == "forbidden", describe(err)

    # nothing changed
    assert admin_jids(alice, room, "owner") == ["alice@localhost"]
    assert admin_jids(alice, room, "admin") == ["dave@localhost"]
    assert admin_jids(alice, room, "member") == ["carol@localhost"]
    assert admin_jids(alice, room, "outcast") == []
    mods = ok(alice.admin_list(room, role="moderator"))
    assert sorted(i.get("nick") for i in mods.iter(q("item", NS_MUC_ADMIN))) == ["Dave", "Owner"]
    fields = form_fields(alice.config_form(room))
    assert fields["muc#roomconfig_roomname"][1] in ([], [""]), fields["muc#roomconfig_roomname"]
    erin = muc.client("erin")
    j = erin.join(room, "Erin")
    assert j.subject.findtext(q("subject", NS_CLIENT)) == "Owner's topic", describe(j.subject)
    roster = {p.get("from").split("/", 1)[1]: muc_item(p).get("role") for p in j.roster}
    assert roster == {"Owner": "moderator", "Bob": "participant", "Carol": "participant",
                      "Dave": "moderator"}, roster
    assert_still_serving(muc, user="frank")


def test_outcast_and_nonmember_cannot_reach_members_only_room(muc):
    alice, carol, erin, frank = (muc.client(u) for u in ("alice", "carol", "erin", "frank"))
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_membersonly": True})
    ok(alice.admin(room, "<item affiliation='member' jid='carol@localhost'/>"
                         "<item affiliation='outcast' jid='frank@localhost'/>"))
    carol.join(room, "Carol")
    alice.wait_presence(f"{room}/Carol")
    assert error_condition(frank.join_error(room, "Frank")) == "forbidden"
    assert error_condition(erin.join_error(room, "Erin")) == "registration-required"
    for who in (frank, erin):
        nick = who.jid.split("@")[0]
        mid = who.groupchat(room, f"intrusion by {nick}")
        err = who.wait_error("message", room, mid)
        assert error_condition(err) == "not-acceptable", describe(err)
        who.send(f"<message to='{room}/Carol' type='chat' id='pm-{nick}'>"
                 f"<body>intrusion by {nick}</body></message>")
        err = who.wait_error("message", f"{room}/Carol", f"pm-{nick}")
        assert error_condition(err) == "not-acceptable", describe(err)
        who.send(f"<message to='{room}' type='groupchat' id='s-{nick}'>"
                 f"<subject>intrusion by {nick}</subject></message>")
        err = who.wait_error("message", room, f"s-{nick}")
        assert error_condition(err) == "not-acceptable", describe(err)
    # back doors onto the member list: registering (§7.10) or un-registering as an
    # outcast, and a member's invitation while the room does not allow invites (§9.3)
    form = ct.submit_form(ct.NS_MUC_REGISTER, {"muc#register_roomnick": "Sneaky"})
    for who in (frank, erin):
        r = who.iq(room, "set", f"<query xmlns='{ct.NS_REGISTER}'>{form}</query>")
        assert error_condition(r) == "not-allowed", f"{who.jid} registering: {describe(r)}"
    r = frank.iq(room, "set", f"<query xmlns='{ct.NS_REGISTER}'><remove/></query>")
    assert error_condition(r) == "not-allowed", f"outcast un-registering: {describe(r)}"
    for who, cond in ((carol, "forbidden"), (erin, "not-acceptable"), (frank, "not-acceptable")):
        mid = who.next_id("inv")
        who.send(f"<message to='{room}' id='{mid}'><x xmlns='{NS_MUC_USER}'>"
                 f"<invite to='erin@localhost'/></x></message>")
        err = who.wait_error("message", room, mid)
        assert error_condition(err) == cond, f"{who.jid} inviting: {describe(err)}"
    assert admin_jids(alice, room, "member") == ["carol@localhost"]
    assert admin_jids(alice, room, "outcast") == ["frank@localhost"]
    got = quiet_check(erin, [alice, carol], room, alice)
    frank.sync()
    for c, stanzas in got.items():
        leaked = [s for s in stanzas if "intrusion" in describe(s)]
        assert not leaked, f"{c.jid} received: {c.dump(leaked)}"
        assert not [s for s in c.inbox if "intrusion" in describe(s)]
    # a member banned while inside is out, and cannot speak afterwards
    ok(alice.admin(room, "<item affiliation='outcast' jid='carol@localhost'/>"))
    carol.wait_presence(f"{room}/Carol", lambda s: s.get("type") == "unavailable"
                        and 301 in status_codes(s))
    mid = carol.groupchat(room, "intrusion after ban")
    assert error_condition(carol.wait_error("message", room, mid)) == "not-acceptable"
    assert_still_serving(muc)


# ------------------------------------------------------------------ router crash (last)

def test_router_restart_reconciles_vanished_sessions(muc):
    """kill -9 of Prosody with alice and bob in a room; Prosody comes back, alice logs
    in again, bob does not. confabd (same process) must notice that bob's session is
    gone: within 10 s alice's fresh join shows no bob, or she sees bob leave (333)."""
    pid = confabd_pid(muc)
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True})
    bob.join(room, "Bob")
    alice.wait_presence(f"{room}/Bob")
    mark = muc.confabd.mark()
    muc.router.kill9()
    t0 = time.monotonic()
    for c in (alice, bob):
        c.close()
    muc.router.start()
    muc.confabd.wait_log(r"link up", after=mark, timeout=10)
    bound = 10 * ct.SLOW
    alice2 = muc.client("alice", resource="back")
    j = alice2.join(room, "Alice")
    assert 201 not in status_codes(j.self_presence), "the persistent room was lost"
    if any(p.get("from") == f"{room}/Bob" and p.get("type") is None for p in j.roster):
        left = bound - (time.monotonic() - t0)
        p = alice2.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable",
                                 timeout=max(left, 0.1),
                                 what="bob's vanished session to be removed")
        assert 333 in status_codes(p), describe(p)
    assert time.monotonic() - t0 < bound + 5
    assert muc.confabd.proc.pid == pid and muc.confabd.alive(), "confabd restarted or died"
    # the room goes on for the living
    carol = muc.client("carol")
    j = carol.join(room, "Carol")
    assert [p.get("from") for p in j.roster] == [f"{room}/Alice"], \
        [describe(p) for p in j.roster]
    carol.groupchat(room, "after the crash")
    alice2.wait_groupchat(room, "after the crash")
    assert_still_serving(muc)


# ------------------------------------------------------------------ issue 13, findings 5-10

def test_i13_forged_payloads_not_relayed(muc):
    """Finding 5: only payload.c's allowlist reaches other occupants, through a real router."""
    room, alice, bob = in_room(muc, "alice", "bob")
    forged = ("<x xmlns='jabber:x:delay' stamp='20010101T00:00:00'/>"
              "<addresses xmlns='http://jabber.org/protocol/address'>"
              "<address type='ofrom' jid='ceo@localhost'/></addresses>"
              "<result xmlns='urn:xmpp:mam:2' id='x'/>"
              "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
              "from='ceo@localhost'><body>wire the money</body></message></forwarded>"
              "<whatever xmlns='urn:example:unknown'/>")
    alice.groupchat(room, "forged-gc", children=forged + "<store xmlns='urn:xmpp:hints'/>")
    m = bob.wait_groupchat(room, "forged-gc")
    for tag in (q("x", "jabber:x:delay"), q("addresses", "http://jabber.org/protocol/address"),
                q("result", "urn:xmpp:mam:2"), q("forwarded", "urn:xmpp:forward:0"),
                q("whatever", "urn:example:unknown")):
        assert m.find(tag) is None, f"{tag} relayed: {describe(m)}"
    assert m.find(q("store", "urn:xmpp:hints")) is not None, describe(m)
    alice.send(f"<presence to='{room}/Owner'><status>here</status>"
               f"<stanza-id xmlns='{NS_SID}' id='fake' by='{room}'/>{forged}</presence>")
    p = bob.wait_presence(f"{room}/Owner", lambda s: s.findtext(q("status", NS_CLIENT)) == "here")
    assert p.find(q("stanza-id", NS_SID)) is None, describe(p)
    assert p.find(q("forwarded", "urn:xmpp:forward:0")) is None, describe(p)


def test_i13_decline_needs_invitation(muc):
    """Finding 6: no invitation, no decline; the decline goes to who invited."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    for i in range(5):
        bob.send(f"<message to='{room}' id='d{i}'><x xmlns='{NS_MUC_USER}'>"
                 f"<decline to='alice@localhost'><reason>phish</reason></decline></x></message>")
        err = bob.wait_error("message", room, f"d{i}")
        assert error_condition(err) == "forbidden", describe(err)
    time.sleep(0.3 * ct.SLOW)
    assert not [s for s in alice.inbox if s.find(f"{q('x', NS_MUC_USER)}/"
                                                 f"{q('decline', NS_MUC_USER)}") is not None]
    alice.send(f"<message to='{room}' id='inv'><x xmlns='{NS_MUC_USER}'>"
               f"<invite to='bob@localhost'/></x></message>")
    bob.wait(lambda s: s.get("from") == room and s.find(q("x", NS_MUC_USER)) is not None,
             what="invitation")
    bob.send(f"<message to='{room}' id='dok'><x xmlns='{NS_MUC_USER}'>"
             f"<decline to='alice@localhost'><reason>busy</reason></decline></x></message>")
    alice.wait(lambda s: s.get("from") == room and s.find(
        f"{q('x', NS_MUC_USER)}/{q('decline', NS_MUC_USER)}") is not None, what="decline")


def test_i13_presence_size_capped(muc):
    """Finding 8: a presence larger than [muc] max_presence_size is refused, named."""
    room, alice, bob = in_room(muc, "alice", "bob")
    bob.send(f"<presence to='{room}/Bob' id='big'><status>{'A' * 20000}</status></presence>")
    err = bob.wait_error("presence", f"{room}/Bob", "big")
    assert error_condition(err) == "policy-violation", describe(err)[:300]
    assert "max_presence_size" in (err.findtext(f"{q('error', NS_CLIENT)}/{q('text', NS_STANZAS)}")
                                   or ""), describe(err)[:300]
    time.sleep(0.3 * ct.SLOW)
    assert not [s for s in alice.inbox if len(s.findtext(q("status", NS_CLIENT)) or "") > 8192]


def test_i13_confabctl_non_utf8_argument(muc):
    """Finding 10: a non-UTF-8 argument is refused up front, naming it; no SQLSTATE."""
    import subprocess
    r = subprocess.run([str(ct.BUILD / "confabctl"), "-c", "/dev/null", "rooms", "show",
                        b"caf\xe9@conference.localhost"], capture_output=True)
    assert r.returncode == 64, r
    assert b"argument 5 is not valid UTF-8" in r.stderr, r.stderr
    assert b"22021" not in r.stderr, r.stderr
