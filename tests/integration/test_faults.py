"""Issue 7 faults: a router that stops reading, a database that falls behind, the
database's disk filling up, and the component link over TLS.

The first three use a fake router written here (FakeRouter): a raw socket that does
the server side of the XEP-0114 handshake and then plays many users over the one
component connection, so the test controls exactly when the router reads and how
much it sends. PostgreSQL is real (a private cluster; the disk-full test puts its
data directory on a small tmpfs of its own). The TLS tests use a real ejabberd whose
component listener has `tls: true` and a certificate from a test CA made here with
`openssl req`.

Run: CONFAB_BUILD=$PWD/build /usr/bin/python3 -m pytest -q tests/integration/test_faults.py
"""

import contextlib
import errno
import hashlib
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import confabtest as ct
from confabtest import HOST, MUC_DOMAIN, SLOW

psycopg = pytest.importorskip("psycopg")

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_DATA = "jabber:x:data"


# ------------------------------------------------------------------ a fake router

class FakeRouter:
    """The router side of one XEP-0114 connection, driven by the test.

    Nothing is read unless the test calls pump()/wait_for(): a test that stops
    calling them is a router that stopped reading. Received bytes are scanned for
    `markers` (counted, also across reads) and the last 256 KiB are kept for
    searching."""

    def __init__(self, secret, domain=MUC_DOMAIN, rcvbuf=None, markers=()):
        self.secret = secret
        self.domain = domain
        self.port = ct.free_port()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            # set before listen: accepted sockets inherit it and the window stays small
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.lsock.bind((HOST, self.port))
        self.lsock.listen(4)
        self.sock = None
        self.recent = bytearray()
        self.received = 0
        self.markers = {m.encode(): 0 for m in markers}
        self._tails = {m.encode(): b"" for m in markers}

    @property
    def addr(self):
        return f"{HOST}:{self.port}"

    def close(self):
        for s in (self.sock, self.lsock):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()

    # -- connection
    def accept(self, timeout=15):
        self.lsock.settimeout(timeout * SLOW)
        self.sock, _ = self.lsock.accept()
        self.sock.setblocking(False)
        self.wait_for(rb"<stream:stream[^>]*>", 10, "confabd's stream header")
        sid = secrets.token_hex(8)
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                  f"xmlns:stream='http://etherx.jabber.org/streams' id='{sid}' "
                  f"from='{self.domain}'>")
        m = self.wait_for(rb"<handshake>([0-9a-f]+)</handshake>", 10, "the handshake")
        want = hashlib.sha1((sid + self.secret).encode()).hexdigest()
        assert m.group(1).decode() == want, "confabd sent a wrong handshake digest"
        self.send("<handshake/>")

    # -- input
    def _take(self, data):
        self.received += len(data)
        for m in self.markers:
            # the tail is shorter than the marker: only occurrences that end in data count
            buf = self._tails[m] + data
            self.markers[m] += buf.count(m)
            self._tails[m] = buf[-(len(m) - 1):]
        self.recent += data
        if len(self.recent) > 256 * 1024:
            del self.recent[:len(self.recent) - 256 * 1024]

    def pump(self, timeout=0.0):
        """Read what is there (waiting up to timeout for the first bytes)."""
        got = 0
        wait = timeout
        while True:
            r, _, _ = select.select([self.sock], [], [], wait)
            if not r:
                return got
            try:
                data = self.sock.recv(256 * 1024)
            except BlockingIOError:
                return got
            if not data:
                raise AssertionError("confabd closed the component connection")
            self._take(data)
            got += len(data)
            wait = 0

    def wait_for(self, pattern, timeout, what):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        while True:
            m = rx.search(self.recent)
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(f"fake router: no {what} within {timeout}s; last bytes:\n"
                                     + self.recent[-2000:].decode(errors="replace"))
            self.pump(0.05)

    def count(self, marker):
        return self.markers[marker.encode()]

    # -- output
    def send(self, text, timeout=10):
        """Send everything, reading meanwhile (confabd may be writing to us)."""
        data = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout * SLOW
        while data:
            try:
                n = self.sock.send(data)
                data = data[n:]
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AssertionError("fake router: confabd does not read")
                self.pump(0.01)

    def try_send(self, data):
        """Send what the socket takes now, without reading; returns bytes sent."""
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    # -- XMPP helpers
    def join(self, user, room, nick):
        self.send(f"<presence from='{user}' to='{room}/{nick}'><x xmlns='{NS_MUC}'/>"
                  f"</presence>")

    def make_room(self, owner, room, nick, persistent=False):
        """owner creates room (instant room, §10.1.2) and is in it."""
        self.join(owner, room, nick)
        self.wait_for(re.escape(f"from='{room}/{nick}'").encode() + rb"[^\n]*?code='201'", 10,
                      f"201 for creating {room}")
        fields = ""
        if persistent:
            fields = ("<field var='FORM_TYPE' type='hidden'><value>"
                      "http://jabber.org/protocol/muc#roomconfig</value></field>"
                      "<field var='muc#roomconfig_persistentroom'><value>1</value></field>")
        iq_id = "cfg-" + secrets.token_hex(4)
        self.send(f"<iq from='{owner}' to='{room}' type='set' id='{iq_id}'><query "
                  f"xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='submit'>{fields}</x>"
                  f"</query></iq>")
        m = self.wait_for(rb"<iq[^>]*id='" + iq_id.encode() + rb"'[^>]*>", 10,
                          f"answer to configuring {room}")
        assert b"type='result'" in m.group(0), m.group(0)

    def ping(self, user, timeout=10):
        iq_id = "ping-" + secrets.token_hex(4)
        self.send(f"<iq from='{user}' to='{MUC_DOMAIN}' type='get' id='{iq_id}'>"
                  f"<ping xmlns='urn:xmpp:ping'/></iq>")
        m = self.wait_for(rb"<iq[^>]*id='" + iq_id.encode() + rb"'[^>]*>", timeout,
                          "ping answer")
        assert b"type='result'" in m.group(0), m.group(0)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def recv_q(port):
    """Recv-Q of confabd's socket to the router on port (bytes it has not read)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"dst {HOST}:{port}"],
                         capture_output=True, text=True, timeout=10).stdout
    qs = [int(line.split()[0]) for line in out.splitlines() if line.split()]
    return max(qs) if qs else 0


def sanitized(binary):
    """Built with ASan: its shadow memory and redzones add to RSS."""
    return b"__asan_init" in Path(binary).read_bytes()


def rss_bound_mib():
    """Without backpressure the stall test queues ~33 MiB of output, more under ASan
    (redzones) or valgrind (whose RSS includes its shadow memory and its 20 MB queue
    of freed blocks, hence the loosest bound)."""
    if ct.DAEMON_WRAPPER:
        return 48
    return 24 if sanitized(ct.BUILD / "confabd") else 16


@contextlib.contextmanager
def small_asan_quarantine():
    """ASan keeps freed memory in a 256 MiB quarantine by default, which would hide
    (or fake) growth in an RSS bound; daemons started inside get a small one."""
    old = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = ((old + ":") if old else "") + "quarantine_size_mb=8"
    try:
        yield
    finally:
        if old is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = old


def fake_confabd(tmp_path, router, secret, dsn="", link=None, storage="", muc="",
                 name="confabd"):
    extra = f"[muc]\nmessage_rate = 0\npresence_rate = 0\n{muc}\n"
    if storage:
        extra += f"[storage]\n{storage}\n"
    d = ct.Daemon("confabd", tmp_path,
                  ct.config_text(router.addr, {MUC_DOMAIN: secret}, None, chat_dsn=dsn,
                                 link=link, extra=extra), name=name)
    with small_asan_quarantine():
        d.start()
    return d


@pytest.fixture
def faults(tmp_path):
    """Daemons and fake routers of one test; every daemon must exit 0 at the end."""
    made = {"daemons": [], "routers": [], "stopped": []}
    yield made
    errors = []
    for proc in made["stopped"]:      # SIGSTOPped processes get SIGCONT whatever happened
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc, signal.SIGCONT)
    for d in made["daemons"]:
        try:
            d.check_clean_exit()
        except AssertionError as e:
            errors.append(str(e))
    for r in made["routers"]:
        r.close()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


def wait_store(d):
    """Both chat connections up: the writer ("available") and the reader, which loads
    rooms (a join before it is up gets resource-constraint)."""
    d.wait_rooms_ready()
    d.wait_log(r"chat-read: connected", timeout=20)


def up_with_fake_router(faults, tmp_path, rcvbuf=None, markers=(), **kw):
    secret = "fake-" + secrets.token_hex(8)
    router = FakeRouter(secret, rcvbuf=rcvbuf, markers=markers)
    faults["routers"].append(router)
    d = fake_confabd(tmp_path, router, secret, **kw)
    faults["daemons"].append(d)
    router.accept()
    d.wait_link_up()
    return router, d


# ------------------------------------------------------------------ 1. stalled router

def test_stalled_router_bounded_memory_backpressure_and_recovery(faults, tmp_path):
    """The router floods confabd with groupchat (each message fans out to every
    occupant) and stops reading. confabd stops reading from the router (log line;
    its socket's Recv-Q grows), its memory stays bounded (RSS), and it drops
    nothing: once the router reads again every copy of every message arrives and
    confabd still answers."""
    occupants, n_msgs, body_bytes = 5, 6000, 1000
    queue = 256 * 1024
    router, d = up_with_fake_router(faults, tmp_path, rcvbuf=64 * 1024,
                                    markers=("<body>flood-", "type='error'"),
                                    link={"max_output_queue": "256KiB"})
    room = f"stall-{secrets.token_hex(4)}@{MUC_DOMAIN}"
    users = [f"u{i}@localhost/r" for i in range(occupants)]
    router.make_room(users[0], room, "n0")
    for i, u in enumerate(users[1:], 1):
        router.join(u, room, f"n{i}")
    router.wait_for(re.escape(f"to='{users[-1]}'").encode() + rb"[^\n]*?code='110'", 10,
                    "the last occupant's self-presence")
    router.pump(0.3)
    base_rss = rss_kib(d.proc.pid)
    pad = "x" * (body_bytes - 20)
    stanzas = b"".join(
        f"<message from='{users[i % occupants]}' to='{room}' type='groupchat' id='f{i}'>"
        f"<body>flood-{i:06d} {pad}</body></message>".encode() for i in range(n_msgs))

    # Flood without reading: send until the socket stops taking bytes for 2 s.
    mark = d.mark()
    sent, last_progress, peak = 0, time.monotonic(), base_rss
    while sent < len(stanzas) and time.monotonic() - last_progress < 2:
        n = router.try_send(stanzas[sent:sent + 65536])
        if n:
            sent += n
            last_progress = time.monotonic()
        else:
            time.sleep(0.01)
        peak = max(peak, rss_kib(d.proc.pid))
    d.wait_log(r"router is not draining our output \(\d+ bytes queued\): stopped reading",
               after=mark)
    # Stalled: confabd leaves the router's bytes in its socket, memory stays put.
    for _ in range(10):
        time.sleep(0.2)
        peak = max(peak, rss_kib(d.proc.pid))
    unread = recv_q(router.port)
    delivered_while_stalled = router.count("<body>flood-")
    total_out = n_msgs * occupants * (body_bytes + 150)
    growth_mib = (peak - base_rss) / 1024
    print(f"sent {sent}/{len(stanzas)} bytes while stalled, confabd Recv-Q {unread}, "
          f"RSS {base_rss} -> peak {peak} KiB (+{growth_mib:.1f} MiB) for "
          f"{total_out / 2**20:.0f} MiB of output")
    assert d.alive(), d.tail()
    assert unread > 0 or sent < len(stanzas), \
        "confabd kept reading from a router that does not read (no bytes left unread)"
    # Without backpressure all the output (~33 MiB) would sit in confabd's queue.
    assert growth_mib < rss_bound_mib(), \
        f"confabd grew by {growth_mib:.1f} MiB while the router stalled"

    # The router reads again: everything arrives, nothing was dropped.
    mark = d.mark()
    deadline = time.monotonic() + 120 * SLOW
    want = n_msgs * occupants
    while time.monotonic() < deadline and (sent < len(stanzas)
                                           or router.count("<body>flood-") < want):
        if sent < len(stanzas):
            sent += router.try_send(stanzas[sent:sent + 65536])
        router.pump(0.01)
        peak = max(peak, rss_kib(d.proc.pid))
    got = router.count("<body>flood-")
    errors = router.count("type='error'")
    assert got == want, (f"after the router read again: {got} of {want} copies arrived "
                         f"({delivered_while_stalled} before the router read); {errors} "
                         f"errors\n{d.tail()}")
    assert router.count("type='error'") == 0, "confabd refused messages instead of waiting"
    d.wait_log(r"router drains our output again: reading resumed", after=mark)
    assert not [ln for ln in d.lines() if "not sent" in ln], \
        "confabd dropped stanzas:\n" + "\n".join(ln for ln in d.lines() if "not sent" in ln)
    router.ping(users[1])
    growth_mib = (peak - base_rss) / 1024
    assert growth_mib < rss_bound_mib(), f"confabd grew by {growth_mib:.1f} MiB during the run"


# ------------------------------------------------------------------ 1b. database behind

def backend_pids(pg, dbname):
    rows = psql_rows(pg, "postgres", "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                     (dbname,))
    return [r[0] for r in rows]


def psql_rows(pg, db, query, params=None):
    with psycopg.connect(pg.dsn(db), autocommit=True, connect_timeout=10) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def test_database_behind_pushes_back_to_router(faults, tmp_path, pg):
    """PostgreSQL stops answering (its backends for confabd's database get SIGSTOP)
    while the router sends groupchat: confabd queues up to [storage] max_queue
    statements, then stops reading from the router instead of refusing messages.
    On SIGCONT it catches up by itself: every message is reflected to every
    occupant and stored exactly once, none refused."""
    dbname = "faults_" + secrets.token_hex(4)
    dsn = pg.create_database(dbname)
    occupants, n_msgs, max_queue = 3, 1500, 200
    router, d = up_with_fake_router(faults, tmp_path, dsn=dsn,
                                    markers=("<body>behind-", "type='error'"),
                                    storage=f"max_queue = {max_queue}")
    wait_store(d)
    room = f"behind-{secrets.token_hex(4)}@{MUC_DOMAIN}"
    users = [f"u{i}@localhost/r" for i in range(occupants)]
    router.make_room(users[0], room, "n0", persistent=True)
    for i, u in enumerate(users[1:], 1):
        router.join(u, room, f"n{i}")
    router.wait_for(re.escape(f"to='{users[-1]}'").encode() + rb"[^\n]*?code='110'", 10,
                    "the last occupant's self-presence")
    tag = "behind-" + secrets.token_hex(3)
    stanzas = [f"<message from='{users[i % occupants]}' to='{room}' type='groupchat' "
               f"id='b{i}'><body>{tag} {i:06d}</body></message>".encode()
               for i in range(n_msgs)]

    pids = backend_pids(pg, dbname)
    assert pids, "no PostgreSQL backend serves confabd's database"
    mark = d.mark()
    for pid in pids:
        faults["stopped"].append(pid)
        os.kill(pid, signal.SIGSTOP)
    try:
        data = b"".join(stanzas)
        sent, last_progress = 0, time.monotonic()
        while sent < len(data) and time.monotonic() - last_progress < 3:
            n = router.try_send(data[sent:sent + 16384])
            if n:
                sent += n
                last_progress = time.monotonic()
            router.pump(0.005)  # the router keeps reading: only the database is slow
        d.wait_log(r"chat database is behind \(\d+ statements queued\): stopped reading "
                   r"from the router", after=mark)
        time.sleep(1)
        router.pump(0.1)
        assert router.count("<body>behind-") == 0, "messages reflected before their commit"
        assert router.count("type='error'") == 0, \
            "confabd refused messages while the database was behind"
        assert recv_q(router.port) > 0 or sent < len(data), \
            "confabd kept reading while its database queue was full"
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    mark = d.mark()
    want = n_msgs * occupants
    deadline = time.monotonic() + 60 * SLOW
    while time.monotonic() < deadline and (sent < len(data)
                                           or router.count("<body>behind-") < want):
        if sent < len(data):
            sent += router.try_send(data[sent:sent + 65536])
        router.pump(0.01)
    assert router.count("<body>behind-") == want, \
        f"{router.count('<body>behind-')} of {want} copies arrived\n{d.tail()}"
    assert router.count("type='error'") == 0, "confabd refused messages"
    d.wait_log(r"chat database caught up \(\d+ statements queued\): reading from the router "
               r"resumed")
    rows = psql_rows(pg, dbname, "SELECT body, count(*) FROM messages WHERE body LIKE %s "
                     "GROUP BY body", (tag + " %",))
    assert len(rows) == n_msgs and all(n == 1 for _, n in rows), \
        f"{len(rows)} of {n_msgs} messages stored, duplicates {[b for b, n in rows if n > 1][:5]}"
    router.ping(users[0])


# ------------------------------------------------------------------ 2. disk full

class SmallDiskPostgres(ct.Postgres):
    """A cluster whose data directory is a tmpfs of `size` (WAL elsewhere, on the
    normal disk: a full WAL disk is a PANIC and restart, i.e. the outage tests'
    case; a full data disk is the ERROR 53100 "could not extend file" case)."""

    def __init__(self, size="96m"):
        super().__init__(databases=("confab",), settings={"synchronous_commit": "on"})
        self.size = size
        self.mounted = False

    def start(self):
        self.data.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700",
                            "tmpfs", str(self.data)], capture_output=True, text=True)
        if r.returncode != 0:
            raise OSError(f"mount -t tmpfs failed: {r.stderr.strip()}")
        self.mounted = True
        shutil.chown(self.data, "postgres")
        wal = self.dir / "wal"
        wal.mkdir()
        shutil.chown(wal, "postgres")
        super().start()

    def initdb_args(self):
        return ("--waldir", self.dir / "wal")

    def fill(self):
        """Take every free byte of the data filesystem; returns the filler's path."""
        filler = self.data / "filler"
        chunk = b"\0" * (1 << 20)
        with open(filler, "wb", buffering=0) as f:
            for size in (1 << 20, 4096):
                chunk = b"\0" * size
                while True:
                    try:
                        f.write(chunk)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        return filler

    def cleanup(self):
        self.stop()
        if self.mounted:
            subprocess.run(["umount", str(self.data)], capture_output=True)
        if os.environ.get("CONFAB_TEST_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def small_disk_pg():
    server = SmallDiskPostgres()
    try:
        try:
            server.start()
        except OSError as e:
            pytest.skip(f"cannot mount a small filesystem for PostgreSQL's data: {e}")
        yield server
    finally:
        server.cleanup()


def test_database_disk_full_refuses_then_recovers(small_disk_pg, faults, tmp_path):
    """The chat database's disk fills up: messages get wait/resource-constraint,
    confabd keeps running and logs the failure once; no corruption (amcheck on the
    messages indexes); after the space returns traffic resumes by itself and every
    message that was reflected is stored exactly once."""
    pg = small_disk_pg
    dsn = pg.dsn("confab")
    occupants = 2
    router, d = up_with_fake_router(faults, tmp_path, dsn=dsn,
                                    markers=("<body>disk-", "type='error'"))
    wait_store(d)
    room = f"disk-{secrets.token_hex(4)}@{MUC_DOMAIN}"
    users = [f"u{i}@localhost/r" for i in range(occupants)]
    router.make_room(users[0], room, "n0", persistent=True)
    router.join(users[1], room, "n1")
    router.wait_for(re.escape(f"to='{users[1]}'").encode() + rb"[^\n]*?code='110'", 10,
                    "the second occupant's self-presence")
    tag = "disk-" + secrets.token_hex(3)
    outcome = {}   # id -> "ok" | "error"
    seq = [0]

    def send_batch(n):
        ids = []
        for _ in range(n):
            seq[0] += 1
            mid = f"d{seq[0]}"
            router.send(f"<message from='{users[0]}' to='{room}' type='groupchat' id='{mid}'>"
                        f"<body>{tag} {seq[0]:06d} {'y' * 400}</body></message>")
            ids.append(mid)
        return ids

    def settle(ids, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            router.pump(0.05)
            text = bytes(router.recent).decode(errors="replace")
            for mid in ids:
                if mid in outcome:
                    continue
                m = re.search(r"<message[^>]*id='" + mid + r"'[^>]*>", text)
                if m:
                    outcome[mid] = "error" if "type='error'" in m.group(0) else "ok"
            if all(mid in outcome for mid in ids):
                return
        raise AssertionError(f"no outcome for {[m for m in ids if m not in outcome][:10]}")

    before = send_batch(20)
    settle(before)
    assert all(outcome[m] == "ok" for m in before), "messages refused before the disk filled"

    filler = pg.fill()
    mark = d.mark()
    full = []
    for _ in range(30):  # until the table needs a new page and cannot get one
        ids = send_batch(20)
        settle(ids)
        full += ids
        if any(outcome[m] == "error" for m in ids):
            break
    errors = [m for m in full if outcome[m] == "error"]
    assert errors, f"the disk is full but no message was refused\n{d.tail()}"
    more = send_batch(20)
    settle(more)
    assert all(outcome[m] == "error" for m in more), "messages accepted on a full disk"
    text = bytes(router.recent).decode(errors="replace")
    for m in more:
        err = re.search(r"<message[^>]*id='" + m + r"'[^>]*type='error'.*?</message>", text) or \
            re.search(r"<message[^>]*type='error'[^>]*id='" + m + r"'.*?</message>", text)
        assert err and "type='wait'" in err.group(0) and "resource-constraint" in err.group(0), \
            f"expected wait/resource-constraint for {m}: {err.group(0) if err else None}"
    failures = [ln for ln in d.lines(mark) if "storing a message failed" in ln]
    assert len(failures) == 1, f"expected one log line for the failing store, got {failures}"
    assert "No space left on device" in failures[0] or "53100" in failures[0], failures[0]
    assert d.alive(), d.tail()
    router.ping(users[1])

    # Space returns: the next messages are stored, without a restart of anything.
    filler.unlink()
    mark = d.mark()
    after = send_batch(20)
    settle(after)
    assert all(outcome[m] == "ok" for m in after), \
        f"messages still refused after the space returned\n{d.tail()}"
    d.wait_log(r"store: storing messages works again", after=mark)

    rows = psql_rows(pg, "confab", "SELECT body, count(*) FROM messages WHERE body LIKE %s "
                     "GROUP BY body", (tag + " %",))
    stored = {b.split()[1]: n for b, n in rows}
    reflected = [m for m in outcome if outcome[m] == "ok"]
    missing = [m for m in reflected if stored.get(f"{int(m[1:]):06d}") != 1]
    assert not missing, f"reflected but not stored exactly once: {missing[:10]}"
    refused_stored = [m for m in outcome if outcome[m] == "error"
                      and f"{int(m[1:]):06d}" in stored]
    assert not refused_stored, f"refused messages were stored: {refused_stored[:10]}"
    # No corruption: the indexes agree with the heap.
    psql_rows(pg, "confab", "CREATE EXTENSION IF NOT EXISTS amcheck")
    btrees = psql_rows(pg, "confab", "SELECT i.indexrelid::regclass::text FROM pg_index i "
                       "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                       "WHERE i.indrelid = 'messages'::regclass AND a.amname = 'btree'")
    assert btrees, "no B-tree index on messages to check"
    for (idx,) in btrees:
        psql_rows(pg, "confab", "SELECT bt_index_check(%s::regclass, true)", (idx,))
    print(f"{len(reflected)} stored, {len(errors) + len(more)} refused while the disk was full")


# ------------------------------------------------------------------ 3. TLS link

def make_ca(dirpath, name):
    key, crt = dirpath / f"{name}.key", dirpath / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN=confab test {name}", "-keyout", key, "-out", crt,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True)
    return key, crt


def make_server_cert(dirpath, ca_key, ca_crt, names=("localhost",), ips=(HOST,)):
    key, csr, crt = dirpath / "router.key", dirpath / "router.csr", dirpath / "router.crt"
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", csr], check=True, capture_output=True)
    ext = dirpath / "san.ext"
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-out", crt, "-extfile", ext],
                   check=True, capture_output=True)
    pem = dirpath / "router-full.pem"
    pem.write_text(crt.read_text() + key.read_text())
    return pem


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory):
    """ejabberd with a TLS-only component listener (cert from a test CA), a second,
    unrelated CA, and the MUC users registered."""
    certs = ct.make_workdir("confab-tls-")
    ca_key, ca_crt = make_ca(certs, "ca")
    _, other_ca = make_ca(certs, "other-ca")
    pem = make_server_cert(certs, ca_key, ca_crt)
    subprocess.run(["chown", "-R", "ejabberd", str(certs)], check=True)
    env = {"certs": certs, "ca": ca_crt, "other_ca": other_ca, "pem": pem}
    secret = "muc-" + secrets.token_hex(8)
    archive_secret = "archive-" + secrets.token_hex(8)
    router = ct.EjabberdRouter({MUC_DOMAIN: secret, ct.ARCHIVE_DOMAIN: archive_secret},
                               component_tls_certfile=pem)
    passwords = {u: f"{u}-pw-{secrets.token_hex(4)}" for u in ("alice", "bob")}
    try:
        for u, p in passwords.items():
            router.register(u, p)
        router.start()
        env.update(router=router, secret=secret, archive_secret=archive_secret,
                   passwords=passwords)
        yield env
    finally:
        router.stop()
        if os.environ.get("CONFAB_TEST_KEEP") != "1":
            router.cleanup()
            shutil.rmtree(certs, ignore_errors=True)


def tls_confabd(tls_stack, tmp_path, pg, name, program="confabd", **endpoint):
    """A daemon whose [component] (confabd) or [archiver] section gets endpoint's keys."""
    lines = "".join(f"{k} = {v}\n" for k, v in endpoint.items())
    text = ct.config_text(tls_stack["router"].router_addr,
                          {MUC_DOMAIN: tls_stack["secret"],
                           ct.ARCHIVE_DOMAIN: tls_stack["archive_secret"]}, pg)
    before = "[service]\n" if program == "confabd" else "[link]\n"
    text = text.replace(before, lines + "\n" + before, 1)
    return ct.Daemon(program, tmp_path, text, name=name)


def test_tls_link_up_and_muc_join(tls_stack, tmp_path, pg):
    """[component] tls = true with the test CA: the link comes up over TLS (the
    certificate verified for the router's address) and a MUC join through ejabberd
    works."""
    d = tls_confabd(tls_stack, tmp_path, pg, "confabd-tls", tls="true",
                    tls_ca=tls_stack["ca"])
    d.start()
    try:
        line = d.wait_log(r"TLS established with router \S+ \(TLSv1\.[23] .*\), certificate "
                          r"verified for 127\.0\.0\.1", timeout=20)[0]
        d.wait_log(r"link up: .* over TLS", timeout=20)
        c = ct.MucClient(f"alice@{ct.DOMAIN}/tls", tls_stack["passwords"]["alice"],
                         tls_stack["router"].c2s_port)
        try:
            room = ct.new_room("tls")
            j = c.join(room, "Alice")
            assert 201 in ct.status_codes(j.self_presence), ct.describe(j.self_presence)
            c.configure(room)
            c.groupchat(room, "over tls")
            c.wait_groupchat(room, "over tls")
        finally:
            c.close()
        print(line)
    finally:
        d.check_clean_exit()


def test_tls_archiver_link(tls_stack, tmp_path, pg):
    """[archiver] tls = true: confab-archiver's link comes up over TLS too and it
    answers a ping through ejabberd."""
    d = tls_confabd(tls_stack, tmp_path, pg, "archiver-tls", program="confab-archiver",
                    tls="true", tls_ca=tls_stack["ca"], tls_verify_name="localhost")
    d.start()
    try:
        d.wait_log(r"TLS established with router .* certificate verified for localhost",
                   timeout=20)
        d.wait_log(r"link up: .* as archive\.localhost over TLS", timeout=20)
        c = ct.XmppClient(f"bob@{ct.DOMAIN}/tls", tls_stack["passwords"]["bob"],
                          tls_stack["router"].c2s_port)
        try:
            r = c.iq(ct.ARCHIVE_DOMAIN, "get", f"<ping xmlns='{ct.NS_PING}'/>")
            assert r.get("type") == "result", ct.describe(r)
        finally:
            c.close()
    finally:
        d.check_clean_exit()


@pytest.mark.parametrize("case", ["wrong-ca", "wrong-name"])
def test_tls_verification_failure_logged_no_crash(tls_stack, tmp_path, pg, case):
    """A certificate from another CA, or one without the expected name: the link
    stays down with a clear log line per attempt (error level, long backoff), and
    confabd keeps running and exits cleanly."""
    if case == "wrong-ca":
        kw = {"tls_ca": tls_stack["other_ca"]}
        reason = r"unable to get local issuer certificate"
    else:
        kw = {"tls_ca": tls_stack["ca"], "tls_verify_name": "router.example.net"}
        reason = r"hostname mismatch"
    d = tls_confabd(tls_stack, tmp_path, pg, f"confabd-{case}", tls="true", **kw)
    d.start()
    try:
        line = d.wait_log(r"ERROR: link down: TLS handshake with router \S+ failed: the "
                          r"router's TLS certificate was rejected: " + reason, timeout=20)[0]
        d.wait_log(r"link down: TLS handshake", timeout=10, count=2)
        assert not [ln for ln in d.lines() if "link up" in ln], "link came up anyway"
        assert d.alive()
        print(line)
    finally:
        d.check_clean_exit()


def test_tls_to_plain_listener_fails_clearly(tmp_path, pg, faults):
    """tls = true against a router whose component port is plain XEP-0114: a clear
    line that points at the TLS setting, no crash."""
    secret = "fake-" + secrets.token_hex(8)
    router = FakeRouter(secret)
    faults["routers"].append(router)
    text = ct.config_text(router.addr, {MUC_DOMAIN: secret}, pg)
    text = text.replace("[service]\n", "tls = true\n\n[service]\n", 1)
    d = ct.Daemon("confabd", tmp_path, text, name="confabd-plain")
    faults["daemons"].append(d)
    d.start()
    router.lsock.settimeout(15)
    conn, _ = router.lsock.accept()
    with conn:
        conn.settimeout(5)
        hello = conn.recv(1024)
        assert hello[:1] == b"\x16", f"expected a TLS ClientHello, got {hello[:40]!r}"
        # a plain router answers with its XML stream, then gives up
        conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                     b"xmlns:stream='http://etherx.jabber.org/streams' id='x'>")
        d.wait_log(r"link down: TLS handshake with router \S+ failed: .*does its component "
                   r"port speak TLS", timeout=10)
    assert d.alive()
