"""XEP-0045 §7.1–§7.2 (Order of Events, Entering a Room) through a real router with
real slixmpp clients. Section numbers follow the XEP in the workspace (1.35.5); every
test is named after the section and anchor of the use case it checks.

Prosody serves most tests (the behaviour is the engine's, not the router's); the
end-to-end join + message test runs on every router in CONFAB_TEST_ROUTERS."""

import datetime as dt
import time

import pytest

import confabtest as ct
from confabtest import (NS_CLIENT, NS_DELAY, NS_MUC, NS_MUC_USER, describe,
                        error_condition, local_name, muc_item, q, status_codes)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

# §7.10 registration by users with no affiliation, which the XEP describes;
# confabd's default follows Prosody's (only affiliated users register).
MUC_CONFIG = "register_unaffiliated = true\n"


def body(st):
    return st.findtext(q("body", NS_CLIENT))


def assert_one_muc_user_x(st):
    xs = st.findall(q("x", NS_MUC_USER))
    assert len(xs) == 1, f"expected exactly one muc#user <x/> (§7.2.2 note): {describe(st)}"
    item = xs[0].find(q("item", NS_MUC_USER))
    assert item is not None and item.get("role") and item.get("affiliation"), describe(st)
    return item


def assert_presence_error(st, condition):
    assert error_condition(st) == condition, \
        f"expected a {condition} presence error, got {describe(st)}"


# ------------------------------------------------------------------ §7.1, §7.2.1, §7.2.2

def test_7_1_order_of_events(muc):
    """Roster presences, then self-presence (110), then history, then the subject,
    with nothing else in between; the others learn of the newcomer."""
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    alice.wait_presence(f"{room}/Bob")
    bob.groupchat(room, "one")
    bob.groupchat(room, "two")
    bob.wait_groupchat(room, "one")
    bob.wait_groupchat(room, "two")

    j = carol.join(room, "Carol", children="<show>chat</show><status>hello coven</status>")
    kinds = [(local_name(st), st.get("from")) for st in j.stanzas]
    assert j.self_index == 2, f"self-presence must follow the 2 roster presences: {kinds}"
    assert sorted(st.get("from") for st in j.roster) == [f"{room}/Bob", f"{room}/Owner"], kinds
    for st in j.roster:
        assert st.get("type") is None and 110 not in status_codes(st), describe(st)
        assert_one_muc_user_x(st)
    item = assert_one_muc_user_x(j.self_presence)
    assert (item.get("affiliation"), item.get("role")) == ("none", "participant"), \
        describe(j.self_presence)
    assert j.self_presence.get("from") == f"{room}/Carol"
    assert j.bodies() == ["one", "two"], f"history: {carol.dump(j.history)}"
    assert j.stanzas == j.roster + [j.self_presence] + j.history + [j.subject], \
        "unexpected stanza between roster, self-presence, history and subject:\n" + \
        carol.dump(j.stanzas)

    for other in (alice, bob):
        p = other.wait_presence(f"{room}/Carol")
        assert p.get("type") is None and 110 not in status_codes(p), describe(p)
        assert_one_muc_user_x(p)
        assert (p.findtext(q("show", NS_CLIENT)), p.findtext(q("status", NS_CLIENT))) == \
            ("chat", "hello coven"), f"the newcomer's own presence must be passed on: {describe(p)}"


def test_7_2_1_enter_muc_without_nick_jid_malformed(muc):
    alice = muc.client("alice")
    room = muc.create_room(alice, "Owner")
    bob = muc.client("bob")
    bob.send(f"<presence to='{room}' id='nonick'><x xmlns='{NS_MUC}'/></presence>")
    err = bob.wait_error("presence", room)
    assert_presence_error(err, "jid-malformed")


def test_7_2_1_enter_muc_rejoin_from_joined_client_resyncs(muc):
    """A join presence from an already-joined full JID: the service sends the same
    stanzas as for a fresh join (roster, self-presence, history, subject)."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    alice.groupchat(room, "before the resync")
    bob.wait_groupchat(room, "before the resync")
    j = bob.join(room, "Bob")
    assert [st.get("from") for st in j.roster] == [f"{room}/Owner"], bob.dump(j.stanzas)
    assert j.bodies() == ["before the resync"], bob.dump(j.stanzas)
    assert j.stanzas == j.roster + [j.self_presence] + j.history + [j.subject], bob.dump(j.stanzas)
    alice.sync()
    assert not alice.take(lambda s: s.get("from") == f"{room}/Bob"
                          and s.get("type") == "unavailable"), "the resync made bob leave"


def test_7_2_3_enter_nonanon_status_100_and_full_jids(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_whois": "anyone"})
    j = bob.join(room, "Bob")
    assert 100 in status_codes(j.self_presence), \
        f"non-anonymous room: self-presence must carry 100: {describe(j.self_presence)}"
    owner = next(st for st in j.roster if st.get("from") == f"{room}/Owner")
    assert muc_item(owner).get("jid") == alice.full_jid, \
        f"a participant must see full JIDs in a non-anonymous room: {describe(owner)}"


def test_7_2_4_enter_semianon_jids_only_to_moderators(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner")  # default whois = moderators
    j = bob.join(room, "Bob")
    assert 100 not in status_codes(j.self_presence), describe(j.self_presence)
    owner = next(st for st in j.roster if st.get("from") == f"{room}/Owner")
    assert muc_item(owner).get("jid") is None, \
        f"a participant must not see real JIDs in a semi-anonymous room: {describe(owner)}"
    seen_by_mod = alice.wait_presence(f"{room}/Bob")
    assert muc_item(seen_by_mod).get("jid") == bob.full_jid, describe(seen_by_mod)
    carol.join(room, "Carol")
    seen_by_bob = bob.wait_presence(f"{room}/Carol")
    assert muc_item(seen_by_bob).get("jid") is None, describe(seen_by_bob)
    assert "carol@" not in describe(seen_by_bob), describe(seen_by_bob)


# ------------------------------------------------------------------ §7.2.5 – §7.2.10

def test_7_2_5_enter_pw_not_authorized(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_passwordprotectedroom": True,
                                            "muc#roomconfig_roomsecret": "cauldronburn"})
    err = bob.join_error(room, "Bob")
    assert_presence_error(err, "not-authorized")
    assert ct.stanza_error(err)[0] == "auth", describe(err)
    err = bob.join_error(room, "Bob", password="wrong")
    assert_presence_error(err, "not-authorized")
    j = bob.join(room, "Bob", password="cauldronburn")
    assert muc_item(j.self_presence).get("role") == "participant"


def test_7_2_6_enter_members_registration_required(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_membersonly": True})
    err = bob.join_error(room, "Bob")
    assert_presence_error(err, "registration-required")
    r = alice.admin(room, "<item affiliation='member' jid='bob@localhost'/>")
    assert r.get("type") == "result", describe(r)
    j = bob.join(room, "Bob")
    assert muc_item(j.self_presence).get("affiliation") == "member", describe(j.self_presence)


def test_7_2_7_enter_banned_forbidden(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    r = alice.admin(room, "<item affiliation='outcast' jid='bob@localhost'/>")
    assert r.get("type") == "result", describe(r)
    err = bob.join_error(room, "Bob")
    assert_presence_error(err, "forbidden")


def test_7_2_8_enter_conflict_nick_in_use(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Witch")
    err = carol.join_error(room, "Witch")
    assert_presence_error(err, "conflict")
    # carol is not in: the room does not deliver its traffic to her
    bob.groupchat(room, "only for occupants")
    bob.wait_groupchat(room, "only for occupants")
    bob.sync()
    carol.sync()
    assert not carol.take(lambda s: ct.jid_bare(s.get("from")) == room
                          and s.get("type") != "error"), "a refused user received room traffic"


def test_7_2_8_enter_conflict_nick_registered_by_another(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner")
    form = ct.submit_form(ct.NS_MUC_REGISTER, {"muc#register_roomnick": "Hecate"})
    r = bob.iq(room, "set", f"<query xmlns='{ct.NS_REGISTER}'>{form}</query>")
    assert r.get("type") == "result", describe(r)
    err = carol.join_error(room, "Hecate")
    assert_presence_error(err, "conflict")
    j = bob.join(room, "Hecate")  # the owner of the nick may use it
    assert j.occupant_jid == f"{room}/Hecate"


def test_7_2_8_enter_conflict_multi_session_same_nick(muc):
    """Two resources of one bare JID share a nick: both get and may send in-room
    messages; one leaving does not take the other out."""
    alice = muc.client("alice")
    bob1, bob2 = muc.client("bob", "desk"), muc.client("bob", "phone")
    room = muc.create_room(alice, "Owner")
    bob1.join(room, "Bob")
    alice.wait_presence(f"{room}/Bob")
    j2 = bob2.join(room, "Bob")
    assert j2.occupant_jid == f"{room}/Bob"
    assert [st.get("from") for st in j2.roster] == [f"{room}/Owner"], bob2.dump(j2.roster)

    alice.groupchat(room, "to both devices")
    for b in (bob1, bob2):
        b.wait_groupchat(room, "to both devices")
    bob2.groupchat(room, "from the phone")
    m = alice.wait_groupchat(room, "from the phone")
    assert m.get("from") == f"{room}/Bob", describe(m)
    bob1.wait_groupchat(room, "from the phone")
    # private messages: "it is RECOMMENDED to route to all resources"
    alice.send(f"<message to='{room}/Bob' type='chat' id='pm-both'><body>psst, both</body>"
               "</message>")
    for b in (bob1, bob2):
        b.wait(lambda s: s.findtext(q("body", NS_CLIENT)) == "psst, both", what="private message")

    bob2.leave(room, "Bob")
    bob2.sync()
    alice.sync()
    gone = alice.take(lambda s: s.get("from") == f"{room}/Bob" and s.get("type") == "unavailable")
    assert not gone, f"the occupant left although another session stays: {alice.dump(gone)}"
    alice.groupchat(room, "still there?")
    bob1.wait_groupchat(room, "still there?")


def test_7_2_9_enter_maxusers_service_unavailable(muc):
    alice, bob, carol, dave = (muc.client(u) for u in ("alice", "bob", "carol", "dave"))
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_maxusers": "2",
                                            "muc#roomconfig_roomadmins": ["dave@localhost"]})
    bob.join(room, "Bob")
    err = carol.join_error(room, "Carol")
    assert_presence_error(err, "service-unavailable")
    # "the room MUST allow the admin or owner to join"
    j = dave.join(room, "Dave")
    assert muc_item(j.self_presence).get("affiliation") == "admin", describe(j.self_presence)


def test_7_2_10_enter_locked_item_not_found(muc):
    """Until its owner configures it, a new room refuses everyone else."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = ct.new_room("locked")
    j = alice.join(room, "Owner")
    assert {110, 201} <= status_codes(j.self_presence), describe(j.self_presence)
    err = bob.join_error(room, "Bob")
    assert_presence_error(err, "item-not-found")
    alice.configure(room)  # instant room (§10.1.2)
    j = bob.join(room, "Bob")
    assert j.occupant_jid == f"{room}/Bob"


def test_7_2_12_enter_logging_status_170(muc):
    """§7.2.12's 170 warns of a public log; the room's XEP-0313 archive (on by
    default) is not one: it is announced by disco, and by 170/171 when an owner
    switches it (§10.2.1), as Prosody does (its own tests expect no 170 on entry)."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_enablelogging": False})
    j = bob.join(room, "Bob")
    assert 170 not in status_codes(j.self_presence), describe(j.self_presence)
    alice.configure(room, {"muc#roomconfig_enablelogging": True})
    m = bob.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                 and 170 in status_codes(s), 5, "170 when logging is switched on")
    assert m.get("type") == "groupchat", describe(m)


# ------------------------------------------------------------------ §7.2.13 – §7.2.15

def assert_history_stanza(m, room, sender_nick):
    delays = m.findall(q("delay", NS_DELAY))
    assert len(delays) == 1, f"history needs exactly one urn:xmpp:delay: {describe(m)}"
    assert delays[0].get("from") == room, f"delay 'from' MUST be the room JID: {describe(m)}"
    stamp = delays[0].get("stamp")
    assert stamp and parse_stamp(stamp), describe(m)
    assert m.get("from") == f"{room}/{sender_nick}", describe(m)
    assert m.get("type") == "groupchat", describe(m)


def parse_stamp(stamp):
    s = stamp.replace("Z", "+00:00")
    return dt.datetime.fromisoformat(s)


def fill_history(muc, bodies, nick="Bob"):
    """A room whose history holds bodies, sent by bob as nick; returns (room, alice, bob)."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, nick)
    for b in bodies:
        bob.groupchat(room, b)
        bob.wait_groupchat(room, b)
    return room, alice, bob


def test_7_2_13_enter_history_delay_from_room(muc):
    room, alice, bob = fill_history(muc, ["first", "second"])
    # "the room subject (and changes to the room subject ...) are not part of the history"
    alice.send(f"<message to='{room}' type='groupchat'><subject>Not history</subject></message>")
    alice.wait(lambda s: ct.is_subject(s, room), what="subject echo")
    bob.groupchat(room, "third")
    bob.wait_groupchat(room, "third")
    carol = muc.client("carol")
    j = carol.join(room, "Carol")
    assert j.bodies() == ["first", "second", "third"], carol.dump(j.stanzas)
    assert len(j.history) == len(j.stanzas) - j.self_index - 2, \
        f"only the messages are history: {carol.dump(j.stanzas)}"
    assert j.subject.findtext(q("subject", NS_CLIENT)) == "Not history"
    for m in j.history:
        assert_history_stanza(m, room, "Bob")
    stamps = [parse_stamp(m.find(q("delay", NS_DELAY)).get("stamp")) for m in j.history]
    assert stamps == sorted(stamps), stamps


def test_7_2_14_enter_managehistory_maxchars(muc):
    big = ["a" * 1000, "b" * 1000, "c" * 1000]
    room, alice, bob = fill_history(muc, big)
    carol = muc.client("carol")
    j = carol.join(room, "Carol", history={"maxchars": "0"})
    assert j.history == [], f"maxchars=0 means no history: {carol.dump(j.history)}"
    assert ct.is_subject(j.subject, room)
    carol.leave(room, "Carol")
    # one stanza is ~1.3k characters: 2000 admits exactly one complete stanza
    j = carol.join(room, "Carol", history={"maxchars": "2000"})
    assert j.bodies() == ["c" * 1000], \
        f"maxchars=2000: expected only the newest message, got {[b[:1] for b in j.bodies()]}"
    assert_history_stanza(j.history[0], room, "Bob")


def test_7_2_14_enter_managehistory_maxstanzas(muc):
    room, alice, bob = fill_history(muc, ["m1", "m2", "m3", "m4"])
    carol = muc.client("carol")
    j = carol.join(room, "Carol", history={"maxstanzas": "2"})
    assert j.bodies() == ["m3", "m4"], carol.dump(j.history)
    for m in j.history:
        assert_history_stanza(m, room, "Bob")
    carol.leave(room, "Carol")
    j = carol.join(room, "Carol", history={"maxstanzas": "0"})
    assert j.history == [], carol.dump(j.history)


def test_7_2_14_enter_managehistory_seconds(muc):
    room, alice, bob = fill_history(muc, ["old1", "old2"])
    time.sleep(2.5 * ct.SLOW)  # history age is wall-clock time: nothing to wait for
    for b in ("new1", "new2"):
        bob.groupchat(room, b)
        bob.wait_groupchat(room, b)
    carol = muc.client("carol")
    j = carol.join(room, "Carol", history={"seconds": str(max(1, round(1.5 * ct.SLOW)))})
    assert j.bodies() == ["new1", "new2"], carol.dump(j.history)
    for m in j.history:
        assert_history_stanza(m, room, "Bob")


def test_7_2_14_enter_managehistory_since(muc):
    room, alice, bob = fill_history(muc, ["before1", "before2"])
    time.sleep(1.0)  # wall-clock separation around the 'since' instant
    cut = dt.datetime.now(dt.timezone.utc)
    time.sleep(1.0)
    for b in ("after1", "after2"):
        bob.groupchat(room, b)
        bob.wait_groupchat(room, b)
    since = cut.strftime("%Y-%m-%dT%H:%M:%S.") + f"{cut.microsecond // 1000:03d}Z"
    carol = muc.client("carol")
    j = carol.join(room, "Carol", history={"since": since})
    assert j.bodies() == ["after1", "after2"], f"since={since}:\n" + carol.dump(j.history)
    for m in j.history:
        assert_history_stanza(m, room, "Bob")
        stamp = parse_stamp(m.find(q("delay", NS_DELAY)).get("stamp"))
        assert stamp >= parse_stamp(since), describe(m)


def test_7_2_15_enter_subject_empty_after_history(muc):
    """No subject was ever set: after the history comes a message from the room with
    an empty <subject/> and no body."""
    room, alice, bob = fill_history(muc, ["hello"])
    carol = muc.client("carol")
    j = carol.join(room, "Carol")
    assert j.bodies() == ["hello"]
    subj = j.subject
    assert j.stanzas.index(subj) > j.stanzas.index(j.history[-1])
    assert subj.get("type") == "groupchat", describe(subj)
    assert subj.get("from") == room, describe(subj)
    assert (subj.findtext(q("subject", NS_CLIENT)) or "") == "", describe(subj)
    assert subj.find(q("body", NS_CLIENT)) is None, describe(subj)


def test_7_2_15_enter_subject_delay_from_room(muc):
    """"the subject SHOULD be stamped with XEP-0203 information ... its 'from'
    attribute MUST be set to the JID of the room itself" (a SHOULD; kept apart from
    the MUSTs above)."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    alice.send(f"<message to='{room}' type='groupchat'><subject>Stamped</subject></message>")
    alice.wait(lambda s: ct.is_subject(s, room), what="subject echo")
    j = bob.join(room, "Bob")
    delay = j.subject.find(q("delay", NS_DELAY))
    assert delay is not None, f"subject without <delay/>: {describe(j.subject)}"
    assert delay.get("from") == room and parse_stamp(delay.get("stamp")), describe(j.subject)


# ------------------------------------------------------------------ end to end, every router

@pytest.fixture(scope="module", params=ct.muc_router_kinds())
def any_router_env(request, pg, tmp_path_factory):
    env = ct.MucEnv(request.param, pg, tmp_path_factory.mktemp(f"muc-e2e-{request.param}"))
    try:
        yield env
    finally:
        env.stop()


def test_7_2_enter_e2e_join_and_message(any_router_env):
    """A stock slixmpp MUC client (plugin xep_0045) creates, joins and talks, on each
    router: the component link, routing of occupant JIDs and fan-out work end to end."""
    env = any_router_env
    try:
        alice, bob = env.client("alice"), env.client("bob")
        for c in (alice, bob):
            c.xmpp.register_plugin("xep_0045")
        room = ct.new_room("e2e")
        plugin_a = alice.xmpp.plugin["xep_0045"]
        pres, subject, occupants, history = alice.run(
            plugin_a.join_muc_wait(room, "Owner", maxstanzas=0, timeout=5), timeout=8)
        assert {110, 201} <= status_codes(pres.xml), describe(pres.xml)
        alice.configure(room)

        got = []
        bob.xmpp.add_event_handler("groupchat_message", lambda m: got.append(m))
        pres, subject, occupants, history = bob.run(
            bob.xmpp.plugin["xep_0045"].join_muc_wait(room, "Bob", timeout=5), timeout=8)
        assert 110 in status_codes(pres.xml), describe(pres.xml)
        # the plugin counts its own self-presence among the occupants
        assert sorted(str(o["from"]) for o in occupants) == [f"{room}/Bob", f"{room}/Owner"], \
            [describe(o.xml) for o in occupants]
        assert subject["subject"] == ""

        alice._activate()
        alice.xmpp.send_message(mto=room, mbody="hello from a stock client", mtype="groupchat")
        alice.pump(0.01)
        ct.wait_for(lambda: (ct.pump_all(), got)[1], 5 * ct.SLOW, "groupchat at bob")
        m = got[0]
        assert str(m["from"]) == f"{room}/Owner" and m["body"] == "hello from a stock client"
        assert m.xml.find(q("stanza-id", ct.NS_SID)).get("by") == room, describe(m.xml)
    finally:
        env.end_test()
