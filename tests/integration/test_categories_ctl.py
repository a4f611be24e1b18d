"""confabctl's side of issue 16 against a real PostgreSQL and a real OpenLDAP slapd
(Debian's, private, on loopback): category create/list/show/set/delete, principal
syntax errors, delete refused while a category holds rooms, rooms set-category,
local groups, and `group sync` from LDAP (groupOfNames member DNs, posixGroup
memberUid, a plain user filter), including members taken out of the directory.

Every change must leave exactly one compliance event in confabd's outbox (this
config sets [compliance] archiver; test_compliance.py follows such events to the
archive) and a NOTIFY on confab_control that a running confabd acts on (heard
here with psycopg's LISTEN). The engine's walls are tested on the engine side."""

import json
import xml.etree.ElementTree as ET

import psycopg
import pytest

import confabtest as ct
from test_confabctl import Ctl, assert_exit, result_text

EX_USAGE, EX_DATAERR, EX_UNAVAILABLE = 64, 65, 69
NS_C = "urn:confab:compliance:0"
D = ct.DOMAIN


def cq(tag):
    return f"{{{NS_C}}}{tag}"


@pytest.fixture(scope="module")
def slapd():
    yield from ct.owned(ct.Slapd())


class Listener:
    """LISTEN confab_control, as confabd does; notifications arrive with any query."""

    def __init__(self, dsn):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.got = []
        self.conn.add_notify_handler(lambda n: self.got.append(json.loads(n.payload)))
        self.conn.execute("LISTEN confab_control")

    def wait(self, op, name):
        def seen():
            self.conn.execute("SELECT 1")
            return [n for n in self.got if n["op"] == op and n["room"] == name]
        return ct.wait_for(seen, 5 * ct.SLOW, f"NOTIFY {op} {name}", interval=0.05,
                           detail=lambda: self.got)

    def close(self):
        self.conn.close()


class CatCtl(Ctl):
    """A migrated database, events on, [ldap] pointing at the module's slapd."""

    def __init__(self, pg, workdir, slapd):
        super().__init__(pg, workdir, "cat")
        pw = workdir / "ldap.pw"
        pw.write_text(slapd.password + "\n")
        text = self.config.read_text().replace(
            "[compliance]\narchiver =\n", f"[compliance]\narchiver = {ct.ARCHIVE_DOMAIN}\n", 1)
        assert f"archiver = {ct.ARCHIVE_DOMAIN}" in text
        self.config.write_text(text + f"\n[ldap]\nuri = {slapd.uri}\nbind_dn = {slapd.ROOT_DN}\n"
                                      f"bind_password_file = {pw}\nbase = {slapd.SUFFIX}\n")
        self.ok("db", "migrate")
        self.listener = Listener(self.dsn)

    def events(self, etype=None):
        """The outbox's events (oldest first) as elements."""
        evs = [ET.fromstring(x) for (x,) in self.sql("SELECT xml FROM compliance_outbox "
                                                      "ORDER BY id")]
        return [e for e in evs if etype is None or e.get("type") == etype]

    def new_events(self, before, etype):
        """Events written since the outbox held `before` rows."""
        evs = self.events()
        assert len(evs) >= before
        return [e for e in evs[before:] if e.get("type") == etype], len(evs) - before

    def fails(self, code, *args):
        r = self.run(*args)
        assert_exit(r, code)
        return r.stderr

    def drop(self):
        self.listener.close()
        super().drop()


@pytest.fixture(scope="module")
def cat(pg, slapd, tmp_path_factory):
    c = CatCtl(pg, tmp_path_factory.mktemp("categories"), slapd)
    try:
        yield c
    finally:
        c.drop()


def detail_of(ev, tag):
    d = ev.find(f"{cq('detail')}/{cq(tag)}")
    assert d is not None, ET.tostring(ev)
    return d


def one_event(cat, before, etype):
    evs, n = cat.new_events(before, etype)
    assert n == 1 and len(evs) == 1, [ET.tostring(e) for e in cat.events()[before:]]
    ev = evs[0]
    actor = ev.find(cq("actor"))
    assert actor.get("jid") == ct.MUC_DOMAIN and actor.get("nick"), ET.tostring(ev)
    return ev


# ------------------------------------------------------------------ categories

def test_category_create_show_list_set_delete(cat):
    n0 = len(cat.events())
    out = cat.ok("category", "create", "Trading", "--description", "trading floor",
                 "--invitations", "no", "--history", "yes", "--privacy", "closed",
                 "--type", "auditorium", "--max-occupants", "250", "--allow", f"domain:{D}",
                 "--creator", f"Alice@{D}", "--officer", "Olivia", "--reason", "wall setup")
    assert "created category Trading" in out, out
    ev = one_event(cat, n0, "category")
    assert ev.get("room") is None and ev.find(cq("actor")).get("nick") == "Olivia"
    assert ev.findtext(cq("reason")) == "wall setup"
    d = detail_of(ev, "category")
    assert (d.get("name"), d.get("action")) == ("Trading", "create")
    assert d.find(cq("settings")).get("default_privacy") == "closed"
    adds = {(p.get("list"), p.get("kind"), p.get("name")) for p in d.findall(cq("principal"))}
    assert adds == {("allowed", "domain", D), ("creator", "jid", f"alice@{D}")}, adds
    cat.listener.wait("category-changed", "Trading")

    show = cat.json("category", "show", "Trading")
    assert show["description"] == "trading floor" and show["invitations"] is False
    assert show["history"] is True and show["privacy"] == "closed"
    assert show["type"] == "auditorium" and show["max_occupants"] == 250
    assert show["allowed_list"] == [f"domain:{D}"] and show["creators_list"] == [f"alice@{D}"]
    assert show["denied_list"] == [] and show["rooms"] == 0
    text = cat.ok("category", "show", "Trading")
    assert "(nobody)" in text and "trading floor" in text, text

    listed = {r["name"]: r for r in cat.json("category", "list")}
    assert listed["default"]["allowed"] == 1 and listed["Trading"]["creators"] == 1
    csv = cat.ok("category", "list", "--csv").splitlines()
    assert csv[0].startswith("name,description,invitations"), csv
    assert any(line.startswith("Trading,trading floor,no,yes,") for line in csv), csv

    # set: deny a user and a group, drop the creator, change a setting
    cat.ok("group", "create", "quants")
    n1 = len(cat.events())
    cat.ok("category", "set", "Trading", "--deny", f"eve@{D}", "--deny", "group:quants",
           "--uncreator", f"alice@{D}", "--history", "no")
    ev = one_event(cat, n1, "category")
    d = detail_of(ev, "category")
    assert d.get("action") == "set" and d.find(cq("settings")).get("history") == "false"
    changes = {(p.get("change"), p.get("list"), p.get("name")) for p in d.findall(cq("principal"))}
    assert changes == {("add", "denied", f"eve@{D}"), ("add", "denied", "quants"),
                       ("remove", "creator", f"alice@{D}")}, changes
    show = cat.json("category", "show", "Trading")
    assert sorted(show["denied_list"]) == sorted([f"eve@{D}", "group:quants"])
    assert show["creators_list"] == [] and show["history"] is False
    assert show["description"] == "trading floor"      # untouched settings stay
    cat.listener.wait("category-changed", "Trading")
    assert_exit(cat.run("category", "set", "Trading"), EX_USAGE)   # nothing to change

    # a second create of the same name, a missing category
    assert "already exists" in cat.fails(1, "category", "create", "Trading")
    assert "no such category" in cat.fails(1, "category", "set", "Nope", "--history", "no")
    assert "no such category" in cat.fails(1, "category", "show", "Nope")

    n2 = len(cat.events())
    assert "deleted category Trading" in cat.ok("category", "delete", "Trading")
    assert detail_of(one_event(cat, n2, "category"), "category").get("action") == "delete"
    assert cat.sql("SELECT count(*) FROM category_principals p WHERE NOT EXISTS "
                   "(SELECT 1 FROM categories c WHERE c.id = p.category_id)") == [(0,)]
    assert "Trading" not in {r["name"] for r in cat.json("category", "list")}


@pytest.mark.parametrize("principal,why", [
    (f"@{D}", "domain:DOMAIN"),
    (D, "user@domain"),
    (f"alice@{D}/laptop", "bare JID"),
    ("group:no such", "group name"),
    ("group:ghosts", "no such group"),
    ("domain:", "not a valid domain"),
    ("bad@@jid", "not a valid JID"),
    ("Everyone", "user@domain"),
])
def test_principal_syntax_errors_change_nothing(cat, principal, why):
    if "Syntax" not in {r["name"] for r in cat.json("category", "list")}:
        cat.ok("category", "create", "Syntax", "--allow", "everyone")
    before = (cat.sql("SELECT count(*) FROM category_principals"), len(cat.events()))
    err = cat.fails(EX_DATAERR, "category", "set", "Syntax", "--allow", f"bob@{D}",
                    "--deny", principal)
    assert why in err and principal in err, err
    assert (cat.sql("SELECT count(*) FROM category_principals"), len(cat.events())) == before


def test_bad_setting_values_are_usage_errors(cat):
    for args in (("--privacy", "public"), ("--type", "webinar"), ("--invitations", "maybe"),
                 ("--max-occupants", "-1"), ("--max-occupants", "ten")):
        err = cat.fails(EX_USAGE, "category", "create", "Bad", *args)
        assert args[0] in err, err
    assert "does not take --allow" in cat.fails(EX_USAGE, "category", "delete", "x",
                                                "--allow", "everyone")
    assert "Bad" not in {r["name"] for r in cat.json("category", "list")}


def test_delete_refused_while_holding_rooms_and_set_category(cat):
    cat.ok("category", "create", "Research", "--allow", "everyone")
    cat.ok("rooms", "create", "desk1", "--owner", f"alice@{D}")
    cat.ok("rooms", "create", "desk2", "--owner", f"alice@{D}")
    rooms = [f"desk1@{ct.MUC_DOMAIN}", f"desk2@{ct.MUC_DOMAIN}"]
    for room in rooms:
        n = len(cat.events())
        out = cat.ok("rooms", "set-category", room.split("@")[0], "Research", "--officer", "Olivia")
        assert f"{room} is now in category Research (was default)" in out, out
        ev = one_event(cat, n, "category")
        assert ev.get("room") == room
        d = detail_of(ev, "room-category")
        assert (d.get("from"), d.get("to")) == ("default", "Research")
        cat.listener.wait("room-changed", room)
        cat.listener.wait("category-changed", "Research")
    assert cat.json("category", "show", "Research")["rooms"] == 2
    assert cat.json("rooms", "show", "desk1")["category"] == "Research"
    assert "category:" in cat.ok("rooms", "show", "desk1")

    n = len(cat.events())
    err = cat.fails(1, "category", "delete", "Research")
    assert "holds 2 rooms" in err and "set-category" in err, err
    err = cat.fails(1, "category", "delete", "default")
    assert "default category cannot be deleted" in err, err
    assert len(cat.events()) == n       # refusals record nothing

    assert "no such category" in cat.fails(1, "rooms", "set-category", "desk1", "Nowhere")
    assert "no such room" in cat.fails(1, "rooms", "set-category", "nodesk", "default")
    assert_exit(cat.run("rooms", "set-category", "desk1"), EX_USAGE)
    for room in rooms:
        cat.ok("rooms", "set-category", room, "default")
    assert cat.sql("SELECT count(*) FROM rooms r JOIN categories c ON c.id = r.category_id "
                   "WHERE c.name = 'Research'") == [(0,)]
    cat.ok("category", "delete", "Research")


# ------------------------------------------------------------------ groups

def test_local_group_add_remove_list(cat):
    n = len(cat.events())
    assert "created group desk (local)" in cat.ok("group", "create", "desk", "--description",
                                                  "the desk")
    d = detail_of(one_event(cat, n, "group"), "group")
    assert (d.get("name"), d.get("action"), d.get("source")) == ("desk", "create", "local")
    cat.listener.wait("group-changed", "desk")

    n = len(cat.events())
    out = cat.ok("group", "add", "desk", f"Bob@{D}", f"carol@{D}", f"bob@{D}")
    assert "2 added, 0 removed, 2 members" in out, out
    d = detail_of(one_event(cat, n, "group"), "group")
    assert {(m.get("jid"), m.get("change")) for m in d.findall(cq("member"))} == \
        {(f"bob@{D}", "add"), (f"carol@{D}", "add")}
    n = len(cat.events())
    out = cat.ok("group", "remove", "desk", f"carol@{D}", f"nobody@{D}")
    assert "0 added, 1 removed, 1 member" in out, out
    d = detail_of(one_event(cat, n, "group"), "group")
    assert [(m.get("jid"), m.get("change")) for m in d.findall(cq("member"))] == \
        [(f"carol@{D}", "remove")]
    cat.listener.wait("group-changed", "desk")

    g = cat.json("group", "list", "desk")
    assert g["member_jids"] == [f"bob@{D}"] and g["source"] == "local" and g["members"] == 1
    assert "desk" in {r["name"] for r in cat.json("group", "list")}
    assert "bob@" in cat.ok("group", "list", "desk")

    assert "not a valid JID" in cat.fails(EX_DATAERR, "group", "add", "desk", "a@@b")
    assert "holds users" in cat.fails(EX_DATAERR, "group", "add", "desk", D)
    assert "no such group" in cat.fails(1, "group", "add", "ghosts", f"bob@{D}")
    assert "already exists" in cat.fails(1, "group", "create", "desk")
    assert "not a group name" in cat.fails(EX_USAGE, "group", "create", "two words")
    assert "not an LDAP group" in cat.fails(1, "group", "sync", "desk")


PEOPLE = [("t1", "Trader One", "t1@localhost", "trading"),
          ("t2", "Trader Two", "t2@localhost", "trading"),
          ("t3", "Trader Three", "T3@Localhost", "trading"),
          ("a1", "Analyst One", "a1@localhost", "research"),
          ("a2", "Analyst Two", "a2@localhost", "research"),
          ("nomail", "No Mail", None, "research")]


def person_ldif(uid, cn, mail, dept):
    mail_line = f"mail: {mail}\n" if mail else ""
    return (f"dn: uid={uid},ou=people,{ct.Slapd.SUFFIX}\nobjectClass: inetOrgPerson\n"
            f"uid: {uid}\ncn: {cn}\nsn: {cn.split()[-1]}\n{mail_line}"
            f"departmentNumber: {dept}\n\n")


def dn(uid):
    return f"uid={uid},ou=people,{ct.Slapd.SUFFIX}"


def test_group_sync_from_ldap(cat, slapd):
    s = ct.Slapd.SUFFIX
    slapd.load(f"dn: ou=people,{s}\nobjectClass: organizationalUnit\nou: people\n\n"
               f"dn: ou=groups,{s}\nobjectClass: organizationalUnit\nou: groups\n\n"
               + "".join(person_ldif(*p) for p in PEOPLE)
               + f"dn: cn=traders,ou=groups,{s}\nobjectClass: groupOfNames\ncn: traders\n"
                 f"member: {dn('t1')}\nmember: {dn('t2')}\n\n"
               f"dn: cn=analysts,ou=groups,{s}\nobjectClass: posixGroup\ncn: analysts\n"
               f"gidNumber: 5000\nmemberUid: a1\nmemberUid: a2\nmemberUid: gone\n\n")
    cat.ok("group", "create", "traders", "--ldap-filter",
           "(&(objectClass=groupOfNames)(cn=traders))")
    cat.ok("group", "create", "analysts", "--ldap-filter", "(&(objectClass=posixGroup)(cn=analysts))")
    cat.ok("group", "create", "research", "--ldap-filter", "(departmentNumber=research)")
    assert "is synchronised from LDAP" in cat.fails(1, "group", "add", "traders", f"x@{D}")

    n = len(cat.events())
    out = cat.ok("group", "sync", "--all")
    assert "synchronised analysts: 2 added, 0 removed, 2 members (1 directory entry" in out, out
    assert "synchronised research: 2 added, 0 removed, 2 members (1 directory entry" in out, out
    assert "synchronised traders: 2 added, 0 removed, 2 members\n" in out, out
    evs, total = cat.new_events(n, "group")
    assert total == 3 and all(detail_of(e, "group").get("action") == "sync" for e in evs)

    def members(g):
        return cat.json("group", "list", g)["member_jids"]
    assert members("traders") == [f"t1@{D}", f"t2@{D}"]
    assert members("analysts") == [f"a1@{D}", f"a2@{D}"]
    assert members("research") == [f"a1@{D}", f"a2@{D}"]
    assert cat.json("group", "list", "traders")["synced_at"]

    # t2 leaves the desk in the directory, t3 joins: the sync follows, once
    slapd.modify(f"dn: cn=traders,ou=groups,{s}\nchangetype: modify\ndelete: member\n"
                 f"member: {dn('t2')}\n-\nadd: member\nmember: {dn('t3')}\n")
    cat.ok("category", "create", "Floor", "--allow", "everyone", "--deny", "group:traders")
    n = len(cat.events())
    r = cat.json("group", "sync", "traders")
    assert (r["added"], r["removed"], r["members"]) == (1, 1, 2), r
    d = detail_of(one_event(cat, n, "group"), "group")
    assert (d.get("added"), d.get("removed")) == ("1", "1")
    assert {(m.get("jid"), m.get("change")) for m in d.findall(cq("member"))} == \
        {(f"t3@{D}", "add"), (f"t2@{D}", "remove")}
    cat.listener.wait("group-changed", "traders")
    assert members("traders") == [f"t1@{D}", f"t3@{D}"]
    # the wall's denied list names the group; its members are what confabd checks
    assert cat.sql("SELECT m.jid FROM category_principals p JOIN groups g ON "
                   "p.kind = 'group' AND g.name = p.principal JOIN group_members m ON "
                   "m.group_id = g.id JOIN categories c ON c.id = p.category_id "
                   "WHERE c.name = 'Floor' AND p.list = 'denied' ORDER BY 1") == \
        [(f"t1@{D}",), (f"t3@{D}",)]
    # a second sync with nothing changed records an event with no members
    n = len(cat.events())
    r = cat.json("group", "sync", "traders")
    assert (r["added"], r["removed"]) == (0, 0)
    assert detail_of(one_event(cat, n, "group"), "group").findall(cq("member")) == []

    # --all with --json: one object per group
    got = {r["group"]: r for r in cat.json("group", "sync", "--all")}
    assert set(got) >= {"traders", "analysts", "research"}, got
    assert got["traders"]["members"] == 2 and got["research"]["skipped"] == 1, got


def test_sync_refuses_to_empty_a_group_unless_told(cat, slapd):
    s = ct.Slapd.SUFFIX
    slapd.load(f"dn: ou=temps,{s}\nobjectClass: organizationalUnit\nou: temps\n\n"
               f"dn: uid=temp1,ou=temps,{s}\nobjectClass: inetOrgPerson\nuid: temp1\n"
               f"cn: Temp\nsn: Temp\nmail: temp1@{D}\ndepartmentNumber: temps\n\n")
    cat.ok("group", "create", "temps", "--ldap-filter", "(departmentNumber=temps)")
    assert "1 added" in cat.ok("group", "sync", "temps")
    slapd.modify(f"dn: uid=temp1,ou=temps,{s}\nchangetype: delete\n")
    n = len(cat.events())
    err = cat.fails(1, "group", "sync", "temps")
    assert "found nobody" in err and "--allow-empty" in err, err
    assert len(cat.events()) == n and cat.json("group", "list", "temps")["members"] == 1
    out = cat.ok("group", "sync", "temps", "--allow-empty")
    assert "0 added, 1 removed, 0 members" in out, out
    assert cat.json("group", "list", "temps")["members"] == 0


def test_ldap_failures_are_clear(cat, slapd, tmp_path):
    cat.ok("group", "create", "badfilter", "--ldap-filter", "(((cn=")
    err = cat.fails(EX_DATAERR, "group", "sync", "badfilter")
    assert "LDAP search" in err, err
    n = len(cat.events())
    # the directory is unreachable: 69, nothing written
    down = tmp_path / "down.ini"
    down.write_text(cat.config.read_text().replace(slapd.uri, f"ldap://127.0.0.1:{ct.free_port()}"))
    r = ct.subprocess.run([str(ct.BUILD / "confabctl"), "-c", str(down), "group", "sync",
                           "badfilter"], capture_output=True, text=True, timeout=60)
    assert_exit(r, EX_UNAVAILABLE)
    assert "LDAP bind" in r.stderr, result_text(r)
    # a wrong password is a configuration error
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    bad = tmp_path / "bad.ini"
    text = cat.config.read_text()
    start = text.index("bind_password_file = ")
    bad.write_text(text[:start] + f"bind_password_file = {wrong}\n" +
                   text[text.index("\n", start) + 1:])
    r = ct.subprocess.run([str(ct.BUILD / "confabctl"), "-c", str(bad), "group", "sync",
                           "badfilter"], capture_output=True, text=True, timeout=60)
    assert_exit(r, 78)
    assert "Invalid credentials" in r.stderr, result_text(r)
    assert len(cat.events()) == n


def test_ldap_section_errors_name_file_and_line(tmp_path):
    ini = tmp_path / "c.ini"
    ini.write_text(f"[component]\ndomain = {ct.MUC_DOMAIN}\nsecret = s\n[ldap]\nuri = x\n"
                   "jid_domain = bad..domain\n")
    r = ct.subprocess.run([str(ct.BUILD / "confabctl"), "-c", str(ini), "group", "list"],
                          capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and f"{ini}:6:" in r.stderr and "jid_domain" in r.stderr, \
        result_text(r)
    ini.write_text(f"[component]\ndomain = {ct.MUC_DOMAIN}\nsecret = s\n[ldap]\nurl = x\n")
    r = ct.subprocess.run([str(ct.BUILD / "confabctl"), "-c", str(ini), "group", "list"],
                          capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and f"{ini}:5:" in r.stderr and "url" in r.stderr, result_text(r)
