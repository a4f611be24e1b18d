"""XEP-0045 owner use cases (§10.1–§10.9): creating instant and reserved rooms, the
configuration form and its notifications, owner and admin lists, destruction; plus
muc#unique room names. Through Prosody with real slixmpp clients. Section numbers
follow the XEP in the workspace (1.35.5)."""

import confabtest as ct
from confabtest import (MUC_DOMAIN, NS_CLIENT, NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS,
                        NS_MUC_OWNER, NS_MUC_ROOMCONFIG, NS_MUC_UNIQUE,
                        NS_MUC_USER, NS_STANZAS, admin_items, describe, error_condition,
                        form_fields, form_type, jid_bare, local_name, muc_item, ok, q,
                        status_codes)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

ROOMCONFIG_FIELDS = [f"muc#roomconfig_{f}" for f in (
    "roomname", "roomdesc", "lang", "persistentroom", "publicroom", "membersonly",
    "moderatedroom", "passwordprotectedroom", "roomsecret", "whois", "changesubject",
    "allowinvites", "allowpm", "maxusers", "presencebroadcast",
    "getmemberlist", "roomadmins", "roomowners", "enablelogging")] + ["muc#maxhistoryfetch"]


def empty_owner_form(client, room, ftype):
    """An owner's answer to the configuration form with no fields (instant room or
    cancel); returns the reply."""
    return client.iq(room, "set",
                     f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='{ftype}'/></query>")


def listed_rooms(client):
    r = ok(client.iq(MUC_DOMAIN, "get", f"<query xmlns='{NS_DISCO_ITEMS}'/>"), "disco#items")
    items = r.findall(f"{q('query', NS_DISCO_ITEMS)}/{q('item', NS_DISCO_ITEMS)}")
    return {i.get("jid") for i in items}


def room_notice(client, room, code):
    """A config-change notice: a message from the room JID with only status codes."""
    return client.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                       and code in status_codes(s), what=f"status {code} notice from {room}")


def bool_value(fields, var):
    return fields[var][1] in (["1"], ["true"])


# ------------------------------------------------------------------ §10.1 creating rooms

def alice_creating(muc, prefix):
    """alice and bob, and a new room alice has just entered as Owner: still locked
    until she configures it."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = ct.new_room(prefix)
    alice.join(room, "Owner")
    return alice, bob, room


def test_10_1_1_createroom_general_201_locked(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = ct.new_room("new")
    j = alice.join(room, "Owner")
    assert {110, 201} <= status_codes(j.self_presence), describe(j.self_presence)
    item = muc_item(j.self_presence)
    assert (item.get("affiliation"), item.get("role")) == ("owner", "moderator"), \
        describe(j.self_presence)
    err = bob.join_error(room, "Bob")
    assert error_condition(err) == "item-not-found", describe(err)
    assert room not in listed_rooms(bob), "a locked room must not be listed"
    r = bob.iq(room, "get", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert error_condition(r) == "item-not-found", f"locked room visible to others: {describe(r)}"


def test_10_1_2_createroom_instant(muc):
    alice, bob, room = alice_creating(muc, "instant")
    r = ok(empty_owner_form(alice, room, "submit"), "instant room")
    assert r.get("from") == room
    j = bob.join(room, "Bob")
    assert 201 not in status_codes(j.self_presence)
    assert room in listed_rooms(bob)


def test_10_1_3_createroom_reserved(muc):
    alice, bob, room = alice_creating(muc, "reserved")
    x = alice.config_form(room)
    assert x.get("type") == "form" and form_type(x) == NS_MUC_ROOMCONFIG, describe(x)
    assert bob.join_error(room, "Bob") is not None  # still locked while configuring
    alice.configure(room, {"muc#roomconfig_roomname": "A Dark Cave",
                           "muc#roomconfig_roomdesc": "The place for all good witches!",
                           "muc#roomconfig_moderatedroom": True})
    j = bob.join(room, "Bob")
    assert muc_item(j.self_presence).get("role") == "visitor", \
        f"the submitted configuration (moderated) must apply: {describe(j.self_presence)}"
    info = ok(bob.iq(room, "get", f"<query xmlns='{NS_DISCO_INFO}'/>"))
    ident = info.find(f"{q('query', NS_DISCO_INFO)}/{q('identity', NS_DISCO_INFO)}")
    assert ident.get("name") == "A Dark Cave", describe(info)


def test_10_1_3_createroom_reserved_cancel_destroys(muc):
    alice, bob, room = alice_creating(muc, "cancelled")
    r = ok(empty_owner_form(alice, room, "cancel"), "cancel")
    # "If the service receives a cancellation, it MUST destroy the room": bob may
    # now create a room of that name himself
    j = bob.join(room, "Bob")
    assert 201 in status_codes(j.self_presence), describe(j.self_presence)


def test_10_1_4_unique_room_name(muc):
    """muc#unique (§10.1.4 of earlier revisions): a fresh room name from the service."""
    alice = muc.client("alice")
    names = []
    for _ in range(2):
        r = ok(alice.iq(MUC_DOMAIN, "get", f"<unique xmlns='{NS_MUC_UNIQUE}'/>"), "muc#unique")
        name = r.findtext(q("unique", NS_MUC_UNIQUE))
        assert name and "@" not in name and "/" not in name, describe(r)
        names.append(name)
    assert names[0] != names[1]
    j = alice.join(f"{names[0]}@{MUC_DOMAIN}", "Owner")
    assert 201 in status_codes(j.self_presence)


# ------------------------------------------------------------------ §10.2 configuration

def test_10_2_roomconfig_form_fields(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_roomname": "Coven",
                                            "muc#roomconfig_roomadmins": ["dave@localhost"],
                                            "muc#roomconfig_historylength": "7"})
    x = alice.config_form(room)
    assert x.get("type") == "form" and form_type(x) == NS_MUC_ROOMCONFIG, describe(x)
    fields = form_fields(x)
    missing = [f for f in ROOMCONFIG_FIELDS if f not in fields]
    assert not missing, f"muc#roomconfig fields missing: {missing}"
    assert fields["muc#roomconfig_roomname"][1] == ["Coven"]
    # historylength is read (Prosody's name) but offered under the registered name
    assert fields["muc#maxhistoryfetch"] == ("text-single", ["7"]), fields["muc#maxhistoryfetch"]
    assert "muc#roomconfig_historylength" not in fields and "mam" not in fields, sorted(fields)
    assert bool_value(fields, "muc#roomconfig_enablelogging"), "log_by_default is on"
    for var in ("roomname", "roomdesc", "lang"):
        assert fields[f"muc#roomconfig_{var}"][0] == "text-single", var
    assert fields["muc#roomconfig_maxusers"][0] == "list-single"
    assert fields["muc#roomconfig_roomadmins"][1] == ["dave@localhost"]
    assert fields["muc#roomconfig_roomowners"][1] == ["alice@localhost"]
    for var in ("persistentroom", "publicroom", "membersonly", "moderatedroom",
                "passwordprotectedroom", "changesubject", "allowinvites", "enablelogging"):
        assert fields[f"muc#roomconfig_{var}"][0] == "boolean", \
            (var, fields[f"muc#roomconfig_{var}"])
    for var in ("presencebroadcast", "getmemberlist"):
        assert fields[f"muc#roomconfig_{var}"][0] == "list-multi", var
    for var in ("roomadmins", "roomowners"):
        assert fields[f"muc#roomconfig_{var}"][0] == "jid-multi", var
    assert fields["muc#roomconfig_roomsecret"][0] == "text-private"
    r = bob.iq(room, "get", f"<query xmlns='{NS_MUC_OWNER}'/>")
    assert error_condition(r) == "forbidden", f"a non-owner asked for the form: {describe(r)}"


def test_10_2_1_roomconfig_notify_104_170_172(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    alice.configure(room, {"muc#roomconfig_roomname": "Renamed"})
    for c in (alice, bob):
        m = room_notice(c, room, 104)
        assert m.find(q("body", NS_CLIENT)) is None, describe(m)
        x = m.find(q("x", NS_MUC_USER))
        assert [local_name(e) for e in x] == ["status"], f"only status codes: {describe(m)}"
    # rooms log by default ([muc] log_by_default)
    alice.configure(room, {"muc#roomconfig_enablelogging": False})
    room_notice(bob, room, 171)
    alice.configure(room, {"muc#roomconfig_enablelogging": True})
    room_notice(bob, room, 170)
    alice.configure(room, {"muc#roomconfig_whois": "anyone"})
    room_notice(bob, room, 172)
    alice.configure(room, {"muc#roomconfig_whois": "moderators"})
    room_notice(bob, room, 173)


def test_10_2_roomconfig_membersonly_removes_nonmembers_322(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner")
    ok(alice.admin(room, "<item affiliation='member' jid='bob@localhost'/>"))
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    alice.configure(room, {"muc#roomconfig_membersonly": True})
    own = carol.wait_presence(f"{room}/Carol", lambda s: s.get("type") == "unavailable")
    assert {322, 110} <= status_codes(own), describe(own)
    for c in (alice, bob):
        p = c.wait_presence(f"{room}/Carol", lambda s: s.get("type") == "unavailable")
        assert 322 in status_codes(p), describe(p)
    alice.sync()
    bob.sync()
    assert not bob.take(lambda s: s.get("from") == f"{room}/Bob"
                        and s.get("type") == "unavailable"), "a member was removed"
    bob.groupchat(room, "members only now")
    alice.wait_groupchat(room, "members only now")
    assert error_condition(carol.join_error(room, "Carol")) == "registration-required"


def test_10_2_roomconfig_persistentroom(muc):
    """A persistent room outlives its last occupant, configuration included."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_persistentroom": True,
                                            "muc#roomconfig_roomname": "Still Here"})
    alice.leave(room, "Owner")
    j = bob.join(room, "Bob")
    assert 201 not in status_codes(j.self_presence), \
        f"the persistent room was recreated: {describe(j.self_presence)}"
    assert room in listed_rooms(bob)
    fields = form_fields(alice.config_form(room))
    assert fields["muc#roomconfig_roomname"][1] == ["Still Here"], fields
    ok(alice.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><destroy/></query>"))


def test_10_2_roomconfig_historylength(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_historylength": "2"})
    for b in ("h1", "h2", "h3"):
        alice.groupchat(room, b)
        alice.wait_groupchat(room, b)
    j = bob.join(room, "Bob")
    assert j.bodies() == ["h2", "h3"], bob.dump(j.history)


def test_10_2_roomconfig_presencebroadcast(muc):
    """presencebroadcast = moderators: participants' presence goes to nobody else."""
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_presencebroadcast": ["moderator"]})
    j = bob.join(room, "Bob")
    assert [st.get("from") for st in j.roster] == [f"{room}/Owner"], bob.dump(j.roster)
    bob.sync()
    alice.sync()
    seen = alice.take(lambda s: s.get("from") == f"{room}/Bob")
    assert not seen, f"a participant's presence was broadcast: {alice.dump(seen)}"
    j = carol.join(room, "Carol")
    assert [st.get("from") for st in j.roster] == [f"{room}/Owner"], \
        f"the roster lists a participant: {carol.dump(j.roster)}"
    bob.groupchat(room, "invisible but heard")
    carol.wait_groupchat(room, "invisible but heard")


# ------------------------------------------------------------------ §10.3 – §10.8 lists

def test_10_3_grantowner(muc):
    alice, dave = muc.client("alice"), muc.client("dave")
    room = muc.create_room(alice, "Owner")
    dave.join(room, "Dave")
    ok(alice.admin(room, "<item affiliation='owner' jid='dave@localhost'/>"), "grant owner")
    for c in (alice, dave):
        p = c.wait_presence(f"{room}/Dave", lambda s: muc_item(s).get("affiliation") == "owner")
        assert muc_item(p).get("role") == "moderator", describe(p)
    dave.config_form(room)  # an owner now


def test_10_4_revokeowner_last_owner_conflict(muc):
    alice, dave = muc.client("alice"), muc.client("dave")
    room = muc.create_room(alice, "Owner")
    r = alice.admin(room, "<item affiliation='admin' jid='alice@localhost'/>")
    assert error_condition(r) == "conflict", f"the last owner stepped down: {describe(r)}"
    r = alice.configure(room, {"muc#roomconfig_roomowners": []}, check=False)
    assert r.get("type") == "error", f"an owner list without owners was accepted: {describe(r)}"
    # the same through muc#roomconfig_roomadmins: the sole owner listed as an admin
    r = alice.configure(room, {"muc#roomconfig_roomadmins": ["alice@localhost"]}, check=False)
    owners = alice.admin_list(room, affiliation="owner")
    assert owners.get("type") == "result" and \
        [i.get("jid") for i in admin_items(owners)] == ["alice@localhost"], \
        (f"the sole owner listed in roomadmins was demoted (form answer: {describe(r)}); "
         f"her owner-list request now gets: {describe(owners)}")
    ok(alice.admin(room, "<item affiliation='owner' jid='dave@localhost'/>"))
    ok(alice.admin(room, "<item affiliation='admin' jid='alice@localhost'/>"), "step down")
    owners = [i.get("jid") for i in admin_items(ok(dave.admin_list(room, affiliation="owner")))]
    assert owners == ["dave@localhost"], owners
    r = alice.iq(room, "get", f"<query xmlns='{NS_MUC_OWNER}'/>")
    assert error_condition(r) == "forbidden", describe(r)


def test_10_5_modifyowner(muc):
    alice, erin = muc.client("alice"), muc.client("erin")
    room = muc.create_room(alice, "Owner")
    ok(alice.admin(room, "<item affiliation='owner' jid='dave@localhost'/>"
                         "<item affiliation='admin' jid='erin@localhost'/>"))
    items = admin_items(ok(alice.admin_list(room, affiliation="owner")))
    assert sorted((i.get("jid"), i.get("affiliation")) for i in items) == \
        [("alice@localhost", "owner"), ("dave@localhost", "owner")]
    r = erin.admin_list(room, affiliation="owner")
    assert error_condition(r) == "forbidden", f"an admin read the owner list: {describe(r)}"
    ok(alice.admin(room, "<item affiliation='none' jid='dave@localhost'/>"))
    assert [i.get("jid") for i in admin_items(alice.admin_list(room, affiliation="owner"))] == \
        ["alice@localhost"]


def test_10_6_grantadmin(muc):
    alice, erin = muc.client("alice"), muc.client("erin")
    room = muc.create_room(alice, "Owner")
    erin.join(room, "Erin")
    ok(alice.admin(room, "<item affiliation='admin' jid='erin@localhost'/>"))
    for c in (alice, erin):
        p = c.wait_presence(f"{room}/Erin", lambda s: muc_item(s).get("affiliation") == "admin")
        assert muc_item(p).get("role") == "moderator", describe(p)
    r = erin.admin(room, "<item affiliation='admin' jid='frank@localhost'/>")
    assert error_condition(r) == "forbidden", f"an admin granted admin status: {describe(r)}"


def test_10_6_grantadmin_via_roomconfig_roomadmins(muc):
    """Granting admin status through the configuration form is still an affiliation
    change: "If the user is in the room, the service MUST then send updated
    presence from this individual to all occupants"."""
    alice, erin = muc.client("alice"), muc.client("erin")
    room = muc.create_room(alice, "Owner")
    erin.join(room, "Erin")
    alice.wait_presence(f"{room}/Erin")
    alice.configure(room, {"muc#roomconfig_roomadmins": ["erin@localhost"]})
    assert [i.get("jid") for i in admin_items(ok(alice.admin_list(room, affiliation="admin")))] \
        == ["erin@localhost"]
    for c in (alice, erin):
        p = c.wait_presence(f"{room}/Erin", lambda s: muc_item(s).get("affiliation") == "admin",
                            what="presence announcing erin's admin status")
        assert muc_item(p).get("role") == "moderator", describe(p)


def test_10_7_revokeadmin(muc):
    alice, erin = muc.client("alice"), muc.client("erin")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_roomadmins": ["erin@localhost"]})
    erin.join(room, "Erin")
    ok(alice.admin(room, "<item affiliation='member' jid='erin@localhost'/>"))
    for c in (alice, erin):
        p = c.wait_presence(f"{room}/Erin", lambda s: muc_item(s).get("affiliation") == "member")
        assert muc_item(p).get("role") == "participant", describe(p)


def test_10_8_modifyadmin(muc):
    alice = muc.client("alice")
    room = muc.create_room(alice, "Owner")
    ok(alice.admin(room, "<item affiliation='admin' jid='erin@localhost'/>"
                         "<item affiliation='admin' jid='frank@localhost'/>"))
    items = admin_items(ok(alice.admin_list(room, affiliation="admin")))
    assert sorted(i.get("jid") for i in items) == ["erin@localhost", "frank@localhost"]
    assert all(i.get("affiliation") == "admin" and i.get("role") is None for i in items)
    ok(alice.admin(room, "<item affiliation='none' jid='frank@localhost'/>"))
    fields = form_fields(alice.config_form(room))
    assert fields["muc#roomconfig_roomadmins"][1] == ["erin@localhost"], fields


# ------------------------------------------------------------------ §10.9 destroying

def test_10_9_destroyroom_reason_venue_then_gone(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_persistentroom": True})
    venue = f"coven@{MUC_DOMAIN}"
    bob.join(room, "Bob")
    r = bob.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><destroy/></query>")
    assert error_condition(r) == "forbidden", f"a non-owner destroyed the room: {describe(r)}"
    ok(alice.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'><destroy jid='{venue}'>"
                             "<reason>Macbeth doth come.</reason></destroy></query>"), "destroy")
    for c, nick in ((alice, "Owner"), (bob, "Bob")):
        p = c.wait_presence(f"{room}/{nick}", lambda s: s.get("type") == "unavailable")
        d = p.find(f"{q('x', NS_MUC_USER)}/{q('destroy', NS_MUC_USER)}")
        assert d is not None, f"<destroy/> missing: {describe(p)}"
        assert d.get("jid") == venue, describe(p)
        assert d.findtext(q("reason", NS_MUC_USER)) == "Macbeth doth come.", describe(p)
        assert muc_item(p).get("role") == "none", describe(p)
    alice.sync()
    bob.sync()
    others = bob.take(lambda s: jid_bare(s.get("from")) == room and local_name(s) == "presence")
    assert not others, f"§10.9: one presence per occupant only: {bob.dump(others)}"
    assert room not in listed_rooms(carol)
    err = carol.join_error(room, "Carol")
    assert error_condition(err) == "gone", f"joining a destroyed room: {describe(err)}"
    gone = err.find(f"{q('error', NS_CLIENT)}/{q('gone', NS_STANZAS)}")
    assert venue in (gone.text or ""), f"<gone/> should name the new venue: {describe(err)}"
