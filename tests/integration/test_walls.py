"""Ethical walls and the service policy in confabd (issue 16: he's part), through real
Prosody, PostgreSQL and slixmpp clients. Categories, principals and groups are written
with SQL and announced with NOTIFY confab_control exactly as confabctl does (its
category/group commands are built in parallel); the policy goes through `confabctl
policy set`. Every test makes its own category, so the default category (everyone
allowed) that the other modules' rooms live in is never touched."""
import json
import pathlib
import random

import psycopg
import pytest

import confabtest as ct
from confabtest import (NS_CLIENT, NS_MUC_USER, describe, error_condition, muc_item, q,
                        status_codes)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

# dave is a service administrator: owner power everywhere, never walled.
MUC_CONFIG = "message_rate = 0\nadmins = dave@localhost\n"
CATEGORY_FIELD = "{urn:confab:muc}roomconfig_category"
NS_MAM = "urn:xmpp:mam:2"
U = {u: f"{u}@{ct.DOMAIN}" for u in ct.MUC_USERS}


def notify(db, op, name):
    db.execute("SELECT pg_notify('confab_control', %s)",
               (json.dumps({"op": op, "room": name, "actor": "test_walls"}),))


def migrated(db):
    """confabd migrates the schema once its link is up: wait for this branch's (9)."""
    ct.wait_for(lambda: db.execute("SELECT to_regclass('policy') IS NOT NULL").fetchone()[0],
                15 * ct.SLOW, "confabd's schema migration")


class Walls:
    """One category of the test's own, changed the way confabctl changes it."""

    def __init__(self, pg, muc):
        self.muc = muc
        self.db = psycopg.connect(pg.dsn("confab"), autocommit=True)
        migrated(self.db)
        self.name = f"traders-{random.randrange(1 << 32):08x}"
        self.id = self.db.execute("INSERT INTO categories (name) VALUES (%s) RETURNING id",
                                  (self.name,)).fetchone()[0]

    def add(self, lst, kind, principal=""):
        self.db.execute("INSERT INTO category_principals (category_id, list, kind, principal) "
                        "VALUES (%s, %s, %s, %s)", (self.id, lst, kind, principal))

    def announce(self):
        """NOTIFY, then wait until confabd has reloaded (its log says so first; the
        reload's effect is awaited by the callers' own checks)."""
        mark = self.muc.confabd.mark()
        notify(self.db, "category-changed", self.name)
        self.muc.confabd.wait_log(r"control: category-changed " + self.name, after=mark)

    def group(self, name, *jids):
        gid = self.db.execute("INSERT INTO groups (name) VALUES (%s) RETURNING id",
                              (name,)).fetchone()[0]
        for j in jids:
            self.db.execute("INSERT INTO group_members (group_id, jid) VALUES (%s, %s)", (gid, j))

    def close(self):
        self.db.execute("UPDATE rooms SET category_id = 1 WHERE category_id = %s", (self.id,))
        self.db.execute("DELETE FROM categories WHERE id = %s", (self.id,))
        self.db.close()


@pytest.fixture
def walls(pg, muc):
    w = Walls(pg, muc)
    try:
        yield w
    finally:
        w.close()


def walled_room(muc, walls, owner):
    """A persistent room of walls' category, moved there by its owner (a creator)."""
    walls.add("allowed", "everyone")
    walls.add("creator", "jid", jid_of(owner))
    walls.announce()
    room = ct.wait_for(lambda: try_room(muc, owner, walls.name), 3 * ct.SLOW,
                       "a room in the new category")
    return room


def try_room(muc, owner, category):
    room = ct.new_room("walled")
    owner.join(room, "Owner")
    reply = owner.configure(room, {"muc#roomconfig_persistentroom": "1",
                                   CATEGORY_FIELD: category}, check=False)
    if reply.get("type") == "result":
        return room
    owner.iq(room, "set", f"<query xmlns='http://jabber.org/protocol/muc#owner'>"
                          f"<destroy/></query>")
    return None


def jid_of(client):
    return ct.jid_bare(client.jid)


def iq_error(client, room, itype, payload):
    reply = client.iq(room, itype, payload)
    assert reply.get("type") == "error", describe(reply)
    return error_condition(reply)


def listed(client, room):
    """Is room among the service's disco#items for client (the directory)?"""
    reply = client.iq(ct.MUC_DOMAIN, "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    assert reply.get("type") == "result", describe(reply)
    return any(i.get("jid") == room
               for i in reply.iter("{http://jabber.org/protocol/disco#items}item"))


def error_text(st):
    e = st.find(q("error", NS_CLIENT))
    return e.findtext("{urn:ietf:params:xml:ns:xmpp-stanzas}text") if e is not None else None


def test_denied_user_cannot_reach_the_room(muc, walls):
    """carol (denied by a group) is told item-not-found by join, disco#info, MAM,
    nick registration and a private message, exactly as for a room that does not
    exist, and does not find it in the service's directory; bob (allowed) gets in;
    dave (a service administrator, denied too) passes."""
    alice, bob, carol, dave = (muc.client(u) for u in ("alice", "bob", "carol", "dave"))
    room = walled_room(muc, walls, alice)
    walls.group(f"analysts-{walls.id}", U["carol"], U["dave"])
    walls.add("denied", "group", f"analysts-{walls.id}")
    walls.announce()
    err = ct.wait_for(lambda: (lambda e: e if error_condition(e) == "item-not-found" else None)(
        carol.join_error(room, "Carol")), 3 * ct.SLOW, "carol's join refused")
    missing = ct.new_room("missing")
    for payload in ("<query xmlns='http://jabber.org/protocol/disco#info'/>",
                    f"<query xmlns='{NS_MAM}'/>", "<query xmlns='jabber:iq:register'/>"):
        itype = "set" if NS_MAM in payload else "get"
        got = iq_error(carol, room, itype, payload)
        assert got == "item-not-found", (payload, got)
        # the same answer as a room that does not exist (disco#info of a missing room)
    assert iq_error(carol, missing, "get",
                    "<query xmlns='http://jabber.org/protocol/disco#info'/>") == "item-not-found"
    # the directory: listed to bob, not to carol (walled), to dave (an admin) again
    assert listed(bob, room) and listed(dave, room)
    assert not listed(carol, room)
    bob.join(room, "Bob")
    carol.send(f"<message to='{room}/Bob' type='chat'><body>psst</body></message>")
    pm = carol.wait_error("message", f"{room}/Bob")
    assert error_condition(pm) == "item-not-found", describe(pm)
    assert err is not None
    dave.join(room, "Dave")                  # admins are never walled off
    bob.wait_presence(f"{room}/Dave")


def test_walled_user_cannot_be_invited_or_made_member(muc, walls):
    """The owner's mediated invitation of a walled user and a member grant are refused
    with a clear error; a direct (XEP-0249) invitation, which goes client to client and
    never reaches confabd, leads nowhere: the invitee's join is item-not-found."""
    alice, erin = muc.client("alice"), muc.client("erin")
    room = walled_room(muc, walls, alice)
    walls.add("denied", "jid", U["erin"])
    walls.announce()

    def refused():
        reply = alice.admin(room, f"<item affiliation='member' jid='{U['erin']}'/>")
        return reply if reply.get("type") == "error" else None
    reply = ct.wait_for(refused, 3 * ct.SLOW, "the member grant refused")
    assert error_condition(reply) == "not-acceptable" and "ethical wall" in error_text(reply), \
        describe(reply)
    alice.send(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'><invite to='{U['erin']}'/></x>"
               f"</message>")
    err = alice.wait_error("message", room)
    assert error_condition(err) == "not-acceptable" and "ethical wall" in error_text(err), \
        describe(err)
    alice.send(f"<message to='{U['erin']}'><x xmlns='jabber:x:conference' jid='{room}'/>"
               f"</message>")
    erin.wait(lambda s: s.find("{jabber:x:conference}x") is not None, 5, "the direct invitation")
    assert error_condition(erin.join_error(room, "Erin")) == "item-not-found"
    rows = walls.db.execute("SELECT count(*) FROM affiliations a JOIN rooms r ON r.id = a.room_id "
                            "WHERE r.jid = %s AND a.jid = %s", (room, U["erin"])).fetchone()[0]
    assert rows == 0


def test_wall_going_up_removes_occupants_and_revokes(muc, walls):
    """frank is a member inside; the wall goes up: he leaves with 307 and 321 and the
    reason naming the category, loses the membership, and so does he in a room of
    the category that is not in memory (revoked by the store's one statement)."""
    alice, frank, bob = muc.client("alice"), muc.client("frank"), muc.client("bob")
    room = walled_room(muc, walls, alice)
    assert alice.admin(room, f"<item affiliation='member' jid='{U['frank']}'/>").get(
        "type") == "result"
    frank.join(room, "Frank")
    bob.join(room, "Bob")
    # a room of the category that this confabd has never loaded, with frank a member
    cold = ct.new_room("cold")
    rid = walls.db.execute("INSERT INTO rooms (jid, creator, persistent, category_id) VALUES "
                           "(%s, %s, true, %s) RETURNING id", (cold, U["alice"], walls.id)
                           ).fetchone()[0]
    walls.db.execute("INSERT INTO affiliations (room_id, jid, affiliation) VALUES (%s, %s, "
                     "'member'), (%s, %s, 'owner')", (rid, U["frank"], rid, U["alice"]))
    walls.add("denied", "jid", U["frank"])
    walls.announce()
    p = frank.wait(lambda s: s.get("from") == f"{room}/Frank" and s.get("type") == "unavailable",
                   5, "frank's removal")
    assert {307, 321} <= status_codes(p), describe(p)
    item = muc_item(p)
    assert item.get("affiliation") == "none", describe(p)
    assert item.findtext(q("reason", NS_MUC_USER)) == \
        f"Removed by an ethical wall of category {walls.name}", describe(p)
    seen = bob.wait(lambda s: s.get("from") == f"{room}/Frank" and s.get("type") == "unavailable",
                    5, "frank's removal seen by bob")
    assert 307 in status_codes(seen)
    muc.confabd.wait_log(r"wall: 1 occupant removed from " + room.replace(".", r"\."))

    def revoked():
        n = walls.db.execute("SELECT count(*) FROM affiliations WHERE jid = %s AND room_id IN "
                             "(SELECT id FROM rooms WHERE jid IN (%s, %s))",
                             (U["frank"], room, cold)).fetchone()[0]
        return n == 0
    ct.wait_for(revoked, 3 * ct.SLOW, "frank's memberships revoked in both rooms")
    owner = walls.db.execute("SELECT count(*) FROM affiliations WHERE jid = %s AND room_id = %s",
                             (U["alice"], rid)).fetchone()[0]
    assert owner == 1, "alice (allowed) keeps hers"
    walls.db.execute("DELETE FROM rooms WHERE id = %s", (rid,))


def test_room_moved_into_a_walled_category(muc, walls):
    """`rooms set-category` (UPDATE + room-changed, as confabctl sends it): the
    occupants the new category walls off are removed."""
    alice, erin = muc.client("alice"), muc.client("erin")
    walls.add("allowed", "jid", U["alice"])
    walls.announce()
    room = muc.create_room(alice, "Owner", config={"muc#roomconfig_persistentroom": "1"})
    erin.join(room, "Erin")
    walls.db.execute("UPDATE rooms SET category_id = %s WHERE jid = %s", (walls.id, room))
    notify(walls.db, "room-changed", room)
    p = erin.wait(lambda s: s.get("from") == f"{room}/Erin" and s.get("type") == "unavailable",
                  5, "erin's removal")
    assert {307, 321} <= status_codes(p), describe(p)


def ctl(muc, *args):
    r = ct.run_tool("confabctl", "-c", muc.confabd.config, *args)
    assert r.returncode == 0, f"confabctl {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def test_policy_creators_and_locked_settings(muc, walls):
    """confabctl policy set create_persistent creators: a user who creates no rooms in
    any category cannot make a room persistent (not-allowed, with why); a creator of
    the room's category can. owners_may_change without moderated: the field leaves the
    owner's form and a submission changing it is refused; the admin still may."""
    erin, alice, dave = muc.client("erin"), muc.client("alice"), muc.client("dave")
    try:
        out = ctl(muc, "policy", "set", "create_persistent", "creators")
        assert "create_persistent = creators" in out, out

        def refused():
            room = ct.new_room("policy")
            erin.join(room, "Erin")
            reply = erin.configure(room, {"muc#roomconfig_persistentroom": "1"}, check=False)
            return reply if reply.get("type") == "error" else None
        reply = ct.wait_for(refused, 3 * ct.SLOW, "persistent rooms refused to a non-creator")
        assert error_condition(reply) == "not-allowed" and "creators" in error_text(reply), \
            describe(reply)
        walled_room(muc, walls, alice)            # alice creates in her category: allowed
        shown = json.loads(ctl(muc, "--json", "policy", "show"))
        assert shown["create_persistent"] == {**shown["create_persistent"], "value": "creators",
                                              "source": "policy table"}, shown
        assert shown["max_rooms"]["source"] == "[muc]", shown

        ctl(muc, "policy", "set", "owners_may_change", "name,description,persistent,category")
        room = muc.create_room(alice, "Owner")

        def locked():
            fields = {f.get("var") for f in alice.config_form(room)}
            return "muc#roomconfig_moderatedroom" not in fields
        ct.wait_for(locked, 3 * ct.SLOW, "moderatedroom gone from the owner's form")
        reply = alice.configure(room, {"muc#roomconfig_moderatedroom": "1"}, check=False)
        assert error_condition(reply) == "forbidden" and "moderated" in error_text(reply), \
            describe(reply)
        assert alice.configure(room, {"muc#roomconfig_roomname": "Desk"}, check=False).get(
            "type") == "result"
        assert dave.configure(room, {"muc#roomconfig_moderatedroom": "1"}, check=False).get(
            "type") == "result", "a service administrator is not bound by the policy"
    finally:
        ctl(muc, "policy", "unset", "create_persistent")
        ctl(muc, "policy", "unset", "owners_may_change")


def test_policy_set_refuses_bad_values(muc, pg):
    with psycopg.connect(pg.dsn("confab"), autocommit=True) as db:
        migrated(db)
    r = ct.run_tool("confabctl", "-c", muc.confabd.config, "policy", "set", "create_persistent",
                    "everybody")
    assert r.returncode == 65 and "anyone, creators or admins" in r.stderr, r.stderr


def test_policy_change_is_a_compliance_event(muc, pg, tmp_path):
    """With a compliance stream configured, `policy set` writes a `policy` event (no
    room, the key, the value and the previous one, escaped by PostgreSQL) to the outbox
    in the statement that changes the row."""
    with psycopg.connect(pg.dsn("confab"), autocommit=True) as db:
        migrated(db)
    ini = tmp_path / "ctl.ini"
    ini.write_text(muc.confabd.config.read_text().replace(
        "archiver =\n", f"archiver = {ct.ARCHIVE_DOMAIN}\n", 1))
    try:
        for value in ("7", "9"):
            r = ct.run_tool("confabctl", "-c", ini, "policy", "set", "max_rooms_per_user", value)
            assert r.returncode == 0, r.stderr
        with psycopg.connect(pg.dsn("confab")) as db:
            events = [x for (x,) in db.execute(
                "SELECT xml FROM compliance_outbox WHERE room IS NULL AND xml LIKE "
                "'%type=\"policy\"%max_rooms_per_user%' ORDER BY id")]
        assert len(events) >= 2, events
        last = ct.ET.fromstring(events[-1])
        pol = last.find("{urn:confab:compliance:0}detail/{urn:confab:compliance:0}policy")
        assert pol is not None and pol.get("value") == "9" and pol.get("previous") == "7", \
            events[-1]
        assert last.find("{urn:confab:compliance:0}actor").get("jid") == ct.MUC_DOMAIN
    finally:
        ctl(muc, "policy", "unset", "max_rooms_per_user")


def test_category_settings_invitations_and_history(muc, walls):
    """A category with invitations = no and history = no: an owner's invitation is
    refused with the category named, a newcomer gets no join history, MAM answers
    service-unavailable and disco#info offers no MAM; messages still flow."""
    alice, bob = muc.client("alice"), muc.client("bob")
    walls.db.execute("UPDATE categories SET invitations = false, history = false WHERE id = %s",
                     (walls.id,))
    room = walled_room(muc, walls, alice)
    for i in range(3):
        alice.groupchat(room, f"said {i}")
        alice.wait_groupchat(room, f"said {i}")
    alice.send(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'><invite to='{U['bob']}'/></x>"
               f"</message>")
    err = alice.wait_error("message", room)
    assert error_condition(err) == "not-allowed" and walls.name in error_text(err), describe(err)
    join = bob.join(room, "Bob")
    assert join.history == [], [describe(m) for m in join.history]
    assert iq_error(bob, room, "set", f"<query xmlns='{NS_MAM}'/>") == "service-unavailable"
    info = bob.iq(room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    features = {f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert NS_MAM not in features, features
    bob.groupchat(room, "still here")
    alice.wait_groupchat(room, "still here")


def test_ldap_group_walls_off_its_members_after_a_sync(muc, walls, tmp_path):
    """The whole chain from the directory: a category's denied list names a group kept
    in LDAP (Debian's slapd); erin joins while the group is empty; `confabctl group
    sync` brings her in from the directory, confabd hears group-changed and removes her
    (307 + 321) with the wall's reason, and her next join is item-not-found."""
    alice, erin, bob = muc.client("alice"), muc.client("erin"), muc.client("bob")
    room = walled_room(muc, walls, alice)
    slapd = ct.Slapd()
    try:
        s, desk = ct.Slapd.SUFFIX, f"desk{walls.id}"
        slapd.load(f"dn: ou=people,{s}\nobjectClass: organizationalUnit\nou: people\n\n"
                   f"dn: uid=erin,ou=people,{s}\nobjectClass: inetOrgPerson\nuid: erin\n"
                   f"cn: Erin\nsn: Erin\nmail: {U['erin']}\n\n"
                   f"dn: cn={desk},{s}\nobjectClass: groupOfNames\ncn: {desk}\n"
                   f"member: cn=nobody,{s}\n\n")
        pw = tmp_path / "ldap.pw"
        pw.write_text(slapd.password + "\n")
        ini = tmp_path / "confabctl.ini"
        ini.write_text(pathlib.Path(muc.confabd.config).read_text()
                       + f"\n[ldap]\nuri = {slapd.uri}\nbind_dn = {slapd.ROOT_DN}\n"
                         f"bind_password_file = {pw}\nbase = {s}\n")
        ctl_ini = ["-c", str(ini)]
        filt = f"(&(objectClass=groupOfNames)(cn={desk}))"
        for args in (("group", "create", desk, "--ldap-filter", filt),
                     ("category", "set", walls.name, "--deny", f"group:{desk}")):
            r = ct.run_tool("confabctl", *ctl_ini, *args)
            assert r.returncode == 0, f"confabctl {' '.join(args)}: {r.stdout}{r.stderr}"
        erin.join(room, "Erin")              # the group has no member yet: she is let in
        bob.join(room, "Bob")
        slapd.modify(f"dn: cn={desk},{s}\nchangetype: modify\nadd: member\n"
                     f"member: uid=erin,ou=people,{s}\n")
        r = ct.run_tool("confabctl", *ctl_ini, "group", "sync", desk)
        assert r.returncode == 0 and "1 added" in r.stdout, f"{r.stdout}{r.stderr}"
        p = erin.wait(lambda st: st.get("from") == f"{room}/Erin"
                      and st.get("type") == "unavailable", 5 * ct.SLOW, "erin's removal")
        assert {307, 321} <= status_codes(p), describe(p)
        assert muc_item(p).findtext(q("reason", NS_MUC_USER)) == \
            f"Removed by an ethical wall of category {walls.name}", describe(p)
        bob.wait(lambda st: st.get("from") == f"{room}/Erin" and st.get("type") == "unavailable",
                 5, "erin's removal seen by bob")
        assert error_condition(erin.join_error(room, "Erin")) == "item-not-found"
    finally:
        slapd.stop()


def test_rooms_wait_until_the_walls_are_known(muc, pg):
    """confabd refuses room traffic with a `wait` error until it has read the
    categories and groups once (a walled-off user must never slip in before), and
    retries the load: here the categories table is away when confabd starts, and the
    join that was refused succeeds once it is back. Runs last: it restarts confabd."""
    db = psycopg.connect(pg.dsn("confab"), autocommit=True)
    migrated(db)
    muc.confabd.check_clean_exit()
    db.execute("ALTER TABLE categories RENAME TO categories_away")
    try:
        mark = muc.confabd.mark()
        muc.confabd.start()
        muc.confabd.wait_link_up(after=mark)
        muc.confabd.wait_log(r"could not load categories", after=mark, timeout=10 * ct.SLOW)
        bob = muc.client("bob")
        room = ct.new_room("early")
        err = bob.join_error(room, "Bob")
        assert error_condition(err) == "resource-constraint", describe(err)
        assert err.find(f"{{{NS_CLIENT}}}error").get("type") == "wait", describe(err)
        assert "ethical walls" in error_text(err), describe(err)
    finally:
        db.execute("ALTER TABLE categories_away RENAME TO categories")

    def joined():
        try:
            return bob.join(room, "Bob")
        except AssertionError:      # still refused: confabd retries the load every few s
            return None
    ct.wait_for(joined, 20 * ct.SLOW, "the join after the walls loaded", interval=1)
    db.close()
