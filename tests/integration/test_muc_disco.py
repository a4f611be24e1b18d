"""XEP-0045 entity use cases (§6.1–§6.5): discovering the service, its rooms and their
information, through Prosody with real slixmpp clients. Section numbers follow the XEP
in the workspace (1.35.5)."""

import confabtest as ct
from confabtest import (MUC_DOMAIN, NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC,
                        NS_MUC_ROOMINFO, describe, error_condition, form_fields, form_type, ok,
                        q)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

NS_STABLE_ID = NS_MUC + "#stable_id"


def disco_info(client, jid):
    r = ok(client.iq(jid, "get", f"<query xmlns='{NS_DISCO_INFO}'/>"), f"disco#info {jid}")
    query = r.find(q("query", NS_DISCO_INFO))
    identities = [(i.get("category"), i.get("type"), i.get("name"))
                  for i in query.findall(q("identity", NS_DISCO_INFO))]
    features = {f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))}
    forms = query.findall(q("x", NS_DATA))
    return r, identities, features, forms


def disco_items(client, jid):
    r = ok(client.iq(jid, "get", f"<query xmlns='{NS_DISCO_ITEMS}'/>"), f"disco#items {jid}")
    return {i.get("jid"): i.get("name")
            for i in r.findall(f"{q('query', NS_DISCO_ITEMS)}/{q('item', NS_DISCO_ITEMS)}")}


def test_6_1_disco_service(muc):
    alice = muc.client("alice")
    r, identities, features, _ = disco_info(alice, MUC_DOMAIN)
    assert [(c, t) for c, t, _n in identities] == [("conference", "text")], describe(r)


def test_6_2_disco_service_features(muc):
    alice = muc.client("alice")
    r, _, features, _ = disco_info(alice, MUC_DOMAIN)
    assert NS_MUC in features, describe(r)
    # §7.4: a service that reflects ids "SHOULD advertise ... muc#stable_id on both the
    # service domain and on individual MUCs"
    assert NS_STABLE_ID in features, \
        f"muc#stable_id not advertised by the service: {sorted(features)}"


def test_6_2_disco_service_features_are_served(muc):
    """What the service domain advertises, it answers: jabber:iq:register at the
    service means service-level nick registration (XEP-0077), not only per room."""
    alice = muc.client("alice")
    r, _, features, _ = disco_info(alice, MUC_DOMAIN)
    if ct.NS_REGISTER in features:
        reg = alice.iq(MUC_DOMAIN, "get", f"<query xmlns='{ct.NS_REGISTER}'/>")
        assert reg.get("type") == "result", \
            f"the service advertises {ct.NS_REGISTER} but does not serve it: {describe(reg)}"
    if ct.NS_MUC_UNIQUE in features:
        ok(alice.iq(MUC_DOMAIN, "get", f"<unique xmlns='{ct.NS_MUC_UNIQUE}'/>"), "muc#unique")


def test_6_3_disco_rooms_public_only(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    public = muc.create_room(alice, "Owner", {"muc#roomconfig_roomname": "The Public Cave"},
                             prefix="public")
    hidden = muc.create_room(alice, "Owner", {"muc#roomconfig_publicroom": False}, prefix="hidden")
    locked = ct.new_room("locked")
    alice.join(locked, "Owner")
    items = disco_items(bob, MUC_DOMAIN)
    assert items.get(public) == "The Public Cave", f"public room not listed with its name: {items}"
    assert hidden not in items, f"hidden room listed: {items}"
    assert locked not in items, f"locked room listed: {items}"
    for jid in items:
        assert jid.endswith("@" + MUC_DOMAIN), items


def test_6_4_disco_roominfo(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_roomname": "A Dark Cave",
                                            "muc#roomconfig_roomdesc":
                                                "The place for all good witches!",
                                            "muc#roomconfig_lang": "en",
                                            "muc#roomconfig_changesubject": True})
    alice.send(f"<message to='{room}' type='groupchat'><subject>Spells</subject></message>")
    alice.wait(lambda s: ct.is_subject(s, room), what="subject echo")
    bob.join(room, "Bob")
    r, identities, features, forms = disco_info(bob, room)
    assert identities == [("conference", "text", "A Dark Cave")], describe(r)
    for var in (NS_MUC, "muc_public", "muc_temporary", "muc_open", "muc_unmoderated",
                "muc_semianonymous", "muc_unsecured", NS_STABLE_ID):
        assert var in features, f"{var} missing: {sorted(features)}"
    for contradiction in ("muc_hidden", "muc_persistent", "muc_membersonly", "muc_moderated",
                          "muc_nonanonymous", "muc_passwordprotected"):
        assert contradiction not in features, f"{contradiction} advertised: {sorted(features)}"
    info = [x for x in forms if form_type(x) == NS_MUC_ROOMINFO]
    assert len(info) == 1, f"no muc#roominfo form: {describe(r)}"
    assert info[0].get("type") == "result", describe(info[0])
    fields = form_fields(info[0])
    assert fields["FORM_TYPE"][0] == "hidden", fields
    assert fields["muc#roominfo_description"][1] == ["The place for all good witches!"], fields
    assert fields["muc#roominfo_occupants"][1] == ["2"], fields
    assert fields["muc#roominfo_subject"][1] == ["Spells"], fields
    assert fields["muc#roominfo_lang"][1] == ["en"], fields
    assert fields["muc#roominfo_contactjid"][1] == ["alice@localhost"], fields

    alice.configure(room, {"muc#roomconfig_persistentroom": True,
                           "muc#roomconfig_publicroom": False,
                           "muc#roomconfig_membersonly": True,
                           "muc#roomconfig_moderatedroom": True,
                           "muc#roomconfig_whois": "anyone",
                           "muc#roomconfig_passwordprotectedroom": True,
                           "muc#roomconfig_roomsecret": "cauldronburn",
                           "muc#roomconfig_roomadmins": [],
                           "muc#roomconfig_roomowners": ["alice@localhost"]})
    _, _, features, _ = disco_info(alice, room)
    for var in ("muc_hidden", "muc_persistent", "muc_membersonly", "muc_moderated",
                "muc_nonanonymous", "muc_passwordprotected"):
        assert var in features, f"{var} missing after reconfiguration: {sorted(features)}"
    # tidy up the persistent room
    ok(alice.iq(room, "set", f"<query xmlns='{ct.NS_MUC_OWNER}'><destroy/></query>"))


def test_6_4_disco_roominfo_nonexistent_room(muc):
    alice = muc.client("alice")
    r = alice.iq(ct.new_room("nosuch"), "get", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert error_condition(r) == "item-not-found", describe(r)


def test_6_5_disco_roomitems(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    items = disco_items(bob, room)
    # §6.5 allows an empty list; what is listed must be occupant JIDs of this room
    for jid in items:
        assert jid.startswith(room + "/"), items
