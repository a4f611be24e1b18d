"""confabctl against a real PostgreSQL (and, for the rooms it creates, a real confabd
behind a real Prosody): db migrate/status, rooms list/show/create/destroy, history
purge, and the exit codes of the contract (docs/confabctl.md).

Each test module gets its own databases in the session's PostgreSQL cluster, so the
schema and the rooms here never meet those of the other test modules. Test data is
written with psycopg, never through confabctl itself, where the point is to check
what confabctl reads or deletes."""

import datetime as dt
import json
import secrets
import socket
import subprocess
import time

import psycopg
import pytest

import confabtest as ct
from confabtest import describe, error_condition, muc_item, q, status_codes

CTL = ct.BUILD / "confabctl"
EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_CONFIG = 64, 65, 69, 78
SECRETS = {ct.MUC_DOMAIN: "muc-" + secrets.token_hex(8),
           ct.ARCHIVE_DOMAIN: "archive-" + secrets.token_hex(8)}
UTC = dt.timezone.utc


class OneDatabase:
    """Stands in for the pg fixture in ct.config_text/ct.MucEnv: every DSN is ours."""

    def __init__(self, dsn):
        self._dsn = dsn

    def dsn(self, _name):
        return self._dsn


def run_ctl(config, *args, timeout=60):
    assert CTL.exists(), f"{CTL} is not built (CONFAB_BUILD={ct.BUILD})"
    return subprocess.run([str(CTL), "-c", str(config), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def result_text(r):
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"


def assert_exit(r, code):
    assert r.returncode == code, result_text(r)
    if code != 0:
        # one clear line, prefixed, nothing from the log machinery
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, result_text(r)
        assert not ct.LOG_LINE.match(lines[0]), result_text(r)
    return r


class Ctl:
    """One database of our own and a full confab config file pointing at it."""

    def __init__(self, pg, workdir, name):
        self.pg = pg
        self.dbname = f"{name}_{secrets.token_hex(4)}"
        pg.psql("postgres", f'CREATE DATABASE "{self.dbname}"')
        self.dsn = pg.dsn(self.dbname)
        self.workdir = workdir
        self.config = workdir / f"{self.dbname}.ini"
        self.config.write_text(ct.config_text("127.0.0.1:5347", SECRETS, OneDatabase(self.dsn)))

    def run(self, *args, **kw):
        return run_ctl(self.config, *args, **kw)

    def ok(self, *args):
        r = self.run(*args)
        assert_exit(r, 0)
        assert r.stderr == "", result_text(r)
        return r.stdout

    def json(self, *args):
        return json.loads(self.ok("--json", *args))

    def sql(self, query, params=()):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def drop(self):
        self.pg.psql("postgres", f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


@pytest.fixture(scope="module")
def ctl(pg, tmp_path_factory):
    """A migrated database for the room and history tests."""
    c = Ctl(pg, tmp_path_factory.mktemp("confabctl"), "ctl")
    c.ok("db", "migrate")
    try:
        yield c
    finally:
        c.drop()


@pytest.fixture
def empty_ctl(pg, tmp_path):
    c = Ctl(pg, tmp_path, "ctl_empty")
    try:
        yield c
    finally:
        c.drop()


def binary_version():
    """The newest migration under schema/chat (what the binary has compiled in)."""
    return max(int(p.name.split("_", 1)[0]) for p in (ct.REPO / "schema" / "chat").glob("*.sql"))


def insert_messages(ctl, room, start, count, step=dt.timedelta(minutes=1), first_seq=1):
    """count messages in room from `start`, one per `step`, seq first_seq..."""
    ctl.sql(
        "INSERT INTO messages (room_id, seq, ts, sender_jid, nick, occupant_id, body, stanza) "
        "SELECT r.id, %(s0)s + g, %(t0)s + g * %(step)s, 'alice@localhost/r', 'alice', 'occ', "
        "'message ' || g, '<message type=\"groupchat\"><body>message ' || g || '</body></message>' "
        "FROM rooms r, generate_series(0, %(n)s - 1) g WHERE r.jid = %(room)s",
        {"s0": first_seq, "t0": start, "step": step, "n": count, "room": room})


# ------------------------------------------------------------------ db migrate / status

def test_migrate_empty_database_then_status(empty_ctl):
    want = binary_version()
    r = empty_ctl.run("db", "status")
    assert_exit(r, 0)
    assert "database schema: 0" in r.stdout and f"confabctl knows: {want}" in r.stdout, r.stdout
    assert "behind" in r.stdout
    # rooms commands refuse an unmigrated database with a pointer to the fix
    r = assert_exit(empty_ctl.run("rooms", "list"), 1)
    assert "db migrate" in r.stderr

    out = empty_ctl.ok("db", "migrate")
    assert out.strip() == f"chat schema: migrated from version 0 to {want}", out
    assert empty_ctl.json("db", "status") == {"database": want, "binary": want, "pending": 0,
                                              "state": "current"}
    assert empty_ctl.json("db", "migrate") == {"from": want, "to": want, "changed": False}
    assert "already at version" in empty_ctl.ok("db", "migrate")
    tables = {t for (t,) in empty_ctl.sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"rooms", "affiliations", "messages", "tombstones", "schema_version"} <= tables
    assert empty_ctl.sql("SELECT max(version) FROM schema_version") == [(want,)]


def test_migrate_refuses_newer_database(empty_ctl):
    empty_ctl.ok("db", "migrate")
    empty_ctl.sql("INSERT INTO schema_version (version, name) VALUES (999, 'from the future')")
    r = assert_exit(empty_ctl.run("db", "migrate"), EX_CONFIG)
    assert "999" in r.stderr and "newer" in r.stderr, r.stderr
    assert empty_ctl.json("db", "status")["state"] == "newer"
    assert_exit(empty_ctl.run("rooms", "list"), EX_CONFIG)
    # nothing was applied or changed
    assert empty_ctl.sql("SELECT max(version) FROM schema_version") == [(999,)]


# ------------------------------------------------------------------ rooms create / list / show

def test_create_then_list_and_show(ctl):
    public, hidden = ct.new_room("ctl-pub"), ct.new_room("ctl-hid")
    out = ctl.ok("rooms", "create", public, "--owner", "alice@localhost", "--name", "Town Hall")
    assert public in out and "alice@localhost" in out
    created = ctl.json("rooms", "create", hidden, "--owner", "Bob@LocalHost", "--members-only",
                       "--hidden")
    assert created["jid"] == hidden and created["owner"] == "bob@localhost", created
    assert created["members_only"] is True and created["public"] is False

    # text list: public rooms only, aligned columns; --all adds hidden ones
    lines = ctl.ok("rooms", "list").splitlines()
    assert lines[0].split()[:2] == ["JID", "NAME"], lines
    row = next(ln for ln in lines if ln.startswith(public + " "))
    assert "Town Hall" in row and row.split()[-2:] == ["0", "-"], row
    assert not any(ln.startswith(hidden) for ln in lines), lines
    assert row.index("Town Hall") == lines[0].index("NAME"), "columns are aligned"
    assert any(ln.startswith(hidden + " ") for ln in ctl.ok("rooms", "list", "--all").splitlines())

    rooms = {r["jid"]: r for r in ctl.json("rooms", "list", "--all")}
    assert rooms[public] == {"jid": public, "name": "Town Hall", "persistent": True,
                             "members_only": False, "public": True, "locked": False,
                             "messages": 0, "last_activity": None}
    assert rooms[hidden]["public"] is False and rooms[hidden]["members_only"] is True
    assert hidden not in {r["jid"] for r in ctl.json("rooms", "list")}

    shown = ctl.json("rooms", "show", public)
    assert shown["jid"] == public and shown["name"] == "Town Hall"
    assert shown["persistent"] is True and shown["locked"] is False
    assert shown["creator"] == "alice@localhost"
    assert shown["affiliations"] == [{"jid": "alice@localhost", "affiliation": "owner",
                                      "nick": None, "reason": None}]
    assert shown["messages"] == {"count": 0, "first_seq": None, "last_seq": None,
                                 "first": None, "last": None}
    text = ctl.ok("rooms", "show", public)
    assert "persistent:" in text and "locked:" in text
    assert "alice@localhost" in text and "owner" in text


def test_created_rows_are_what_confabd_loads(ctl):
    """The rows confabd's store query (room_get/room_affils in muc_store.c) reads."""
    room = ct.new_room("ctl-rows")
    ctl.ok("rooms", "create", room, "--owner", "carol@localhost", "--name", "Rows")
    rows = ctl.sql(
        "SELECT r.creator, r.locked, r.persistent, r.public_list, r.members_only, r.name, "
        "r.password, r.allow_pm, r.presence_broadcast, r.get_member_list, r.history_length, "
        "r.subject, greatest(r.last_seq, coalesce((SELECT max(seq) FROM messages m "
        "WHERE m.room_id = r.id), 0)) FROM rooms r WHERE r.jid = %s", (room,))
    assert rows == [("carol@localhost", False, True, True, False, "Rows", "", "anyone",
                     ["moderator", "participant", "visitor"], ["moderator", "participant"],
                     20, None, 0)], rows
    affils = ctl.sql("SELECT a.jid, a.affiliation, a.nick, a.reason FROM affiliations a "
                     "JOIN rooms r ON r.id = a.room_id WHERE r.jid = %s", (room,))
    assert affils == [("carol@localhost", "owner", None, None)]


def test_create_bare_name_uses_component_domain(ctl):
    name = f"bare-{secrets.token_hex(4)}"
    out = ctl.ok("rooms", "create", name, "--owner", "alice@localhost")
    assert f"{name}@{ct.MUC_DOMAIN}" in out
    assert ctl.json("rooms", "show", name)["jid"] == f"{name}@{ct.MUC_DOMAIN}"


def test_create_refusals(ctl):
    room = ct.new_room("ctl-dup")
    ctl.ok("rooms", "create", room, "--owner", "alice@localhost")
    r = assert_exit(ctl.run("rooms", "create", room, "--owner", "bob@localhost"), 1)
    assert "already exists" in r.stderr
    # the existing room did not get a second owner
    assert ctl.json("rooms", "show", room)["affiliations"] == [
        {"jid": "alice@localhost", "affiliation": "owner", "nick": None, "reason": None}]
    assert_exit(ctl.run("rooms", "create", "bad room@" + ct.MUC_DOMAIN, "--owner", "a@b"),
                EX_DATAERR)
    assert_exit(ctl.run("rooms", "create", "x@other.example", "--owner", "a@b"), EX_DATAERR)
    assert_exit(ctl.run("rooms", "create", ct.new_room(), "--owner", "a@b/res"), EX_DATAERR)
    assert_exit(ctl.run("rooms", "create", ct.new_room(), "--owner", "@@"), EX_DATAERR)
    assert_exit(ctl.run("rooms", "create", ct.new_room()), EX_USAGE)
    assert_exit(ctl.run("rooms", "show", ct.new_room("ctl-none")), 1)


# ------------------------------------------------------------------ a real confabd

@pytest.fixture
def confabd_env(ctl, tmp_path):
    if "prosody" not in ct.muc_router_kinds():
        pytest.skip("CONFAB_TEST_ROUTERS excludes prosody")
    env = ct.MucEnv("prosody", OneDatabase(ctl.dsn), tmp_path)
    try:
        yield env
    finally:
        env.stop()


def test_confabd_serves_room_created_by_confabctl(ctl, confabd_env):
    env = confabd_env
    room = ct.new_room("ctl-live")
    members = ct.new_room("ctl-members")
    gone = ct.new_room("ctl-gone")
    ctl.ok("rooms", "create", room, "--owner", "alice@localhost", "--name", "Made by ctl")
    ctl.ok("rooms", "create", members, "--owner", "alice@localhost", "--members-only")
    ctl.ok("rooms", "create", gone, "--owner", "alice@localhost")
    ctl.ok("rooms", "destroy", gone, "--reason", "moved on", "--venue", room)

    alice, bob = env.client("alice"), env.client("bob")
    j = alice.join(room, "Alice")
    item = muc_item(j.self_presence)
    assert item.get("affiliation") == "owner" and item.get("role") == "moderator", \
        describe(j.self_presence)
    assert 201 not in status_codes(j.self_presence), "the room existed: not created by the join"
    bob.join(room, "Bob")  # unlocked: others may enter at once

    alice.groupchat(room, "stored through confabd")
    alice.wait_groupchat(room, "stored through confabd")  # reflected = committed
    shown = ctl.json("rooms", "show", room)
    assert shown["messages"]["count"] == 1, shown
    listed = {r["jid"]: r for r in ctl.json("rooms", "list")}
    assert listed[room]["messages"] == 1 and listed[room]["last_activity"], listed[room]

    err = bob.join_error(members, "Bob")
    assert error_condition(err) == "registration-required", describe(err)
    assert muc_item(alice.join(members, "Alice").self_presence).get("affiliation") == "owner"

    err = bob.join_error(gone, "Bob")
    assert error_condition(err) == "gone", describe(err)


# ------------------------------------------------------------------ history purge

def test_purge_removes_only_older_messages(ctl):
    room, other = ct.new_room("ctl-purge"), ct.new_room("ctl-keep")
    for r in (room, other):
        ctl.ok("rooms", "create", r, "--owner", "alice@localhost")
    t0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
    # more than two batches of 10,000 before the cut
    insert_messages(ctl, room, t0, 30000)
    insert_messages(ctl, other, t0, 100)
    cut = dt.datetime(2024, 1, 20, tzinfo=UTC)
    expect = ctl.sql("SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id "
                     "WHERE r.jid = %s AND m.ts < %s", (room, cut))[0][0]
    assert 20000 < expect < 30000

    out = ctl.ok("history", "purge", "--room", room, "--before", "2024-01-20")
    assert out.strip() == f"purged {expect} messages older than 2024-01-20T00:00:00Z from {room}"
    left = ctl.sql("SELECT count(*), min(m.ts) FROM messages m JOIN rooms r ON r.id = m.room_id "
                   "WHERE r.jid = %s", (room,))
    assert left[0][0] == 30000 - expect and left[0][1] >= cut, left
    assert ctl.sql("SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id "
                   "WHERE r.jid = %s", (other,)) == [(100,)]

    # XEP-0082 with an offset; a boundary message (ts == cut) stays
    res = ctl.json("history", "purge", "--room", room, "--before", "2024-01-20T02:00:00+01:00")
    assert res == {"room": room, "before": "2024-01-20T01:00:00Z", "deleted": 60}, res
    assert ctl.json("rooms", "show", room)["messages"]["first"] == "2024-01-20T01:00:00Z"
    # nothing older left: a second run deletes nothing
    assert ctl.json("history", "purge", "--room", room, "--before", "2024-01-20")["deleted"] == 0


def test_purge_refusals(ctl):
    room = ct.new_room("ctl-purge-bad")
    ctl.ok("rooms", "create", room, "--owner", "alice@localhost")
    for bad in ("2024-13-01", "yesterday", "2024-01-01T00:00:00", "2024-02-30"):
        r = assert_exit(ctl.run("history", "purge", "--room", room, "--before", bad), EX_DATAERR)
        assert bad in r.stderr
    assert_exit(ctl.run("history", "purge", "--room", room), EX_USAGE)
    assert_exit(ctl.run("history", "purge", "--room", "no room@x", "--before", "2024-01-01"),
                EX_DATAERR)
    r = assert_exit(ctl.run("history", "purge", "--room", ct.new_room("ctl-nope"),
                            "--before", "2024-01-01"), 1)
    assert "no such room" in r.stderr


# ------------------------------------------------------------------ rooms destroy

def test_destroy_deletes_everything_and_writes_tombstone(ctl):
    room, venue = ct.new_room("ctl-destroy"), ct.new_room("ctl-venue")
    ctl.ok("rooms", "create", room, "--owner", "alice@localhost")
    insert_messages(ctl, room, dt.datetime(2024, 1, 1, tzinfo=UTC), 12000)
    room_id = ctl.sql("SELECT id FROM rooms WHERE jid = %s", (room,))[0][0]

    out = ctl.ok("rooms", "destroy", room, "--reason", "we moved", "--venue", venue)
    assert room in out and "12000 messages deleted" in out, out
    assert ctl.sql("SELECT count(*) FROM rooms WHERE jid = %s", (room,)) == [(0,)]
    assert ctl.sql("SELECT count(*) FROM messages WHERE room_id = %s", (room_id,)) == [(0,)]
    assert ctl.sql("SELECT count(*) FROM affiliations WHERE room_id = %s", (room_id,)) == [(0,)]
    tomb = ctl.sql("SELECT venue, reason, destroyed_at IS NOT NULL, expires_at FROM tombstones "
                   "WHERE jid = %s", (room,))
    assert tomb == [(venue, "we moved", True, None)], tomb
    # confabd's tomb_get query sees it
    assert ctl.sql("SELECT venue, reason FROM tombstones WHERE jid = %s AND "
                   "(expires_at IS NULL OR expires_at > now())", (room,)) == [(venue, "we moved")]

    r = assert_exit(ctl.run("rooms", "show", room), 1)
    assert "destroyed" in r.stderr and "we moved" in r.stderr, r.stderr
    r = assert_exit(ctl.run("rooms", "create", room, "--owner", "bob@localhost"), 1)
    assert "tombstone" in r.stderr, r.stderr
    assert ctl.sql("SELECT count(*) FROM rooms WHERE jid = %s", (room,)) == [(0,)]
    assert_exit(ctl.run("rooms", "destroy", room), 1)

    other = ct.new_room("ctl-destroy2")
    ctl.ok("rooms", "create", other, "--owner", "alice@localhost")
    assert ctl.json("rooms", "destroy", other) == {"jid": other, "messages_deleted": 0,
                                                   "tombstone": True}
    assert ctl.sql("SELECT venue, reason FROM tombstones WHERE jid = %s", (other,)) == \
        [(None, None)]
    assert_exit(ctl.run("rooms", "destroy", ct.new_room(), "--venue", "not a jid@@"),
                EX_DATAERR)


def test_help_mentions_running_confabd_for_destroy():
    r = subprocess.run([str(CTL), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    assert "rooms destroy" in r.stdout and "running confabd" in r.stdout, r.stdout


# ------------------------------------------------------------------ exit codes

def test_bad_config_is_78_with_file_and_line(tmp_path):
    cfg = tmp_path / "bad.ini"
    cfg.write_text("[storage]\ndsn = dbname=x\n\n[storage]\nbogus = 1\n")
    r = assert_exit(run_ctl(cfg, "db", "status"), EX_CONFIG)
    assert r.stderr.startswith(f"{cfg}:5:"), r.stderr
    assert "bogus" in r.stderr

    cfg.write_text("[storage]\ndsn = this is = not a dsn\n")
    r = assert_exit(run_ctl(cfg, "rooms", "list"), EX_CONFIG)
    assert "dsn" in r.stderr

    cfg.write_text("[storage]\ndsn =\n")
    assert_exit(run_ctl(cfg, "rooms", "list"), EX_CONFIG)

    assert_exit(run_ctl(tmp_path / "missing.ini", "db", "status"), EX_CONFIG)


def test_database_down_is_69(tmp_path):
    # nothing listens: refused at once
    port = ct.free_port()
    cfg = tmp_path / "down.ini"
    cfg.write_text(f"[storage]\ndsn = host=127.0.0.1 port={port} user=postgres dbname=x\n")
    t = time.monotonic()
    r = assert_exit(run_ctl(cfg, "rooms", "list"), EX_UNAVAILABLE)
    assert time.monotonic() - t < 5
    assert "cannot connect" in r.stderr

    # something accepts the TCP connection but never speaks: the connect timeout
    with socket.socket() as silent:
        silent.bind((ct.HOST, 0))
        silent.listen(8)
        cfg.write_text(f"[storage]\ndsn = host=127.0.0.1 port={silent.getsockname()[1]} "
                       "user=postgres dbname=x connect_timeout=2\n")
        t = time.monotonic()
        r = assert_exit(run_ctl(cfg, "db", "migrate"), EX_UNAVAILABLE)
        took = time.monotonic() - t
    assert 1.5 < took < 8, took
    assert "cannot connect" in r.stderr


def test_usage_is_64(tmp_path):
    cfg = tmp_path / "ok.ini"
    cfg.write_text("[storage]\ndsn = dbname=x\n")
    for args in ([], ["frobnicate"], ["db"], ["db", "status", "extra"], ["rooms"],
                 ["rooms", "list", "--owner", "x"], ["rooms", "show"], ["history", "purge"],
                 ["--no-such-option", "db", "status"]):
        assert_exit(run_ctl(cfg, *args), EX_USAGE)
    r = subprocess.run([str(CTL), "db", "status"], capture_output=True, text=True, timeout=10)
    assert r.returncode == EX_USAGE and "-c FILE" in r.stderr
