"""confabd and confab-archiver attached to a real router (Prosody and ejabberd) as
XEP-0114 components, exercised by a real XMPP client through the router."""

import re
import signal
import time

import pytest

import confabtest as ct
from confabtest import (ARCHIVE_DOMAIN, MUC_DOMAIN, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC,
                        NS_PING, NS_VERSION, describe, q, stanza_error)
from conftest import SECRETS

UNKNOWN_NS = "urn:example:confab:no-such-protocol"
RECONNECT_RX = re.compile(r"reconnecting in (\d+) ?ms")


def tool_version(program):
    r = ct.run_tool(program, "--version")
    assert r.returncode == 0, f"{program} --version exited {r.returncode}: {r.stderr}"
    m = re.search(r"\b(\d+\.\d+(?:\.\d+)?[^\s]*)", r.stdout)
    assert m, f"no version number in {program} --version output: {r.stdout!r}"
    return m.group(1)


def configure_ac_version():
    text = (ct.REPO / "configure.ac").read_text()
    return re.search(r"AC_INIT\(\[[^\]]*\],\s*\[([^\]]+)\]", text).group(1)


def assert_result(reply, what):
    assert reply.get("type") == "result", f"{what}: expected a result, got {describe(reply)}"


def disco_info(client, jid):
    reply = client.iq(jid, "get", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert_result(reply, f"disco#info to {jid}")
    query = reply.find(q("query", NS_DISCO_INFO))
    assert query is not None, describe(reply)
    identities = {(i.get("category"), i.get("type")) for i in query.findall(q("identity", NS_DISCO_INFO))}
    features = {f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))}
    return reply, identities, features


def check_version(client, jid, program):
    """jid answers jabber:iq:version with program's name and the built version."""
    reply = client.iq(jid, "get", f"<query xmlns='{NS_VERSION}'/>")
    assert_result(reply, f"version to {jid}")
    query = reply.find(q("query", NS_VERSION))
    assert query is not None, describe(reply)
    assert query.findtext(q("name", NS_VERSION)) == program
    assert query.findtext(q("version", NS_VERSION)) == tool_version(program)


def ping(client, jid):
    reply = client.iq(jid, "get", f"<ping xmlns='{NS_PING}'/>")
    assert_result(reply, f"ping to {jid}")
    assert reply.get("from") == jid, describe(reply)


def assert_error(reply, condition=None, sender=None):
    err = stanza_error(reply)
    assert err is not None, f"expected an error, got {describe(reply)}"
    if condition is not None:
        assert err[1] == condition, f"expected {condition}, got {err}: {describe(reply)}"
    if sender is not None:
        assert reply.get("from") == sender, describe(reply)
    return err


# ------------------------------------------------------------------ confabd: service answers

def test_disco_info(confabd, client):
    reply, identities, features = disco_info(client, MUC_DOMAIN)
    assert reply.get("from") == MUC_DOMAIN
    assert ("conference", "text") in identities, identities
    for var in (NS_MUC, NS_DISCO_INFO, NS_VERSION, NS_PING):
        assert var in features, f"{var} missing from {sorted(features)}"


def test_disco_items(confabd, client):
    reply = client.iq(MUC_DOMAIN, "get", f"<query xmlns='{NS_DISCO_ITEMS}'/>")
    assert_result(reply, "disco#items")
    query = reply.find(q("query", NS_DISCO_ITEMS))
    assert query is not None, describe(reply)
    for item in query.findall(q("item", NS_DISCO_ITEMS)):
        assert item.get("jid"), describe(reply)


def test_version(confabd, client):
    check_version(client, MUC_DOMAIN, "confabd")


def test_ping(confabd, client):
    ping(client, MUC_DOMAIN)


@pytest.mark.parametrize("itype", ["get", "set"])
def test_unknown_iq_namespace(confabd, client, itype):
    reply = client.iq(MUC_DOMAIN, itype, f"<query xmlns='{UNKNOWN_NS}'/>")
    assert_error(reply, "service-unavailable", sender=MUC_DOMAIN)


def test_unknown_iq_child_of_known_namespace(confabd, client):
    # a disco#info "set" is not defined: an error, not a result and not silence
    reply = client.iq(MUC_DOMAIN, "set", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert_error(reply, sender=MUC_DOMAIN)


def test_message_to_service_gets_error(confabd, client):
    client.send_raw(f"<message to='{MUC_DOMAIN}' id='m1'><body>hello service</body></message>")
    reply = client.wait_message(
        lambda m: m.get("from") == MUC_DOMAIN and m.get("type") == "error",
        what=f"error reply from {MUC_DOMAIN}")
    assert_error(reply, "service-unavailable")
    assert reply.get("id") == "m1", describe(reply)


@pytest.mark.parametrize("target", [f"room@{MUC_DOMAIN}", f"room@{MUC_DOMAIN}/nick"])
def test_iq_to_room_jid_gets_error(confabd, client, target):
    reply = client.iq(target, "get", f"<query xmlns='{UNKNOWN_NS}'/>")
    assert_error(reply, sender=target)


def test_service_still_answers_after_errors(confabd, client):
    # the error paths above must not have broken the link or the daemon
    assert confabd.alive()
    ping(client, MUC_DOMAIN)
    assert not [ln for ln in confabd.lines() if "link down" in ln], confabd.tail()


# ------------------------------------------------------------------ confab-archiver

def test_archiver_disco_info(archiver, client):
    reply, identities, features = disco_info(client, ARCHIVE_DOMAIN)
    assert reply.get("from") == ARCHIVE_DOMAIN
    assert ("component", "archive") in identities, identities
    for var in (NS_DISCO_INFO, NS_VERSION, NS_PING):
        assert var in features, f"{var} missing from {sorted(features)}"


def test_archiver_version(archiver, client):
    check_version(client, ARCHIVE_DOMAIN, "confab-archiver")


def test_archiver_ping(archiver, client):
    ping(client, ARCHIVE_DOMAIN)


def test_archiver_unknown_iq_namespace(archiver, client):
    reply = client.iq(ARCHIVE_DOMAIN, "get", f"<query xmlns='{UNKNOWN_NS}'/>")
    assert_error(reply, "service-unavailable", sender=ARCHIVE_DOMAIN)


# ------------------------------------------------------------------ link life cycle

def test_router_restart_reconnects(fresh_router, daemons, new_client):
    """kill -9 the router under a running confabd; start it again on the same ports:
    confabd reconnects by itself within 2 s of the router accepting again."""
    router = fresh_router
    d = daemons("confabd", router, link={"reconnect_min": "100ms", "reconnect_max": "1s"})
    d.wait_link_up()
    ping(new_client(router), MUC_DOMAIN)

    mark = d.mark()
    router.kill9()
    down = d.wait_log(r"link down", after=mark, timeout=5)[0]
    m = re.search(r"link down: (.+?); reconnecting in \d+ ?ms", down)
    assert m and m.group(1).strip(), f"link down without a reason: {down!r}"

    mark = d.mark()
    router.start(wait=False)

    def component_port_up():
        assert router.alive(), f"{router.kind} died on restart\n{router.logs()}"
        return ct.port_accepts(router.component_port)
    ct.wait_for(component_port_up, 60, f"{router.kind} component port after restart",
                interval=0.005)
    accepted = time.monotonic()
    d.wait_log(r"link up", after=mark, timeout=10)
    elapsed = time.monotonic() - accepted
    assert elapsed <= 2.0, (f"link up {elapsed:.2f}s after the router accepted again "
                            f"(limit 2 s)\n{d.tail()}")
    assert d.alive()

    router.wait_ready(60)  # c2s too, and (ejabberd) users re-registered
    reply, identities, _ = disco_info(new_client(router), MUC_DOMAIN)
    assert ("conference", "text") in identities


@pytest.mark.parametrize("program", ["confabd", "confab-archiver"])
def test_wrong_secret_backoff(fresh_router, daemons, program):
    """A refused handshake gives a clear log line, growing retry delays, no crash."""
    d = daemons(program, fresh_router, muc_secret="definitely-not-the-secret",
                archive_secret="definitely-not-the-secret",
                link={"reconnect_min": "100ms", "reconnect_max": "1s",
                      "reconnect_auth_max": "30s"})
    # a refusal backs off from at least 1 s (jittered), so 3 attempts take a few seconds
    lines = d.wait_log(RECONNECT_RX.pattern, count=3, timeout=20)
    text = d.text()
    assert "not-authorized" in text, f"no not-authorized in the log\n{d.tail()}"
    assert "link up" not in text, d.tail()
    delays = [int(RECONNECT_RX.search(ln).group(1)) for ln in lines]
    assert all(a <= b for a, b in zip(delays, delays[1:])), f"delays not growing: {delays}"
    assert delays[-1] > delays[0], f"delays not growing: {delays}"
    assert d.alive()
    d.check_clean_exit()


def test_domain_conflict(prosody_router, daemons, new_client):
    """Prosody refuses a second connection for a connected domain (conflict): the
    newcomer says so and backs off, the first keeps serving."""
    router = prosody_router
    first = daemons("confabd", router)
    first.wait_link_up()
    second = daemons("confabd", router, link={"reconnect_min": "100ms"})
    lines = second.wait_log(RECONNECT_RX.pattern, count=2, timeout=20)
    assert "conflict" in second.text(), second.tail()
    assert "link up" not in second.text(), second.tail()
    delays = [int(RECONNECT_RX.search(ln).group(1)) for ln in lines]
    assert delays[1] >= delays[0], delays
    assert not [ln for ln in first.lines() if "link down" in ln], first.tail()
    ping(new_client(router), MUC_DOMAIN)


def test_sighup_reloads(fresh_router, daemons, new_client):
    router = fresh_router
    d = daemons("confabd", router)
    d.wait_link_up()
    mark = d.mark()
    d.config.write_text(d.config.read_text().replace("level = info", "level = debug"))
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"reloaded configuration from " + re.escape(str(d.config)), after=mark, timeout=5)
    ping(new_client(router), MUC_DOMAIN)
    _, identities, _ = disco_info(new_client(router), MUC_DOMAIN)
    assert ("conference", "text") in identities
    assert not [ln for ln in d.lines(mark) if "link down" in ln], \
        f"a log-level reload must not drop the link\n{d.tail()}"


def test_sighup_with_broken_config_keeps_running(fresh_router, daemons, new_client):
    router = fresh_router
    d = daemons("confabd", router)
    d.wait_link_up()
    lines = d.config.read_text().splitlines()
    bad_line = lines.index("[log]") + 2  # 1-based number of the line we add
    lines.insert(bad_line - 1, "no_such_key = 1")
    d.config.write_text("\n".join(lines) + "\n")
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    # one log line (the contract: one line per message) naming FILE:LINE
    d.wait_log(r" ERROR: .*" + re.escape(f"{d.config}:{bad_line}:"), after=mark, timeout=5)
    assert d.alive()
    ping(new_client(router), MUC_DOMAIN)


@pytest.mark.parametrize("program", ["confabd", "confab-archiver"])
def test_sigint_stops_cleanly(fresh_router, daemons, program):
    d = daemons(program, fresh_router)
    d.wait_link_up()
    d.check_clean_exit(signal.SIGINT)


# ------------------------------------------------------------------ command line

@pytest.mark.parametrize("program", ["confabd", "confab-archiver"])
def test_version_flag(program):
    assert tool_version(program) == configure_ac_version()


@pytest.mark.parametrize("program", ["confabd", "confab-archiver"])
def test_check_config_example_ok(program):
    example = ct.REPO / "contrib" / "confab.ini.example"
    r = ct.run_tool(program, "-c", example, "--check-config")
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    assert f"{example}: configuration OK" in r.stdout + r.stderr


@pytest.mark.parametrize("program", ["confabd", "confab-archiver"])
def test_check_config_good(program, tmp_path):
    cfg = tmp_path / "good.ini"
    cfg.write_text(ct.config_text("127.0.0.1:5347", SECRETS))
    r = ct.run_tool(program, "-c", cfg, "--check-config")
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    assert f"{cfg}: configuration OK" in r.stdout + r.stderr


BAD_LINES = {
    "unknown key": ("[component]", "colour = blue"),
    "unknown key in [link]": ("[link]", "reconnect_sometimes = 1s"),
    "bad duration": ("[link]", "reconnect_min = soon"),
    "bad log level": ("[log]", "level = chatty"),
}


@pytest.mark.parametrize("program", ["confabd", "confab-archiver"])
@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_check_config_bad(program, case, tmp_path):
    section, bad = BAD_LINES[case]
    lines = ct.config_text("127.0.0.1:5347", SECRETS).splitlines()
    if bad.split("=")[0].strip() == "level":
        lines = [ln for ln in lines if not ln.startswith("level =")]
    at = lines.index(section) + 1
    lines.insert(at, bad)
    cfg = tmp_path / "bad.ini"
    cfg.write_text("\n".join(lines) + "\n")
    r = ct.run_tool(program, "-c", cfg, "--check-config")
    assert r.returncode == 78, f"exit {r.returncode}: {r.stdout}{r.stderr}"
    assert f"{cfg}:{at + 1}:" in r.stderr, f"no {cfg}:{at + 1}: in {r.stderr!r}"


def test_start_with_bad_config_fails(tmp_path):
    cfg = tmp_path / "bad.ini"
    cfg.write_text(ct.config_text("127.0.0.1:5347", SECRETS) + "bogus = 1\n")
    r = ct.run_tool("confabd", "-c", cfg, "-f", timeout=10)
    assert r.returncode == 78, f"exit {r.returncode}: {r.stderr}"
    assert f"{cfg}:" in r.stderr
