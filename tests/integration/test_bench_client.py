"""confab-bench --mode client end to end: real clients (libstrophe, forked workers)
through a real Prosody, against Prosody's own mod_muc and against confabd.

The routers come from scripts/bench_compare.py (accounts user1..userK, mod_muc on a
second domain), so these tests also check what bench-compare.sh relies on. Small
loads only: they check the accounting (every copy counted once, nothing lost, the
per-worker results merged), not performance.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

import confabtest as ct

sys.path.insert(0, str(ct.REPO / "scripts"))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/ (it is distributed)
import bench_compare as bc  # noqa: E402
sys.dont_write_bytecode = False

ROOMS, OCC = 3, 4
PASSWORD = "bench-pw"


def run_bench(router, muc, *extra, rate=40, pids=None, timeout=120):
    argv = [str(ct.BUILD / "confab-bench"), "--mode", "client", "--quiet",
            "--server", f"{ct.HOST}:{router.c2s}", "--domain", bc.DOMAIN, "--muc", muc,
            "--password", PASSWORD, "--rooms", str(ROOMS), "--occupants", str(OCC),
            "--rate", str(rate), "--duration", "2", "--warmup", "0.5", "--drain", "5",
            "--workers", "2", "--timeout", "30", *extra]
    for name, pid in (pids or {}).items():
        argv += ["--pid", f"{name}={pid}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, f"no RESULT line (exit {r.returncode})\n{r.stdout}\n{r.stderr}"
    return r.returncode, json.loads(lines[0][7:]), r.stdout + r.stderr


def check_clean(res, out, rate):
    users = ROOMS * OCC
    assert res["ok"], out
    assert res["conns"] == users and res["conn_failed"] == 0, out
    assert res["joins_ok"] == users and res["joins_failed"] == 0, out
    # the open-loop schedule: rate x (warmup + duration) messages, all sent
    assert res["sent"] == round(rate * 2.5), out
    # every message reaches every occupant of its room once (reflection included)
    assert res["expected"] == res["sent"] * OCC, out
    assert res["unique"] == res["expected"], out
    assert res["deliveries"] == res["expected"], out
    assert res["lost"] == 0 and res["dup"] == 0 and res["misrouted"] == 0, out
    assert res["lat"]["n"] > 0 and res["lat"]["p50"] > 0, out
    assert res["lat_reflect"]["n"] * (OCC - 1) == res["lat_fanout"]["n"], out
    assert res["join"]["n"] == users, out


@pytest.fixture
def prosody():
    r = bc.Prosody(ROOMS * OCC, PASSWORD, "bench-secret")
    r.start()
    yield r
    r.stop()
    if not os.environ.get("CONFAB_TEST_KEEP"):
        shutil.rmtree(r.dir, ignore_errors=True)


def test_prosody_muc(prosody):
    rc, res, out = run_bench(prosody, bc.PROSODY_MUC, pids={"router": prosody.pid})
    assert rc == 0, out
    check_clean(res, out, 40)
    # CPU in a 2 s window at this load can be below /proc's 10 ms tick: only sampled
    router = res["procs"]["router"]
    assert router["cpu_s"] >= 0 and router["rss_kb"] > 0, out


def test_confabd_via_prosody(prosody, pg, tmp_path):
    dsn_db = f"bench_client_{os.getpid()}"
    pg.create_database(dsn_db)
    cfg = bc.confabd_config(f"{ct.HOST}:{prosody.comp}", "bench-secret", pg)
    cfg = cfg.replace(pg.dsn("confab"), pg.dsn(dsn_db))
    d = ct.Daemon("confabd", tmp_path, cfg)
    d.start()
    try:
        d.wait_link_up(timeout=30)
        rc, res, out = run_bench(prosody, bc.CONFAB_MUC, "--room-prefix", "cb",
                                 pids={"router": prosody.pid, "muc": d.proc.pid})
        assert rc == 0, out
        check_clean(res, out, 40)
        muc = res["procs"]["muc"]
        assert muc["cpu_s"] >= 0 and muc["rss_kb"] > 0, out
    finally:
        d.check_clean_exit()


def test_bad_password_fails(prosody):
    """A run whose clients cannot log in must say so, not report a clean run."""
    rc, res, out = run_bench(prosody, bc.PROSODY_MUC, "--password", "wrong")
    assert rc != 0
    assert not res["ok"]
    assert res["conn_failed"] == ROOMS * OCC
    assert res["sent"] == 0 and res["joins_ok"] == 0
