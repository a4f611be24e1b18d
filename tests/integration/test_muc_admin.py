"""XEP-0045 admin use cases (§9.1–§9.8), through Prosody with real slixmpp clients,
including the affiliation-list disclosure Prosody got wrong (CVE-2021-37601) and the
rule that a lower affiliation may not act on a higher one. Section numbers follow the
XEP in the workspace (1.35.5)."""

import pytest

import confabtest as ct
from confabtest import (NS_MUC_ADMIN, NS_MUC_USER, admin_items, describe, error_condition,
                        local_name, muc_item, ok, q, status_codes, three_in_room)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

# §7.10 registration by users with no affiliation, which the XEP describes;
# confabd's default follows Prosody's (only affiliated users register).
MUC_CONFIG = "register_unaffiliated = true\n"


def affiliation_seen(client, room, nick, affiliation):
    return client.wait_presence(
        f"{room}/{nick}", lambda s: muc_item(s) is not None
        and muc_item(s).get("affiliation") == affiliation,
        what=f"presence of {nick} with affiliation {affiliation}")


# ------------------------------------------------------------------ §9.1, §9.2 bans

def test_9_1_ban_301_then_forbidden(muc):
    room, alice, bob, carol = three_in_room(muc)
    ok(alice.admin(room, "<item affiliation='outcast' jid='bob@localhost'><reason>Treason</reason>"
                         "</item>", iq_id="ban1"), "ban")
    own = bob.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
    assert {301, 110} <= status_codes(own), describe(own)
    item = muc_item(own)
    assert (item.get("affiliation"), item.get("role")) == ("outcast", "none"), describe(own)
    assert item.findtext(q("reason", NS_MUC_USER)) == "Treason", describe(own)
    for c in (alice, carol):
        p = c.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
        assert 301 in status_codes(p) and 110 not in status_codes(p), describe(p)
    res = alice.trace_index(lambda s: local_name(s) == "iq" and s.get("id") == "ban1", "ban result")
    gone = alice.trace_index(lambda s: s.get("from") == f"{room}/Bob"
                             and s.get("type") == "unavailable", "ban presence")
    # §9.1 fixes no order between the result and the room's presences; Prosody
    # (and its own tests, which confabd passes) sends the presences first.
    assert gone < res, "the room's presences come before the admin's result (Prosody's order)"
    err = bob.join_error(room, "Bob")
    assert error_condition(err) == "forbidden", describe(err)
    # "If an admin or owner attempts to ban himself, the service MUST deny ... conflict"
    r = alice.admin(room, "<item affiliation='outcast' jid='alice@localhost'/>")
    assert error_condition(r) == "conflict", describe(r)


def test_9_1_ban_lower_affiliation_may_not_act_on_higher(muc):
    """An admin may not ban (§9.1) or kick (§8.2) an owner, nor strip an owner
    (§10.4); a member moderator may not kick an admin."""
    room, alice, bob, carol = three_in_room(muc)
    dave, erin = muc.client("dave"), muc.client("erin")
    ok(alice.admin(room, "<item affiliation='admin' jid='dave@localhost'/>"))
    ok(alice.admin(room, "<item affiliation='member' jid='erin@localhost'/>"))
    dave.join(room, "Dave")
    erin.join(room, "Erin")
    ok(alice.admin(room, "<item nick='Erin' role='moderator'/>"))
    r = dave.admin(room, "<item affiliation='outcast' jid='alice@localhost'/>")
    assert error_condition(r) == "not-allowed", f"admin banning an owner: {describe(r)}"
    r = dave.admin(room, "<item nick='Owner' role='none'/>")
    assert error_condition(r) == "not-allowed", f"admin kicking an owner: {describe(r)}"
    r = erin.admin(room, "<item nick='Dave' role='none'/>")
    assert error_condition(r) == "not-allowed", f"member kicking an admin: {describe(r)}"
    r = dave.admin(room, "<item affiliation='member' jid='alice@localhost'/>")
    assert error_condition(r) in ("forbidden", "not-allowed"), \
        f"admin demoting an owner: {describe(r)}"
    # the owner is unharmed
    alice.groupchat(room, "still owner")
    m = carol.wait_groupchat(room, "still owner")
    assert m.get("from") == f"{room}/Owner"
    owners = admin_items(ok(alice.admin_list(room, affiliation="owner")))
    assert [i.get("jid") for i in owners] == ["alice@localhost"]


def test_9_2_modifyban(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner")
    form = ct.submit_form(ct.NS_MUC_REGISTER, {"muc#register_roomnick": "Cambridge"})
    ok(bob.iq(room, "set", f"<query xmlns='{ct.NS_REGISTER}'>{form}</query>"), "register nick")
    ok(alice.admin(room, "<item affiliation='outcast' jid='bob@localhost'><reason>Treason</reason>"
                         "</item><item affiliation='outcast' jid='frank@localhost'/>"))
    items = admin_items(ok(alice.admin_list(room, affiliation="outcast")))
    got = {i.get("jid"): (i.get("affiliation"), i.findtext(q("reason", NS_MUC_ADMIN)))
           for i in items}
    assert got == {"bob@localhost": ("outcast", "Treason"),
                   "frank@localhost": ("outcast", None)}, describe(items[0]) if items else got
    assert all(i.get("role") is None for i in items), "affiliation results MUST NOT carry 'role'"
    # §9.1: banning "MUST remove the outcast's nickname from the list of registered nicknames"
    assert all(i.get("nick") is None for i in items), [describe(i) for i in items]
    carol.join(room, "Cambridge")
    ok(alice.admin(room, "<item affiliation='none' jid='bob@localhost'/>"))
    items = admin_items(ok(alice.admin_list(room, affiliation="outcast")))
    assert [i.get("jid") for i in items] == ["frank@localhost"]
    bob.join(room, "Bob")


# ------------------------------------------------------------------ §9.3 – §9.5 members

def test_9_3_grantmember(muc):
    room, alice, bob, carol = three_in_room(muc)
    ok(alice.admin(room, "<item affiliation='member' jid='bob@localhost' nick='Bob'>"
                         "<reason>A worthy witch indeed!</reason></item>"), "grant membership")
    for c in (alice, carol):
        p = affiliation_seen(c, room, "Bob", "member")
        assert p.get("type") is None and muc_item(p).get("role") == "participant", describe(p)
    own = affiliation_seen(bob, room, "Bob", "member")
    assert 110 in status_codes(own), describe(own)
    items = admin_items(ok(alice.admin_list(room, affiliation="member")))
    assert [(i.get("jid"), i.get("affiliation")) for i in items] == [("bob@localhost", "member")]


def test_9_4_revokemember_membersonly_321(muc):
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_membersonly": True})
    ok(alice.admin(room, "<item affiliation='member' jid='bob@localhost'/>"
                         "<item affiliation='member' jid='carol@localhost'/>"))
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    alice.wait_presence(f"{room}/Bob")
    alice.wait_presence(f"{room}/Carol")
    ok(alice.admin(room, "<item affiliation='none' jid='bob@localhost'>"
                         "<reason>Not so worthy after all!</reason></item>"), "revoke membership")
    own = bob.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
    assert {321, 110} <= status_codes(own), describe(own)
    assert muc_item(own).get("affiliation") == "none" and muc_item(own).get("role") == "none"
    for c in (alice, carol):
        # §9.4: only the removal, no de-affiliation presence before it
        p = c.wait_presence(f"{room}/Bob", lambda s: s.get("type") != "error")
        assert p.get("type") == "unavailable" and 321 in status_codes(p), \
            f"{c.jid}: expected the 321 removal first: {describe(p)}"
    err = bob.join_error(room, "Bob")
    assert error_condition(err) == "registration-required", describe(err)


@pytest.mark.parametrize("asker", ["outsider", "participant"])
def test_9_5_modifymember_lists_not_disclosed(muc, asker):
    """CVE-2021-37601 (Prosody): affiliation lists are not for anyone who asks. An
    outsider gets forbidden for every list; a mere participant for the owner, admin
    and outcast lists (and for the member list of this semi-anonymous room)."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_roomadmins": ["dave@localhost"]})
    ok(alice.admin(room, "<item affiliation='member' jid='bob@localhost'/>"
                         "<item affiliation='outcast' jid='frank@localhost'/>"))
    bob.join(room, "Bob")
    erin = muc.client("erin")
    if asker == "participant":
        erin.join(room, "Erin")
    for affiliation in ("member", "owner", "admin", "outcast"):
        r = erin.admin_list(room, affiliation=affiliation)
        assert error_condition(r) == "forbidden", \
            f"{asker} asked for the {affiliation} list: {describe(r)}"
        for secret in ("alice@", "bob@", "dave@", "frank@"):
            assert secret not in describe(r), f"{affiliation} list leaked {secret}: {describe(r)}"
    # the owner does get them
    assert [i.get("jid") for i in admin_items(ok(alice.admin_list(room, affiliation="member")))] \
        == ["bob@localhost"]
    assert [i.get("jid") for i in admin_items(ok(alice.admin_list(room, affiliation="admin")))] \
        == ["dave@localhost"]


def test_9_5_modifymember_list_for_members_nonanonymous(muc):
    """"If the room is non-anonymous, a service SHOULD also allow any member to
    retrieve the member list even if not yet an occupant"."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_membersonly": True,
                                            "muc#roomconfig_whois": "anyone"})
    ok(alice.admin(room, "<item affiliation='member' jid='bob@localhost'/>"
                         "<item affiliation='member' jid='carol@localhost'/>"))
    items = admin_items(ok(bob.admin_list(room, affiliation="member"), "member asks"))
    assert sorted(i.get("jid") for i in items) == ["bob@localhost", "carol@localhost"]
    erin = muc.client("erin")
    assert error_condition(erin.admin_list(room, affiliation="member")) == "forbidden"


# ------------------------------------------------------------------ §9.6 – §9.8 moderators

def test_9_6_grantmod(muc):
    room, alice, bob, carol = three_in_room(muc)
    ok(alice.admin(room, "<item nick='Bob' role='moderator'/>"))
    for c in (alice, bob, carol):
        c.wait_presence(f"{room}/Bob", lambda s: muc_item(s).get("role") == "moderator")
    # now Bob may kick a participant
    ok(bob.admin(room, "<item nick='Carol' role='none'/>"))
    carol.wait_presence(f"{room}/Carol", lambda s: 307 in status_codes(s))


def test_9_7_revokemod(muc):
    room, alice, bob, carol = three_in_room(muc)
    ok(alice.admin(room, "<item nick='Bob' role='moderator'/>"))
    ok(alice.admin(room, "<item nick='Bob' role='participant'/>"))
    for c in (alice, bob, carol):
        c.wait_presence(f"{room}/Bob", lambda s: muc_item(s).get("role") == "moderator")
        c.wait_presence(f"{room}/Bob", lambda s: muc_item(s).get("role") == "participant")
    r = bob.admin(room, "<item nick='Carol' role='none'/>")
    assert error_condition(r) == "forbidden", describe(r)


def test_9_8_modifymod(muc):
    room, alice, bob, carol = three_in_room(muc)
    items = admin_items(ok(alice.admin_list(room, role="moderator")))
    assert [(i.get("nick"), i.get("role")) for i in items] == [("Owner", "moderator")], \
        [describe(i) for i in items]
    # §17.4 rule 5: role results carry nick, role, affiliation and the full JID
    assert (items[0].get("affiliation"), items[0].get("jid")) == ("owner", alice.full_jid), \
        describe(items[0])
    r = bob.admin_list(room, role="moderator")
    assert error_condition(r) == "forbidden", describe(r)
