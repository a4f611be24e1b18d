"""Service administration over XEP-0050 ad-hoc commands (issue 17 item 4), driven by
slixmpp's own xep_0050 plugin as Gajim's or Psi's command UI would: the commands are
listed for a service administrator only, each returns its form, and list rooms, room
report, grant owner and the announcement do what they say. Real Prosody and PostgreSQL."""

from slixmpp import JID
from slixmpp.exceptions import IqError

import confabtest as ct
from confabtest import NS_CLIENT, NS_MUC_USER, q
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

MUC_CONFIG = f"admins = alice@{ct.DOMAIN}\nmessage_rate = 0\n"
SERVICE = JID(ct.MUC_DOMAIN)
NODES = {"http://prosody.im/protocol/muc#destroy", "urn:confab:admin:rooms",
         "urn:confab:admin:room-report", "urn:confab:admin:grant-owner",
         "http://jabber.org/protocol/admin#announce"}


def adhoc_client(muc, user):
    c = muc.client(user)
    for p in ("xep_0030", "xep_0004", "xep_0050"):
        c.xmpp.register_plugin(p)
    c.adhoc = c.xmpp.plugin["xep_0050"]
    return c


def call(c, fn, *args, **kw):
    """Run a plugin call on c's own loop (iq.send makes its future in the running loop)."""
    async def go():
        return await fn(*args, **kw)
    return c.run(go())


def run_command(c, node, values):
    """execute → the form (its fields checked) → complete with values; the result."""
    first = call(c, c.adhoc.send_command, SERVICE, node)
    form = first["command"]["form"]
    assert first["command"]["status"] == "executing" and form["type"] == "form", first
    for var in values:
        assert var in form.get_fields(), f"{node}: no field {var} in {list(form.get_fields())}"
    reply = c.xmpp.plugin["xep_0004"].make_form(ftype="submit")
    for var, value in values.items():
        reply.add_field(var=var, value=value)
    done = call(c, c.adhoc.send_command, SERVICE, node, action="complete", payload=reply,
                sessionid=first["command"]["sessionid"])
    assert done["command"]["status"] == "completed", done
    return done["command"]


def test_commands_for_service_administrators_only(muc):
    alice, bob = adhoc_client(muc, "alice"), adhoc_client(muc, "bob")
    items = call(alice, alice.adhoc.get_commands, SERVICE)
    assert {i[1] for i in items["disco_items"]["items"]} >= NODES, items
    assert not call(bob, bob.adhoc.get_commands, SERVICE)["disco_items"]["items"]
    try:
        call(bob, bob.adhoc.send_command, SERVICE, "urn:confab:admin:rooms")
        raise AssertionError("a user ran an administrator's command")
    except IqError as e:
        assert e.iq["error"]["condition"] == "forbidden", e.iq


def test_list_report_grant_announce(muc):
    alice, bob = adhoc_client(muc, "alice"), adhoc_client(muc, "bob")
    carol = muc.client("carol")
    room = muc.create_room(carol, "Carol")
    bob.join(room, "Bob")
    carol.wait_presence(f"{room}/Bob")

    listed = run_command(alice, "urn:confab:admin:rooms", {"start": "0", "max": "500"})
    rows = [dict(item) for item in listed["form"]["items"]]
    mine = [r for r in rows if r["jid"] == room]
    assert mine and mine[0]["occupants"] == "2", rows

    report = run_command(alice, "urn:confab:admin:room-report", {"room": room})
    fields = report["form"].get_fields()
    assert JID(f"carol@{ct.DOMAIN}") in fields["owners"]["value"], fields["owners"]
    assert set(fields["nicks"]["value"].split("\n")) == {"Carol", "Bob"}, fields["nicks"]

    grant = run_command(alice, "urn:confab:admin:grant-owner",
                        {"room": room, "jid": f"bob@{ct.DOMAIN}"})
    assert "now an owner" in grant["notes"][0][1], grant
    p = bob.wait_presence(f"{room}/Bob", lambda s: s.find(
        f"{q('x', NS_MUC_USER)}/{q('item', NS_MUC_USER)}").get("affiliation") == "owner")
    assert p is not None

    note = run_command(alice, "http://jabber.org/protocol/admin#announce",
                       {"body": "maintenance at noon"})
    assert "announced in" in note["notes"][0][1]
    for c in (bob, carol):
        m = c.wait(lambda s: s.get("from") == room and
                   s.findtext(q("body", NS_CLIENT)) == "maintenance at noon", 5, "the announcement")
        assert m.get("type") == "groupchat"
