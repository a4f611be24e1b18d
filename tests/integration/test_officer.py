"""Issue 5, officer side: confabctl compliance verify | search | export | hold |
purge against a real compliance database filled by the real confab-archiver, and
the archiver's batched ingest (many events in one statement).

Real Prosody as the router, a private PostgreSQL 15 cluster, the real
confab-archiver and confabctl; a slixmpp component plays confabd and sends the
events of a scripted conversation (test_archiver.FakeConfabd). Rows are checked
with psycopg 3 as the database owner; exports are validated with
`xmllint --schema contrib/compliance/lync-compliance.xsd`."""

import csv
import io
import json
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest

import confabtest as ct
from confabtest import DOMAIN, MUC_DOMAIN
from test_archiver import DB, Env, assert_result, error_of, event, message

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.skipif("prosody" not in ct.muc_router_kinds(),
                                reason="CONFAB_TEST_ROUTERS excludes prosody")

XSD = ct.REPO / "contrib" / "compliance" / "lync-compliance.xsd"
ROOM = f"board@{MUC_DOMAIN}"
ROOM2 = f"legal@{MUC_DOMAIN}"
ALICE = {"jid": f"alice@{DOMAIN}/desk", "nick": "alice", "role": "moderator",
         "affiliation": "owner"}
BOB = {"jid": f"bob@{DOMAIN}/phone", "nick": "bob", "role": "participant",
       "affiliation": "member"}
CAROL = {"jid": f"carol@{DOMAIN}/lap", "nick": "carol", "role": "participant",
         "affiliation": "member"}
OLD_DAY1, OLD_DAY2 = "2026-02-03", "2026-02-04"


def at(day, hms, ms=0):
    return f"{day}T{hms}.{ms:03d}Z"


def conversation():
    """(event XML, short name) of a scripted conversation over two old days in
    ROOM and one in ROOM2; every event has its own UUID."""
    d1, d2 = OLD_DAY1, OLD_DAY2
    both = [ALICE["jid"], BOB["jid"]]
    return [
        (event("create", room=ROOM, actor=ALICE, when=at(d1, "09:00:00")), "create"),
        (event("join", room=ROOM, actor=ALICE, when=at(d1, "09:00:01")), "join-alice"),
        (event("join", room=ROOM, actor=BOB, when=at(d1, "09:00:02")), "join-bob"),
        (event("subject", room=ROOM, actor=ALICE, when=at(d1, "09:00:03"),
               stanza=message(None, subject="Quarterly budget", frm=f"{ROOM}/alice")),
         "subject"),
        (event("groupchat", room=ROOM, actor=ALICE, recipients=both, when=at(d1, "09:01:00"),
               stanza=message("the quarterly budget is ready", frm=f"{ROOM}/alice")),
         "gc1"),
        (event("groupchat", room=ROOM, actor=BOB, recipients=both, when=at(d1, "09:02:00"),
               stanza=message("great, send the forecast too", frm=f"{ROOM}/bob")), "gc2"),
        (event("private", room=ROOM, actor=BOB, target={"jid": ALICE["jid"], "nick": "alice"},
               recipients=[ALICE["jid"]], when=at(d1, "09:03:00"),
               stanza=message("psst, budget & <secrets>", mtype="chat")), "pm"),
        (event("join", room=ROOM, actor=CAROL, when=at(d2, "10:00:00")), "join-carol"),
        (event("history", room=ROOM, actor=ALICE, target={"jid": CAROL["jid"],
                                                          "nick": "carol"},
               when=at(d2, "10:00:00", 1),
               stanza=message("the quarterly budget is ready", frm=f"{ROOM}/alice"),
               delay=at(d1, "09:01:00")), "history"),
        (event("kick", room=ROOM, actor=ALICE, target={"jid": BOB["jid"], "nick": "bob",
                                                       "role": "none"},
               reason="off topic", when=at(d2, "10:05:00")), "kick"),
        (event("leave", room=ROOM, actor=CAROL, when=at(d2, "10:06:00")), "leave-carol"),
        (event("groupchat", room=ROOM2, actor=CAROL, recipients=[CAROL["jid"]],
               when=at(d1, "11:00:00"),
               stanza=message("contract draft attached", frm=f"{ROOM2}/carol")), "legal"),
    ]


class Officer:
    def __init__(self, env):
        self.env = env
        self.ini = env.archiver.config

    def ctl(self, *args, dsn=None):
        extra = ["--dsn", dsn] if dsn else []
        r = ct.run_tool("confabctl", "-c", self.ini, "compliance", *args, *extra, timeout=60)
        return r


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("officer"))
    try:
        e.sent = {}
        for ev, name in conversation():
            assert_result(e.fake.send(ev))
            e.sent[name] = ET.fromstring(ev).get("id")
        yield e
    finally:
        e.stop()


@pytest.fixture
def off(env):
    yield Officer(env)
    assert env.archiver.alive(), f"confab-archiver died\n{env.archiver.tail()}"


def count_events(env):
    return env.one("SELECT count(*) FROM events")[0]


# every column but the generated body_tsv, to put a deleted row back
COLUMNS = ("seq, uuid, event_time, archived_at, type, sender, room, actor_jid, actor_nick, "
           "actor_role, actor_affiliation, target_jid, target_nick, target_role, "
           "target_affiliation, reason, direction, msg_type, subject, thread, body, "
           "recipients, detail, stanza, stamp, hash")


def save_and_delete(env, where, param):
    env.db.execute(f"CREATE TEMP TABLE saved AS SELECT {COLUMNS} FROM events WHERE {where}",
                   (param,))
    env.db.execute(f"DELETE FROM events WHERE {where}", (param,))


def restore(env):
    env.db.execute(f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM saved")
    env.db.execute("DROP TABLE saved")


# ------------------------------------------------------------------ verify

def test_verify_passes(env, off):
    r = off.ctl("verify")
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.strip() == f"ok: {count_events(env)} rows verified"
    j = json.loads(off.ctl("verify", "--json").stdout)
    assert j["status"] == "ok" and j["rows"] == count_events(env)
    assert j["head"] == env.one("SELECT seq FROM chain_head")[0]


def test_verify_time_range(env, off):
    r = off.ctl("verify", "--from", OLD_DAY2, "--to", "2026-02-05")
    assert r.returncode == 0, r.stderr + r.stdout
    n = env.one("SELECT count(*) FROM events WHERE seq BETWEEN "
                "(SELECT min(seq) FROM events WHERE event_time >= %s) AND "
                "(SELECT max(seq) FROM events WHERE event_time >= %s "
                "AND event_time < '2026-02-05')", OLD_DAY2, OLD_DAY2)[0]
    assert r.stdout.strip() == f"ok: {n} rows verified"
    assert n == 4   # carol's join, the history, the kick, carol's leave


def test_verify_detects_a_row_altered_by_the_owner(env, off):
    uid = env.sent["gc2"]
    seq, stored = env.one("SELECT seq, encode(hash, 'hex') FROM events WHERE uuid = %s", uid)
    env.db.execute("UPDATE events SET body = 'great, ignore the forecast' WHERE uuid = %s",
                   (uid,))
    try:
        r = off.ctl("verify")
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stdout.startswith(f"broken at seq {seq}: stored hash does not match"), r.stdout
        assert f"uuid:     {uid}" in r.stdout
        assert f"stored:   {stored}" in r.stdout
        assert "time:     2026-02-03T09:02:00Z" in r.stdout
        expected = r.stdout.split("expected: ")[1].split()[0]
        assert len(expected) == 64 and expected != stored
        j = json.loads(off.ctl("verify", "--json").stdout)
        assert (j["status"], j["seq"], j["stored"], j["expected"]) == \
            ("broken", seq, stored, expected)
        # a range that ends before the altered row still verifies
        assert off.ctl("verify", "--to", at(OLD_DAY1, "09:01:30")).returncode == 0
    finally:
        env.db.execute("UPDATE events SET body = 'great, send the forecast too' "
                       "WHERE uuid = %s", (uid,))
    assert off.ctl("verify").returncode == 0


def test_verify_detects_a_deleted_row(env, off):
    uid = env.sent["join-bob"]
    row = env.one("SELECT seq FROM events WHERE uuid = %s", uid)
    save_and_delete(env, "uuid = %s", uid)
    try:
        r = off.ctl("verify")
        assert r.returncode == 1
        assert r.stdout.startswith(f"broken at seq {row[0] + 1}: expected seq {row[0]}"), \
            r.stdout
    finally:
        restore(env)
    assert off.ctl("verify").returncode == 0


def test_verify_detects_a_moved_head(env, off):
    seq, h = env.one("SELECT seq, hash FROM chain_head")
    prev = env.one("SELECT hash FROM events WHERE seq = %s", seq - 1)[0]
    try:
        for new_seq, new_hash in ((seq - 1, prev), (0, b"\0" * 32)):
            env.db.execute("UPDATE chain_head SET seq = %s, hash = %s", (new_seq, new_hash))
            r = off.ctl("verify")
            assert r.returncode == 1, r.stdout
            assert f"chain head is at seq {new_seq} but the last row is {seq}" in r.stdout
    finally:
        env.db.execute("UPDATE chain_head SET seq = %s, hash = %s", (seq, h))
    assert off.ctl("verify").returncode == 0


def test_verify_as_the_officer_role(env, off):
    env.db.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                   "'auditor') THEN CREATE ROLE auditor LOGIN IN ROLE confab_officer; "
                   "END IF; END $$")
    dsn = env.pg.dsn(DB).replace("user=postgres", "user=auditor")
    r = off.ctl("verify", dsn=dsn)
    assert r.returncode == 0, r.stderr
    # the officer may read, not purge
    r = off.ctl("purge", "--before", "2026-01-01", dsn=dsn)
    assert r.returncode == 1 and "permission denied" in r.stderr, r.stderr


# ------------------------------------------------------------------ search

def test_search_formats_and_filters(env, off):
    # words: full text over subject and body; bob as actor, target or recipient
    r = off.ctl("search", "--user", f"bob@{DOMAIN}", "--room", ROOM, "--words", "budget",
                "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    expected = env.rows(
        "SELECT uuid::text FROM events WHERE room = %s AND body_tsv @@ "
        "websearch_to_tsquery('simple', 'budget') AND (split_part(actor_jid, '/', 1) = %s "
        "OR split_part(target_jid, '/', 1) = %s OR %s = ANY (recipients)) "
        "ORDER BY seq", ROOM, f"bob@{DOMAIN}", f"bob@{DOMAIN}", BOB["jid"])
    assert [r["uuid"] for r in rows] == [u for (u,) in expected]
    assert [r["uuid"] for r in rows] == [env.sent["gc1"], env.sent["pm"]]
    assert rows[1]["body"] == "psst, budget & <secrets>"
    assert json.loads(rows[0]["recipients"]) == [ALICE["jid"], BOB["jid"]]

    j = json.loads(off.ctl("search", "--room", ROOM, "--from", OLD_DAY2, "--format",
                           "json").stdout)
    assert [e["type"] for e in j] == ["join", "history", "kick", "leave"]
    assert [e["seq"] for e in j] == sorted(e["seq"] for e in j)   # chain order
    assert j[2]["target_jid"] == BOB["jid"] and j[2]["reason"] == "off topic"
    assert all(e["time"].startswith(OLD_DAY2) for e in j)

    t = off.ctl("search", "--words", '"contract draft"')
    assert t.returncode == 0
    lines = t.stdout.splitlines()
    assert lines[0].split() == ["seq", "time", "type", "room", "from", "nick", "to", "dir",
                                "text"]
    assert "contract draft attached" in lines[1] and ROOM2 in lines[1]
    assert lines[-1] == "(1 event)"

    none = off.ctl("search", "--user", f"nobody@{DOMAIN}", "--format", "json")
    assert json.loads(none.stdout) == []
    assert off.ctl("search", "--format", "yaml").returncode == 64
    assert off.ctl("search", "--from", "yesterday").returncode == 65


# ------------------------------------------------------------------ export

def test_export_is_lync_xml_valid_against_the_schema(env, off, tmp_path):
    if not shutil.which("xmllint"):
        pytest.skip("xmllint is not installed (scripts/deps.sh installs libxml2-utils)")
    out = tmp_path / "export"
    r = off.ctl("export", "--room", ROOM, "--from", OLD_DAY1, "--to", "2026-02-05",
                "--out", str(out), "--slice", "day")
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{ROOM}_{OLD_DAY1}.xml", f"{ROOM}_{OLD_DAY2}.xml"]
    v = subprocess.run(["xmllint", "--noout", "--schema", str(XSD), *sorted(out.iterdir())],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    day1 = ET.parse(out / files[0]).getroot()
    conv = day1.find("Conversation")
    assert conv.find("Channel").get("name") == ROOM
    msgs = conv.find("Messages").findall("Message")
    assert [m.get("type") for m in msgs] == ["CREATE", "JOIN", "JOIN", "SUBJECT", "CHAT",
                                             "CHAT", "PRIVATE"]
    assert conv.find("FirstMessage").get("id") == msgs[0].get("id")
    assert msgs[4].get("content") == "the quarterly budget is ready"
    assert msgs[6].get("content") == "psst, budget & <secrets>"
    sender = msgs[5].find("Sender")
    assert (sender.get("UserName"), sender.get("uri"), sender.get("internal")) == \
        ("bob", f"bob@{DOMAIN}", "true")
    when = msgs[4].find("DateTimeUTC")
    assert when.get("string") == "2026-02-03T09:01:00.0000000Z"
    assert int(when.get("long")) == 621355968000000000 + int(when.get("since1970")) * 10000
    seqs = [int(m.get("id")) for m in msgs]
    assert seqs == [s for (s,) in env.rows(
        "SELECT seq FROM events WHERE room = %s AND event_time >= %s AND event_time < %s "
        "ORDER BY event_time, seq", ROOM, OLD_DAY1, OLD_DAY2)]
    day2 = ET.parse(out / files[1]).getroot().find("Conversation")
    kinds = [(m.get("type"), m.find("Sender").get("UserName"))
             for m in day2.find("Messages").findall("Message")]
    # BACKCHAT: carol was served the history; the kick says who was kicked
    assert kinds == [("JOIN", "carol"), ("BACKCHAT", "carol"), ("KICK", "alice"),
                     ("PART", "carol")]
    kick = day2.find("Messages").findall("Message")[2]
    assert kick.find("Target").get("uri") == f"bob@{DOMAIN}"
    assert kick.get("content") == "off topic"

    # every room, one file per month; the XSD rejects what is not Lync-shaped
    allr = off.ctl("export", "--out", str(tmp_path / "all"), "--slice", "month", "--json")
    listed = json.loads(allr.stdout)
    assert {(f["room"], f["slice"]) for f in listed} >= {(ROOM, "2026-02"), (ROOM2, "2026-02")}
    bad = tmp_path / "bad.xml"
    bad.write_text((out / files[0]).read_text().replace('type="CHAT"', 'type="SHOUT"', 1))
    assert subprocess.run(["xmllint", "--noout", "--schema", str(XSD), str(bad)],
                          capture_output=True).returncode != 0


# ------------------------------------------------------------------ holds and purge

def test_hold_and_purge(env, off):
    assert off.ctl("hold", "add", "--room", ROOM2, "--reason", "case 17").returncode == 0
    assert off.ctl("hold", "add", "--user", f"carol@{DOMAIN}").returncode == 0
    again = off.ctl("hold", "add", "--user", f"carol@{DOMAIN}")
    assert "already on hold" in again.stdout
    listed = json.loads(off.ctl("hold", "list", "--json").stdout)
    assert {(h["kind"], h["jid"]) for h in listed} == {("room", ROOM2),
                                                       ("user", f"carol@{DOMAIN}")}
    assert off.ctl("hold", "add", "--user", "x@y", "--room", ROOM).returncode == 64

    held = {env.sent[n] for n in ("join-carol", "history", "leave-carol", "legal")}
    old = {u for (u,) in env.rows("SELECT uuid::text FROM events WHERE event_time < %s",
                                  "2026-03-01")}
    assert held <= old
    newer = count_events(env) - len(old)
    r = off.ctl("purge", "--before", "2026-03-01", "--reason", "retention: 6 months", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert (res["deleted"], res["held"]) == (len(old - held), len(held))
    left = {u for (u,) in env.rows("SELECT uuid::text FROM events WHERE event_time < %s",
                                   "2026-03-01")}
    assert left == held                                     # held rows survive, nothing else
    assert count_events(env) == newer + len(held) + 1       # + the purge event
    p = env.one("SELECT seq, type, actor_jid, reason, detail FROM events WHERE uuid = %s",
                res["purge_uuid"])
    assert p[:4] == (res["purge_seq"], "purge", "postgres", "retention: 6 months")
    assert "before='2026-03-01T00:00:00.000Z'" in p[4] and "<gap first=" in p[4]
    assert env.one("SELECT seq FROM chain_head")[0] == res["purge_seq"]
    gaps = env.rows("SELECT first_seq, last_seq FROM chain_gaps ORDER BY first_seq")
    assert len(gaps) == res["gaps"] >= 1
    # re-sent old events stay deduplicated after the purge (their UUIDs are kept)
    assert_result(env.fake.send(event("create", uid=env.sent["create"], room=ROOM, actor=ALICE,
                                      when=at(OLD_DAY1, "09:00:00"))))
    assert env.rows("SELECT 1 FROM events WHERE uuid = %s", env.sent["create"]) == []

    v = off.ctl("verify")
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.strip() == f"ok: {count_events(env)} rows verified"

    # the archiver appends after the purge; the chain still verifies
    assert_result(env.fake.send(event("groupchat", room=ROOM, actor=ALICE,
                                      stanza=message("after the purge"))))
    assert off.ctl("verify").returncode == 0

    # a row deleted outside a purge is still caught, gaps or not
    victim = env.one("SELECT seq FROM events WHERE uuid = %s", env.sent["history"])[0]
    save_and_delete(env, "seq = %s", victim)
    try:
        assert off.ctl("verify").returncode == 1
        # ... and a forged gap record for it is not named by any purge event
        env.db.execute("INSERT INTO chain_gaps SELECT seq, seq, hash, %s FROM saved",
                       (res["purge_seq"],))
        r = off.ctl("verify")
        assert r.returncode == 1 and "does not name that gap" in r.stdout, r.stdout
    finally:
        env.db.execute("DELETE FROM chain_gaps WHERE first_seq = %s", (victim,))
        restore(env)
    assert off.ctl("verify").returncode == 0

    # releasing a hold makes its rows purgeable by the next purge; carol's hold
    # still keeps her message in the legal room
    assert off.ctl("hold", "remove", "--room", ROOM2).returncode == 0
    assert off.ctl("hold", "remove", "--room", ROOM2).returncode == 1
    r2 = json.loads(off.ctl("purge", "--before", "2026-03-01", "--json").stdout)
    assert (r2["deleted"], r2["held"]) == (0, 4)
    assert off.ctl("hold", "remove", "--user", f"carol@{DOMAIN}").returncode == 0
    r3 = json.loads(off.ctl("purge", "--before", "2026-03-01", "--json").stdout)
    assert (r3["deleted"], r3["held"]) == (4, 0)
    assert env.rows("SELECT 1 FROM events WHERE event_time < '2026-03-01' "
                    "AND type <> 'purge'") == []
    assert env.one("SELECT count(*) FROM events WHERE type = 'purge'") == (3,)
    assert off.ctl("verify").returncode == 0
    assert len(json.loads(off.ctl("hold", "list", "--all", "--json").stdout)) == 2
    assert off.ctl("purge", "--before", "2999-01-01").returncode == 65


# ------------------------------------------------------------------ batched ingest

def test_many_events_in_flight_are_batched_exactly_once(env, off):
    """Hundreds of IQs sent without waiting arrive in few loop turns: they go to
    PostgreSQL as a few multi-row statements; duplicates inside a batch give one
    row; every IQ is answered result; the chain verifies."""
    head = env.one("SELECT seq FROM chain_head")[0]
    ids = [str(uuid.uuid4()) for _ in range(400)]
    evs = [event("groupchat", uid=u, room=ROOM, actor=BOB, recipients=[ALICE["jid"]],
                 stanza=message(f"burst {i}")) for i, u in enumerate(ids)]
    evs += evs[:50]                                         # 50 duplicates in flight
    futs = [env.fake.start(ev) for ev in evs]
    replies = [env.fake.finish(f) for f in futs]
    assert all(r.get("type") == "result" for r in replies)
    assert env.one("SELECT count(*) FROM events WHERE uuid = ANY(%s::uuid[])", ids) == (400,)
    assert env.one("SELECT seq FROM chain_head")[0] == head + 400
    seqs = [s for (s,) in env.rows("SELECT seq FROM events WHERE uuid = ANY(%s::uuid[]) "
                                   "ORDER BY seq", ids)]
    assert seqs == list(range(head + 1, head + 401))
    # sent order is chain order (one sender, one connection)
    bodies = [b for (b,) in env.rows("SELECT body FROM events WHERE uuid = ANY(%s::uuid[]) "
                                     "ORDER BY seq", ids)]
    assert bodies == [f"burst {i}" for i in range(400)]
    assert off.ctl("verify").returncode == 0


def test_a_refused_event_does_not_sink_its_batch(env, off):
    """One event the database refuses for its data (here: a CHECK the owner adds)
    arrives in the same batch as good ones: the batch is sent again event by event,
    the good ones are stored and answered result, the bad one bad-request, logged
    once."""
    env.db.execute("ALTER TABLE events ADD CONSTRAINT no_poison "
                   "CHECK (body IS DISTINCT FROM 'poison') NOT VALID")
    try:
        mark = env.archiver.mark()
        ids = [str(uuid.uuid4()) for _ in range(60)]
        evs = [event("groupchat", uid=u, room=ROOM, actor=BOB,
                     stanza=message("poison" if i == 30 else f"fine {i}"))
               for i, u in enumerate(ids)]
        futs = [env.fake.start(ev) for ev in evs]
        replies = [env.fake.finish(f) for f in futs]
        kinds = [r.get("type") for r in replies]
        assert kinds == ["result"] * 30 + ["error"] + ["result"] * 29
        assert error_of(replies[30]) == ("modify", "bad-request")
        stored = env.rows("SELECT uuid::text FROM events WHERE uuid = ANY(%s::uuid[])", ids)
        assert sorted(u for (u,) in stored) == sorted(ids[:30] + ids[31:])
        lines = [ln for ln in env.archiver.lines(mark) if "no_poison" in ln]
        assert len(lines) == 1 and "WARN" in lines[0], lines
        # PostgreSQL refused it twice: in its batch, then alone (so it was batched)
        assert env.pg.log.read_text().count('violates check constraint "no_poison"') == 2
    finally:
        env.db.execute("ALTER TABLE events DROP CONSTRAINT no_poison")
    assert off.ctl("verify").returncode == 0
