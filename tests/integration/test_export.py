"""confabctl export | import (issue 17 item 6): rooms made through confabd by a real
client (configuration, affiliations with a registered nick, subject, vCard, history)
survive export -> import into a fresh empty database -> export unchanged, and confabd
serves the imported room's history (join history and MAM). Conflicts are refused,
skipped or replaced, bad lines are named, and a running confabd hears of an import.
Real Prosody, PostgreSQL, slixmpp clients and confabctl."""
import json
import secrets

import psycopg

import confabtest as ct
from confabtest import NS_CLIENT, q
from confabtest import muc, muc_env  # noqa: F401  (fixtures)
from test_mam import mam

MUC_CONFIG = "message_rate = 0\n"
CONFIG = {"muc#roomconfig_persistentroom": "1", "muc#roomconfig_enablelogging": "1",
          "muc#roomconfig_roomname": "Garden club", "muc#roomconfig_roomdesc": "Roses & co",
          "muc#roomconfig_changesubject": "1", "muc#roomconfig_maxusers": "42"}
VCARD = f"<vCard xmlns='{ct.NS_VCARD}'><FN>Garden</FN><DESC>we grow</DESC></vCard>"
BODIES = ["first <b>", "second & more", "third", "fourth", "fifth"]


def ctl(ini, *args, rc=0):
    r = ct.run_tool("confabctl", "-c", ini, *args, timeout=60)
    assert r.returncode == rc, f"confabctl {' '.join(map(str, args))}: {r.returncode}\n" \
                               f"{r.stdout}{r.stderr}"
    return r.stdout + r.stderr


def ok(reply, what="iq"):
    assert reply.get("type") == "result", f"{what}: {ct.describe(reply)}"
    return reply


def populate(muc):
    """A room as a real client makes it: configured, a member with a registered nick,
    an outcast, a subject, a vCard, history."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", config=CONFIG, prefix="export")
    ok(alice.admin(room, f"<item affiliation='member' jid='bob@{ct.DOMAIN}'/>"
                         f"<item affiliation='outcast' jid='frank@{ct.DOMAIN}'>"
                         "<reason>spam</reason></item>"), "affiliations")
    form = ct.submit_form(ct.NS_MUC_REGISTER, {"muc#register_roomnick": "Bobby"})
    ok(bob.iq(room, "set", f"<query xmlns='{ct.NS_REGISTER}'>{form}</query>"), "register nick")
    ok(alice.iq(room, "set", VCARD), "vCard")
    bob.join(room, "Bobby")
    alice.send(f"<message to='{room}' type='groupchat'><subject>Roses</subject></message>")
    alice.wait(lambda s: s.findtext(q("subject", NS_CLIENT)) == "Roses", 5, "subject")
    for i, body in enumerate(BODIES):
        (alice if i % 2 else bob).groupchat(room, body)
        alice.wait_groupchat(room, body)
    return room


def fresh_ini(muc, pg, tmp_path, name):
    """confabctl's INI for a new, migrated, empty chat database."""
    db = f"confab_{name}_{secrets.token_hex(4)}"
    dsn = pg.create_database(db)
    text = muc.confabd.config.read_text().replace(f"dsn = {pg.dsn('confab')}\n",
                                                  f"dsn = {dsn}\n", 1)
    assert dsn in text
    ini = tmp_path / f"{name}.ini"
    ini.write_text(text)
    ctl(ini, "db", "migrate")
    return ini, dsn


def records(path):
    """The file's records but the header's time of export."""
    lines = path.read_text().splitlines()
    head = json.loads(lines[0])
    del head["exported_at"]
    return [head] + [json.loads(x) for x in lines[1:]]


def history_bodies(client, room, nick):
    return [m.findtext(q("body", NS_CLIENT)) for m in client.join(room, nick).history]


def assert_continues(client, dsn, room, seq):
    """A new message after the import gets the seq after the imported ones."""
    client.groupchat(room, "after import")
    client.wait_groupchat(room, "after import")
    with psycopg.connect(dsn) as conn:
        got = conn.execute("SELECT max(seq) FROM messages m JOIN rooms r ON r.id = m.room_id "
                           "WHERE r.jid = %s", (room,)).fetchone()[0]
    assert got == seq, f"{room}: the new message got seq {got}, not {seq}"


def restart_confabd(muc, config_text):
    muc.confabd.stop()
    muc.confabd.config.write_text(config_text)
    mark = muc.confabd.mark()  # the log goes on: wait for this run's lines
    muc.confabd.start()
    muc.confabd.wait_link_up(after=mark)
    muc.confabd.wait_rooms_ready(after=mark)


def test_round_trip_into_a_fresh_database(muc, pg, tmp_path):
    room = populate(muc)
    gone = muc.create_room(muc.client("dave"), "Dave", config=CONFIG, prefix="export-gone")
    ctl(muc.confabd.config, "rooms", "destroy", gone, "--reason", "merged", "--venue", room)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    out = ctl(muc.confabd.config, "export", "--room", room, "--room", gone, "--out", first)
    assert "exported 1 room, 5 messages, 1 tombstone" in out, out
    recs = records(first)
    assert recs[0]["format"] == "confab-export" and recs[0]["version"] == 1
    r = recs[1]
    assert r["type"] == "room" and r["jid"] == room and r["category"] == "default"
    cfg = r["config"]
    assert (cfg["name"], cfg["description"], cfg["max_users"], cfg["logging"],
            cfg["subject"]) == ("Garden club", "Roses & co", 42, True, "Roses"), cfg
    affs = {a["jid"]: (a["affiliation"], a["nick"], a["reason"]) for a in r["affiliations"]}
    assert affs == {f"alice@{ct.DOMAIN}": ("owner", None, None),
                    f"bob@{ct.DOMAIN}": ("member", "Bobby", None),
                    f"frank@{ct.DOMAIN}": ("outcast", None, "spam")}, affs
    assert "we grow" in r["vcard"]["vcard"]
    msgs = [x for x in recs if x["type"] == "message"]
    assert [m["body"] for m in msgs] == BODIES and [m["seq"] for m in msgs] == [1, 2, 3, 4, 5]
    t = recs[-2]
    assert (t["type"], t["jid"], t["venue"], t["reason"]) == ("tombstone", gone, room, "merged")
    assert recs[-1] == {"type": "end", "rooms": 1, "messages": 5, "tombstones": 1}

    ini, dsn = fresh_ini(muc, pg, tmp_path, "fresh")
    out = ctl(ini, "import", first)
    assert "1 room created" in out and "5 messages, 1 tombstone" in out, out
    ctl(ini, "export", "--room", room, "--room", gone, "--out", second)
    again = records(second)
    for a, b in zip(again, recs):
        if a.get("config") and b.get("config"):
            ca, cb = a["config"], b["config"]
            assert ca == cb, {k: (ca.get(k), cb.get(k)) for k in set(ca) | set(cb)
                              if ca.get(k) != cb.get(k)}
        assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert len(again) == len(recs)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT last_seq FROM rooms WHERE jid = %s",
                            (room,)).fetchone()[0] == 5

    # confabd on the imported database serves the room: join history and MAM
    original = muc.confabd.config.read_text()
    restart_confabd(muc, ini.read_text())
    try:
        carol = muc.client("carol")
        assert history_bodies(carol, room, "Carol") == BODIES
        page = mam(carol, room)
        assert page.bodies == BODIES, page
        bob = muc.client("bob")
        j = bob.join(room, "Bobby")  # the registered nick is still his
        assert j.self_presence.get("from") == f"{room}/Bobby"
        err = muc.client("frank").join_error(room, "Frank")
        assert err.find(f".//{{urn:ietf:params:xml:ns:xmpp-stanzas}}forbidden") is not None, \
            ct.describe(err)
        assert_continues(carol, dsn, room, 6)
    finally:
        muc.end_test()
        restart_confabd(muc, original)


def test_levels_filters_and_bad_lines(muc, tmp_path):
    room = populate(muc)
    d, c = tmp_path / "dir.jsonl", tmp_path / "content.jsonl"
    ctl(muc.confabd.config, "export", "--level", "directory", "--rooms-matching", "export*",
        "--out", d)
    recs = records(d)
    assert room in [r["jid"] for r in recs if r["type"] == "room"]
    assert not [r for r in recs if r["type"] == "message"]
    ctl(muc.confabd.config, "export", "--level", "content", "--room", room, "--since",
        "2000-01-01", "--until", "2000-01-02", "--out", c)
    recs = records(c)
    assert recs[1] == {"type": "room", "jid": room} and recs[2]["type"] == "end"
    out = ctl(muc.confabd.config, "export", "--category", "nosuch", "--out", c, rc=1)
    assert "no such category" in out, out
    ctl(muc.confabd.config, "export", "--category", "default", "--room", room, "--out", c)
    assert [r["jid"] for r in records(c) if r["type"] == "room"] == [room]
    # a room of a category this database lacks is refused, and rolled back
    moved = room.replace("export-", "moved-")
    c.write_text(c.read_text().replace(room, moved).replace('"category": "default"',
                                                            '"category": "nosuch"'))
    out = ctl(muc.confabd.config, "import", c, rc=65)
    assert f'{c}:2: {moved}: category "nosuch" does not exist' in out, out
    out = ctl(muc.confabd.config, "rooms", "show", moved, rc=1)
    assert "no such room" in out, out
    # a bad line is named, and nothing is changed
    lines = (tmp_path / "dir.jsonl").read_text().splitlines()
    lines.insert(2, '{"type": "message", "room": "x@y", "seq": 1}')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    out = ctl(muc.confabd.config, "import", bad, rc=65)
    assert f"{bad}:3:" in out, out
    bad.write_text("\n".join(lines[:2]) + "\n")
    out = ctl(muc.confabd.config, "import", bad, rc=65)
    assert "without its end record" in out, out
    bad.write_text('{"format": "confab-export", "version": 2}\n')
    out = ctl(muc.confabd.config, "import", bad, rc=65)
    assert "format version 2 is newer than this confabctl reads (1)" in out, out
    bad.write_text("\n".join(lines[:2] + lines[1:2] + lines[2:]) + "\n")
    out = ctl(muc.confabd.config, "import", bad, rc=65)
    assert f"{bad}:3: the room appears twice" in out, out


def test_import_conflicts_and_a_running_confabd(muc, pg, tmp_path):
    """An import into the running database: an existing room is refused, skipped or
    replaced; the replacement reaches confabd (an occupied room's history reloads);
    with a compliance stream the import is a `create` event in confabd's outbox."""
    room = populate(muc)
    f = tmp_path / "room.jsonl"
    ctl(muc.confabd.config, "export", "--room", room, "--out", f)
    out = ctl(muc.confabd.config, "import", f, rc=1)
    assert "already exists" in out and "nothing imported" in out, out
    out = ctl(muc.confabd.config, "--json", "import", f, "--skip-existing")
    assert json.loads(out)["skipped"] == 1, out
    dave = muc.client("dave")
    dave.join(room, "Dave")
    ctl(muc.confabd.config, "history", "purge", "--room", room, "--before", "2099-01-01")
    ini = tmp_path / "ctl.ini"
    ini.write_text(muc.confabd.config.read_text().replace(
        "archiver =\n", f"archiver = {ct.ARCHIVE_DOMAIN}\n", 1))
    out = ctl(ini, "import", f, "--replace")
    assert "1 replaced" in out and "5 messages" in out, out
    erin = muc.client("erin")
    ct.wait_for(lambda: history_bodies(erin, room, "Erin") == BODIES or
                erin.leave(room, "Erin"), 3 * ct.SLOW, "the replaced room's history")
    # a loaded room with fewer messages than the file: confabd continues after the file's
    other = muc.create_room(muc.client("alice"), "Owner", config={
        "muc#roomconfig_persistentroom": "1"}, prefix="export")
    copy = tmp_path / "other.jsonl"
    copy.write_text(f.read_text().replace(room, other))
    ctl(muc.confabd.config, "import", copy, "--replace")
    frank = muc.client("frank")
    ct.wait_for(lambda: history_bodies(frank, other, "Frank") == BODIES or
                frank.leave(other, "Frank"), 3 * ct.SLOW, "the imported history")
    assert_continues(frank, pg.dsn("confab"), other, 6)
    with psycopg.connect(pg.dsn("confab")) as conn:
        xml = [r[0] for r in conn.execute("SELECT xml FROM compliance_outbox WHERE room = %s "
                                          "AND xml LIKE '%%type=''create''%%'", (room,))]
    assert len(xml) == 1 and "<import" in xml[0] and "messages='5'" in xml[0].replace('"', "'"), \
        xml
