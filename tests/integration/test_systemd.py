"""The daemons under a service manager, without one: the sd_notify protocol
(readiness, status, reload, stop, watchdog) captured on a datagram socket this
test owns, as systemd's NOTIFY_SOCKET would be, and the journald priority
prefixes when stderr is the journal (JOURNAL_STREAM). docs/operations.md.

The units themselves are checked with systemd-analyze verify (make check:
tests/docs/verify-units.sh; scripts/test.sh's package step: the installed units)."""

import os
import re
import shutil
import signal
import socket
import tempfile
import time

import pytest

import confabtest as ct
from conftest import SECRETS

PROGRAMS = ["confabd", "confab-archiver"]


def built_with_systemd():
    config_h = ct.BUILD / "config.h"
    return config_h.exists() and "#define HAVE_LIBSYSTEMD 1" in config_h.read_text()


needs_libsystemd = pytest.mark.skipif(not built_with_systemd(),
                                      reason="built without libsystemd (configure --with-systemd)")


class NotifySocket:
    """The service manager's end: an AF_UNIX datagram socket; every datagram is
    one notification of NAME=VALUE lines."""

    def __init__(self):
        # AF_UNIX paths are short (108 bytes): not under pytest's deep tmp_path.
        self.dir = tempfile.mkdtemp(prefix="confab-notify-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []  # (monotonic time, {NAME: VALUE})

    def pump(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def having(self, name, value=None, after=0):
        self.pump()
        return [(t, m) for t, m in self.messages[after:]
                if name in m and (value is None or m[name] == value)]

    def wait(self, name, value=None, after=0, count=1, timeout=10):
        return ct.wait_for(lambda: (lambda f: f if len(f) >= count else None)(
            self.having(name, value, after)), timeout * ct.SLOW,
            f"{count} x {name}={value or '*'} on NOTIFY_SOCKET", detail=self.describe)

    def describe(self):
        self.pump()
        return "notifications so far:\n" + "\n".join(
            f"  {t:.3f} {m}" for t, m in self.messages[-30:])

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class ManagedDaemon(ct.Daemon):
    """A Daemon started with extra environment (what systemd sets for a service)."""

    def __init__(self, *args, env=None, **kw):
        super().__init__(*args, **kw)
        self.env = env or {}

    def start(self):
        assert self.binary.exists(), f"{self.binary} is not built (CONFAB_BUILD={ct.BUILD})"
        self.returncode = None
        self.proc = ct.Proc([*self._wrapper(), self.binary, "-c", self.config, "-f"], self.log,
                            env={**os.environ, **self.env}, cwd=self.workdir)
        return self


@pytest.fixture
def notify():
    s = NotifySocket()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def managed(pg, tmp_path):
    """Factory: managed(program, router, env, **config_text kwargs) -> started daemon;
    it must exit 0 on SIGTERM with a clean log (unless the test stopped it)."""
    started = []

    def make(program, router, env, **kw):
        d = ManagedDaemon(program, tmp_path, ct.config_text(router.router_addr, SECRETS, pg, **kw),
                          name=f"{program}-{len(started)}", env=env)
        started.append(d)
        return d.start()
    yield make
    for d in started:
        if d.returncode is None:
            d.check_clean_exit()


@needs_libsystemd
@pytest.mark.parametrize("program", PROGRAMS)
def test_notify_ready_watchdog_reload_stopping(router, managed, notify, program):
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}  # keep-alive every 200 ms
    d = managed(program, router, env)
    notify.wait("STATUS", timeout=10)
    first_status = notify.having("STATUS")[0][1]["STATUS"]
    assert first_status.startswith("connecting to router "), notify.describe()

    ready = notify.wait("READY", "1", timeout=15)[0]
    assert "link up" in d.text(), "READY=1 before the link was up:\n" + d.tail()
    assert ready[1].get("STATUS", "").startswith("link up: "), notify.describe()
    assert len(notify.having("READY")) == 1, notify.describe()

    # WATCHDOG=1 from the loop at half of WATCHDOG_USEC: about 5 a second.
    mark = len(notify.messages)
    time.sleep(1.2)
    pings = notify.having("WATCHDOG", "1", after=mark)
    assert 3 <= len(pings) <= 12, f"{len(pings)} WATCHDOG=1 in 1.2 s\n" + notify.describe()
    assert re.search(r"watchdog: keep-alive every 200 ms", d.text()), d.tail()

    # SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 once applied.
    mark = len(notify.messages)
    log_mark = d.mark()
    d.send_signal(signal.SIGHUP)
    reloading = notify.wait("RELOADING", "1", after=mark)[0]
    assert reloading[1].get("MONOTONIC_USEC", "").isdigit(), notify.describe()
    again = notify.wait("READY", "1", after=mark)[0]
    assert again[0] >= reloading[0], notify.describe()
    d.wait_log(r"reloaded configuration from", after=log_mark)

    # SIGTERM: STOPPING=1, exit 0, and no keep-alive after it.
    mark = len(notify.messages)
    d.check_clean_exit()
    stopping = notify.wait("STOPPING", "1", after=mark, timeout=2)[0]
    assert stopping[1].get("STATUS", "").startswith("stopping: SIGTERM"), notify.describe()
    later = [t for t, m in notify.messages[mark:] if "WATCHDOG" in m and t > stopping[0]]
    assert not later, notify.describe()


@needs_libsystemd
@pytest.mark.parametrize("program", PROGRAMS)
def test_not_ready_while_router_refuses(fresh_router, managed, notify, program):
    """READY=1 means the router accepted us: a wrong secret keeps the unit
    activating (and systemd's start timeout then fails it), with a STATUS= saying
    why; the watchdog keeps going meanwhile (the loop is alive)."""
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
    d = managed(program, fresh_router, env, muc_secret="definitely-not-the-secret",
                archive_secret="definitely-not-the-secret")
    d.wait_log(r"not-authorized|link down", timeout=15)
    time.sleep(0.5)
    assert not notify.having("READY"), notify.describe()
    assert len(notify.having("WATCHDOG", "1")) >= 2, notify.describe()
    statuses = [m["STATUS"] for _, m in notify.having("STATUS")]
    assert statuses and all(s.startswith(("connecting to router", "link down")) for s in statuses), \
        notify.describe()
    # SIGHUP before readiness must not make it ready.
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"reloaded configuration from")
    time.sleep(0.2)
    assert not notify.having("READY") and not notify.having("RELOADING"), notify.describe()


JOURNAL_LINE = re.compile(r"^<(\d)>(ERROR|WARN|INFO|DEBUG|TRACE): \S")
PRIORITY = {"ERROR": "3", "WARN": "4", "INFO": "6", "DEBUG": "7", "TRACE": "7"}


class JournalDaemon(ManagedDaemon):
    """stderr 'is the journal': JOURNAL_STREAM names the log file's device and
    inode, as systemd names the stream socket it connects stderr to."""

    def start(self):
        self.log.touch()
        st = os.stat(self.log)
        self.env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        return super().start()

    def malformed_lines(self):
        bad = []
        for ln in self.lines():
            m = JOURNAL_LINE.match(ln)
            if ln.strip() and (not m or PRIORITY[m.group(2)] != m.group(1)):
                bad.append(ln)
        return bad


@pytest.mark.parametrize("program", PROGRAMS)
def test_journal_priority_prefixes(router, pg, tmp_path, program):
    d = JournalDaemon(program, tmp_path, ct.config_text(router.router_addr, SECRETS, pg,
                                                        log_level="trace"))
    d.start()
    try:
        d.wait_link_up()
        d.wait_log(r"schema")
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded configuration from")
    finally:
        d.check_clean_exit()  # every line <N>LEVEL: with N matching LEVEL
    levels = {JOURNAL_LINE.match(ln).group(2) for ln in d.lines() if ln.strip()}
    assert {"INFO", "TRACE"} <= levels, d.tail()
    assert not re.search(r"^\d{4}-\d\d-\d\dT", d.text(), re.M), "timestamps in journal mode"


@pytest.mark.parametrize("program", PROGRAMS)
def test_journal_stream_of_another_file_keeps_plain_format(router, pg, tmp_path, program):
    """JOURNAL_STREAM inherited but stderr redirected elsewhere: the plain
    'TIMESTAMP PROGRAM LEVEL: message' format (checked at teardown)."""
    other = tmp_path / "not-the-log"
    other.write_text("")
    st = os.stat(other)
    d = ManagedDaemon(program, tmp_path, ct.config_text(router.router_addr, SECRETS, pg),
                      env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    d.start()
    try:
        d.wait_link_up()
    finally:
        d.check_clean_exit()
