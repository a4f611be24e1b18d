"""Helpers for confab's integration tests: real servers on loopback, no mocks.

Everything here starts real processes (PostgreSQL, Prosody, ejabberd, confabd,
confab-archiver) on 127.0.0.1 with free ports, in private directories, and stops
only processes it started itself (by PID / process group). Every wait is bounded.
"""

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CONFAB_BUILD", REPO / "build")).resolve()
HOST = "127.0.0.1"
DOMAIN = "localhost"
MUC_DOMAIN = "conference.localhost"
ARCHIVE_DOMAIN = "archive.localhost"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_VERSION = "jabber:iq:version"
NS_PING = "urn:xmpp:ping"
NS_MUC = "http://jabber.org/protocol/muc"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_CLIENT = "jabber:client"

# Lines a sanitizer prints when it finds a bug (ASan, LSan, UBSan).
SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
)

# Scale for waits that depend on the daemons' speed (sanitizer builds are slower).
SLOW = float(os.environ.get("CONFAB_TEST_SLOW", "1"))


class WaitTimeout(AssertionError):
    pass


def wait_for(pred, timeout, what, interval=0.01, detail=None):
    """Poll pred() until it returns a true value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = ""
            if detail is not None:
                extra = "\n" + (detail() if callable(detail) else str(detail))
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


_ports_handed_out = set()
_port_rng = random.Random(os.getpid() ^ time.time_ns())


def _static_port_range():
    """Ports below the kernel's ephemeral range: the kernel never hands these out as
    source ports of outgoing connections, so a port we picked cannot be taken by a
    client socket between our check and the server's bind (or a router restart)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low - 1) if low > 11000 else (low // 2, low - 1)


def free_port():
    """A loopback TCP port that is free now and not handed out before in this run."""
    lo, hi = _static_port_range()
    for _ in range(2000):
        port = _port_rng.randint(lo, hi)
        if port in _ports_handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        _ports_handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


def port_accepts(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.25):
            return True
    except OSError:
        return False


def tail(path, n=40):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        return f"[{path}: {e}]"
    return f"--- last {min(n, len(lines))} lines of {path} ---\n" + "\n".join(lines[-n:])


def make_workdir(prefix):
    """A private directory under /tmp that the postgres and ejabberd users can reach."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d


class Proc:
    """A child process in its own session/process group; output goes to a file."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.log_file = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.log_file,
            stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal_group(self, sig):
        """Signal the process group we created (only our own processes are in it)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal, wait up to timeout, then SIGKILL the group. Returns the exit code."""
        if self.alive():
            self.signal_group(sig)
            if self.wait(timeout) is None:
                self.signal_group(signal.SIGKILL)
                self.wait(10)
        # children of the group that outlived the leader (e.g. erl helpers)
        self.signal_group(signal.SIGKILL)
        self.log_file.close()
        return self.popen.returncode


# --------------------------------------------------------------------------- PostgreSQL

class Postgres:
    """A private PostgreSQL 15 cluster on loopback, run as the postgres user."""

    def __init__(self, databases=("confab", "confab_compliance")):
        self.dir = make_workdir("confab-pg-")
        shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.databases = databases
        self.running = False

    def _as_postgres(self, *argv, check=True, timeout=60):
        return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, argv)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=check, timeout=timeout)

    def start(self):
        try:
            self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust",
                              "-U", "postgres", "--no-sync")
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"initdb failed:\n{e.stdout}\n{e.stderr}") from e
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses={HOST} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        r = self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                              "-t", "60", "-o", opts, "start", check=False, timeout=90)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{r.stdout}{r.stderr}\n{tail(self.log)}")
        self.running = True
        for db in self.databases:
            self.psql("postgres", f'CREATE DATABASE "{db}"')

    def psql(self, db, sql):
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST,
                            "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {sql}: {r.stderr}")
        return r.stdout

    def dsn(self, db):
        return f"host={HOST} port={self.port} user=postgres dbname={db}"

    def stop(self):
        if self.running:
            self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w",
                              "-t", "30", "stop", check=False, timeout=60)
            self.running = False


# --------------------------------------------------------------------------- routers

class Router:
    """Common interface of the XMPP routers the daemons attach to."""

    kind = "?"

    def __init__(self, components):
        # components: {domain: secret}
        self.components = dict(components)
        self.c2s_port = free_port()
        self.component_port = free_port()
        self.users = {}
        self.proc = None
        self.dir = None

    @property
    def router_addr(self):
        return f"{HOST}:{self.component_port}"

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def wait_ready(self, timeout):
        def ready():
            if not self.proc.alive():
                raise RuntimeError(f"{self.kind} exited with {self.proc.popen.returncode}\n"
                                   + self.logs())
            return port_accepts(self.c2s_port) and port_accepts(self.component_port)
        wait_for(ready, timeout, f"{self.kind} to accept on c2s {self.c2s_port} and "
                 f"component {self.component_port}", interval=0.05, detail=self.logs)

    def kill9(self):
        """Kill the router hard (SIGKILL to its process group), as a crash would."""
        self.proc.signal_group(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stop()
        wait_for(lambda: not port_accepts(self.component_port), 10,
                 f"{self.kind} component port {self.component_port} to close")

    def start(self, wait=True):
        raise NotImplementedError

    def stop(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, timeout=15)

    def logs(self):
        raise NotImplementedError

    def cleanup(self):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


class ProsodyRouter(Router):
    kind = "prosody"

    def __init__(self, components):
        super().__init__(components)
        self.dir = make_workdir("confab-prosody-")
        (self.dir / "data").mkdir()
        (self.dir / "certs").mkdir()  # silences "Error indexing certificate directory"
        self.config = self.dir / "prosody.cfg.lua"
        self.out = self.dir / "prosody.out"
        comps = "".join(f'Component "{d}"\n  component_secret = "{s}"\n'
                        for d, s in self.components.items())
        self.config.write_text(f"""-- generated by confab tests
run_as_root = true
pidfile = "{self.dir}/prosody.pid"
data_path = "{self.dir}/data"
certificates = "{self.dir}/certs"
log = {{ debug = "{self.dir}/prosody.log" }}
c2s_ports = {{ {self.c2s_port} }}; c2s_interfaces = {{ "{HOST}" }}
component_ports = {{ {self.component_port} }}; component_interfaces = {{ "{HOST}" }}
s2s_ports = {{ }}; c2s_direct_tls_ports = {{ }}; s2s_direct_tls_ports = {{ }}
http_ports = {{ }}; https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "register"; "posix" }}
VirtualHost "{DOMAIN}"
{comps}""")

    def register(self, user, password):
        r = subprocess.run(["prosodyctl", "--config", str(self.config), "register",
                            user, DOMAIN, password], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"prosodyctl register {user} failed: {r.stdout}{r.stderr}")
        self.users[user] = password

    def start(self, wait=True):
        self.proc = Proc(["prosody", "--config", self.config, "-F"], self.out)
        if wait:
            self.wait_ready(30)

    def logs(self):
        return tail(self.out, 20) + "\n" + tail(self.dir / "prosody.log", 40)


_ejabberd_nodes = 0


class EjabberdRouter(Router):
    kind = "ejabberd"

    def __init__(self, components):
        global _ejabberd_nodes
        super().__init__(components)
        _ejabberd_nodes += 1
        # one node name per instance: mnesia refuses a spool made by another node name
        self.node = f"confabtest{os.getpid()}n{_ejabberd_nodes}@localhost"
        self.dist_port = free_port()  # Erlang distribution on loopback, no epmd
        self.dir = make_workdir("confab-ejabberd-")
        self.config = self.dir / "ejabberd.yml"
        self.ctl_config = self.dir / "ejabberdctl.cfg"
        self.out = self.dir / "ejabberd.out"
        hosts = "".join(f'      "{d}":\n        password: "{s}"\n'
                        for d, s in self.components.items())
        # No mod_muc: ejabberd refuses a component domain its own MUC serves.
        self.config.write_text(f"""# generated by confab tests
hosts: [{DOMAIN}]
loglevel: info
certfiles: []
listen:
  - port: {self.c2s_port}
    ip: "{HOST}"
    module: ejabberd_c2s
    starttls_required: false
  - port: {self.component_port}
    ip: "{HOST}"
    module: ejabberd_service
    global_routes: false
    hosts:
{hosts}auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
""")
        # /etc/default/ejabberd would win over --config; our own ctl config wins over it.
        self.ctl_config.write_text(
            f"EJABBERD_CONFIG_PATH={self.config}\n"
            f"ERLANG_NODE={self.node}\n"
            f"ERL_DIST_PORT={self.dist_port}\n"
            f"INET_DIST_INTERFACE={HOST}\n")
        subprocess.run(["chown", "-R", "ejabberd", str(self.dir)], check=True)

    def _ctl(self, *args):
        return ["runuser", "-u", "ejabberd", "--", "env", f"HOME={self.dir}",
                "ejabberdctl", "--ctl-config", str(self.ctl_config),
                "--config", str(self.config), "--spool", str(self.dir / "db"),
                "--logs", str(self.dir), "--node", self.node, *args]

    def start(self, wait=True):
        self.proc = Proc(self._ctl("foreground"), self.out, cwd=self.dir)
        if wait:
            self.wait_ready(60)
            for user, password in self.users.items():
                self._register_now(user, password)

    def _register_now(self, user, password, timeout=30):
        last = []

        def attempt():
            r = subprocess.run(self._ctl("register", user, DOMAIN, password),
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=60, cwd=self.dir)
            last[:] = [r.returncode, r.stdout + r.stderr]
            # 0 = registered; the output says "already registered" on a restart
            return r.returncode == 0 or "already registered" in r.stdout + r.stderr
        wait_for(attempt, timeout, f"ejabberdctl register {user}", interval=0.5,
                 detail=lambda: f"last: {last}\n{self.logs()}")

    def register(self, user, password):
        self.users[user] = password
        if self.alive():
            self._register_now(user, password)

    def logs(self):
        return tail(self.out, 40) + "\n" + tail(self.dir / "error.log", 20)


ROUTERS = {"prosody": ProsodyRouter, "ejabberd": EjabberdRouter}


# --------------------------------------------------------------------------- daemons

def config_text(router_addr, domain_secret, pg=None, *, muc_domain=MUC_DOMAIN,
                archive_domain=ARCHIVE_DOMAIN, muc_secret=None, archive_secret=None,
                link=None, log_level="info", extra=""):
    """One INI file for both daemons, as contrib/confab.ini.example describes it."""
    muc_secret = muc_secret if muc_secret is not None else domain_secret[muc_domain]
    archive_secret = (archive_secret if archive_secret is not None
                      else domain_secret.get(archive_domain, "unused"))
    chat_dsn = pg.dsn("confab") if pg else "dbname=confab"
    compliance_dsn = pg.dsn("confab_compliance") if pg else "dbname=confab_compliance"
    link_lines = "".join(f"{k} = {v}\n" for k, v in (link or {}).items())
    return f"""; generated by confab integration tests
[component]
domain = {muc_domain}
router = {router_addr}
secret = {muc_secret}

[service]
name = Chatrooms

[storage]
dsn = {chat_dsn}

[compliance]
archiver =
policy = relaxed

[archiver]
domain = {archive_domain}
router = {router_addr}
secret = {archive_secret}
dsn = {compliance_dsn}

[link]
{link_lines}
[log]
level = {log_level}
{extra}"""


LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (confabd|confab-archiver) "
    r"(ERROR|WARN|INFO|DEBUG|TRACE): \S")


class Daemon:
    """confabd or confab-archiver run in the foreground with a generated config."""

    def __init__(self, program, workdir, config, name=None):
        self.program = program
        self.binary = BUILD / program
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name or program
        self.config = self.workdir / f"{self.name}.ini"
        self.config.write_text(config)
        self.log = self.workdir / f"{self.name}.log"
        self.proc = None
        self.returncode = None

    def start(self):
        assert self.binary.exists(), f"{self.binary} is not built (CONFAB_BUILD={BUILD})"
        self.proc = Proc([self.binary, "-c", self.config, "-f"], self.log, cwd=self.workdir)
        return self

    # -- log inspection
    def text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self):
        """Position in the log; pass to wait_log(after=...) to see only newer lines."""
        return len(self.text())

    def lines(self, after=0):
        return self.text()[after:].splitlines()

    def tail(self, n=40):
        return tail(self.log, n)

    def wait_log(self, pattern, timeout=10, after=0, count=1):
        """Wait for `count` log lines (after position `after`) matching regex pattern.
        Returns the list of matching lines. Fails at once if the daemon exits."""
        rx = re.compile(pattern)

        def check():
            found = [ln for ln in self.lines(after) if rx.search(ln)]
            if len(found) >= count:
                return found
            if self.proc is not None and not self.proc.alive():
                raise AssertionError(
                    f"{self.name} exited with {self.proc.popen.returncode} while waiting "
                    f"for /{pattern}/\n{self.tail()}")
            return None
        return wait_for(check, timeout * SLOW, f"{self.name} log /{pattern}/ x{count}",
                        detail=self.tail)

    def wait_link_up(self, after=0, timeout=15):
        return self.wait_log(r"link up", timeout=timeout, after=after)[0]

    def sanitizer_reports(self):
        return [ln for ln in self.lines() if any(p in ln for p in SANITIZER_PATTERNS)]

    def malformed_lines(self):
        """Log lines that break the contract: one line per message, each
        'YYYY-MM-DDTHH:MM:SS.mmmZ program LEVEL: message'."""
        return [ln for ln in self.lines() if ln.strip() and not LOG_LINE.match(ln)]

    # -- lifecycle
    def alive(self):
        return self.proc is not None and self.proc.alive()

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Stop gracefully; returns the exit status (None = had to be killed)."""
        if self.proc is None:
            return 0
        if self.returncode is None and self.proc.alive():
            self.send_signal(sig)
            self.returncode = self.proc.wait(timeout * SLOW)
        elif self.returncode is None:
            self.returncode = self.proc.popen.returncode
        self.proc.stop(signal.SIGKILL, timeout=5)
        return self.returncode

    def check_clean_exit(self, sig=signal.SIGTERM):
        """Stop with sig and assert exit 0 within 5 s and no sanitizer report."""
        was_alive = self.alive()
        rc = self.stop(sig)
        problems = []
        if not was_alive and self.proc is not None:
            problems.append(f"{self.name} had already exited (status {rc}) before the test ended")
        elif rc is None:
            problems.append(f"{self.name} did not exit within {5 * SLOW:.0f}s of {sig.name}")
        elif rc != 0:
            problems.append(f"{self.name} exited with status {rc} after {sig.name}")
        reports = self.sanitizer_reports()
        if reports:
            problems.append("sanitizer report:\n" + "\n".join(reports))
        else:
            odd = self.malformed_lines()
            if odd:
                problems.append("log lines not in the 'TIMESTAMP PROGRAM LEVEL: message' "
                                "one-line format:\n" + "\n".join(odd[:10]))
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self.tail(60))


def run_tool(program, *args, timeout=20):
    """Run a built program to completion (e.g. --version, --check-config)."""
    return subprocess.run([str(BUILD / program), *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * SLOW)


# --------------------------------------------------------------------------- XMPP client

class XmppClient:
    """A real XMPP client (slixmpp) driven synchronously from the tests.

    It logs in over plaintext with SASL PLAIN/SCRAM on loopback (no TLS on the test
    routers). Each call runs the client's event loop until the answer arrives or the
    timeout passes; a missing answer is a test failure, never a hang.
    """

    def __init__(self, jid, password, port, host=HOST, timeout=15):
        import slixmpp
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.jid = jid
        self.messages = []
        x = slixmpp.ClientXMPP(jid, password)
        x.loop = self.loop
        # the test routers offer no TLS: allow PLAIN over the loopback plaintext stream
        x["feature_mechanisms"].unencrypted_plain = True
        x.register_handler(Callback("confabtest messages", MatchXPath(f"{{{NS_CLIENT}}}message"),
                                    lambda msg: self.messages.append(msg.xml)))
        self.xmpp = x
        started = self.loop.create_future()
        failed = []

        def on_start(_):
            if not started.done():
                started.set_result(True)

        def on_fail(event):
            failed.append(event)
            if not started.done():
                started.set_exception(AssertionError(f"login as {jid} failed: {event}"))
        x.add_event_handler("session_start", on_start)
        x.add_event_handler("failed_auth", on_fail)
        x.connect((host, port), use_ssl=False, force_starttls=False, disable_starttls=True)
        try:
            self.loop.run_until_complete(asyncio.wait_for(started, timeout))
        except asyncio.TimeoutError:
            self.close()
            raise AssertionError(f"{jid} could not log in to {host}:{port} within {timeout}s")
        except BaseException:
            self.close()
            raise

    def iq(self, to, itype, payload, timeout=5):
        """Send an IQ with payload (XML string); return the reply as an ElementTree
        element ('{jabber:client}iq'), whether result or error. No reply = failure."""
        from slixmpp.exceptions import IqError, IqTimeout
        iq = self.xmpp.make_iq(ito=to, itype=itype)
        if payload:
            iq.append(ET.fromstring(payload))
        try:
            reply = self.loop.run_until_complete(iq.send(timeout=timeout))
        except IqError as e:
            reply = e.iq
        except IqTimeout:
            raise AssertionError(f"no reply within {timeout}s to IQ {itype} to {to}: {payload}")
        return reply.xml

    def send_raw(self, xml):
        self.xmpp.send_raw(xml)
        self.pump(0.01)

    def pump(self, seconds):
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def wait_message(self, pred, timeout=5, what="message"):
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if pred(m):
                    self.messages.remove(m)
                    return m
            if time.monotonic() >= deadline:
                got = [ET.tostring(m, encoding="unicode") for m in self.messages]
                raise AssertionError(f"no {what} within {timeout}s; received: {got}")
            self.pump(0.02)

    def close(self):
        try:
            if self.xmpp.transport:
                fut = self.xmpp.disconnect(wait=1)
                self.loop.run_until_complete(asyncio.wait_for(fut, 3))
        except Exception:
            pass
        try:
            self.xmpp.abort()
        except Exception:
            pass
        try:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(
                    asyncio.wait(pending, timeout=2))
        except Exception:
            pass
        self.loop.close()


# --------------------------------------------------------------------------- stanza helpers

def q(tag, ns):
    return f"{{{ns}}}{tag}"


def stanza_error(elem):
    """(type, condition) of a stanza error, or None if elem is not an error."""
    if elem.get("type") != "error":
        return None
    err = elem.find(q("error", NS_CLIENT))
    if err is None:
        return ("?", "?")
    conds = [c.tag.split("}", 1)[1] for c in err
             if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith("}text")]
    return (err.get("type"), conds[0] if conds else "?")


def describe(elem):
    return ET.tostring(elem, encoding="unicode")
