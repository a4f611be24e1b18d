"""XEP-0045 moderator use cases (§8.1–§8.6) and the occupant's side of the subject
(§7.3), through Prosody with real slixmpp clients. Section numbers follow the XEP in
the workspace (1.35.5)."""

import confabtest as ct
from confabtest import (NS_CLIENT, NS_DATA, NS_MUC_REQUEST, admin_items, describe,
                        error_condition, form_fields, jid_bare, local_name, muc_item, ok, q,
                        status_codes, submit_form, three_in_room)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)


def subject_message(client, room, text):
    return client.wait(lambda s: ct.is_subject(s, room)
                       and (s.findtext(q("subject", NS_CLIENT)) or "") == text,
                       what=f"subject {text!r} from {room}")


def groupchat_refusal(client, room, body):
    """The error condition of the bounce of client's groupchat message to room."""
    return error_condition(client.wait_error("message", room, client.groupchat(room, body)))


def role_change_seen(client, room, nick, role):
    return client.wait_presence(f"{room}/{nick}", lambda s: s.get("type") is None
                                and muc_item(s) is not None and muc_item(s).get("role") == role,
                                what=f"presence of {nick} with role {role}")


# ------------------------------------------------------------------ §7.3, §8.1 subject

def test_7_3_subject_occupant_changesubject(muc):
    """A participant may change the subject only when muc#roomconfig_changesubject
    allows it."""
    room, alice, bob, carol = three_in_room(muc)
    bob.send(f"<message to='{room}' type='groupchat' id='subj1'><subject>Mine now</subject>"
             "</message>")
    err = bob.wait_error("message", room, "subj1")
    assert error_condition(err) == "forbidden", describe(err)
    bob.sync()
    carol.sync()
    assert not carol.take(lambda s: ct.is_subject(s, room)), "a forbidden subject was broadcast"

    alice.configure(room, {"muc#roomconfig_changesubject": True})
    bob.send(f"<message to='{room}' type='groupchat' id='subj2'><subject>Mine now</subject>"
             "</message>")
    for c in (alice, bob, carol):
        m = subject_message(c, room, "Mine now")
        assert m.get("from") == f"{room}/Bob", describe(m)


def test_8_1_subject_mod(muc):
    room, alice, bob, carol = three_in_room(muc)
    alice.send(f"<message to='{room}' type='groupchat' id='lh2bs617'>"
               "<subject>Fire Burn and Cauldron Bubble!</subject></message>")
    for c in (alice, bob, carol):
        m = subject_message(c, room, "Fire Burn and Cauldron Bubble!")
        assert m.get("from") in (room, f"{room}/Owner"), describe(m)
        assert m.find(q("body", NS_CLIENT)) is None, describe(m)
    # a subject with a body is a message, not a subject change (§8.1 note)
    bob.send(f"<message to='{room}' type='groupchat' id='sb'><subject>not a change</subject>"
             "<body>just talking</body></message>")
    carol.wait_groupchat(room, "just talking")
    dave = muc.client("dave")
    j = dave.join(room, "Dave")
    assert (j.subject.findtext(q("subject", NS_CLIENT))) == "Fire Burn and Cauldron Bubble!", \
        f"a newcomer must get the current subject: {describe(j.subject)}"
    # clearing the subject
    alice.send(f"<message to='{room}' type='groupchat' id='clear'><subject/></message>")
    subject_message(dave, room, "")
    # "A message with a <subject/> and a <thread/> is a legitimate message, but it
    # SHALL NOT be interpreted as a subject change": a participant may send it
    bob.send(f"<message to='{room}' type='groupchat' id='st'><subject>Threaded</subject>"
             "<thread>t-1</thread></message>")
    bob.sync()
    refused = bob.take(lambda s: s.get("id") == "st" and s.get("type") == "error")
    assert not refused, f"subject+thread was taken for a subject change: {bob.dump(refused)}"
    m = carol.wait(lambda s: local_name(s) == "message"
                   and s.findtext(q("thread", NS_CLIENT)) == "t-1",
                   what="subject+thread message reflected as a message")
    assert m.get("type") == "groupchat" and m.get("from") == f"{room}/Bob", describe(m)
    erin = muc.client("erin")
    j = erin.join(room, "Erin")
    assert (j.subject.findtext(q("subject", NS_CLIENT)) or "") == "", \
        f"subject+thread changed the subject: {describe(j.subject)}"


# ------------------------------------------------------------------ §8.2 kick

def test_8_2_kick_307_actor_reason(muc):
    room, alice, bob, carol = three_in_room(muc)
    ok(alice.admin(room, "<item nick='Bob' role='none'><reason>Avaunt, you cullion!</reason>"
                         "</item>", iq_id="kick1"))
    own = bob.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
    assert {110, 307} <= status_codes(own), describe(own)
    item = muc_item(own)
    assert item.get("role") == "none", describe(own)
    assert item.findtext(q("reason", ct.NS_MUC_USER)) == "Avaunt, you cullion!", describe(own)
    actor = item.find(q("actor", ct.NS_MUC_USER))
    assert actor is not None and actor.get("nick") == "Owner", describe(own)
    for c in (alice, carol):
        p = c.wait_presence(f"{room}/Bob", lambda s: s.get("type") == "unavailable")
        assert 307 in status_codes(p) and 110 not in status_codes(p), describe(p)
        assert muc_item(p).get("role") == "none", describe(p)
    # "After informing the moderator, the service MUST then inform all of the remaining
    # occupants": the moderator (an occupant too) gets the result first
    res = alice.trace_index(lambda s: local_name(s) == "iq" and s.get("id") == "kick1",
                            "kick result")
    gone = alice.trace_index(lambda s: s.get("from") == f"{room}/Bob"
                             and s.get("type") == "unavailable", "kick presence")
    assert res < gone, "the moderator heard of the kick before its IQ result"
    assert groupchat_refusal(bob, room, "am I still here?") == "not-acceptable"
    # a participant may not kick
    r = carol.admin(room, "<item nick='Owner' role='none'/>")
    assert error_condition(r) == "forbidden", describe(r)


# ------------------------------------------------------------------ §8.3, §8.4, §8.5 voice

def test_8_3_grantvoice(muc):
    room, alice, bob, carol = three_in_room(muc, {"muc#roomconfig_moderatedroom": True})
    ok(alice.admin(room, "<item nick='Bob' role='participant'><reason>A worthy witch</reason>"
                         "</item>"))
    for c in (alice, carol):
        seen = role_change_seen(c, room, "Bob", "participant")
        assert 110 not in status_codes(seen), describe(seen)
    own = role_change_seen(bob, room, "Bob", "participant")
    assert 110 in status_codes(own), describe(own)
    bob.groupchat(room, "I have voice")
    carol.wait_groupchat(room, "I have voice")


def test_8_4_revokevoice(muc):
    room, alice, bob, carol = three_in_room(muc)
    dave = muc.client("dave")
    ok(alice.admin(room, "<item affiliation='admin' jid='dave@localhost'/>"))
    dave.join(room, "Dave")
    ok(alice.admin(room, "<item nick='Bob' role='visitor'><reason>Not so worthy</reason></item>"))
    for c in (alice, carol, bob):
        role_change_seen(c, room, "Bob", "visitor")
    assert groupchat_refusal(bob, room, "silenced?") == "forbidden"
    # "a service MUST NOT allow the voice privileges of an admin or owner to be removed"
    r = alice.admin(room, "<item nick='Dave' role='visitor'/>")
    assert error_condition(r) == "not-allowed", describe(r)


def test_8_5_modifyvoice(muc):
    room, alice, bob, carol = three_in_room(muc, {"muc#roomconfig_moderatedroom": True})
    ok(alice.admin(room, "<item nick='Bob' role='participant'/>"))
    r = ok(alice.admin_list(room, role="participant"))
    items = admin_items(r)
    assert [(i.get("nick"), i.get("role")) for i in items] == [("Bob", "participant")], describe(r)
    # §17.4 rule 5: role results carry nick, role, affiliation and the full JID
    assert (items[0].get("affiliation"), items[0].get("jid")) == ("none", bob.full_jid), \
        describe(r)
    # the delta: Carol gets voice, Bob loses it
    ok(alice.admin(room, "<item nick='Carol' role='participant'/>"
                         "<item nick='Bob' role='visitor'/>"))
    role_change_seen(alice, room, "Bob", "participant")
    role_change_seen(alice, room, "Carol", "participant")
    role_change_seen(alice, room, "Bob", "visitor")
    r = bob.admin_list(room, role="participant")
    assert error_condition(r) == "forbidden", f"only moderators see the voice list: {describe(r)}"


# ------------------------------------------------------------------ §8.6 voice approval

def test_8_6_voiceapprove(muc):
    room, alice, bob, carol = three_in_room(muc, {"muc#roomconfig_moderatedroom": True})
    bob.send(f"<message to='{room}' id='vr'>"
             f"{submit_form(NS_MUC_REQUEST, {'muc#role': 'participant'})}</message>")
    req = alice.wait(lambda s: local_name(s) == "message" and s.get("from") == room
                     and s.find(q("x", NS_DATA)) is not None, what="voice request")
    fields = form_fields(req.find(q("x", NS_DATA)))
    answer = {var: values for var, (_t, values) in fields.items() if var != "FORM_TYPE"}
    answer["muc#request_allow"] = True
    alice.send(f"<message to='{room}' id='approve'>{submit_form(NS_MUC_REQUEST, answer)}</message>")
    for c in (alice, bob, carol):
        role_change_seen(c, room, "Bob", "participant")
    bob.groupchat(room, "thank you for my voice")
    carol.wait_groupchat(room, "thank you for my voice")
    assert jid_bare(req.get("from")) == room
