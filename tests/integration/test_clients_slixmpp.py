"""slixmpp's own MUC and MAM plugins (xep_0045, xep_0313) drive confabd rooms, as a bot built on slixmpp would.

The other MUC tests build their stanzas by hand; here everything goes through the
plugins' public API (join_muc_wait, get_room_config/set_room_config, set_affiliation,
set_role, invite, get_roster, xep_0313 retrieve/iterate), so each test fails when
confabd sends something a real client library cannot use, even if it is on the wire.
Prosody only (the muc_env fixture): client behaviour does not depend on the router.
"""

import asyncio

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError, PresenceError

import confabtest as ct
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

MUC_CONFIG = "message_rate = 0\npresence_rate = 0\n"

PLUGINS = ("xep_0030", "xep_0004", "xep_0059", "xep_0082", "xep_0085", "xep_0203", "xep_0297",
           "xep_0045", "xep_0313")


def plugin_client(muc, user):
    """A MucClient with slixmpp's MUC/MAM plugins loaded; events it sees are kept in
    c.events[name] (the plugins report what they understood through events)."""
    c = muc.client(user)
    for p in PLUGINS:
        c.xmpp.register_plugin(p)
    c.events = {}
    c.muc = c.xmpp.plugin["xep_0045"]
    c.mam = c.xmpp.plugin["xep_0313"]
    for event in ("groupchat_presence", "groupchat_invite"):
        record(c, event)
    return c


def record(c, event):
    """Keep every `event` the plugins fire on client c in c.events[event]."""
    got = c.events.setdefault(event, [])
    c.xmpp.add_event_handler(event, got.append)
    return got


def wait_event(c, event, pred=lambda e: True, timeout=5):
    got = c.events[event]  # recorded since record(c, event)
    return ct.wait_for(lambda: (ct.pump_all(), next((e for e in got if pred(e)), None))[1],
                       timeout * ct.SLOW, f"{c.jid}: slixmpp event {event}")


def join(c, room, nick, **kw):
    """join_muc_wait through the plugin; returns (self-presence, subject, occupants, history)."""
    return c.run(c.muc.join_muc_wait(JID(room), nick, timeout=5, **kw), timeout=8)


def configure(c, room, values):
    """Fetch the owner form with get_room_config, fill it, send it with set_room_config."""
    form = c.run(c.muc.get_room_config(JID(room)))
    fields = form.get_fields()
    for var, value in values.items():
        assert var in fields, f"{var} not in {room}'s configuration form: {sorted(fields)}"
        fields[var]["value"] = value
    c.run(c.muc.set_room_config(JID(room), form))
    return form


def create_room(c, nick, values, prefix):
    room = ct.new_room(prefix)
    pres, _subject, _occ, _hist = join(c, room, nick)
    assert 201 in pres["muc"]["status_codes"], f"creating {room}: {pres}"
    configure(c, room, values)
    return room


def send_groupchat(c, room, body=None, state=None):
    msg = c.xmpp.make_message(mto=JID(room), mtype="groupchat", mbody=body)
    if state:
        msg["chat_state"] = state
    msg.send()
    ct.pump_all()


def test_plugin_room_lifecycle_and_mam(muc):
    """Persistent room created and configured through the plugin; two users join;
    messages flow; MAM through the plugin returns them in order over several pages;
    affiliation and role changes; a kick the kicked client's plugin understands."""
    alice = plugin_client(muc, "alice")
    bob = plugin_client(muc, "bob")
    room = create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True,
                                        "muc#roomconfig_roomname": "Plugin room"}, "plugins")
    fields = alice.run(alice.muc.get_room_config(JID(room))).get_fields()  # read back
    assert fields["muc#roomconfig_persistentroom"]["value"] is True
    assert fields["muc#roomconfig_roomname"]["value"] == "Plugin room"

    bob_msgs = record(bob, f"muc::{room}::message")
    pres, _subject, occupants, _hist = join(bob, room, "Bob")
    assert 110 in pres["muc"]["status_codes"]
    # the plugin counts every occupant that came online during the join, itself included
    assert [p["muc"]["nick"] for p in occupants] == ["Alice", "Bob"]
    ct.wait_for(lambda: (ct.pump_all(), set(alice.muc.get_roster(JID(room))) == {"Alice", "Bob"})[1],
                5, "alice's plugin roster to list Alice and Bob",
                detail=lambda: alice.muc.get_roster(JID(room)))
    assert set(bob.muc.get_roster(JID(room))) == {"Alice", "Bob"}

    # a real client sends chat states around its messages (composing, then active):
    # a bare chat state is not a message and must not be archived (XEP-0313 §5.1.1)
    bodies = [f"plugin message {i}" for i in range(5)]
    for b in bodies:
        send_groupchat(alice, room, state="composing")
        send_groupchat(alice, room, body=b, state="active")
    ct.wait_for(lambda: (ct.pump_all(), [m["body"] for m in bob_msgs if m["body"]] == bodies)[1],
                5, "bob's plugin to see the five messages",
                detail=lambda: [m["body"] for m in bob_msgs])

    # MAM through xep_0313: pages of 2 (iterator=True gives the pages, iterate the messages)
    async def pages():
        return [[r["mam_result"]["forwarded"]["stanza"]["body"] for r in page["mam"]["results"]]
                async for page in bob.mam.retrieve(jid=JID(room), iterator=True, rsm={"max": 2})]

    async def messages():
        return [r["mam_result"]["forwarded"]["stanza"]["body"]
                async for r in bob.mam.iterate(jid=JID(room), rsm={"max": 2})]
    # xep_0059's iterator ends quietly on an IQ error: ask one page first, so a refusal
    # fails with its condition instead of as an empty archive
    try:
        first = bob.run(bob.mam.retrieve(jid=JID(room), rsm={"max": 2}, timeout=5), timeout=8)
    except IqError as e:
        pytest.fail(f"MAM query on {room} through xep_0313 refused: {e.condition} "
                    f"({e.text}); the room was configured only as persistent and named, "
                    "so this is the room's default archiving")
    first_bodies = [r["mam_result"]["forwarded"]["stanza"]["body"]
                    for r in first["mam"]["results"]]
    assert first_bodies == bodies[:2], \
        f"first MAM page {first_bodies}: a body-less entry is one of the chat states " \
        "(<composing/>) alice's client sent before each message, archived as a message"
    got_pages = bob.run(pages(), timeout=10)
    assert len(got_pages) >= 3, f"expected several pages of 2, got {got_pages}"
    assert [b for p in got_pages for b in p] == bodies, \
        f"room archive through xep_0313 (pages of 2) is not the five messages in order: {got_pages}"
    assert bob.run(messages(), timeout=10) == bodies

    # affiliation through the plugin, visible through the plugin's member list
    alice.run(alice.muc.set_affiliation(JID(room), "member", jid=JID("bob@localhost")))
    members = alice.run(alice.muc.get_affiliation_list(JID(room), "member"))
    assert [str(j) for j in members] == ["bob@localhost"], members
    wait_event(bob, "groupchat_presence",
               lambda p: p["from"] == f"{room}/Bob" and p["muc"]["affiliation"] == "member")
    # role: the plugin's set_role makes bob a visitor, then kicks him
    alice.run(alice.muc.set_role(JID(room), "Bob", "visitor"))
    wait_event(bob, "groupchat_presence",
               lambda p: p["from"] == f"{room}/Bob" and p["muc"]["role"] == "visitor")

    kicked = record(bob, f"muc::{room}::self-presence")
    alice.run(alice.muc.set_role(JID(room), "Bob", "none", reason="plugin kick"))
    ct.wait_for(lambda: (ct.pump_all(), any(p["type"] == "unavailable" for p in kicked))[1],
                5, "bob's plugin to report its own removal (self-presence, 110)",
                detail=lambda: ct.describe(bob.trace[-1]) if bob.trace else "")
    gone = next(p for p in kicked if p["type"] == "unavailable")
    assert 307 in gone["muc"]["status_codes"], f"kick without 307: {gone}"
    assert gone["muc"]["item"]["reason"] == "plugin kick"
    assert "Bob" not in bob.muc.get_roster(JID(room)), bob.muc.get_roster(JID(room))
    ct.wait_for(lambda: (ct.pump_all(), alice.muc.get_roster(JID(room)) == ["Alice"])[1],
                5, "alice's plugin roster to drop Bob", detail=lambda: alice.muc.get_roster(JID(room)))


def test_plugin_invitation(muc):
    """A mediated invitation sent with the plugin's invite() reaches the invitee's
    plugin as a groupchat_invite event, with inviter and reason; the invitee joins."""
    alice = plugin_client(muc, "alice")
    carol = plugin_client(muc, "carol")
    invites = carol.events["groupchat_invite"]
    room = create_room(alice, "Alice", {"muc#roomconfig_roomname": "Invite room"}, "invite")
    alice.muc.invite(JID(room), JID("carol@localhost"), reason="come and see")
    ct.pump_all()
    inv = wait_event(carol, "groupchat_invite", lambda m: m["from"] == JID(room))
    assert invites == [inv]
    # §7.8.2: the inviter's bare or full JID, or its occupant JID in a room that
    # hides real JIDs (this one is semi-anonymous)
    inviter = JID(inv["muc"]["invite"]["from"])
    assert inviter.bare == "alice@localhost" or inviter == JID(f"{room}/Alice"), inv
    assert inv["muc"]["invite"]["reason"] == "come and see"
    pres, *_ = join(carol, room, "Carol")
    assert 110 in pres["muc"]["status_codes"]


def test_plugin_password_room(muc):
    """A password room: join_muc_wait without the password raises PresenceError
    (not-authorized) rather than hanging; with the password it succeeds."""
    alice = plugin_client(muc, "alice")
    bob = plugin_client(muc, "bob")
    room = create_room(alice, "Alice", {"muc#roomconfig_passwordprotectedroom": True,
                                        "muc#roomconfig_roomsecret": "plugin-secret"}, "secret")
    # slixmpp reports a refused join only for an error presence carrying
    # <x xmlns='http://jabber.org/protocol/muc'/> (XEP-0045 §7.2.6, example 33);
    # anything else leaves join_muc_wait waiting until its timeout.
    try:
        join(bob, room, "Bob")
    except PresenceError as e:
        assert e.condition == "not-authorized", e
    except asyncio.TimeoutError:
        pytest.fail("join_muc_wait without the password timed out: confabd's error presence "
                    "did not reach the plugin as a MUC error (no <x xmlns='"
                    f"{ct.NS_MUC}'/>?); last stanzas:\n" + bob.dump(bob.inbox[-3:]))
    else:
        pytest.fail(f"{room} let bob in without its password")
    pres, *_ = join(bob, room, "Bob", password="plugin-secret")
    assert 110 in pres["muc"]["status_codes"]
    assert set(bob.muc.get_roster(JID(room))) == {"Alice", "Bob"}
