"""Helpers for confab's integration tests: real servers on loopback, no mocks.

Everything here starts real processes (PostgreSQL, Prosody, ejabberd, confabd,
confab-archiver) on 127.0.0.1 with free ports, in private directories, and stops
only processes it started itself (by PID / process group). Every wait is bounded.
"""

import asyncio
import os
import random
import re
import shlex
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

# A command every Daemon is started under, e.g. CONFAB_DAEMON_WRAPPER="valgrind
# --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=97"
# (scripts/valgrind.sh). Unset: daemons run directly, as before. Under valgrind
# its report goes to <workdir>/<name>.valgrind.<pid>.log (not the daemon log,
# whose line format the tests check) and check_clean_exit() fails on any error
# it lists. Set CONFAB_TEST_SLOW too: valgrind runs the daemons ~20x slower.
DAEMON_WRAPPER = shlex.split(os.environ.get("CONFAB_DAEMON_WRAPPER", ""))
# Valgrind's verdict: "==PID== ERROR SUMMARY: N errors from M contexts" at exit. A run
# that never got there (killed, or -q, which leaves the summary out) is judged by the
# error reports themselves.
VALGRIND_SUMMARY = re.compile(r"^==\d+== ERROR SUMMARY: (\d+) errors?", re.M)
VALGRIND_ERROR = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised"
    r"|Syscall param|Source and destination overlap|Argument '\w+' of function"
    r"|.* definitely lost in loss record)", re.M)


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

    def __init__(self, databases=("confab", "confab_compliance"), settings=None):
        """settings: extra server settings {name: value}, passed as -c name=value after
        the defaults (so they win), e.g. {"synchronous_commit": "on"} for a cluster
        whose commits must survive an immediate (crash) shutdown."""
        self.dir = make_workdir("confab-pg-")
        shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.databases = databases
        self.settings = dict(settings or {})
        self.running = False

    def _as_postgres(self, *argv, check=True, timeout=60):
        return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, argv)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=check, timeout=timeout)

    def start(self):
        try:
            self._as_postgres(PG_BIN / "initdb", "-D", self.data, *self.initdb_args(),
                              "-A", "trust", "-U", "postgres", "--no-sync")
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"initdb failed:\n{e.stdout}\n{e.stderr}") from e
        self.start_server()
        for db in self.databases:
            self.psql("postgres", f'CREATE DATABASE "{db}"')

    def initdb_args(self):
        """More initdb arguments, for a subclass's layout (e.g. --waldir)."""
        return ()

    def _opts(self):
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses={HOST} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        return opts + "".join(f" -c {k}={v}" for k, v in self.settings.items())

    def _pg_ctl(self, *args, timeout=60):
        # -l always: without it the server would inherit pg_ctl's captured stdout
        r = self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                              "-t", str(timeout), *args, check=False, timeout=timeout + 30)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(map(str, args))} failed:\n"
                               f"{r.stdout}{r.stderr}\n{tail(self.log)}")
        return r

    def start_server(self):
        """Start the (initialised) cluster again, e.g. after stop_server()."""
        self._pg_ctl("-o", self._opts(), "start")
        self.running = True

    def stop_server(self, mode="fast"):
        """Stop the server only (pg_ctl stop -m smart|fast|immediate); the cluster stays
        for start_server(). 'immediate' is a crash: no checkpoint, clients cut off."""
        self._pg_ctl("-m", mode, "stop")
        self.running = False

    def restart(self, mode="fast"):
        """pg_ctl restart -m mode: the server goes down and comes back on the same port."""
        self.running = False
        self._pg_ctl("-m", mode, "-o", self._opts(), "restart")
        self.running = True

    def create_database(self, name):
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.dsn(name)

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


def prosody_base_config(workdir, c2s_port, component_port, log_level="debug",
                        plaintext=True):
    """The settings every loopback Prosody of the tests and benchmarks shares: run
    as root with its state in workdir, c2s and components on HOST only, nothing
    else listening; plaintext: no TLS required, PLAIN allowed (no certificates)."""
    return f"""run_as_root = true
pidfile = "{workdir}/prosody.pid"
data_path = "{workdir}/data"
certificates = "{workdir}/certs"
log = {{ {log_level} = "{workdir}/prosody.log" }}
c2s_ports = {{ {c2s_port} }}; c2s_interfaces = {{ "{HOST}" }}
component_ports = {{ {component_port} }}; component_interfaces = {{ "{HOST}" }}
s2s_ports = {{ }}; c2s_direct_tls_ports = {{ }}; s2s_direct_tls_ports = {{ }}
http_ports = {{ }}; https_ports = {{ }}
""" + ("c2s_require_encryption = false\nallow_unencrypted_plain_auth = true\n"
       if plaintext else "")


class ProsodyRouter(Router):
    kind = "prosody"

    def __init__(self, components, modules=(), plugin_paths=(), host_config=""):
        """modules: more modules_enabled (e.g. "confab_tap"), found in plugin_paths;
        host_config: Lua lines for the VirtualHost (e.g. the module's options)."""
        super().__init__(components)
        self.dir = make_workdir("confab-prosody-")
        (self.dir / "data").mkdir()
        (self.dir / "certs").mkdir()  # silences "Error indexing certificate directory"
        self.config = self.dir / "prosody.cfg.lua"
        self.out = self.dir / "prosody.out"
        comps = "".join(f'Component "{d}"\n  component_secret = "{s}"\n'
                        for d, s in self.components.items())
        more_modules = "".join(f' "{m}";' for m in modules)
        paths = ("plugin_paths = { " + ", ".join(f'"{p}"' for p in plugin_paths) + " }\n"
                 if plugin_paths else "")
        host_lines = "".join(f"  {ln}\n" for ln in host_config.splitlines() if ln.strip())
        self.config.write_text(f"""-- generated by confab tests
{prosody_base_config(self.dir, self.c2s_port, self.component_port)}authentication = "internal_plain"
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "register"; "posix";{more_modules} }}
{paths}VirtualHost "{DOMAIN}"
{host_lines}{comps}""")

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


def ejabberd_listen(c2s_port, component_port, components, tls_lines=""):
    """ejabberd.yml's listen: for the tests and benchmarks: c2s without STARTTLS and
    one listener for components (domain -> secret, tls_lines its TLS options), both
    on HOST only."""
    hosts = "".join(f'      "{d}":\n        password: "{s}"\n' for d, s in components.items())
    return f"""listen:
  - port: {c2s_port}
    ip: "{HOST}"
    module: ejabberd_c2s
    starttls_required: false
  - port: {component_port}
    ip: "{HOST}"
    module: ejabberd_service
    global_routes: false
{tls_lines}    hosts:
{hosts}"""


def ejabberd_hand_over(workdir, ctl_config, config, node, dist_port):
    """Write ejabberdctl's config for node (Erlang distribution on HOST:dist_port,
    no epmd) and give workdir to the ejabberd user, who runs it."""
    # /etc/default/ejabberd would win over --config; our own ctl config wins over it.
    ctl_config.write_text(
        f"EJABBERD_CONFIG_PATH={config}\n"
        f"ERLANG_NODE={node}\n"
        f"ERL_DIST_PORT={dist_port}\n"
        f"INET_DIST_INTERFACE={HOST}\n")
    subprocess.run(["chown", "-R", "ejabberd", str(workdir)], check=True)


def ejabberdctl_argv(workdir, ctl_config, config, node, *args):
    """ejabberdctl args, as the ejabberd user, with everything of its own in workdir."""
    return ["runuser", "-u", "ejabberd", "--", "env", f"HOME={workdir}",
            "ejabberdctl", "--ctl-config", str(ctl_config),
            "--config", str(config), "--spool", str(workdir / "db"),
            "--logs", str(workdir), "--node", node, *args]


_ejabberd_nodes = 0


class EjabberdRouter(Router):
    kind = "ejabberd"

    def __init__(self, components, component_tls_certfile=None):
        """component_tls_certfile: a PEM file (certificate and key, readable by the
        ejabberd user): the component listener then speaks TLS from the first byte
        (`tls: true`), as confabd's [component] tls = true expects."""
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
        tls_lines = (f'    tls: true\n    certfile: "{component_tls_certfile}"\n'
                     if component_tls_certfile else "")
        certfiles = f'["{component_tls_certfile}"]' if component_tls_certfile else "[]"
        # No mod_muc: ejabberd refuses a component domain its own MUC serves.
        self.config.write_text(f"""# generated by confab tests
hosts: [{DOMAIN}]
loglevel: info
certfiles: {certfiles}
{ejabberd_listen(self.c2s_port, self.component_port, self.components, tls_lines)}auth_method: internal
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
        ejabberd_hand_over(self.dir, self.ctl_config, self.config, self.node, self.dist_port)

    def _ctl(self, *args):
        return ejabberdctl_argv(self.dir, self.ctl_config, self.config, self.node, *args)

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


# --------------------------------------------------------------------------- LDAP

class Slapd:
    """A private OpenLDAP slapd (Debian's package) on ldap://127.0.0.1:<free port>,
    with its own slapd.conf and mdb database under a work directory, suffix
    dc=example,dc=com and a root DN that loads and changes entries (ldapadd,
    ldapmodify from ldap-utils). For confabctl group sync (issue 16)."""

    SUFFIX = "dc=example,dc=com"
    ROOT_DN = "cn=admin,dc=example,dc=com"
    SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

    def __init__(self):
        import secrets as _secrets
        self.dir = make_workdir("confab-slapd-")
        self.port = free_port()
        self.uri = f"ldap://{HOST}:{self.port}"
        self.password = "ldap-" + _secrets.token_hex(6)
        (self.dir / "data").mkdir()
        conf = self.dir / "slapd.conf"
        conf.write_text("".join(f"include /etc/ldap/schema/{s}.schema\n" for s in self.SCHEMAS)
                        + f"pidfile {self.dir}/slapd.pid\nmodulepath /usr/lib/ldap\n"
                        "moduleload back_mdb\ndatabase mdb\nmaxsize 10485760\n"
                        f'suffix "{self.SUFFIX}"\nrootdn "{self.ROOT_DN}"\n'
                        f"rootpw {self.password}\ndirectory {self.dir}/data\n")
        self.proc = Proc(["/usr/sbin/slapd", "-f", conf, "-h", self.uri + "/", "-d", "0"],
                         self.dir / "slapd.log")
        try:
            wait_for(lambda: port_accepts(self.port) or not self.proc.alive(), 20 * SLOW,
                     "slapd to listen", interval=0.05)
            assert self.proc.alive(), f"slapd exited\n{tail(self.dir / 'slapd.log')}"
            self.load(f"dn: {self.SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
                      "o: Example\ndc: example\n")
        except BaseException:
            self.stop()
            raise

    def _tool(self, tool, ldif):
        r = subprocess.run([f"/usr/bin/{tool}", "-x", "-H", self.uri, "-D", self.ROOT_DN,
                            "-w", self.password], input=ldif, capture_output=True, text=True,
                           timeout=30 * SLOW)
        assert r.returncode == 0, f"{tool}: {r.returncode}\n{r.stderr}\n{ldif}"

    def load(self, ldif):
        """Add the entries of ldif."""
        self._tool("ldapadd", ldif)

    def modify(self, ldif):
        """Apply ldif's changes (changetype: modify / delete ...)."""
        self._tool("ldapmodify", ldif)

    def stop(self):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- daemons

def config_text(router_addr, domain_secret, pg=None, *, muc_domain=MUC_DOMAIN,
                archive_domain=ARCHIVE_DOMAIN, muc_secret=None, archive_secret=None,
                link=None, log_level="info", extra="", chat_dsn=None, compliance_dsn=None):
    """One INI file for both daemons, as contrib/confab.ini.example describes it.
    chat_dsn: [storage] dsn (default: the pg fixture's database confab);
    compliance_dsn: [archiver] dsn (default: its database confab_compliance)."""
    muc_secret = muc_secret if muc_secret is not None else domain_secret[muc_domain]
    archive_secret = (archive_secret if archive_secret is not None
                      else domain_secret.get(archive_domain, "unused"))
    if chat_dsn is None:
        chat_dsn = pg.dsn("confab") if pg else "dbname=confab"
    if compliance_dsn is None:
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
        """Start (or start again after stop()/a crash; the log is appended to)."""
        assert self.binary.exists(), f"{self.binary} is not built (CONFAB_BUILD={BUILD})"
        self.returncode = None
        self.proc = Proc([*self._wrapper(), self.binary, "-c", self.config, "-f"], self.log,
                         cwd=self.workdir)
        return self

    def _wrapper(self):
        """CONFAB_DAEMON_WRAPPER as argv; valgrind gets a --log-file of its own."""
        argv = list(DAEMON_WRAPPER)
        if (argv and Path(argv[0]).name == "valgrind"
                and not any(a.startswith("--log-file") for a in argv)):
            argv.insert(1, f"--log-file={self.workdir}/{self.name}.valgrind.%p.log")
        return argv

    def valgrind_reports(self):
        """Valgrind reports (one per run of this daemon) that count errors (invalid
        accesses, uninitialised values, definite leaks with --errors-for-leak-kinds)."""
        bad = []
        for path in sorted(self.workdir.glob(f"{self.name}.valgrind.*.log")):
            text = path.read_text(errors="replace")
            counts = VALGRIND_SUMMARY.findall(text)
            if any(int(n) for n in counts) or (not counts and VALGRIND_ERROR.search(text)):
                bad.append(f"--- {path} ---\n{text[-6000:]}")
        return bad

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

    def wait_rooms_ready(self, after=0, timeout=20):
        """confabd with a database serves rooms once its store is up and it has read
        the categories and walls (until then rooms answer `wait`)."""
        self.wait_log(r"store: chat database available", timeout=timeout, after=after)
        self.wait_log(r"control: walls in force", timeout=timeout, after=after)

    def sanitizer_reports(self):
        """Sanitizer lines in the daemon log, and valgrind reports with errors."""
        return ([ln for ln in self.lines() if any(p in ln for p in SANITIZER_PATTERNS)]
                + self.valgrind_reports())

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
        close_slixmpp(self.loop, self.xmpp)


def close_slixmpp(loop, xmpp):
    """Disconnect a slixmpp stream (client or component) and close its private loop.
    Best effort at every step: a close runs at teardown, often after a failure, and
    must not hide the failure behind one of its own."""
    try:
        if xmpp.transport:
            loop.run_until_complete(asyncio.wait_for(xmpp.disconnect(wait=1), 3))
    except Exception:
        pass
    try:
        xmpp.abort()
    except Exception:
        pass
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))
    except Exception:
        pass
    loop.close()


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


# --------------------------------------------------------------------------- MUC (XEP-0045)
#
# Helpers for tests/integration/test_muc_*.py: a private router + confabd per test
# module, real slixmpp clients that record every stanza in arrival order and answer
# IQs forwarded to them, and the XEP-0045 stanza vocabulary.

NS_MUC_USER = NS_MUC + "#user"
NS_MUC_ADMIN = NS_MUC + "#admin"
NS_MUC_OWNER = NS_MUC + "#owner"
NS_MUC_UNIQUE = NS_MUC + "#unique"
NS_MUC_REQUEST = NS_MUC + "#request"
NS_MUC_ROOMCONFIG = NS_MUC + "#roomconfig"
NS_MUC_ROOMINFO = NS_MUC + "#roominfo"
NS_MUC_REGISTER = NS_MUC + "#register"
NS_REGISTER = "jabber:iq:register"
NS_CONFERENCE = "jabber:x:conference"
NS_DATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_SID = "urn:xmpp:sid:0"
NS_OCCUPANT_ID = "urn:xmpp:occupant-id:0"
NS_VCARD = "vcard-temp"

MUC_USERS = ("alice", "bob", "carol", "dave", "erin", "frank")

# Every MucClient that is still open; a wait on one of them runs all of them, so a
# client can answer an IQ the room forwards while another one waits for the result.
_live_clients = []


def xml_attr_quote(value):
    from xml.sax.saxutils import quoteattr
    return quoteattr(str(value))


def xml_text_escape(value):
    from xml.sax.saxutils import escape
    return escape(str(value))


def local_name(elem):
    return elem.tag.split("}", 1)[-1]


def pump_all(seconds=0.004):
    """Run every open client's event loop for a short slice."""
    for c in list(_live_clients):
        c._run_for(seconds)


class MucJoin:
    """What a join produced: the ordered stanzas from the room up to the subject."""

    def __init__(self, room, nick, stanzas):
        self.room = room
        self.nick = nick
        self.stanzas = stanzas
        self.self_index = next(i for i, st in enumerate(stanzas) if is_self_presence(st, room))
        self.self_presence = stanzas[self.self_index]
        self.roster = [st for st in stanzas[:self.self_index] if local_name(st) == "presence"]
        self.subject = stanzas[-1]
        self.history = [st for st in stanzas[self.self_index + 1:-1]
                        if local_name(st) == "message"
                        and st.find(q("delay", NS_DELAY)) is not None]

    @property
    def occupant_jid(self):
        return self.self_presence.get("from")

    def bodies(self):
        return [m.findtext(q("body", NS_CLIENT)) for m in self.history]


class MucClient(XmppClient):
    """A slixmpp client for MUC tests.

    Every message, presence and IQ request it receives lands in self.inbox in
    arrival order; wait() takes the first one matching a predicate. IQ requests are
    answered at once: by self.responders[namespace](iq) (return an XML string for
    the result payload, "" for an empty result, or ("error", condition)), else with
    service-unavailable. Pings are answered, as real clients do."""

    def __init__(self, jid, password, port, host=HOST, timeout=15):
        super().__init__(jid, password, port, host=host, timeout=timeout)
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        self.inbox = []
        self.trace = []  # everything received, IQ results included, in arrival order
        self.responders = {NS_PING: lambda iq: ""}
        self.full_jid = str(self.xmpp.boundjid)
        x = self.xmpp
        x.remove_handler("confabtest messages")

        def keep(st):
            self.trace.append(st.xml)
            self.inbox.append(st.xml)
        for kind in ("message", "presence"):
            x.register_handler(Callback(f"muc inbox {kind}", MatchXPath(f"{{{NS_CLIENT}}}{kind}"),
                                        keep))
        x.register_handler(Callback("muc inbox iq", MatchXPath(f"{{{NS_CLIENT}}}iq"), self._on_iq))

        def invalid_jids(st):
            # A stanza addressed from/to something that is not a JID (e.g. the router's
            # jid-malformed error for a 1024-byte room name) would make slixmpp's own
            # handlers raise and drop the connection: record it and keep it from them.
            from slixmpp.jid import JID, InvalidJID
            for attr in ("from", "to"):
                v = st.xml.get(attr)
                if v:
                    try:
                        JID(v)
                    except InvalidJID:
                        self.trace.append(st.xml)
                        self.inbox.append(st.xml)
                        return None
            return st
        x.add_filter("in", invalid_jids)
        self._ids = 0
        _live_clients.append(self)

    # -- event loop plumbing
    def _activate(self):
        asyncio.set_event_loop(self.loop)

    def _run_for(self, seconds):
        if not self.loop.is_closed():
            self._activate()
            self.loop.run_until_complete(asyncio.sleep(seconds))

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pump_all()

    def next_id(self, prefix="t"):
        self._ids += 1
        return f"{prefix}{self._ids}-{random.randrange(1 << 30):x}"

    def _on_iq(self, iq):
        self.trace.append(iq.xml)
        if iq["type"] not in ("get", "set"):
            return
        elem = iq.xml
        payload = next(iter(elem), None)
        if payload is not None and payload.tag == "{jabber:iq:roster}query":
            return  # slixmpp's own roster handler answers roster pushes
        self.inbox.append(elem)
        ns = payload.tag[1:].split("}", 1)[0] if payload is not None else None
        fn = self.responders.get(ns)
        answer = fn(elem) if fn else ("error", "service-unavailable")
        to, sid = elem.get("from"), elem.get("id")
        if isinstance(answer, tuple):
            body = (f"<error type='cancel'><{answer[1]} xmlns='{NS_STANZAS}'/></error>")
            xml = f"<iq type='error' to={xml_attr_quote(to)} id={xml_attr_quote(sid)}>{body}</iq>"
        else:
            xml = (f"<iq type='result' to={xml_attr_quote(to)} id={xml_attr_quote(sid)}>"
                   f"{answer}</iq>")
        self.xmpp.send_raw(xml)

    # -- sending and waiting
    def send(self, xml):
        self._activate()
        self.xmpp.send_raw(xml)
        pump_all()

    def iq(self, to, itype, payload, timeout=5, iq_id=None):
        """Send an IQ (payload: XML string, element or None) and return the reply
        element, result or error. Other clients keep running meanwhile."""
        from slixmpp.exceptions import IqError, IqTimeout
        self._activate()
        iq = self.xmpp.make_iq(ito=to, itype=itype)
        if iq_id is not None:
            iq["id"] = iq_id
        if payload is not None:
            iq.append(ET.fromstring(payload) if isinstance(payload, str) else payload)
        fut = iq.send(timeout=timeout * SLOW + 5)
        deadline = time.monotonic() + timeout * SLOW
        while not fut.done():
            if time.monotonic() >= deadline:
                fut.cancel()
                raise AssertionError(f"{self.jid}: no reply within {timeout}s to IQ {itype} to "
                                     f"{to}: {payload if isinstance(payload, str) else ''}")
            pump_all()
        try:
            return fut.result().xml
        except IqError as e:
            return e.iq.xml
        except IqTimeout:
            raise AssertionError(f"{self.jid}: IQ {itype} to {to} timed out")

    def run(self, awaitable, timeout=5):
        """Run a slixmpp coroutine (e.g. a plugin call) to completion, all clients live."""
        self._activate()
        fut = asyncio.ensure_future(awaitable, loop=self.loop)
        deadline = time.monotonic() + timeout * SLOW
        while not fut.done():
            if time.monotonic() >= deadline:
                fut.cancel()
                pump_all()
                raise AssertionError(f"{self.jid}: {awaitable!r} did not finish in {timeout}s")
            pump_all()
        return fut.result()

    def available(self):
        """Initial presence: the router then delivers stanzas sent to the bare JID
        (mediated invitations, declines) to this resource."""
        self.send("<presence/>")
        self.sync()

    def wait(self, pred, timeout=5, what="stanza"):
        """Remove and return the first stanza in the inbox matching pred."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            for i, st in enumerate(self.inbox):
                if pred(st):
                    del self.inbox[i]
                    return st
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.jid}: no {what} within {timeout}s; inbox:\n"
                                     + self.dump())
            pump_all()

    def wait_all(self, pred, count, timeout=5, what="stanzas"):
        return [self.wait(pred, timeout, f"{what} #{i + 1} of {count}") for i in range(count)]

    def take(self, pred=lambda st: True):
        """Remove and return every stanza now in the inbox matching pred (no waiting)."""
        got = [st for st in self.inbox if pred(st)]
        self.inbox = [st for st in self.inbox if not pred(st)]
        return got

    def dump(self, stanzas=None):
        stanzas = self.inbox if stanzas is None else stanzas
        return "\n".join("  " + describe(st) for st in stanzas) or "  (empty)"

    def sync(self):
        """Round trip to the MUC service: afterwards, everything confabd sent this
        client before it answered has arrived (one link, one c2s session: in order)."""
        reply = self.iq(MUC_DOMAIN, "get", f"<ping xmlns='{NS_PING}'/>")
        assert reply.get("type") == "result", describe(reply)

    # -- MUC operations
    def join(self, room, nick, password=None, history=None, children="", timeout=5):
        """Enter room as nick and return a MucJoin (roster, self-presence, history,
        subject, in arrival order). A presence error fails the test; see join_error."""
        start = len(self.inbox)  # the inbox only grows until we take from it below
        self.send_join(room, nick, password, history, children)
        occupant = f"{room}/{nick}"

        def finished():
            seen_self = False
            for i in range(start, len(self.inbox)):
                st = self.inbox[i]
                if st.get("from") == occupant and local_name(st) == "presence" \
                        and st.get("type") == "error":
                    return ("error", i)
                if is_self_presence(st, room):
                    seen_self = True
                elif seen_self and is_subject(st, room):
                    return ("done", i)
            return None
        deadline = time.monotonic() + timeout * SLOW
        while True:
            r = finished()
            if r:
                break
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.jid}: joining {occupant}: no self-presence and "
                                     f"subject within {timeout}s; inbox:\n{self.dump()}")
            pump_all()
        kind, end = r
        if kind == "error":
            err = self.inbox.pop(end)
            raise AssertionError(f"{self.jid}: joining {occupant} failed: {describe(err)}")
        upto = self.inbox[start:end + 1]
        mine = [st for st in upto if jid_bare(st.get("from")) == room]
        self.inbox = (self.inbox[:start] + [st for st in upto if jid_bare(st.get("from")) != room]
                      + self.inbox[end + 1:])
        return MucJoin(room, nick, mine)

    def send_join(self, room, nick, password=None, history=None, children=""):
        inner = ""
        if password is not None:
            inner += f"<password>{xml_text_escape(password)}</password>"
        if history is not None:
            attrs = "".join(f" {k}={xml_attr_quote(v)}" for k, v in history.items())
            inner += f"<history{attrs}/>"
        pid = self.next_id("join")
        self.send(f"<presence to={xml_attr_quote(room + '/' + nick)} id='{pid}'>{children}"
                  f"<x xmlns='{NS_MUC}'>{inner}</x></presence>")
        return pid

    def join_error(self, room, nick, password=None, children="", timeout=5):
        """Try to enter; return the presence error (the join must fail)."""
        self.send_join(room, nick, password, None, children)
        occupant = f"{room}/{nick}"
        st = self.wait(lambda s: local_name(s) == "presence" and s.get("from") == occupant
                       and (s.get("type") == "error" or is_self_presence(s, room)),
                       timeout, f"presence error from {occupant}")
        assert st.get("type") == "error", \
            f"{self.jid}: expected {occupant} to refuse entry, but was let in: {describe(st)}"
        return st

    def leave(self, room, nick, status=None):
        inner = f"<status>{xml_text_escape(status)}</status>" if status else ""
        self.send(f"<presence to={xml_attr_quote(room + '/' + nick)} type='unavailable'>"
                  f"{inner}</presence>")
        return self.wait(lambda s: local_name(s) == "presence" and s.get("type") == "unavailable"
                         and s.get("from") == f"{room}/{nick}" and 110 in status_codes(s),
                         what=f"self-presence for leaving {room}/{nick}")

    def groupchat(self, room, body, mid=None, children=""):
        mid = mid or self.next_id("gc")
        self.send(f"<message to={xml_attr_quote(room)} type='groupchat' id='{mid}'>"
                  f"<body>{xml_text_escape(body)}</body>{children}</message>")
        return mid

    def wait_groupchat(self, room, body, timeout=5):
        return self.wait(lambda s: local_name(s) == "message" and jid_bare(s.get("from")) == room
                         and s.get("type") == "groupchat"
                         and s.findtext(q("body", NS_CLIENT)) == body,
                         timeout, f"groupchat {body!r} from {room}")

    def wait_presence(self, frm, pred=lambda s: True, timeout=5, what=None):
        return self.wait(lambda s: local_name(s) == "presence" and s.get("from") == frm and pred(s),
                         timeout, what or f"presence from {frm}")

    def wait_error(self, kind, frm, mid=None, timeout=5):
        return self.wait(lambda s: local_name(s) == kind and s.get("type") == "error"
                         and s.get("from") == frm and (mid is None or s.get("id") == mid),
                         timeout, f"{kind} error from {frm}" + (f" id {mid}" if mid else ""))

    def configure(self, room, fields=None, check=True):
        """Submit the muc#roomconfig form (no fields: an instant room, §10.1.2)."""
        form = submit_form(NS_MUC_ROOMCONFIG, fields) if fields else \
            f"<x xmlns='{NS_DATA}' type='submit'/>"
        reply = self.iq(room, "set", f"<query xmlns='{NS_MUC_OWNER}'>{form}</query>")
        if check:
            assert reply.get("type") == "result", f"configuring {room}: {describe(reply)}"
        return reply

    def config_form(self, room):
        reply = self.iq(room, "get", f"<query xmlns='{NS_MUC_OWNER}'/>")
        assert reply.get("type") == "result", f"config form of {room}: {describe(reply)}"
        x = reply.find(f"{q('query', NS_MUC_OWNER)}/{q('x', NS_DATA)}")
        assert x is not None, f"no data form in {describe(reply)}"
        return x

    def admin(self, room, items, itype="set", iq_id=None):
        """muc#admin IQ; items: XML string of <item/> elements."""
        return self.iq(room, itype, f"<query xmlns='{NS_MUC_ADMIN}'>{items}</query>", iq_id=iq_id)

    def trace_index(self, pred, what="stanza"):
        """Position in arrival order of the first received stanza matching pred."""
        for i, st in enumerate(self.trace):
            if pred(st):
                return i
        raise AssertionError(f"{self.jid}: never received {what}")

    def admin_list(self, room, **attr):
        k, v = next(iter(attr.items()))
        return self.admin(room, f"<item {k}='{v}'/>", itype="get")

    def close(self):
        if self in _live_clients:
            _live_clients.remove(self)
        if not self.loop.is_closed():
            self._activate()
            super().close()


def jid_bare(jid):
    return jid.split("/", 1)[0] if jid else jid


def jid_resource(jid):
    return jid.split("/", 1)[1] if jid and "/" in jid else None


def muc_user_x(st):
    return st.find(q("x", NS_MUC_USER))


def status_codes(st):
    x = muc_user_x(st)
    if x is None:
        return set()
    return {int(s.get("code")) for s in x.findall(q("status", NS_MUC_USER))}


def muc_item(st):
    x = muc_user_x(st)
    return x.find(q("item", NS_MUC_USER)) if x is not None else None


def is_self_presence(st, room):
    """An available presence from room carrying status 110."""
    return (local_name(st) == "presence" and jid_bare(st.get("from")) == room
            and st.get("type") is None and 110 in status_codes(st))


def is_subject(st, room):
    return (local_name(st) == "message" and jid_bare(st.get("from")) == room
            and st.get("type") == "groupchat" and st.find(q("subject", NS_CLIENT)) is not None
            and st.find(q("body", NS_CLIENT)) is None)


def error_condition(st):
    err = stanza_error(st)
    return err[1] if err else None


def submit_form(form_type, fields, ftype="submit"):
    """A jabber:x:data form; fields: {var: value | bool | [values]}."""
    out = [f"<x xmlns='{NS_DATA}' type='{ftype}'>",
           f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"]
    for var, value in fields.items():
        if isinstance(value, bool):
            values = ["1" if value else "0"]
        elif isinstance(value, (list, tuple)):
            values = [str(v) for v in value]
        else:
            values = [str(value)]
        out.append(f"<field var={xml_attr_quote(var)}>"
                   + "".join(f"<value>{xml_text_escape(v)}</value>" for v in values) + "</field>")
    out.append("</x>")
    return "".join(out)


def form_fields(x):
    """{var: (type, [values])} of a data form element."""
    fields = {}
    for f in x.findall(q("field", NS_DATA)):
        values = [v.text or "" for v in f.findall(q("value", NS_DATA))]
        fields[f.get("var")] = (f.get("type"), values)
    return fields


def form_type(x):
    return form_fields(x).get("FORM_TYPE", (None, [None]))[1][0]


def new_room(prefix="room"):
    return f"{prefix}-{random.randrange(1 << 40):010x}@{MUC_DOMAIN}"


# --------------------------------------------------------------------------- test helpers
#
# What several test modules need; the test files themselves hold only tests.

def ok(reply, what="request"):
    """reply (an IQ) must be a result; returns it."""
    assert reply.get("type") == "result", f"{what}: {describe(reply)}"
    return reply


def admin_items(reply):
    """The muc#admin <item/>s of an affiliation or role list."""
    return reply.findall(f"{q('query', NS_MUC_ADMIN)}/{q('item', NS_MUC_ADMIN)}")


def in_room(muc, *users, config=None, settle=True):
    """users[0] creates a room (nick "Owner", with config), the others join it as
    their capitalised names. settle: each one also waits for the presences of those
    who joined after it, so that no test sees a join still in flight; tests that
    assert on those presences themselves pass settle=False. Returns (room, clients...)."""
    clients = [muc.client(u) for u in users]
    room = muc.create_room(clients[0], "Owner", config)
    nicks = [u.capitalize() for u in users]
    for c, nick in zip(clients[1:], nicks[1:]):
        c.join(room, nick)
    if settle:
        for i, c in enumerate(clients):
            for nick in nicks[i + 1:]:
                c.wait_presence(f"{room}/{nick}")
    return (room, *clients)


def three_in_room(muc, config=None, settle=True):
    """alice (Owner), bob (Bob) and carol (Carol) in a new room."""
    return in_room(muc, "alice", "bob", "carol", config=config, settle=settle)


def keep_files():
    """CONFAB_TEST_KEEP=1 keeps the servers' directories for a post-mortem."""
    return os.environ.get("CONFAB_TEST_KEEP") == "1"


def stop_router(router):
    router.stop()
    if not keep_files():
        router.cleanup()


def stop_postgres(pg):
    pg.stop()
    if not keep_files():
        shutil.rmtree(pg.dir, ignore_errors=True)


def stop_daemon(d, check=True):
    """check: the daemon must exit cleanly (Daemon.check_clean_exit); otherwise it is
    only stopped, as after a failed start."""
    if d is None:
        return
    if check:
        d.check_clean_exit()
    else:
        d.stop()


def stop_each(*stops):
    """Call every stop, even after one has raised (a server left running would
    disturb later tests); then raise the first error."""
    first = None
    for stop in stops:
        try:
            stop()
        except BaseException as e:
            first = first or e
    if first is not None:
        raise first


def fresh_database(pg, prefix, test_name):
    """A new database in pg named after the test (prefix keeps modules apart);
    returns (name, dsn)."""
    name = prefix + "_" + re.sub(r"[^a-z0-9]+", "_", test_name.lower())[:40]
    return name, pg.create_database(name)


def close_clients(clients):
    for c in clients:
        c.close()
    clients.clear()


def check_daemons(daemons, errors=None):
    """Every daemon must exit cleanly; all their failures (and errors, found before)
    are reported together, so one crash does not hide another."""
    import pytest
    errors = list(errors or [])
    for d in daemons:
        try:
            d.check_clean_exit()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


def owned(obj, end="stop"):
    """The body of a fixture that yields obj and always ends it with obj.<end>()."""
    try:
        yield obj
    finally:
        getattr(obj, end)()


class MucEnv:
    """A router with the MUC_USERS registered and a confabd attached to it."""

    def __init__(self, kind, pg, workdir, muc_config="", link=None):
        import secrets as _secrets
        self.kind = kind
        self.secrets = {MUC_DOMAIN: "muc-" + _secrets.token_hex(8),
                        ARCHIVE_DOMAIN: "archive-" + _secrets.token_hex(8)}
        self.passwords = {u: f"{u}-pw-{_secrets.token_hex(4)}" for u in MUC_USERS}
        self.router = ROUTERS[kind](self.secrets)
        self.confabd = None
        self.clients = []
        try:
            for user, password in self.passwords.items():
                self.router.register(user, password)
            self.router.start()
            extra = f"\n[muc]\n{muc_config}" if muc_config else ""
            self.confabd = Daemon("confabd", workdir,
                                  config_text(self.router.router_addr, self.secrets, pg,
                                              link=link, extra=extra), name=f"confabd-{kind}")
            self.confabd.start()
            self.confabd.wait_link_up()
            if pg is not None:
                self.confabd.wait_rooms_ready()
        except BaseException:
            self.stop(check=False)
            raise

    def client(self, user, resource=None, available=True):
        """A logged-in MucClient for user; available: send initial presence, as real
        clients do."""
        resource = resource or f"r{len(self.clients)}"
        c = MucClient(f"{user}@{DOMAIN}/{resource}", self.passwords[user], self.router.c2s_port)
        self.clients.append(c)
        if available:
            c.available()
        return c

    def create_room(self, owner, nick="owner", config=None, prefix="room"):
        """owner creates a room (201) and unlocks it: instant, or with config fields."""
        room = new_room(prefix)
        j = owner.join(room, nick)
        assert 201 in status_codes(j.self_presence), \
            f"creating {room}: no 201 in {describe(j.self_presence)}"
        owner.configure(room, config)
        return room

    def end_test(self):
        close_clients(self.clients)
        assert self.confabd.alive(), f"confabd died during the test\n{self.confabd.tail()}"

    def stop(self, check=True):
        close_clients(self.clients)
        try:
            stop_daemon(self.confabd, check)
        finally:
            stop_router(self.router)


def muc_router_kinds():
    return [k.strip() for k in os.environ.get("CONFAB_TEST_ROUTERS", "prosody,ejabberd").split(",")
            if k.strip()]


try:
    import pytest as _pytest
except ImportError:  # pragma: no cover - the suite always runs under pytest
    _pytest = None

if _pytest is not None:
    @_pytest.fixture(scope="module")
    def muc_env(pg, tmp_path_factory, request):
        """Prosody + confabd for one test module (most MUC behaviour is router-neutral)."""
        if "prosody" not in muc_router_kinds():
            _pytest.skip("CONFAB_TEST_ROUTERS excludes prosody")
        yield from owned(MucEnv("prosody", pg, tmp_path_factory.mktemp(request.module.__name__),
                                getattr(request.module, "MUC_CONFIG", "")))

    @_pytest.fixture
    def muc(muc_env):
        """The module's MucEnv; the clients a test makes are closed after it, and
        confabd must still be running then."""
        try:
            yield muc_env
        finally:
            muc_env.end_test()


# --------------------------------------------------------------------------- terminal clients
#
# tests/integration/test_clients_terminal.py drives real console clients (profanity,
# poezio) inside tmux: keys go in with `tmux send-keys`, the screen comes back with
# `tmux capture-pane -p`. Each client gets its own tmux server (-L socket), so killing it
# at teardown touches nothing else, and its own HOME with a generated configuration.

UNPRIVILEGED_USER = "confabtest"


def ensure_unprivileged_user(name=UNPRIVILEGED_USER):
    """A system user for clients that refuse to run as root (poezio); created once."""
    import pwd
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True, timeout=30)
    return name


class TmuxClient:
    """A console program in a detached tmux session of its own tmux server."""

    width, height = 200, 72  # the room form (issue 16 added privacy and type) fits whole

    def __init__(self, name, home, argv, user=None, env=None):
        self.name = name
        self.home = Path(home)
        self.socket = f"confabtest-{os.getpid()}-{name}"
        self.user = user
        base = {"HOME": str(self.home), "TERM": "screen-256color", "LANG": "C.UTF-8",
                "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_DATA_HOME": str(self.home / ".local/share"),
                "XDG_CACHE_HOME": str(self.home / ".cache")}
        base.update(env or {})
        cmd = ["env", "-i", *[f"{k}={v}" for k, v in base.items()], *map(str, argv)]
        if user:
            cmd = ["runuser", "-u", user, "--", *cmd]
        self.exit_file = self.home / "exit-status"
        # the shell keeps the pane open after the client exits, so its last screen (and
        # its exit status) can still be read when it crashes
        shell = f"{shlex.join(cmd)}; echo $? > {shlex.quote(str(self.exit_file))}; sleep 3600"
        self._tmux("new-session", "-d", "-s", name, "-x", str(self.width), "-y",
                   str(self.height), shell)

    def _tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.socket, *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=15, check=check)

    def screen(self):
        """The visible screen, wrapped lines joined."""
        r = self._tmux("capture-pane", "-p", "-J", "-t", self.name, check=False)
        return r.stdout

    def type(self, text, enter=True):
        """Type text literally; Enter is a separate key press, after a pause, because
        a fast burst with a newline in it reads as a paste to some clients (poezio)."""
        self._tmux("send-keys", "-t", self.name, "-l", text)
        if enter:
            time.sleep(0.2)
            self._tmux("send-keys", "-t", self.name, "Enter")

    def key(self, *keys):
        self._tmux("send-keys", "-t", self.name, *keys)

    def wait_screen(self, pattern, timeout=10, what=None):
        """Poll the screen until regex pattern appears (returns the match); the slixmpp
        clients of the test keep running meanwhile."""
        rx = re.compile(pattern)

        def seen():
            pump_all(0.02)
            if self.exit_file.exists():
                raise AssertionError(f"{self.name} exited ({self.exit_file.read_text().strip()})"
                                     f"; screen:\n{self.screen()}")
            return rx.search(self.screen())
        return wait_for(seen, timeout * SLOW, what or f"{self.name} to show /{pattern}/",
                        interval=0.1, detail=lambda: f"{self.name} screen:\n" + self.text())

    def text(self):
        """The screen without blank lines and frame-only lines (for failure messages)."""
        return "\n".join(ln.rstrip() for ln in self.screen().splitlines()
                         if ln.strip(" \u2502\u2500\u250c\u2510\u2514\u2518xqlkmj"))

    def stop(self):
        self._tmux("kill-server", check=False)


class ProfanityClient(TmuxClient):
    """profanity (Debian 0.13) logged in as user: the account is written to
    ~/.local/share/profanity/accounts (no TLS, server 127.0.0.1, the router's port)."""

    def __init__(self, home, user, password, port, resource="prof"):
        home = Path(home)
        (home / ".local/share/profanity").mkdir(parents=True, exist_ok=True)
        (home / ".config/profanity").mkdir(parents=True, exist_ok=True)
        (home / ".local/share/profanity/accounts").write_text(
            f"[{user}]\nenabled=true\njid={user}@{DOMAIN}\nserver={HOST}\nport={port}\n"
            f"resource={resource}\npassword={password}\ntls.policy=disable\n"
            f"muc.service={MUC_DOMAIN}\nmuc.nick={user}\n")
        # no splash logo; the room's occupant list stays on screen
        (home / ".config/profanity/profrc").write_text("[ui]\nsplash=false\n")
        super().__init__(f"profanity-{user}", home, ["profanity", "-a", user])
        self.wait_screen(r"logged in successfully", 20, f"profanity to log in as {user}")


class PoezioClient(TmuxClient):
    """poezio (Debian 0.14) logged in as user, run as the unprivileged UNPRIVILEGED_USER
    (poezio refuses root) with ~/.config/poezio/poezio.cfg: no TLS, 127.0.0.1:port."""

    def __init__(self, home, user, password, port):
        unix_user = ensure_unprivileged_user()
        home = Path(home)
        (home / ".config/poezio").mkdir(parents=True, exist_ok=True)
        (home / ".config/poezio/poezio.cfg").write_text(
            "[Poezio]\n"
            f"jid = {user}@{DOMAIN}/poezio\npassword = {password}\n"
            f"custom_host = {HOST}\ncustom_port = {port}\n"
            "force_encryption = false\nignore_certificate = true\n"
            f"default_nick = {user}\nuse_remote_bookmarks = false\nenable_carbons = false\n")
        self.debug_log = home / "poezio-debug.log"
        subprocess.run(["chown", "-R", f"{unix_user}:", str(home)], check=True)
        home.chmod(0o700)
        super().__init__(f"poezio-{user}", home, ["poezio", "-d", self.debug_log],
                         user=unix_user)
        self.wait_screen(r"Authentication success", 20, f"poezio to log in as {user}")

    def command(self, text):
        """A /command; from the roster tab the first '/' only opens the command line."""
        self.type("/", enter=False)
        time.sleep(0.2)
        self.type(text[1:] if text.startswith("/") else text)

    def log_text(self):
        try:
            return self.debug_log.read_text(errors="replace")
        except OSError:
            return ""
