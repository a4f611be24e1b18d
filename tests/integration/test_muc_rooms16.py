"""Issue 16 (rooms): Lync's room privacy and type, large rooms and the room directory,
through Prosody and PostgreSQL with real slixmpp clients and slixmpp's own plugins
(xep_0045 for the configuration form, xep_0030 for disco, xep_0059 for paging,
xep_0055 for room search).

- privacy (open|closed|secret) and type (normal|auditorium) are fields of the room's
  form, map onto the XEP-0045 fields and show in disco#info;
- an Auditorium lets only presenters post and hides its audience's presence;
- above [muc] presence_limit (2 here) non-moderators' presence goes to moderators only,
  and moderators page through the occupants (room disco#items with RSM);
- a service admin joins unseen ([muc] hidden_admins);
- room search and disco#items list every stored room (also after confabd restarted:
  rooms not in memory), Secret rooms only to their members; paging.

The module's confabd is shared by its tests: listings are checked on the rooms a test
creates (their names carry a token of the test's own)."""

import secrets

from confabtest import (DOMAIN, MUC_DOMAIN, NS_DATA, NS_MUC_ROOMINFO, describe,
                        error_condition, form_fields, form_type, local_name, ok, q)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

MUC_CONFIG = f"presence_limit = 2\nhidden_admins = true\nadmins = frank@{DOMAIN}\n"

PRIVACY = "{urn:confab:roomconfig}privacy"
TYPE = "{urn:confab:roomconfig}type"
NS_CLIENT = "jabber:client"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CS = "urn:xmpp:channel-search:0:search"
NS_CS_PARAMS = "urn:xmpp:channel-search:0:search-params"
NS_VCARD = "vcard-temp"


def call(c, fn, *args, **kw):
    """Run a plugin call on c's own loop (iq.send makes its future in the running loop)."""
    async def go():
        return await fn(*args, **kw)
    return c.run(go())


def with_plugins(c):
    for p in ("xep_0004", "xep_0030", "xep_0045", "xep_0055", "xep_0059"):
        c.xmpp.register_plugin(p)
    return c


def client(muc, user):
    # The link may come up before the database: a room looked up then is refused
    # (resource-constraint, "room storage is unavailable; retry").
    muc.confabd.wait_rooms_ready()
    return with_plugins(muc.client(user))


def config_values(c, room):
    """The room's configuration form through slixmpp's xep_0045: {var: value}."""
    form = call(c, c.xmpp.plugin["xep_0045"].get_room_config, room)
    return {var: f.get_value() for var, f in form.get_fields().items()}


def roominfo(c, room):
    """The muc#roominfo form of the room's disco#info (slixmpp's xep_0030)."""
    info = call(c, c.xmpp.plugin["xep_0030"].get_info, jid=room)
    for x in info.xml.iter(q("x", NS_DATA)):
        if form_type(x) == NS_MUC_ROOMINFO:
            return {var: vals for var, (_t, vals) in form_fields(x).items()}
    raise AssertionError(f"no muc#roominfo form: {describe(info.xml)}")


def presences_from(c, occupant, ptype=None):
    return [st for st in c.inbox if local_name(st) == "presence"
            and st.get("from") == occupant and st.get("type") == ptype]


def test_privacy_and_type_in_form_and_disco(muc):
    """The form offers privacy and type (list-single), consistent with publicroom,
    membersonly and moderatedroom whichever is changed; disco#info shows both."""
    alice = client(muc, "alice")
    room = muc.create_room(alice, "Owner", {PRIVACY: "closed", TYPE: "auditorium"},
                           prefix="kind")
    v = config_values(alice, room)
    assert v[PRIVACY] == "closed" and v[TYPE] == "auditorium", v
    assert v["muc#roomconfig_publicroom"] and v["muc#roomconfig_membersonly"], v
    assert v["muc#roomconfig_moderatedroom"], v
    info = roominfo(alice, room)
    assert info[PRIVACY] == ["closed"] and info[TYPE] == ["auditorium"], info

    # A client changes publicroom in the form it got back: the privacy follows.
    alice.configure(room, {PRIVACY: "closed", TYPE: "auditorium",
                           "muc#roomconfig_publicroom": False,
                           "muc#roomconfig_membersonly": True})
    assert config_values(alice, room)[PRIVACY] == "secret"
    # The privacy changed, the old flags sent along: privacy wins.
    alice.configure(room, {PRIVACY: "open", TYPE: "normal", "muc#roomconfig_publicroom": False,
                           "muc#roomconfig_membersonly": True})
    v = config_values(alice, room)
    assert v[PRIVACY] == "open" and v[TYPE] == "normal", v
    assert v["muc#roomconfig_publicroom"] and not v["muc#roomconfig_membersonly"], v
    assert not v["muc#roomconfig_moderatedroom"], v
    bad = alice.configure(room, {PRIVACY: "hush"}, check=False)
    assert error_condition(bad) == "not-acceptable", describe(bad)


def test_auditorium_only_presenters_post(muc):
    """Auditorium: a visitor's message is forbidden, nobody sees the audience come or
    go; the audience sees the presenters and itself. Voice makes a presenter (seen,
    posts); losing it, the room sees him go."""
    alice, bob = client(muc, "alice"), client(muc, "bob")
    room = muc.create_room(alice, "Owner", {TYPE: "auditorium"}, prefix="aud")
    j = bob.join(room, "bob")
    assert [p.get("from") for p in j.roster] == [f"{room}/Owner"], \
        [describe(p) for p in j.roster]
    bob.send(f"<message to='{room}' type='groupchat' id='m1'><body>question</body></message>")
    err = bob.wait(lambda s: local_name(s) == "message" and s.get("type") == "error",
                   what="message error")
    assert error_condition(err) == "forbidden", describe(err)
    alice.send(f"<message to='{room}' type='groupchat'><body>welcome</body></message>")
    bob.wait(lambda s: local_name(s) == "message" and s.get("type") == "groupchat"
             and s.findtext(q("body", NS_CLIENT)) == "welcome", what="presenter's message")
    alice.sync()
    assert presences_from(alice, f"{room}/bob") == [], alice.dump()
    assert not [s for s in alice.inbox if local_name(s) == "message"
                and s.findtext(q("body", NS_CLIENT)) == "question"], "a visitor's post went out"

    # Voice makes bob a presenter: the room sees him and his posts.
    call(alice, alice.xmpp.plugin["xep_0045"].set_role, room, "bob", "participant")
    alice.wait(lambda s: s.get("from") == f"{room}/bob" and s.get("type") is None,
               what="the new presenter's presence")
    bob.send(f"<message to='{room}' type='groupchat'><body>my slides</body></message>")
    alice.wait(lambda s: local_name(s) == "message"
               and s.findtext(q("body", NS_CLIENT)) == "my slides", what="the presenter's post")
    # Without voice he is in the audience again: the room sees him go.
    call(alice, alice.xmpp.plugin["xep_0045"].set_role, room, "bob", "visitor")
    alice.wait(lambda s: s.get("from") == f"{room}/bob" and s.get("type") == "unavailable",
               what="the former presenter leaving the room's view")
    alice.inbox.clear()
    bob.leave(room, "bob")
    alice.sync()
    assert presences_from(alice, f"{room}/bob", "unavailable") == [], alice.dump()


def item_jids(page):
    """The items of a disco#items page in the order sent (slixmpp's get_items is a set)."""
    return [e.get("jid") for e in page.xml.iter(q("item", NS_DISCO_ITEMS))]


def occupant_pages(c, room, amount):
    """Every page of the room's disco#items through slixmpp's xep_0059 iterator."""
    iq = c.xmpp.Iq()
    iq["to"] = room
    iq["type"] = "get"
    iq["disco_items"]["node"] = ""
    it = c.xmpp.plugin["xep_0059"].iterate(iq, "disco_items", amount=amount)

    async def walk():
        pages = []
        async for page in it:
            pages.append(item_jids(page))
        return pages
    return c.run(walk())


def test_presence_limit_moderators_only(muc):
    """Above presence_limit (2) a non-moderator's join, change and leave reach the
    moderators only; the newcomer sees itself and the moderators; moderators page
    through the occupants, others get an empty list."""
    alice, bob, carol = client(muc, "alice"), client(muc, "bob"), client(muc, "carol")
    room = muc.create_room(alice, "Owner", prefix="big")
    bob.join(room, "bob")
    alice.wait(lambda s: s.get("from") == f"{room}/bob", what="bob's join (below the limit)")
    j = carol.join(room, "carol")
    assert [p.get("from") for p in j.roster] == [f"{room}/Owner"], \
        [describe(p) for p in j.roster]
    alice.wait(lambda s: s.get("from") == f"{room}/carol", what="carol's join (moderator)")
    carol.send(f"<presence to='{room}/carol'><show>away</show></presence>")
    alice.wait(lambda s: s.get("from") == f"{room}/carol", what="carol's change (moderator)")
    bob.sync()
    assert presences_from(bob, f"{room}/carol") == [], bob.dump()

    pages = occupant_pages(alice, room, 2)
    assert pages[0] == [f"{room}/Owner", f"{room}/bob"], pages
    assert sum(pages, []) == [f"{room}/Owner", f"{room}/bob", f"{room}/carol"], pages
    assert occupant_pages(bob, room, 2) == [] or occupant_pages(bob, room, 2) == [[]]
    info = roominfo(alice, room)
    assert info["muc#roominfo_occupants"] == ["3"], info

    carol.leave(room, "carol")
    alice.wait(lambda s: s.get("from") == f"{room}/carol" and s.get("type") == "unavailable",
               what="carol's leave (moderator)")
    bob.sync()
    assert presences_from(bob, f"{room}/carol", "unavailable") == [], bob.dump()


def test_hidden_admin_joins_unseen(muc):
    """[muc] hidden_admins: frank (a service admin) comes and goes unannounced, is not
    counted or listed, and sees the room."""
    alice, frank = client(muc, "alice"), client(muc, "frank")
    room = muc.create_room(alice, "Owner", prefix="hidden")
    j = frank.join(room, "frank")
    assert f"{room}/Owner" in [p.get("from") for p in j.roster]
    alice.sync()
    assert presences_from(alice, f"{room}/frank") == [], alice.dump()
    assert roominfo(alice, room)["muc#roominfo_occupants"] == ["1"]
    assert sum(occupant_pages(alice, room, 10), []) == [f"{room}/Owner"]
    frank.leave(room, "frank")
    alice.sync()
    assert presences_from(alice, f"{room}/frank", "unavailable") == [], alice.dump()


def search(c, words="", category=None):
    """XEP-0055 through slixmpp's xep_0055: the rooms' JIDs found."""
    iq = c.xmpp.plugin["xep_0055"].make_search_iq(ito=MUC_DOMAIN)
    form = iq["search"]["form"]
    form.add_field("q", value=words)
    if category is not None:
        form.add_field("category", value=category)
    r = call(c, iq.send)
    return [item["jid"] for item in r["search"]["form"]["items"]]


def channel_search(c, words):
    from confabtest import submit_form
    form = submit_form(NS_CS_PARAMS, {"q": words})
    r = ok(c.iq(MUC_DOMAIN, "get", f"<search xmlns='{NS_CS}'>{form}</search>"), "search")
    return [i.get("address") for i in r.findall(f"{q('result', NS_CS)}/{q('item', NS_CS)}")]


def directory(c):
    """The service's disco#items, walked with slixmpp's xep_0059 iterator."""
    iq = c.xmpp.Iq()
    iq["to"] = MUC_DOMAIN
    iq["type"] = "get"
    iq["disco_items"]["node"] = ""
    it = c.xmpp.plugin["xep_0059"].iterate(iq, "disco_items", amount=25)

    async def walk():
        out = []
        async for page in it:
            out += item_jids(page)
        return out
    return c.run(walk())


def test_directory_covers_stored_rooms_and_hides_secret(muc):
    """Search and disco#items list Open and Closed rooms to everyone and Secret ones
    to their members only; after confabd restarts (no room in memory) they still do;
    a Secret room's vCard is for its members. Runs last in the module: it restarts
    confabd."""
    alice, bob = client(muc, "alice"), client(muc, "bob")
    token = "dir16-" + secrets.token_hex(4)
    rooms = {}
    for kind in ("open", "closed", "secret"):
        rooms[kind] = muc.create_room(alice, "Owner", {
            "muc#roomconfig_roomname": f"{token} {kind}", "muc#roomconfig_persistentroom": True,
            PRIVACY: kind}, prefix=f"d{kind}")
    member = muc.create_room(alice, "Owner", {
        "muc#roomconfig_roomname": f"{token} members", "muc#roomconfig_persistentroom": True,
        PRIVACY: "secret"}, prefix="dmember")
    ok(alice.admin(member, f"<item affiliation='member' jid='bob@{DOMAIN}'/>"), "bob a member")
    for c in (alice,):
        for r in list(rooms.values()) + [member]:
            c.leave(r, "Owner")

    def check(what):
        visible = sorted([rooms["closed"], rooms["open"], member])
        assert sorted(search(bob, token)) == visible, f"{what}: bob's search"
        assert sorted(search(alice, token)) == sorted(list(rooms.values()) + [member]), \
            f"{what}: alice's search"
        assert sorted(channel_search(bob, token)) == visible, f"{what}: bob's channel search"
        listed = directory(bob)
        assert rooms["open"] in listed and rooms["closed"] in listed and member in listed, \
            f"{what}: bob's disco#items {listed}"
        assert rooms["secret"] not in listed, f"{what}: the Secret room listed to bob"
        assert listed == sorted(listed), f"{what}: not in JID order: {listed}"
        assert sorted(search(bob, token, category="default")) == visible
        assert search(bob, token, category="no-such-category") == []

    check("in memory")
    err = bob.iq(rooms["secret"], "get", f"<vCard xmlns='{NS_VCARD}'/>")
    assert error_condition(err) == "forbidden", describe(err)
    ok(bob.iq(member, "get", f"<vCard xmlns='{NS_VCARD}'/>"), "a member reads the vCard")

    for c in (alice, bob):
        c.close()
    muc.clients = []
    d = muc.confabd
    assert d.stop() == 0, f"confabd did not stop cleanly\n{d.tail()}"
    mark = d.mark()
    d.start()
    d.wait_link_up(after=mark)
    d.wait_rooms_ready(after=mark)
    alice, bob = client(muc, "alice"), client(muc, "bob")
    check("after a restart")
