"""Metrics and health over HTTP (issue 18 item 1): both daemons serve the Prometheus
text format on [metrics] listen / archiver_listen; a real client parser
(python3-prometheus-client), promtool's linter and a real Prometheus server read
them; the figures move with what happens (rooms, occupants, stanzas, commits)."""
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import confabtest as ct

HOST = "127.0.0.1"


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
    except urllib.error.URLError as e:   # not listening (yet)
        return 0, None, str(e.reason)


def scrape(port):
    """{sample name with labels: value} through the client library's own parser."""
    status, ctype, text = get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
                            if s.labels else "")
            out[key] = s.value
    return out, text


@pytest.fixture
def stack(pg, tmp_path):
    ports = {"confabd": ct.free_port(), "archiver": ct.free_port()}
    metrics = (f"\n[metrics]\nlisten = {HOST}:{ports['confabd']}\n"
               f"archiver_listen = {HOST}:{ports['archiver']}\n")
    env = ct.MucEnv("prosody", pg, tmp_path, metrics)
    arch = ct.Daemon("confab-archiver", tmp_path,
                     ct.config_text(env.router.router_addr, env.secrets, pg, extra=metrics),
                     name="archiver")
    try:
        arch.start()
        arch.wait_link_up()
        yield env, arch, ports
    finally:
        arch.check_clean_exit()
        env.stop()


def test_metrics_parse_and_follow_activity(stack):
    env, arch, ports = stack
    before, _ = scrape(ports["confabd"])
    assert before["confab_link_up"] == 1
    assert before["confab_link_ups_total"] >= 1
    for name in ("confab_rooms_loaded", "confab_occupants", "confab_db_queue",
                 "confab_output_queue_bytes", "confab_input_gate_closed",
                 "confab_shaped_waiting", "confab_compliance_outbox", "confab_db_commit_seconds_count"):
        assert name in before, f"{name} missing from confabd's metrics"
    alice, bob = env.client("alice"), env.client("bob")
    room = env.create_room(alice, "Alice")
    bob.join(room, "Bob")
    for i in range(3):
        alice.groupchat(room, f"counted {i}")
        bob.wait_groupchat(room, f"counted {i}")
    after, _ = scrape(ports["confabd"])
    assert after["confab_occupants"] == before["confab_occupants"] + 2
    assert after["confab_rooms_loaded"] >= before["confab_rooms_loaded"] + 1
    sent = after["confab_stanzas_out_total{kind=message}"] - \
        before.get("confab_stanzas_out_total{kind=message}", 0)
    assert sent >= 6, f"3 messages to 2 occupants: {sent} message deliveries counted"
    assert after["confab_stanzas_in_total{kind=message}"] >= 3
    assert after["confab_db_commit_seconds_count"] > before["confab_db_commit_seconds_count"]
    assert after['confab_db_commit_seconds_bucket{le=+Inf}'] == after["confab_db_commit_seconds_count"]
    # an error is counted by its condition
    alice.send(f"<message to='{room}/Nobody' type='chat' id='e1'><body>x</body></message>")
    alice.wait(lambda s: s.get("id") == "e1" and s.get("type") == "error", 5, "the error")
    errs, _ = scrape(ports["confabd"])
    assert errs.get("confab_errors_out_total{condition=item-not-found}", 0) >= 1, \
        {k: v for k, v in errs.items() if "errors" in k}

    a, _ = scrape(ports["archiver"])
    assert a["confab_link_up"] == 1
    assert "confab_archive_chain_head" in a and "confab_archiver_queue" in a


def test_health_and_unknown_paths(stack):
    env, arch, ports = stack
    for who in ("confabd", "archiver"):
        # the link is up; the schema migration may still be finishing: 503 says so
        ct.wait_for(lambda: get(ports[who], "/health")[0] == 200, 10 * ct.SLOW,
                    f"{who}'s /health to say ok", detail=lambda: get(ports[who], "/health"))
        status, _, body = get(ports[who], "/health")
        assert (status, body) == (200, "ok\n"), (who, status, body)
        status, _, body = get(ports[who], "/nothing")
        assert status == 404 and "/metrics" in body


def test_health_503_with_reason_while_link_down(pg, tmp_path):
    """No router listens: the daemon runs, /metrics answers with link_up 0 and
    /health answers 503 naming the reason (what a load balancer acts on)."""
    port, nowhere = ct.free_port(), ct.free_port()
    d = ct.Daemon("confabd", tmp_path,
                  ct.config_text(f"{HOST}:{nowhere}", {ct.MUC_DOMAIN: "s"}, pg,
                                 extra=f"\n[metrics]\nlisten = {HOST}:{port}\n"), name="lonely")
    d.start()
    try:
        ct.wait_for(lambda: get(port, "/health")[0] == 503, 10 * ct.SLOW, "/health to answer")
        status, _, body = get(port, "/health")
        assert (status, body) == (503, "router link down\n"), (status, body)
        m, _ = scrape(port)
        assert m["confab_link_up"] == 0
    finally:
        d.check_clean_exit()


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian prometheus) not installed")
def test_promtool_lints_both(stack):
    env, arch, ports = stack
    for who in ("confabd", "archiver"):
        _, text = scrape(ports[who])
        r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True)
        assert r.returncode == 0, f"{who}: promtool check metrics:\n{r.stdout}{r.stderr}"


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian prometheus not installed")
def test_prometheus_scrapes_both(stack, tmp_path):
    env, arch, ports = stack
    web = ct.free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: confabd
    static_configs: [{{targets: ['{HOST}:{ports["confabd"]}']}}]
  - job_name: archiver
    static_configs: [{{targets: ['{HOST}:{ports["archiver"]}']}}]
""")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address={HOST}:{web}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def query(q):
            try:
                with urllib.request.urlopen(
                        f"http://{HOST}:{web}/api/v1/query?query={q}", timeout=2) as r:
                    return json.loads(r.read())["data"]["result"]
            except (OSError, ValueError, KeyError):
                return []

        def both_up():
            res = query("confab_link_up")
            return sorted((x["metric"]["job"], x["value"][1]) for x in res) == \
                [("archiver", "1"), ("confabd", "1")]
        ct.wait_for(both_up, 30 * ct.SLOW, "Prometheus to scrape confab_link_up from both daemons",
                    interval=0.5, detail=lambda: query("up"))
        ups = {x["metric"]["job"]: x["value"][1] for x in query("up")}
        assert ups == {"confabd": "1", "archiver": "1"}, ups
    finally:
        prom.terminate()
        try:
            prom.wait(10)
        except subprocess.TimeoutExpired:
            prom.kill()
