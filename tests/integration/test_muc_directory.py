"""The room directory and room avatars through Prosody with real slixmpp clients:
service disco#items paged with XEP-0059, room search (XEP-0055 with a data form,
XEP-0433 channel search), and the room's vCard-temp (XEP-0054) with its XEP-0486
avatar hash, stored in PostgreSQL and surviving a confabd restart.

The module's confabd is shared by its tests (and the database by the whole session),
so every assertion about listings is made on the rooms a test creates: they carry a
token of their own in their names."""

import base64
import hashlib
import secrets

import confabtest as ct
from confabtest import (MUC_DOMAIN, NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC_ROOMINFO,
                        describe, error_condition, form_fields, form_type, ok, q, status_codes,
                        submit_form)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

NS_RSM = "http://jabber.org/protocol/rsm"
NS_SEARCH = "jabber:iq:search"
NS_CS = "urn:xmpp:channel-search:0:search"
NS_CS_PARAMS = "urn:xmpp:channel-search:0:search-params"
NS_VCARD = "vcard-temp"

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def make_rooms(muc, owner, token, n):
    """n public rooms whose names hold token; their JIDs, sorted."""
    return sorted(muc.create_room(owner, "Owner", {"muc#roomconfig_roomname": f"{token} {i}"},
                                  prefix=f"dir{i}") for i in range(n))


def items_page(client, set_xml=""):
    r = ok(client.iq(MUC_DOMAIN, "get", f"<query xmlns='{NS_DISCO_ITEMS}'>{set_xml}</query>"),
           "disco#items")
    query = r.find(q("query", NS_DISCO_ITEMS))
    return [i.get("jid") for i in query.findall(q("item", NS_DISCO_ITEMS))], \
        query.find(q("set", NS_RSM))


def rsm(set_el, name):
    e = set_el.find(q(name, NS_RSM))
    return None if e is None else e.text


def test_disco_items_rsm_pages_walk_every_room_once(muc):
    """XEP-0059 §2.1-2.2 on the service's disco#items: <max/> pages with first/last/
    count, <after/> walks on; every room exactly once, in a stable (JID) order."""
    alice, bob = muc.client("alice"), muc.client("bob")
    mine = make_rooms(muc, alice, "pager-" + secrets.token_hex(4), 3)
    everything, set_el = items_page(bob)
    assert set_el is None, "disco#items without <set/> answered with one"
    for room in mine:
        assert room in everything, f"{room} not listed: {everything}"

    first, set_el = items_page(bob, f"<set xmlns='{NS_RSM}'><max>1</max></set>")
    assert len(first) == 1 and set_el is not None, f"max 1 gave {first}"
    assert rsm(set_el, "count") == str(len(everything)), describe(set_el)
    assert rsm(set_el, "first") == rsm(set_el, "last") == first[0]

    walked, after = [], None
    for _ in range(len(everything) + 2):
        page_set = f"<max>2</max><after>{after}</after>" if after else "<max>2</max>"
        page, set_el = items_page(bob, f"<set xmlns='{NS_RSM}'>{page_set}</set>")
        if not page:
            break
        assert len(page) <= 2 and rsm(set_el, "last") == page[-1], describe(set_el)
        walked += page
        after = page[-1]
    assert walked == sorted(everything), f"paged walk {walked} != listing {sorted(everything)}"

    none, set_el = items_page(bob, f"<set xmlns='{NS_RSM}'><max>0</max></set>")
    assert none == [] and rsm(set_el, "count") == str(len(everything)), describe(set_el)

    last, set_el = items_page(bob, f"<set xmlns='{NS_RSM}'><max>1</max><before/></set>")
    assert last == [sorted(everything)[-1]], f"last page {last}"


def search_rooms(client, words, set_xml=""):
    form = submit_form(NS_SEARCH, {"q": words})
    r = ok(client.iq(MUC_DOMAIN, "set", f"<query xmlns='{NS_SEARCH}'>{set_xml}{form}</query>"),
           "jabber:iq:search")
    query = r.find(q("query", NS_SEARCH))
    x = query.find(q("x", NS_DATA))
    assert x is not None and x.get("type") == "result", describe(r)
    rows = []
    for item in x.findall(q("item", NS_DATA)):
        rows.append({var: vals[0] if vals else None
                     for var, (_t, vals) in form_fields(item).items()})
    return rows, query.find(q("set", NS_RSM))


def test_search_form_and_results(muc):
    """XEP-0055 §3 with a data form: the form, then a result form listing the public
    rooms whose name holds the words, paged with RSM; hidden rooms stay out."""
    alice, bob = muc.client("alice"), muc.client("bob")
    token = "search-" + secrets.token_hex(4)
    mine = make_rooms(muc, alice, token, 3)
    muc.create_room(alice, "Owner", {"muc#roomconfig_roomname": f"{token} hidden",
                                     "muc#roomconfig_publicroom": False}, prefix="dirhidden")
    r = ok(bob.iq(MUC_DOMAIN, "get", f"<query xmlns='{NS_SEARCH}'/>"), "search form")
    x = r.find(f"{q('query', NS_SEARCH)}/{q('x', NS_DATA)}")
    assert x is not None and form_type(x) == NS_SEARCH, describe(r)
    assert "q" in form_fields(x)

    rows, _ = search_rooms(bob, token)
    assert [row["jid"] for row in rows] == mine, f"search for {token}: {rows}"
    assert rows[0]["name"] == f"{token} 0" and rows[0]["occupants"] == "1", rows[0]

    rows, set_el = search_rooms(bob, token, f"<set xmlns='{NS_RSM}'><max>2</max></set>")
    assert [row["jid"] for row in rows] == mine[:2] and rsm(set_el, "count") == "3", \
        describe(set_el)
    rows, _ = search_rooms(bob, token,
                           f"<set xmlns='{NS_RSM}'><max>2</max><after>{mine[1]}</after></set>")
    assert [row["jid"] for row in rows] == mine[2:]


def test_channel_search(muc):
    """XEP-0433: the service advertises it and answers a keyword search with items."""
    alice, bob = muc.client("alice"), muc.client("bob")
    token = "chan-" + secrets.token_hex(4)
    mine = make_rooms(muc, alice, token, 2)
    r = ok(bob.iq(MUC_DOMAIN, "get", f"<query xmlns='{NS_DISCO_INFO}'/>"), "disco#info")
    feats = {f.get("var") for f in r.iter(q("feature", NS_DISCO_INFO))}
    for f in (NS_SEARCH, NS_CS, NS_VCARD, NS_RSM):
        assert f in feats, f"{f} not advertised: {sorted(feats)}"
    form = submit_form(NS_CS_PARAMS, {"q": token})
    r = ok(bob.iq(MUC_DOMAIN, "get", f"<search xmlns='{NS_CS}'>{form}</search>"), "search")
    items = r.findall(f"{q('result', NS_CS)}/{q('item', NS_CS)}")
    assert [i.get("address") for i in items] == mine, describe(r)
    assert items[0].find(q("name", NS_CS)).text == f"{token} 0"


def vcard_xml(photo=PNG):
    b64 = base64.b64encode(photo).decode()
    return (f"<vCard xmlns='{NS_VCARD}'><FN>Garden</FN><PHOTO><TYPE>image/png</TYPE>"
            f"<BINVAL>{b64}</BINVAL></PHOTO></vCard>")


def avatar_hashes(client, room):
    r = ok(client.iq(room, "get", f"<query xmlns='{NS_DISCO_INFO}'/>"), "disco#info")
    query = r.find(q("query", NS_DISCO_INFO))
    feats = {f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))}
    assert NS_VCARD in feats, f"room disco#info lacks vcard-temp: {sorted(feats)}"
    for x in query.findall(q("x", NS_DATA)):
        if form_type(x) == NS_MUC_ROOMINFO:
            t, values = form_fields(x).get("muc#roominfo_avatarhash", (None, []))
            assert t in (None, "text-multi"), t
            return values
    raise AssertionError(f"no muc#roominfo form: {describe(r)}")


def photo_of(client, room):
    r = ok(client.iq(room, "get", f"<vCard xmlns='{NS_VCARD}'/>"), "vCard get")
    binval = r.find(f"{q('vCard', NS_VCARD)}/{q('PHOTO', NS_VCARD)}/{q('BINVAL', NS_VCARD)}")
    return None if binval is None else base64.b64decode(binval.text)


def test_room_vcard_avatar_survives_restart(muc):
    """XEP-0486: an owner sets the room's vCard (occupants get 104), a non-owner is
    refused, an oversized card gets not-acceptable; disco#info carries the SHA-1 of the
    photo; the card is in PostgreSQL and comes back after confabd restarts."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_persistentroom": True},
                           prefix="avatar")
    bob.join(room, "bob")
    assert avatar_hashes(bob, room) == []

    ok(alice.iq(room, "set", vcard_xml()), "owner sets the vCard")
    bob.wait(lambda s: s.get("from") == room and 104 in status_codes(s), what="104 notice")
    want = hashlib.sha1(PNG).hexdigest()
    assert avatar_hashes(bob, room) == [want]
    assert photo_of(bob, room) == PNG

    err = bob.iq(room, "set", vcard_xml(b"not the owner"))
    assert error_condition(err) == "forbidden", describe(err)
    big = alice.iq(room, "set", vcard_xml(b"x" * 70000))
    assert error_condition(big) == "not-acceptable", describe(big)
    assert avatar_hashes(bob, room) == [want], "a refused set changed the avatar"

    for c in (alice, bob):
        c.close()
    muc.clients = []
    d = muc.confabd
    assert d.stop() == 0, f"confabd did not stop cleanly\n{d.tail()}"
    mark = d.mark()
    d.start()
    d.wait_link_up(after=mark)
    d.wait_rooms_ready(after=mark)

    carol = muc.client("carol")
    assert avatar_hashes(carol, room) == [want], "avatar hash lost across the restart"
    assert photo_of(carol, room) == PNG, "vCard photo lost across the restart"
