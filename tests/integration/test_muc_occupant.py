"""XEP-0045 occupant use cases after entering (§7.4–§7.14), the IQ business rule
(§17.4) and XEP-0410 self-ping, through Prosody with real slixmpp clients. Section
numbers follow the XEP in the workspace (1.35.5)."""

import pytest

import confabtest as ct
from confabtest import (NS_CLIENT, NS_CONFERENCE, NS_DATA, NS_DELAY, NS_MUC_REGISTER,
                        NS_MUC_REQUEST, NS_MUC_USER, NS_OCCUPANT_ID, NS_PING, NS_REGISTER,
                        NS_SID, NS_VCARD, describe, error_condition, form_fields, form_type,
                        jid_bare, local_name, muc_item, ok, q, status_codes, submit_form,
                        three_in_room)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

# §7.10 registration by users with no affiliation, which the XEP describes;
# confabd's default follows Prosody's (only affiliated users register).
MUC_CONFIG = "register_unaffiliated = true\n"


def room_traffic(client, room):
    """Take whatever the room sent client that is not an error (for 'nothing arrived')."""
    return client.take(lambda s: jid_bare(s.get("from")) == room and s.get("type") != "error")


def occupant_ids(st):
    return [e.get("id") for e in st.findall(q("occupant-id", NS_OCCUPANT_ID))]


def stanza_ids(st):
    return [(e.get("id"), e.get("by")) for e in st.findall(q("stanza-id", NS_SID))]


# ------------------------------------------------------------------ §7.4 groupchat

def test_7_4_message_fanout_id_stanza_id_occupant_id(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    bob_pres = alice.wait_presence(f"{room}/Bob")
    bob_oid = occupant_ids(bob_pres)
    assert len(bob_oid) == 1 and bob_oid[0], f"presence without occupant-id: {describe(bob_pres)}"
    mid = bob.groupchat(room, "Harpier cries", mid="hysf1v37")
    copies = {c.jid: c.wait_groupchat(room, "Harpier cries") for c in (alice, bob, carol)}
    sids = set()
    for who, m in copies.items():
        assert m.get("from") == f"{room}/Bob", describe(m)
        assert m.get("id") == mid, f"the sender's id must be reflected (§7.4): {describe(m)}"
        s = stanza_ids(m)
        assert len(s) == 1 and s[0][0] and s[0][1] == room, \
            f"{who}: expected one <stanza-id by='{room}'/>: {describe(m)}"
        sids.add(s[0][0])
        assert occupant_ids(m) == bob_oid, f"{who}: occupant-id {occupant_ids(m)} != {bob_oid}"
    assert len(sids) == 1, f"every copy must carry the same stanza-id: {sids}"
    bob.groupchat(room, "again")
    again = alice.wait_groupchat(room, "again")
    assert stanza_ids(again)[0][0] not in sids, "stanza-ids must be unique per message"


def test_7_4_message_occupant_id_stable_across_rejoin(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    bob.groupchat(room, "before")
    before = occupant_ids(alice.wait_groupchat(room, "before"))
    carol.groupchat(room, "carol speaks")
    carol_oid = occupant_ids(alice.wait_groupchat(room, "carol speaks"))
    assert before != carol_oid, "two users must not share an occupant-id"
    bob.leave(room, "Bob")
    bob2 = muc.client("bob", "other-device")
    bob2.join(room, "Robert")  # another resource and another nick: same real user
    bob2.groupchat(room, "after")
    after = occupant_ids(alice.wait_groupchat(room, "after"))
    assert after == before, f"occupant-id changed across rejoin: {before} -> {after}"


def test_7_4_message_client_injected_ids_stripped(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    spoof = (f"<stanza-id xmlns='{NS_SID}' id='spoofed-sid' by='{room}'/>"
             f"<occupant-id xmlns='{NS_OCCUPANT_ID}' id='spoofed-oid'/>"
             f"<x xmlns='{NS_MUC_USER}'><item affiliation='owner' role='moderator'/>"
             f"<status code='110'/></x>"
             f"<delay xmlns='{NS_DELAY}' from='{room}' stamp='2002-10-13T23:58:37Z'/>"
             f"<origin-id xmlns='{NS_SID}' id='client-origin-1'/>")
    bob.groupchat(room, "spoof attempt", children=spoof)
    m = carol.wait_groupchat(room, "spoof attempt")
    sids = stanza_ids(m)
    assert len(sids) == 1 and sids[0][0] != "spoofed-sid" and sids[0][1] == room, describe(m)
    oids = occupant_ids(m)
    assert len(oids) == 1 and oids[0] != "spoofed-oid", describe(m)
    assert m.find(q("x", NS_MUC_USER)) is None, f"client muc#user payload kept: {describe(m)}"
    assert m.find(q("delay", NS_DELAY)) is None, f"client delay kept: {describe(m)}"
    origin = m.find(q("origin-id", NS_SID))
    assert origin is not None and origin.get("id") == "client-origin-1", \
        f"the client's own origin-id must survive: {describe(m)}"


def bounced_unreflected(sender, watcher, room, body, cond, whose):
    """sender's groupchat message comes back as a cond error, and watcher, an
    occupant, sees no message at all in room."""
    mid = sender.groupchat(room, body)
    err = sender.wait_error("message", room, mid)
    assert error_condition(err) == cond, describe(err)
    sender.sync()
    watcher.sync()
    assert not [m for m in room_traffic(watcher, room) if local_name(m) == "message"], \
        f"{whose} message was reflected"


def test_7_4_message_visitor_forbidden(muc):
    room, alice, bob, carol = three_in_room(muc, {"muc#roomconfig_moderatedroom": True},
                                            settle=False)
    bounced_unreflected(bob, carol, room, "may I speak?", "forbidden", "a visitor's")


def test_7_4_message_non_occupant_not_acceptable(muc):
    alice, bob, erin = muc.client("alice"), muc.client("bob"), muc.client("erin")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    bounced_unreflected(erin, bob, room, "shouting in from outside", "not-acceptable",
                        "a non-occupant's")


# ------------------------------------------------------------------ §7.5 private messages

def test_7_5_privatemessage(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    bob.send(f"<message to='{room}/Carol' type='chat' id='pm1'><body>psst</body>"
             f"<x xmlns='{NS_MUC_USER}'/></message>")
    pm = carol.wait(lambda s: local_name(s) == "message"
                    and s.findtext(q("body", NS_CLIENT)) == "psst", what="private message")
    assert pm.get("from") == f"{room}/Bob", describe(pm)
    assert pm.get("type") == "chat", describe(pm)
    assert pm.find(q("x", NS_MUC_USER)) is not None, \
        f"§7.5: the <x/> SHOULD be there: {describe(pm)}"
    assert "bob@" not in describe(pm), f"real JID leaked in a private message: {describe(pm)}"
    bob.sync()
    alice.sync()
    assert not [m for m in room_traffic(alice, room) if local_name(m) == "message"], \
        "a private message reached a third occupant"

    bob.send(f"<message to='{room}/Carol' type='groupchat' id='pm2'><body>x</body></message>")
    assert error_condition(bob.wait_error("message", f"{room}/Carol", "pm2")) == "bad-request"
    bob.send(f"<message to='{room}/Nobody' type='chat' id='pm3'><body>x</body></message>")
    assert error_condition(bob.wait_error("message", f"{room}/Nobody", "pm3")) == "item-not-found"
    erin = muc.client("erin")
    erin.send(f"<message to='{room}/Carol' type='chat' id='pm4'><body>x</body></message>")
    assert error_condition(erin.wait_error("message", f"{room}/Carol", "pm4")) == "not-acceptable"


@pytest.mark.parametrize("allowpm", ["none", "moderators"])
def test_7_5_privatemessage_allowpm(muc, allowpm):
    room, alice, bob, carol = three_in_room(muc, {"muc#roomconfig_allowpm": allowpm},
                                            settle=False)
    bob.send(f"<message to='{room}/Carol' type='chat' id='pmx'><body>blocked?</body></message>")
    err = bob.wait_error("message", f"{room}/Carol", "pmx")
    assert error_condition(err), describe(err)
    bob.sync()
    carol.sync()
    assert not [m for m in room_traffic(carol, room) if local_name(m) == "message"], \
        f"allowpm={allowpm}: a participant's private message was delivered"
    alice.send(f"<message to='{room}/Carol' type='chat' id='pmy'><body>from the owner</body>"
               "</message>")
    if allowpm == "moderators":
        pm = carol.wait(lambda s: s.findtext(q("body", NS_CLIENT)) == "from the owner",
                        what="moderator's private message")
        assert pm.get("from") == f"{room}/Owner"
    else:
        assert error_condition(alice.wait_error("message", f"{room}/Carol", "pmy"))


# ------------------------------------------------------------------ §17.4 IQ, XEP-0410

@pytest.mark.parametrize("payload", ["vcard", "ping"])
def test_17_4_bizrules_iq_to_occupant_forwarded(muc, payload):
    """An IQ to an occupant JID reaches that occupant's client from the sender's
    occupant JID; the answer comes back with the original id, real JIDs hidden."""
    room, alice, bob, carol = three_in_room(muc, settle=False)
    ns = NS_VCARD if payload == "vcard" else NS_PING
    request = f"<vCard xmlns='{NS_VCARD}'/>" if payload == "vcard" else f"<ping xmlns='{NS_PING}'/>"
    answer = (f"<vCard xmlns='{NS_VCARD}'><FN>Carol the Third</FN></vCard>"
              if payload == "vcard" else "")
    carol.responders[ns] = lambda iq: answer
    reply = bob.iq(f"{room}/Carol", "get", request, iq_id=f"orig-{payload}-42")
    assert reply.get("type") == "result", describe(reply)
    assert reply.get("id") == f"orig-{payload}-42", f"original id not restored: {describe(reply)}"
    assert reply.get("from") == f"{room}/Carol", describe(reply)
    if payload == "vcard":
        assert reply.findtext(f"{q('vCard', NS_VCARD)}/{q('FN', NS_VCARD)}") == "Carol the Third", \
            describe(reply)
    assert "carol@" not in describe(reply), f"target's real JID leaked: {describe(reply)}"
    seen = carol.take(lambda s: local_name(s) == "iq")
    assert len(seen) == 1, carol.dump(seen)
    assert seen[0].get("from") == f"{room}/Bob", describe(seen[0])
    assert "bob@" not in describe(seen[0]), f"sender's real JID leaked: {describe(seen[0])}"
    fwd_id = seen[0].get("id") or ""
    for secret in (bob.full_jid, "bob@localhost"):
        assert secret.encode().hex() not in fwd_id.lower(), \
            f"the forwarded IQ id encodes the sender's real JID: {fwd_id}"
    assert seen[0].find(q(request.split()[0][1:], ns)) is not None, describe(seen[0])


def test_xep0410_self_ping(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    reply = bob.iq(f"{room}/Bob", "get", f"<ping xmlns='{NS_PING}'/>", iq_id="s2c1")
    assert reply.get("type") == "result", f"joined client's self-ping: {describe(reply)}"
    assert reply.get("id") == "s2c1" and reply.get("from") == f"{room}/Bob", describe(reply)
    bob.leave(room, "Bob")
    reply = bob.iq(f"{room}/Bob", "get", f"<ping xmlns='{NS_PING}'/>", iq_id="s2c2")
    assert error_condition(reply) == "not-acceptable", \
        f"XEP-0410: a client that is not joined gets not-acceptable: {describe(reply)}"


# ------------------------------------------------------------------ §7.6, §7.7

def test_7_6_changenick_303(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    alice.wait_presence(f"{room}/Carol")
    bob.send(f"<presence to='{room}/Robert' id='nick1'/>")
    for c, is_self in ((alice, False), (carol, False), (bob, True)):
        gone = c.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
        codes = status_codes(gone)
        assert 303 in codes, f"{c.jid}: no 303: {describe(gone)}"
        assert (110 in codes) == is_self, \
            f"{c.jid}: 110 only for the occupant itself: {describe(gone)}"
        assert muc_item(gone).get("nick") == "Robert", describe(gone)
        back = c.wait_presence(f"{room}/Robert", lambda s: s.get("type") is None)
        assert (110 in status_codes(back)) == is_self, describe(back)
        assert muc_item(back).get("role") == "participant", describe(back)
    bob.groupchat(room, "renamed")
    assert alice.wait_groupchat(room, "renamed").get("from") == f"{room}/Robert"

    bob.send(f"<presence to='{room}/Carol' id='nick2'/>")
    err = bob.wait_error("presence", f"{room}/Carol", "nick2")
    assert error_condition(err) == "conflict", describe(err)
    # "or that is reserved by another user affiliated with the room"
    dave = muc.client("dave")
    assert register_nick(dave, room, "Hecate").get("type") == "result"
    bob.send(f"<presence to='{room}/Hecate' id='nick3'/>")
    err = bob.wait_error("presence", f"{room}/Hecate", "nick3")
    assert error_condition(err) == "conflict", describe(err)


def test_7_7_changepres_broadcast(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    alice.wait_presence(f"{room}/Carol")
    bob.send(f"<presence to='{room}/Bob'><show>xa</show><status>gone where the goblins go</status>"
              "</presence>")
    for c in (alice, carol):
        p = c.wait_presence(f"{room}/Bob", lambda s: s.findtext(q("show", NS_CLIENT)) == "xa")
        assert p.findtext(q("status", NS_CLIENT)) == "gone where the goblins go", describe(p)
        item = muc_item(p)
        assert item is not None and item.get("role") == "participant", describe(p)
        assert len(p.findall(q("x", NS_MUC_USER))) == 1, describe(p)
    own = bob.wait_presence(f"{room}/Bob", lambda s: s.findtext(q("show", NS_CLIENT)) == "xa")
    assert 110 in status_codes(own), describe(own)


# ------------------------------------------------------------------ §7.8 invitations

def test_7_8_2_invite_mediated_membersonly(muc):
    """Members-only: a mere member may not invite (forbidden); an admin's invitation
    carries the password and puts the invitee on the member list."""
    alice, bob, dave = muc.client("alice"), muc.client("bob"), muc.client("dave")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_membersonly": True,
                                            "muc#roomconfig_passwordprotectedroom": True,
                                            "muc#roomconfig_roomsecret": "cauldronburn"})
    ok(alice.admin(room, "<item affiliation='member' jid='bob@localhost'/>"))
    bob.join(room, "Bob", password="cauldronburn")
    bob.send(f"<message to='{room}' id='inv-m'><x xmlns='{NS_MUC_USER}'>"
             f"<invite to='dave@localhost'/></x></message>")
    err = bob.wait_error("message", room, "inv-m")
    assert error_condition(err) == "forbidden", describe(err)
    assert error_condition(dave.join_error(room, "Dave", password="cauldronburn")) == \
        "registration-required"
    alice.send(f"<message to='{room}' id='inv-a'><x xmlns='{NS_MUC_USER}'>"
               f"<invite to='dave@localhost'/></x></message>")
    inv = dave.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                    and s.find(q("x", NS_MUC_USER)) is not None, what="invitation")
    assert inv.findtext(f"{q('x', NS_MUC_USER)}/{q('password', NS_MUC_USER)}") == "cauldronburn", \
        f"the room SHOULD add the password: {describe(inv)}"
    j = dave.join(room, "Dave", password="cauldronburn")
    assert muc_item(j.self_presence).get("affiliation") == "member", describe(j.self_presence)


def test_7_8_2_invite_mediated_and_decline(muc):
    alice, dave = muc.client("alice"), muc.client("dave")
    room = muc.create_room(alice, "Owner")
    alice.send(f"<message to='{room}' id='inv1'><x xmlns='{NS_MUC_USER}'>"
               f"<invite to='dave@localhost'><reason>Hey Dave, all good witches are here</reason>"
               f"</invite></x></message>")
    inv = dave.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                    and s.find(q("x", NS_MUC_USER)) is not None, what="mediated invitation")
    i = inv.find(f"{q('x', NS_MUC_USER)}/{q('invite', NS_MUC_USER)}")
    assert i is not None, describe(inv)
    assert jid_bare(i.get("from")) in ("alice@localhost", f"{room}"), \
        f"invite 'from' must name the inviter: {describe(inv)}"
    assert i.findtext(q("reason", NS_MUC_USER)) == "Hey Dave, all good witches are here"
    conf = inv.find(q("x", NS_CONFERENCE))
    assert conf is not None and conf.get("jid") == room, \
        f"no XEP-0249 jabber:x:conference element for the room: {describe(inv)}"
    assert inv.get("type") in (None, "normal"), describe(inv)

    dave.send(f"<message to='{room}' id='dec1'><x xmlns='{NS_MUC_USER}'>"
              f"<decline to='alice@localhost'><reason>Too busy</reason></decline></x></message>")
    dec = alice.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                     and s.find(f"{q('x', NS_MUC_USER)}/{q('decline', NS_MUC_USER)}") is not None,
                     what="decline")
    d = dec.find(f"{q('x', NS_MUC_USER)}/{q('decline', NS_MUC_USER)}")
    assert jid_bare(d.get("from")) == "dave@localhost", describe(dec)
    assert d.findtext(q("reason", NS_MUC_USER)) == "Too busy", describe(dec)


# ------------------------------------------------------------------ §7.10, §7.12

def register_nick(client, room, nick):
    form = submit_form(NS_MUC_REGISTER, {"muc#register_roomnick": nick})
    return client.iq(room, "set", f"<query xmlns='{NS_REGISTER}'>{form}</query>")


def test_7_10_register(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    bob.join(room, "Bob")
    alice.wait_presence(f"{room}/Bob")
    r = ok(bob.iq(room, "get", f"<query xmlns='{NS_REGISTER}'/>"))
    x = r.find(f"{q('query', NS_REGISTER)}/{q('x', NS_DATA)}")
    assert x is not None and x.get("type") == "form", describe(r)
    assert form_type(x) == NS_MUC_REGISTER, describe(r)
    assert "muc#register_roomnick" in form_fields(x), describe(r)

    ok(register_nick(bob, room, "Bob"))
    r = bob.iq(room, "get", f"<query xmlns='{NS_REGISTER}'/>")
    query = r.find(q("query", NS_REGISTER))
    assert query.find(q("registered", NS_REGISTER)) is not None, describe(r)
    assert query.findtext(q("username", NS_REGISTER)) == "Bob", describe(r)

    members = alice.admin_list(room, affiliation="member")
    items = members.findall(f"{q('query', ct.NS_MUC_ADMIN)}/{q('item', ct.NS_MUC_ADMIN)}")
    assert [(i.get("jid"), i.get("nick")) for i in items] == [("bob@localhost", "Bob")], \
        describe(members)
    # "If the service changes the user's affiliation and the user is in the room, it
    # MUST send updated presence from this individual to all occupants"
    p = alice.wait_presence(f"{room}/Bob", lambda s: muc_item(s) is not None
                            and muc_item(s).get("affiliation") == "member",
                            what="presence announcing bob's new membership")
    assert muc_item(p).get("role") == "participant", describe(p)

    carol = muc.client("carol")
    r = register_nick(carol, room, "Bob")
    assert error_condition(r) == "conflict", describe(r)


def test_7_10_register_not_allowed(muc):
    """"If the user requesting registration requirements is not allowed to register
    with the room ..., the room MUST return a <not-allowed/> error"."""
    alice, bob, carol = muc.client("alice"), muc.client("bob"), muc.client("carol")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_membersonly": True})
    ok(alice.admin(room, "<item affiliation='outcast' jid='bob@localhost'/>"))
    wrong = []
    r = bob.iq(room, "get", f"<query xmlns='{NS_REGISTER}'/>")
    if error_condition(r) != "not-allowed":
        wrong.append(f"a banned user asked to register: {describe(r)}")
    r = carol.iq(room, "get", f"<query xmlns='{NS_REGISTER}'/>")
    if not (r.get("type") == "result" or error_condition(r) == "not-allowed"):
        wrong.append(f"a non-member of a members-only room (a form, or not-allowed): {describe(r)}")
    assert not wrong, "\n".join(wrong)
    r = carol.iq(ct.new_room("nosuch"), "get", f"<query xmlns='{NS_REGISTER}'/>")
    assert error_condition(r) == "item-not-found", describe(r)


def test_7_12_reservednick(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    ask = f"<query xmlns='{ct.NS_DISCO_INFO}' node='x-roomuser-item'/>"
    r = ok(bob.iq(room, "get", ask))
    assert r.find(f"{q('query', ct.NS_DISCO_INFO)}/{q('identity', ct.NS_DISCO_INFO)}") is None, \
        f"no registered nick: the query must be empty: {describe(r)}"
    assert register_nick(bob, room, "thirdwitch").get("type") == "result"
    r = bob.iq(room, "get", ask)
    ident = r.find(f"{q('query', ct.NS_DISCO_INFO)}/{q('identity', ct.NS_DISCO_INFO)}")
    assert ident is not None, describe(r)
    assert (ident.get("category"), ident.get("type"), ident.get("name")) == \
        ("conference", "text", "thirdwitch"), describe(r)
    bob.join(room, "thirdwitch")
    r = bob.iq(room, "get", ask)  # also when asked from inside the room
    assert r.find(f"{q('query', ct.NS_DISCO_INFO)}/{q('identity', ct.NS_DISCO_INFO)}").get("name") \
        == "thirdwitch", describe(r)


# ------------------------------------------------------------------ §7.13, §7.14

def voice_request_form():
    return submit_form(NS_MUC_REQUEST, {"muc#role": "participant"})


def test_7_13_requestvoice_reaches_moderators(muc):
    room, alice, bob, carol = three_in_room(muc, {"muc#roomconfig_moderatedroom": True},
                                            settle=False)
    dave = muc.client("dave")
    ok(alice.admin(room, "<item nick='Carol' role='participant'/>"))
    bob.send(f"<message to='{room}' id='vr1'>{voice_request_form()}</message>")
    req = alice.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                     and s.find(q("x", NS_DATA)) is not None, what="voice request form")
    x = req.find(q("x", NS_DATA))
    assert x.get("type") == "form", describe(req)
    fields = form_fields(x)
    assert form_type(x) == NS_MUC_REQUEST, describe(req)
    assert fields["muc#role"][1] == ["participant"], describe(req)
    assert fields["muc#roomnick"][1] == ["Bob"], describe(req)
    assert fields["muc#request_allow"][0] == "boolean", describe(req)
    assert fields["muc#request_allow"][1] in ([], ["false"], ["0"]), describe(req)
    bob.sync()
    carol.sync()
    dave.sync()
    leaked = [m for m in carol.take() + dave.take()
              if local_name(m) == "message" and m.find(q("x", NS_DATA)) is not None]
    assert not leaked, f"voice request reached a non-moderator: {carol.dump(leaked)}"


def test_7_14_exit_by_disconnect(muc):
    """A client that just goes away: its router sends unavailable for it and the room
    tells the others."""
    room, alice, bob, carol = three_in_room(muc, settle=False)
    alice.wait_presence(f"{room}/Bob")
    bob.close()
    p = alice.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
    assert muc_item(p).get("role") == "none", describe(p)


def test_7_14_exit_last_occupant_ends_temporary_room(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner")
    alice.leave(room, "Owner")
    j = bob.join(room, "Bob")
    assert 201 in status_codes(j.self_presence), \
        f"a temporary room must be gone once empty: {describe(j.self_presence)}"


def test_7_14_exit(muc):
    room, alice, bob, carol = three_in_room(muc, settle=False)
    alice.wait_presence(f"{room}/Bob")
    own = bob.leave(room, "Bob", status="gone where the goblins go")
    assert own.get("type") == "unavailable" and muc_item(own).get("role") == "none", describe(own)
    for c in (alice, carol):
        p = c.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
        assert 110 not in status_codes(p), describe(p)
        assert muc_item(p).get("role") == "none", describe(p)
        assert p.findtext(q("status", NS_CLIENT)) == "gone where the goblins go", describe(p)
    alice.groupchat(room, "after bob left")
    carol.wait_groupchat(room, "after bob left")
    alice.sync()
    bob.sync()
    assert not [m for m in room_traffic(bob, room) if local_name(m) == "message"], \
        "a departed occupant still receives groupchat"


# ------------------------------------------------------------------ §11.1

def test_11_1_service_error_kick_333(muc):
    """An occupant whose client bounces a room stanza with an error meaning "gone" is
    removed, with status 333."""
    room, alice, bob, carol = three_in_room(muc, settle=False)
    alice.wait_presence(f"{room}/Bob")
    bob.send(f"<message to='{room}' type='error' id='bounce'><error type='cancel'>"
             f"<recipient-unavailable xmlns='{ct.NS_STANZAS}'/></error></message>")
    for c in (alice, carol):
        p = c.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
        assert 333 in status_codes(p), describe(p)
        assert muc_item(p).get("role") == "none", describe(p)
