"""Issue 13, finding 2: signed checkpoints of the compliance chain's head.

The hash chain has no key: as the database's superuser, rewriting a body and
recomputing every later hash with the database's own compliance_canonical(),
or deleting the newest rows and moving chain_head back, both pass the plain
`confabctl compliance verify`. The archiver now signs the head (Ed25519, a key
outside the database) into a checkpoint file, and `verify --checkpoints FILE
--pubkey PUB` catches both, names the seq or the missing window, and refuses a
forged checkpoint line.

Real Prosody as the router, a private PostgreSQL 15 cluster, the real
confab-archiver (with [archiver] checkpoint_key/file) and confabctl; a slixmpp
component plays confabd (test_archiver.FakeConfabd). Tampering is done with
psycopg as the cluster's superuser, and undone after each test."""

import json
import os
import re
import stat

import pytest

import confabtest as ct
from test_archiver import Env, assert_result, event
from test_officer import ALICE, BOB, ROOM, conversation

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.skipif("prosody" not in ct.muc_router_kinds(),
                                reason="CONFAB_TEST_ROUTERS excludes prosody")

EVERY = 4

# compliance_canonical()'s arguments: every column but hash and body_tsv
CANON_ARGS = ("r.seq, r.uuid, r.event_time, r.archived_at, r.type, r.sender, r.room, "
              "r.actor_jid, r.actor_nick, r.actor_role, r.actor_affiliation, r.target_jid, "
              "r.target_nick, r.target_role, r.target_affiliation, r.reason, r.direction, "
              "r.msg_type, r.subject, r.thread, r.body, r.recipients, r.detail, r.stanza, "
              "r.stamp")

COLUMNS = ("seq, uuid, event_time, archived_at, type, sender, room, actor_jid, actor_nick, "
           "actor_role, actor_affiliation, target_jid, target_nick, target_role, "
           "target_affiliation, reason, direction, msg_type, subject, thread, body, "
           "recipients, detail, stanza, stamp, hash")


def checkpoint_config(key, cpfile, every=EVERY, interval="300ms"):
    return (f"\n[archiver]\ncheckpoint_key = {key}\ncheckpoint_file = {cpfile}\n"
            f"checkpoint_every = {every}\ncheckpoint_interval = {interval}\n")


def ctl(env, *args):
    return ct.run_tool("confabctl", "-c", env.archiver.config, "compliance", *args,
                       timeout=60)


def head(env):
    return env.one("SELECT seq, encode(hash, 'hex') FROM chain_head WHERE id = 1")


def checkpoint_lines(env):
    if not os.path.exists(env.cpfile):
        return []
    with open(env.cpfile) as f:
        return [line for line in f.read().splitlines() if line]


def wait_checkpoint_at_head(env):
    seq, h = head(env)
    return ct.wait_for(lambda: next((line for line in checkpoint_lines(env)
                                     if f" seq={seq} hash={h} " in line), None),
                       15 * ct.SLOW, f"a checkpoint of the head (seq {seq})", interval=0.1)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = tmp_path_factory.mktemp("checkpoints")
    e = Env(work)
    try:
        e.key = str(work / "checkpoint.pem")
        e.pub = e.key + ".pub"
        e.cpfile = str(work / "checkpoints.log")
        r = ct.run_tool("confabctl", "-c", e.archiver.config, "compliance", "keygen", "--out",
                        e.key)
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(os.stat(e.key).st_mode) == 0o600
        # The same database, now with checkpoints: the first archiver migrated it.
        e.archiver.check_clean_exit()
        e.archiver = e.new_archiver("confab-archiver-cp",
                                    extra=checkpoint_config(e.key, e.cpfile))
        e.start_archiver()
        for ev, _ in conversation():
            assert_result(e.fake.send(ev))
        wait_checkpoint_at_head(e)
        yield e
    finally:
        e.stop()


def verify(env, *extra, json_out=False):
    args = ["verify", "--checkpoints", env.cpfile, "--pubkey", env.pub, *extra]
    return ctl(env, *args, *(["--json"] if json_out else []))


# ------------------------------------------------------------------ the archiver's side

def test_checkpoints_signed_and_logged(env):
    lines = checkpoint_lines(env)
    assert lines, "no checkpoint written"
    pat = re.compile(r"^confab-checkpoint-1 seq=(\d+) hash=[0-9a-f]{64} "
                     r"time=\S+Z key=[0-9a-f]{16} sig=[A-Za-z0-9+/]{86}==$")
    seqs = [int(pat.match(line).group(1)) for line in lines]
    assert seqs == sorted(seqs)
    # after EVERY events (a batch that crosses it is signed whole), and the head
    assert len(seqs) >= 2 and seqs[0] >= EVERY
    assert seqs[-1] == head(env)[0]
    # the same lines go to the log (journald under systemd)
    assert env.archiver.wait_log(re.escape("compliance checkpoint: " + lines[-1]))
    # nothing in the database holds the key
    pem = open(env.key).read().split("-----")[2].strip().replace("\n", "")
    assert not env.rows("SELECT 1 FROM events WHERE stanza LIKE %s OR detail LIKE %s",
                        f"%{pem[:24]}%", f"%{pem[:24]}%")


def test_key_readable_by_others_refused(env, tmp_path):
    loose = tmp_path / "loose.pem"
    loose.write_bytes(open(env.key, "rb").read())
    os.chmod(loose, 0o640)
    ini = tmp_path / "archiver.ini"
    ini.write_text(ct.config_text(env.router.router_addr, env.secrets, env.pg,
                                  extra=checkpoint_config(loose, tmp_path / "cp.log")))
    r = ct.run_tool("confab-archiver", "-c", ini, "--check-config")
    assert r.returncode != 0
    assert re.search(rf"{re.escape(str(ini))}:\d+: \[archiver\] checkpoint_key "
                     rf"{re.escape(str(loose))}: mode 0640 lets group or others read it",
                     r.stderr), r.stderr
    os.chmod(loose, 0o600)
    r = ct.run_tool("confab-archiver", "-c", ini, "--check-config")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ (a) an intact chain

def test_verify_ok_with_checkpoints(env):
    wait_checkpoint_at_head(env)
    r = verify(env)
    assert r.returncode == 0, r.stdout + r.stderr
    n = env.one("SELECT count(*) FROM events")[0]
    assert r.stdout.startswith(f"ok: {n} rows verified; {len(checkpoint_lines(env))} signed "
                               f"checkpoints (key "), r.stdout
    assert r.stdout.split("\n")[0].endswith(") match"), r.stdout
    assert f"newest checkpoint: seq {head(env)[0]} at " in r.stdout
    j = json.loads(verify(env, json_out=True).stdout)
    assert j["status"] == "ok" and j["checkpoints"]["newest_seq"] == head(env)[0]


def test_rows_after_last_checkpoint_are_reported_as_unsigned(env):
    """A window the checkpoints do not cover yet is said so, not hidden."""
    env.archiver.stop()
    try:
        before = len(checkpoint_lines(env))
        # the archiver is away: write rows as it would, straight into the database
        env.db.execute("SELECT * FROM compliance_put_batch(%s::json)", (json.dumps([{
            "uuid": str(__import__("uuid").uuid4()), "type": "join", "sender": "x",
            "room": ROOM, "actor_jid": ALICE["jid"], "event_time": "2026-02-05T10:00:00Z",
            "rcpt": []}]),))
        last = int(checkpoint_lines(env)[-1].split()[1][4:])
        r = verify(env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (f"rows {last + 1}..{head(env)[0]} came after it and are only as safe as the "
                f"database") in r.stdout, r.stdout
        assert len(checkpoint_lines(env)) == before
    finally:
        env.start_archiver()
        wait_checkpoint_at_head(env)


# ------------------------------------------------------------------ (b) rewrite and rehash

def rewrite_and_rehash(env, seq, body):
    """As superuser: change one body, then recompute every later hash and the
    head with the database's own compliance_canonical(), so the chain holds."""
    env.db.execute("UPDATE events SET body = %s WHERE seq = %s", (body, seq))
    env.db.execute(f"""
        DO $$ DECLARE r record; prev bytea;
        BEGIN
            SELECT hash INTO prev FROM events WHERE seq = {seq} - 1;
            FOR r IN SELECT * FROM events WHERE seq >= {seq} ORDER BY seq LOOP
                prev := sha256(coalesce(prev, decode(repeat('00', 32), 'hex'))
                               || compliance_canonical({CANON_ARGS}));
                UPDATE events SET hash = prev WHERE seq = r.seq;
            END LOOP;
            UPDATE chain_head SET hash = prev WHERE id = 1;
        END $$""")


def cut_tail(env, n):
    """Once a checkpoint names the head, delete the last n events and move the head
    back as a careless (or hostile) operator would; returns (old head, new head)."""
    wait_checkpoint_at_head(env)
    top = head(env)[0]
    keep = top - n
    env.db.execute("DELETE FROM events WHERE seq > %s", (keep,))
    env.db.execute("UPDATE chain_head SET seq = %s, hash = (SELECT hash FROM events "
                   "WHERE seq = %s) WHERE id = 1", (keep, keep))
    return top, keep


@pytest.fixture
def saved(env):
    """Put the events and the head back as they were after the test."""
    env.db.execute(f"CREATE TABLE saved_events AS SELECT {COLUMNS} FROM events")
    env.db.execute("CREATE TABLE saved_head AS SELECT * FROM chain_head")
    yield
    env.db.execute("DELETE FROM events")
    env.db.execute(f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM saved_events")
    env.db.execute("UPDATE chain_head h SET seq = s.seq, hash = s.hash FROM saved_head s "
                   "WHERE h.id = s.id")
    env.db.execute("DROP TABLE saved_events, saved_head")
    r = verify(env)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rewrite_and_rehash_caught(env, saved):
    wait_checkpoint_at_head(env)
    seq = env.one("SELECT min(seq) FROM events WHERE body = 'great, send the forecast too'")[0]
    signed = sorted(int(line.split()[1][4:]) for line in checkpoint_lines(env))
    rewrite_and_rehash(env, seq, "great, and delete the forecast")
    # the finding: the plain check cannot tell
    plain = ctl(env, "verify")
    assert plain.returncode == 0, plain.stdout
    assert plain.stdout.startswith("ok:")
    # against the signed checkpoints it can, and says where
    r = verify(env)
    assert r.returncode == 1, r.stdout + r.stderr
    first_bad = min(s for s in signed if s >= seq)
    good = max((s for s in signed if s < seq), default=0)
    assert f"rewritten at or before seq {first_bad}: " in r.stdout, r.stdout
    if good:
        assert (f"rows {good + 1}..{first_bad} were altered and the chain recomputed "
                f"(seq {good} still matches its checkpoint)") in r.stdout, r.stdout
    j = json.loads(verify(env, json_out=True).stdout)
    assert j["status"] == "rewritten" and j["seq"] == first_bad
    assert j["rewritten_after"] == good and j["signed_hash"] != j["chain_hash"]


# ------------------------------------------------------------------ (c) tail truncation

def test_tail_truncation_caught_with_window(env, saved):
    top, keep = cut_tail(env, 3)
    plain = ctl(env, "verify")
    assert plain.returncode == 0 and plain.stdout.startswith("ok:"), plain.stdout
    r = verify(env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(rf"truncated: the checkpoint signed at \S+ names seq {top}, but the "
                     rf"chain ends at seq {keep}: rows {keep + 1}\.\.{top} were cut off the "
                     rf"end and chain_head moved back", r.stdout), r.stdout
    j = json.loads(verify(env, json_out=True).stdout)
    assert j["status"] == "truncated" and j["missing"] == [keep + 1, top]
    # a range that ends before the cut cannot see it, and does not claim to
    assert verify(env, "--to", "2026-02-04T00:00:00Z").returncode == 0


# ------------------------------------------------------------------ (d) a forged checkpoint

def test_forged_checkpoint_refused(env, tmp_path):
    lines = checkpoint_lines(env)
    last = lines[-1]
    # the DBA's forgery: the last line, pointing at a hash of their choosing
    forged_hash = "00" * 32
    forged = re.sub(r"hash=[0-9a-f]{64}", f"hash={forged_hash}", last)
    f = tmp_path / "forged.log"
    f.write_text("\n".join(lines + [forged]) + "\n")
    r = ctl(env, "verify", "--checkpoints", f, "--pubkey", env.pub)
    assert r.returncode == 1
    assert (f"{f}:{len(lines) + 1}: the signature does not match: a forged or altered "
            f"checkpoint") in r.stderr, r.stderr
    assert "ok:" not in r.stdout
    # a line signed by another key is refused as well
    other = str(tmp_path / "other.pem")
    assert ctl(env, "keygen", "--out", other).returncode == 0
    r = ctl(env, "verify", "--checkpoints", env.cpfile, "--pubkey", other + ".pub")
    assert r.returncode == 1 and "not by the given public key" in r.stderr, r.stderr
    # and so is a line that is not a checkpoint at all
    f.write_text("\n".join(lines + ["seq=99 trust me"]) + "\n")
    r = ctl(env, "verify", "--checkpoints", f, "--pubkey", env.pub)
    assert r.returncode == 1 and "not a checkpoint line" in r.stderr, r.stderr


# ------------------------------------------------------------------ the archiver notices

def test_archiver_logs_head_moved_back(env):
    """Cutting the chain while the archiver runs: its next checkpoint reads a
    head below the one it signed and says so; verify still reports the cut
    even though new rows reuse the seqs. Last in this module: the signed
    checkpoints of the reused seqs stay in the file."""
    top, keep = cut_tail(env, 2)
    mark = env.archiver.mark()
    for i in range(EVERY):
        assert_result(env.fake.send(event("join", room=ROOM, actor=BOB,
                                          when=f"2026-02-06T10:00:0{i}Z")))
    assert env.archiver.wait_log(rf"the chain head moved back: seq {keep + 1} was handed out "
                                 rf"again \(this archiver had committed or signed up to seq {top}\): "
                                 rf"rows were removed", after=mark, timeout=15)
    r = verify(env)
    assert r.returncode == 1, r.stdout
    assert "rewritten at or before seq" in r.stdout or "truncated:" in r.stdout, r.stdout
