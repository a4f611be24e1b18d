"""Message moderation (issue 17 item 1) through a real router and PostgreSQL, driven by
slixmpp's own XEP-0425 plugin (its :0 form, as it ships in Debian 12) and checked
with its event for the announcement: everyone sees the message go, a newcomer's
history and a later MAM catch-up serve the tombstone, and the database row holds
it with no text left (the compliance event is checked by tests/unit/test_moderate.c)."""

import psycopg
from slixmpp import JID

import confabtest as ct
from confabtest import NS_CLIENT, q
from confabtest import muc, muc_env  # noqa: F401  (fixtures)
from test_clients_slixmpp import join, plugin_client, record, wait_event

MUC_CONFIG = "message_rate = 0\npresence_rate = 0\n"
NS_SID = "urn:xmpp:sid:0"
NS_RETRACT1 = "urn:xmpp:message-retract:1"
NS_MAM = "urn:xmpp:mam:2"


def moderation_client(muc, user):
    c = plugin_client(muc, user)
    for p in ("xep_0421", "xep_0422", "xep_0424", "xep_0425"):
        c.xmpp.register_plugin(p)
    record(c, "moderated_message")
    return c


def test_moderator_takes_spam_down_for_everyone(muc, pg):
    alice, bob = moderation_client(muc, "alice"), moderation_client(muc, "bob")
    room = muc.create_room(alice, "Mod", config={"muc#roomconfig_enablelogging": "1"})
    join(bob, room, "Spammer")
    alice.wait_presence(f"{room}/Spammer")
    mid = bob.groupchat(room, "DM me for free magic potions!")
    seen = alice.wait(lambda s: s.get("id") == mid and s.get("type") == "groupchat", 5,
                      "the spam at the moderator")
    sid = seen.find(q("stanza-id", NS_SID)).get("id")

    # the moderator's client library asks, the room tells everyone
    alice.run(alice.xmpp.plugin["xep_0425"].moderate(JID(room), sid, "spam"), timeout=8)
    for c in (alice, bob):
        ev = wait_event(c, "moderated_message", lambda m: m["apply_to"]["id"] == sid)
        assert ev["from"].bare == room
        assert ev["apply_to"]["moderated"]["by"] == JID(f"{room}/Mod")
        assert ev["apply_to"]["moderated"]["reason"] == "spam"

    # a newcomer's history and a later MAM catch-up serve the tombstone
    carol = muc.client("carol")
    j = carol.join(room, "Late")
    late = [m for m in j.history if m.find(q("stanza-id", NS_SID)).get("id") == sid]
    assert len(late) == 1 and late[0].find(q("body", NS_CLIENT)) is None, ct.describe(late[0])
    assert late[0].find(q("retracted", NS_RETRACT1)) is not None
    reply = carol.iq(room, "set", f"<query xmlns='{NS_MAM}' queryid='cu'/>")
    assert reply.get("type") == "result", ct.describe(reply)
    results = [s for s in carol.take(lambda s: s.find(f"{{{NS_MAM}}}result") is not None)]
    fwd = [r.find(f"{{{NS_MAM}}}result/{{urn:xmpp:forward:0}}forwarded/{{{NS_CLIENT}}}message")
           for r in results if r.find(f"{{{NS_MAM}}}result").get("id") == sid]
    assert len(fwd) == 1 and fwd[0].find(q("body", NS_CLIENT)) is None
    assert fwd[0].find(q("retracted", NS_RETRACT1)) is not None

    # the row itself: no text left to search, a tombstone with its time
    with psycopg.connect(pg.dsn("confab")) as db:
        stanza, body, when = db.execute(
            "SELECT m.stanza, m.body, m.retracted_at FROM messages m JOIN rooms r ON "
            "r.id = m.room_id WHERE r.jid = %s AND m.stanza LIKE %s", (room, f"%{sid}%")).fetchone()
    assert body is None and when is not None and "potions" not in stanza, stanza
