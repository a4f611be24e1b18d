#!/usr/bin/python3
"""Runs Prosody's scansion (.scs) MUC specs against confabd or Prosody's own MUC, with a Python client.

Usage (as root, Debian's /usr/bin/python3):
  run_scansion.py [--target confabd|prosody] [--specs DIR] [--junit FILE] [-v] [SPEC ...]

SPEC is a spec name without .scs (e.g. muc_password); none = every spec in DIR
(default: what tests/scansion/fetch-specs.sh prints). Each spec gets a fresh Prosody
0.12 router on free loopback ports and, for --target confabd, a fresh confabd
($CONFAB_BUILD) on a fresh PostgreSQL database, so no spec sees another's rooms.
--target prosody runs Prosody's own MUC ("muc" component, muc_mam, memory storage):
the self-check of this runner. Output: "PASS name" / "FAIL name: step N (line L): ..."
per spec, then "N passed, N failed".

Matching semantics (what scansion does; source: scansion's own documentation,
docs/character-classes/client.md, "Matching rules", scansion changeset 166:5d39804f108b,
https://matthewwild.co.uk/projects/scansion/docs/character-classes/client; the
scansion source itself, code.matthewwild.co.uk/scansion, was not reachable from here,
so the points that page leaves open are marked CHOICE below and were checked
against Prosody's own MUC, which the specs were written for):

* Delivery: scansion (on verse) reads a client's socket only while that client is in a
  "receives" step, and hands every stanza of one read to its handler synchronously.
  The stanzas of that read that follow the matched one are seen only by an
  immediately following "receives" step of the same client; once the script moves
  on to any other step ("sends" included) they are dropped. Stanzas that arrive
  while the client is not receiving wait in the socket for its next receives step.
  This runner reproduces that: each client queues what arrives; a receives step that
  finds no current batch takes everything queued as one batch (one read) and matches
  its first stanza; directly following receives steps of the same client consume the
  batch in order; any other step drops the rest of the batch. So an extra stanza sent
  together with the expected one (e.g. the status 104 message right after a config
  result) is not a failure when the script does something else next, exactly as with
  scansion; but the stanza a receives step gets is always the next one delivered, and
  a wrong or missing one fails the step. No stanza within the timeout (5 s x
  $CONFAB_TEST_SLOW) fails it too. "X receives: nothing" fails if anything is pending
  or arrives within 1 s (CHOICE: scansion's wait is not documented; no MUC spec uses it).
  This rule is inferred (scansion's client code was not reachable) and checked
  against the specs: Prosody 13 sends a 104 message after the config results in
  muc_password, muc_members_only_change and muc_presence_probe (the same
  muc.lib.lua code as 0.12, which we ran), and those specs pass only if it is dropped
  where the next step is not a receives of that client, while muc_password expects
  the same 104 message when a receives step follows directly.
* Two modes, per element:
  - non-strict: every attribute of the expected element must be in the received one
    with the same value; extra received attributes are ignored. Every expected child
    element must match a distinct received child; extra received children are ignored;
    ORDER IS IGNORED.
  - strict: the attribute sets must be equal (no extra received attributes); the child
    elements must match one to one, same number, SAME ORDER.
  - both: an expected attribute value "{scansion:any}" only requires the attribute to
    be present.
  - default mode: elements in the stream's default namespace (jabber:client:
    message/presence/iq, body, subject, error, ...) are non-strict; elements with a
    namespace of their own (<x xmlns='...muc#user'>, its <item>/<status> children,
    <query>, <not-authorized xmlns=...stanzas>) are strict. An element's
    scansion:strict='true'|'false' attribute (the scansion namespace
    https://matthewwild.co.uk/projects/scansion, prefix pre-declared as scansion
    overrides the default for that element; the attribute itself is not matched.
  - element names and namespaces must be equal.
  - text (CHOICE, the page is silent): whitespace-only text is ignored everywhere
    (the specs are indented); if the expected element has text, the received text must
    equal it after stripping surrounding whitespace; an expected element without text
    accepts any text in non-strict mode and requires none in strict mode.
* "X sends:" sends every stanza of the block in order (re-serialised without the
  indentation whitespace). Variables: ${Name's JID} is the bare JID, ${Name's full
  JID} the JID the server bound (the client asks for no resource, the server picks
  one). "X connects" = TCP, stream, SASL PLAIN (no TLS, loopback), resource binding;
  no initial presence or roster (the specs send what they need). "X disconnects"
  closes the stream; a "sends" after it sends nothing (as on scansion's closed verse
  stream). After each "sends" step the runner waits 50 ms (x
  $CONFAB_TEST_SLOW) so that stanzas of two clients sent back to back reach the server
  in script order (CHOICE: without it muc_whois_anyone_member races). Stanzas a client never waited for are not checked.
"""

import argparse
import asyncio
import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import traceback
import xml.parsers.expat
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import confabtest as ct  # noqa: E402  (Postgres, ProsodyRouter, Daemon, config_text)

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SCANSION = "https://matthewwild.co.uk/projects/scansion"
STRICT_ATTR = NS_SCANSION + " strict"
ANY = "{scansion:any}"
SEP = " "  # expat namespace separator: "ns name"
TIMEOUT = 5.0 * ct.SLOW
NOTHING_WAIT = 1.0 * ct.SLOW
SEND_SETTLE = 0.05 * ct.SLOW


# --------------------------------------------------------------------------- XML

class El:
    """A parsed element: namespace, local name, attributes (namespaced keys as
    'ns name'), children (El), text (concatenated character data)."""
    __slots__ = ("ns", "name", "attrs", "children", "text")

    def __init__(self, ns, name, attrs):
        self.ns, self.name, self.attrs = ns, name, attrs
        self.children, self.text = [], ""

    def serialize(self, parent_ns=None, keep_scansion=False):
        attrs = "".join(f" {_attr_name(k)}={quoteattr(v)}" for k, v in self.attrs.items()
                        if keep_scansion or not k.startswith(NS_SCANSION + SEP))
        if self.ns != parent_ns:
            attrs = f" xmlns={quoteattr(self.ns)}" + attrs
        inner = escape(self.text.strip()) if self.text.strip() else ""
        inner += "".join(c.serialize(self.ns, keep_scansion) for c in self.children)
        if not inner:
            return f"<{self.name}{attrs}/>"
        return f"<{self.name}{attrs}>{inner}</{self.name}>"

    def __str__(self):
        return self.serialize(NS_CLIENT, keep_scansion=True)


def _attr_name(key):
    if SEP not in key:
        return key
    ns, local = key.split(SEP, 1)
    if ns == "http://www.w3.org/XML/1998/namespace":
        return "xml:" + local
    if ns == NS_SCANSION:
        return "scansion:" + local
    return local  # other namespaced attributes do not occur in the specs


def _split(qname):
    if SEP in qname:
        ns, name = qname.split(SEP, 1)
        return ns, name
    return "", qname


class TreeBuilder:
    """expat callbacks building El trees; depth-1 elements of a stream are handed to
    on_top (the stream element itself to on_open)."""

    def __init__(self, on_top=None, on_open=None, top_depth=1):
        self.stack = []
        self.on_top, self.on_open, self.top_depth = on_top, on_open, top_depth
        self.done = []

    def parser(self):
        p = xml.parsers.expat.ParserCreate(namespace_separator=SEP)
        p.buffer_text = True
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.chars
        return p

    def start(self, qname, attrs):
        ns, name = _split(qname)
        el = El(ns, name, dict(attrs))
        if self.stack:
            self.stack[-1].children.append(el)
        self.stack.append(el)
        if len(self.stack) == 1 and self.on_open:
            self.on_open(el)

    def end(self, qname):
        el = self.stack.pop()
        if len(self.stack) == self.top_depth:
            self.stack[-1].children.remove(el)  # streams: do not accumulate stanzas
            if self.on_top:
                self.on_top(el)
            else:
                self.done.append(el)

    def chars(self, data):
        if self.stack:
            self.stack[-1].text += data


def parse_fragment(text):
    """The stanzas of a sends:/receives: block (jabber:client default namespace,
    scansion: prefix pre-declared, as scansion does)."""
    tb = TreeBuilder(top_depth=1)
    tb.on_top = None
    p = tb.parser()
    p.Parse(f"<scansion-block xmlns='{NS_CLIENT}' xmlns:scansion='{NS_SCANSION}'>"
            f"{text}</scansion-block>", True)
    return tb.done


# --------------------------------------------------------------------------- matching

LENIENT = False  # --lenient: a diagnostic, not scansion's rules (see main())


def is_strict(el):
    v = el.attrs.get(STRICT_ATTR)
    if v is not None:
        return v.strip().lower() == "true"
    return el.ns != NS_CLIENT and not LENIENT


def match(exp, got, path=""):
    """None if got matches exp, else a string saying where and why not."""
    here = f"{path}/{exp.name}"
    if exp.name != got.name or exp.ns != got.ns:
        return f"{path or '/'}: expected <{exp.name} xmlns='{exp.ns}'>, got <{got.name} xmlns='{got.ns}'>"
    strict = is_strict(exp)
    want = {k: v for k, v in exp.attrs.items() if not k.startswith(NS_SCANSION + SEP)}
    for k, v in want.items():
        if k not in got.attrs:
            return f"{here}: missing attribute {_attr_name(k)}={v!r}"
        if v != ANY and got.attrs[k] != v:
            return f"{here}: attribute {_attr_name(k)}={got.attrs[k]!r}, expected {v!r}"
    if strict:
        extra = [k for k in got.attrs if k not in want]
        if extra:
            return (f"{here} (strict): extra attribute(s) "
                    + ", ".join(f"{_attr_name(k)}={got.attrs[k]!r}" for k in extra))
    et, gt = exp.text.strip(), got.text.strip()
    if et and et != gt:
        return f"{here}: text {gt!r}, expected {et!r}"
    if strict and not et and gt:
        return f"{here} (strict): unexpected text {gt!r}"
    if strict:
        if len(exp.children) != len(got.children):
            return (f"{here} (strict): {len(got.children)} child element(s) "
                    f"[{', '.join(c.name for c in got.children)}], expected {len(exp.children)} "
                    f"[{', '.join(c.name for c in exp.children)}] in this order")
        for i, (e, g) in enumerate(zip(exp.children, got.children)):
            err = match(e, g, here)
            if err:
                return f"{err} (child {i + 1}, strict order)"
        return None
    # non-strict: each expected child needs its own received child, any order
    return _assign(exp.children, got.children, here)


def _assign(expected, received, here):
    n = len(expected)
    cand = []
    for e in expected:
        ok = [j for j, g in enumerate(received) if match(e, g, here) is None]
        if not ok:
            # explain with the closest candidate of the same name, if any
            same = [g for g in received if g.name == e.name and g.ns == e.ns]
            # the closest: the one sharing most attribute values (e.g. the same var=)
            same.sort(key=lambda g: -sum(1 for k, v in e.attrs.items() if g.attrs.get(k) == v))
            why = match(e, same[0], here) if same else f"{here}: no <{e.name} xmlns='{e.ns}'> child"
            return f"{why} [expected child {e}]"
        cand.append(ok)
    used = set()

    def solve(i):
        if i == n:
            return True
        for j in cand[i]:
            if j not in used:
                used.add(j)
                if solve(i + 1):
                    return True
                used.discard(j)
        return False
    if not solve(0):
        return f"{here}: children cannot be matched one to one (duplicates expected?)"
    return None


# --------------------------------------------------------------------------- script

class Step:
    def __init__(self, line, who, action, stanzas=None, text=""):
        self.line, self.who, self.action, self.stanzas, self.text = line, who, action, stanzas, text


class Script:
    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.stem
        self.clients = {}   # name -> {"jid":..., "password":...}
        self.steps = []
        self._parse(self.path.read_text())

    def _parse(self, text):
        lines = text.split("\n")
        i = 0
        in_header = True
        current = None
        while i < len(lines):
            raw = lines[i]
            line = raw.rstrip()
            if in_header:
                if line.startswith("-----"):
                    in_header = False
                elif line.startswith("[Client]"):
                    current = line[len("[Client]"):].strip()
                    self.clients[current] = {}
                elif current and raw[:1] in ("\t", " ") and ":" in line:
                    k, v = line.strip().split(":", 1)
                    self.clients[current][k.strip()] = v.strip()
                i += 1
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                i += 1
                continue
            m = re.match(r"^(.+?) (connects|disconnects)$", line)
            if m:
                self.steps.append(Step(i + 1, m.group(1), m.group(2)))
                i += 1
                continue
            m = re.match(r"^(.+?) (sends|receives):\s*(.*)$", line)
            if not m:
                raise ValueError(f"{self.path}:{i + 1}: cannot parse {line!r}")
            who, action, rest = m.groups()
            start = i + 1
            j = i + 1
            block = []
            # the block: indented lines, blank lines inside it included
            while j < len(lines) and (lines[j][:1] in ("\t", " ") or not lines[j].strip()):
                block.append(lines[j])
                j += 1
            if rest.strip() == "nothing":
                self.steps.append(Step(start, who, "receives-nothing"))
            else:
                self.steps.append(Step(start, who, action, text="\n".join(block)))
            i = j
        for name in {s.who for s in self.steps}:
            if name not in self.clients:
                raise ValueError(f"{self.path}: {name} is not declared in the header")


def substitute(text, variables, xml_escape=True):
    def rep(m):
        key = m.group(1)
        if key not in variables:
            raise KeyError(f"unknown variable ${{{key}}}")
        v = variables[key]
        return escape(v, {'"': "&quot;", "'": "&apos;"}) if xml_escape else v
    return re.sub(r"\$\{([^}]*)\}", rep, text)


# --------------------------------------------------------------------------- client

class StepFailure(Exception):
    pass


class Client:
    """A minimal XMPP c2s client: stream, SASL PLAIN, bind; stanzas are queued."""

    def __init__(self, name, jid, password, port):
        self.name, self.jid, self.password, self.port = name, jid, password, port
        self.queue = asyncio.Queue()
        self.batch = []      # the rest of the current "read" (see the module docstring)
        self.live = False    # in a chain of receives steps
        self.full_jid = None
        self.reader = self.writer = None
        self.closed = asyncio.Event()
        self._pump = None
        self._stream_el = None

    def _new_parser(self):
        self._tb = TreeBuilder(on_top=self._on_top, on_open=self._on_open, top_depth=1)
        self._parser = self._tb.parser()

    def _on_open(self, el):
        self._stream_el = el

    def _on_top(self, el):
        self.queue.put_nowait(el)

    async def _read_loop(self):
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self._parser.Parse(data, False)
        except (ConnectionError, xml.parsers.expat.ExpatError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()

    async def _next(self, timeout):
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def next_delivered(self, timeout):
        """The next stanza a receives step sees: from the current batch, or a new
        batch of everything queued (waiting up to timeout for the first)."""
        self.live = True
        if not self.batch:
            first = await self._next(timeout)
            self.batch = [first]
            while not self.queue.empty():
                self.batch.append(self.queue.get_nowait())
        return self.batch.pop(0)

    def end_chain(self, log):
        """The script waits for something else: the rest of the batch is dropped."""
        for st in self.batch:
            log(f"  ({self.name}: not expected, dropped as scansion would: {st})")
        self.batch = []
        self.live = False

    def send_raw(self, text):
        self.writer.write(text.encode())

    async def _open_stream(self):
        self._new_parser()
        domain = self.jid.split("@", 1)[1].split("/")[0]
        self.send_raw(f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
                      f"xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>")
        features = await self._next(TIMEOUT)
        if features.name != "features":
            raise StepFailure(f"expected stream features, got {features}")
        return features

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(ct.HOST, self.port)
        self._new_parser()
        self._pump = asyncio.ensure_future(self._read_loop())
        features = await self._open_stream()
        mechs = [m.text.strip() for f in features.children if f.name == "mechanisms"
                 for m in f.children]
        if "PLAIN" not in mechs:
            raise StepFailure(f"server offers no PLAIN: {features}")
        user = self.jid.split("@", 1)[0]
        token = base64.b64encode(f"\0{user}\0{self.password}".encode()).decode()
        self.send_raw(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
        r = await self._next(TIMEOUT)
        if r.name != "success":
            raise StepFailure(f"SASL failed: {r}")
        # the stream restarts: a new parser for the new stream (the read loop keeps
        # feeding whichever parser is current)
        features = await self._open_stream()
        self.send_raw(f"<iq type='set' id='scansion-bind'><bind xmlns='{NS_BIND}'/></iq>")
        r = await self._next(TIMEOUT)
        jid = [c.text.strip() for b in r.children if b.name == "bind" for c in b.children
               if c.name == "jid"]
        if r.attrs.get("type") != "result" or not jid:
            raise StepFailure(f"resource binding failed: {r}")
        self.full_jid = jid[0]

    async def disconnect(self):
        if self.writer is None:
            return
        try:
            self.send_raw("</stream:stream>")
            await self.writer.drain()
            try:
                await asyncio.wait_for(self.closed.wait(), 2)
            except asyncio.TimeoutError:
                pass
        except ConnectionError:
            pass
        finally:
            self.writer.close()
            if self._pump:
                self._pump.cancel()
            self.writer = None


# --------------------------------------------------------------------------- servers

def router_config(router, target, secret):
    """Prosody 0.12 config derived from spec/scansion/prosody.cfg.lua: the same host
    modules where 0.12 has them (debug_reset is 13.x only), insecure auth, memory
    storage, the same contact_info; conference.localhost either as confabd's component
    or as Prosody's own MUC (admins and muc_mam as in the spec config)."""
    if target == "prosody":
        comp = ('Component "conference.localhost" "muc"\n'
                '  storage = "memory"\n'
                '  admins = { "Admin@localhost" }\n'
                '  modules_enabled = { "muc_mam" }\n')
    else:
        comp = f'Component "conference.localhost"\n  component_secret = "{secret}"\n'
    d = router.dir
    return f"""-- generated by tests/scansion/run_scansion.py (from Prosody 13.0.1 spec/scansion/prosody.cfg.lua)
{ct.prosody_base_config(d, router.c2s_port, router.component_port, plaintext=False)}admins = {{ "admin@localhost" }}
modules_enabled = {{
  "roster"; "saslauth"; "disco"; "carbons"; "pep"; "private"; "blocklist"; "vcard4";
  "vcard_legacy"; "version"; "uptime"; "time"; "ping"; "register"; "mam";
  "server_contact_info"; "lastactivity"; "external_services"; "tombstones";
  "user_account_management"; "posix";
}}
modules_disabled = {{ "s2s" }}
contact_info = {{
  abuse = {{ "mailto:abuse@localhost", "xmpp:abuse@localhost" }};
  admin = {{ "mailto:admin@localhost", "xmpp:admin@localhost" }};
  feedback = {{ "http://localhost/feedback.html", "mailto:feedback@localhost", "xmpp:feedback@localhost" }};
  sales = {{ "xmpp:sales@localhost" }};
  security = {{ "xmpp:security@localhost" }};
  status = {{ "gopher://status.localhost" }};
  support = {{ "https://localhost/support.html", "xmpp:support@localhost" }};
}}
allow_registration = false
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "insecure"
insecure_open_authentication = "Yes please, I know what I'm doing!"
storage = "memory"
mam_smart_enable = true
bounce_blocked_messages = true
hide_os_type = true
VirtualHost "localhost"
{comp}"""


class Env:
    """Fresh router (+ confabd on a fresh database) for one spec."""

    def __init__(self, target, pg, workdir, name):
        self.target = target
        self.secret = "muc-" + secrets.token_hex(8)
        self.router = ct.ProsodyRouter({ct.MUC_DOMAIN: self.secret})
        self.router.config.write_text(router_config(self.router, target, self.secret))
        self.confabd = None
        if target == "confabd":
            self.router.start()
        else:
            # no external component: Prosody opens no component port, wait for c2s only
            self.router.start(wait=False)
            ct.wait_for(lambda: self.router.alive() and ct.port_accepts(self.router.c2s_port),
                        30, "prosody c2s port", interval=0.05, detail=self.router.logs)
        if target == "confabd":
            db = re.sub(r"[^a-z0-9_]", "_", f"scs_{name}_{secrets.token_hex(3)}".lower())
            dsn = pg.create_database(db)
            self.confabd = ct.Daemon(
                "confabd", workdir,
                ct.config_text(self.router.router_addr, {ct.MUC_DOMAIN: self.secret}, pg,
                               chat_dsn=dsn,
                               # the spec config's MUC admins, as confabd's service admins
                               extra="\n[muc]\nadmins = Admin@localhost\n"),
                name=f"confabd-{name}")
            self.confabd.start()
            self.confabd.wait_link_up()
            # a fresh database is migrated after the link is up; until then confabd
            # answers joins with resource-constraint (correctly), which no spec expects
            self.confabd.wait_rooms_ready(timeout=30)

    def problems(self):
        """confabd's exit and sanitizer check (as the integration fixtures do)."""
        if self.confabd is None:
            return None
        try:
            self.confabd.check_clean_exit()
        except AssertionError as e:
            return str(e)
        return None

    def stop(self, keep=False):
        try:
            if self.confabd is not None and self.confabd.returncode is None:
                self.confabd.stop()
        finally:
            self.router.stop()
            if not keep:
                self.router.cleanup()


# --------------------------------------------------------------------------- runner

async def run_script(script, port, log):
    clients = {}
    variables = {}
    for name, conf in script.clients.items():
        jid = conf.get("jid", "")
        variables[f"{name}'s JID"] = jid
    for n, step in enumerate(script.steps, 1):
        where = f"step {n} (line {step.line}): {step.who} {step.action.replace('-', ' ')}"
        conf = script.clients[step.who]
        if True:  # any step but this client's next receives ends a chain (docstring)
            for name, other in clients.items():
                if other.live and not (name == step.who and step.action == "receives"):
                    other.end_chain(log)
        try:
            if step.action == "connects":
                c = Client(step.who, conf["jid"], conf.get("password", "password"), port)
                await c.connect()
                clients[step.who] = c
                variables[f"{step.who}'s full JID"] = c.full_jid
                log(f"  {where}: bound {c.full_jid}")
                continue
            c = clients.get(step.who)
            if c is not None and c.writer is None and step.action == "sends":
                # after "X disconnects" (muc_outcast_reason does this): verse drops
                # what is sent on a closed stream, so scansion goes on
                log(f"  {where}: {step.who} is disconnected, nothing sent")
                continue
            if c is None or c.writer is None:
                raise StepFailure(f"{step.who} is not connected")
            if step.action == "disconnects":
                await c.disconnect()
                continue
            if step.action == "sends":
                for st in parse_fragment(substitute(step.text, variables)):
                    out = st.serialize(NS_CLIENT)
                    log(f"  {where}: {out}")
                    c.send_raw(out)
                await c.writer.drain()
                # let the server take it before another client's step: two clients'
                # sends back to back otherwise race in the server (which reads both
                # sockets in one loop turn), e.g. muc_whois_anyone_member's member
                # grant by Romeo and Juliet's query that depends on it
                await asyncio.sleep(SEND_SETTLE)
                continue
            if step.action == "receives-nothing":
                try:
                    got = await c.next_delivered(NOTHING_WAIT)
                except asyncio.TimeoutError:
                    continue
                raise StepFailure(f"expected nothing, got {got}")
            # receives
            for exp in parse_fragment(substitute(step.text, variables)):
                try:
                    got = await c.next_delivered(TIMEOUT)
                except asyncio.TimeoutError:
                    raise StepFailure(f"expected {exp}\n    got nothing within {TIMEOUT:.0f}s"
                                      + (" (connection closed)" if c.closed.is_set() else ""))
                log(f"  {where}: got {got}")
                err = match(exp, got)
                if err:
                    raise StepFailure(f"expected {exp}\n    got      {got}\n    mismatch {err}")
        except StepFailure as e:
            return f"{where}: {e}"
        except (KeyError, xml.parsers.expat.ExpatError, ConnectionError, OSError) as e:
            return f"{where}: {type(e).__name__}: {e}"
    for c in clients.values():
        await c.disconnect()
    return None


def find_specs(specs_dir, names):
    if names:
        paths = []
        for n in names:
            p = Path(n)
            if not p.suffix:
                p = Path(specs_dir) / f"{n}.scs"
            paths.append(p)
        return paths
    return sorted(Path(specs_dir).glob("*.scs"))


def fetch_specs():
    r = subprocess.run(["bash", str(HERE / "fetch-specs.sh")], stdout=subprocess.PIPE,
                       text=True)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    return r.stdout.strip().splitlines()[-1]


def write_junit(path, suite, results):
    fails = sum(1 for _, err, _ in results if err)
    out = [f'<?xml version="1.0" encoding="utf-8"?>',
           f'<testsuites><testsuite name={quoteattr(suite)} tests="{len(results)}" '
           f'failures="{fails}" errors="0">']
    for name, err, secs in results:
        out.append(f'<testcase classname={quoteattr(suite)} name={quoteattr(name)} '
                   f'time="{secs:.2f}">')
        if err:
            out.append(f'<failure message={quoteattr(err.splitlines()[0][:200])}>'
                       f'{escape(err)}</failure>')
        out.append("</testcase>")
    out.append("</testsuite></testsuites>")
    Path(path).write_text("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", choices=("confabd", "prosody"), default="confabd")
    ap.add_argument("--specs", help="directory with the .scs files (default: fetch-specs.sh)")
    ap.add_argument("--junit", help="write a JUnit XML report here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every stanza")
    ap.add_argument("--keep", action="store_true", help="keep router directories")
    ap.add_argument("--lenient", action="store_true",
                    help="diagnostic only (never in CI): namespaced elements are non-strict "
                         "unless marked scansion:strict='true', so a spec gets past child "
                         "order and extra children/attributes to show its next failure")
    ap.add_argument("spec", nargs="*")
    args = ap.parse_args()

    suite = f"scansion-{args.target}"
    if args.lenient:
        global LENIENT
        LENIENT = True
        suite += "-lenient"
    specs_dir = args.specs or fetch_specs()
    if not specs_dir:
        msg = "fetching Prosody 13.0.1's specs failed (see fetch-specs.sh's message above)"
        print(f"FAIL fetch-specs: {msg}")
        if args.junit:
            write_junit(args.junit, suite, [("fetch-specs", msg, 0.0)])
        print("0 passed, 1 failed")
        return 1
    specs = find_specs(specs_dir, args.spec)
    if args.target == "confabd" and not (ct.BUILD / "confabd").exists():
        print(f"FAIL build: {ct.BUILD}/confabd is not built")
        print("0 passed, 1 failed")
        return 1

    def log(msg):
        if args.verbose:
            print(msg, flush=True)

    pg = None
    results = []
    workroot = ct.make_workdir("confab-scansion-")
    try:
        if args.target == "confabd":
            pg = ct.Postgres(databases=())
            pg.start()
        for path in specs:
            name = path.stem
            t0 = time.monotonic()
            env = None
            err = None
            try:
                script = Script(path)
                env = Env(args.target, pg, workroot / name, name)
                err = asyncio.run(run_script(script, env.router.c2s_port, log))
                if env.confabd is not None and not env.confabd.alive():
                    err = (err or "") + f"\n    confabd died\n{env.confabd.tail(30)}"
            except Exception as e:  # a server that did not start, a parse error: this spec fails
                err = f"setup: {type(e).__name__}: {e}"
                if args.verbose:
                    traceback.print_exc()
            finally:
                if env is not None:
                    bad = env.problems()
                    if bad:
                        err = (err + "\n    " if err else "") + "confabd teardown: " + bad
                    if err and env.confabd is not None:
                        err += f"\n    (confabd log: {env.confabd.log}, router: {env.router.dir})"
                    env.stop(keep=args.keep or bool(err and args.verbose))
            secs = time.monotonic() - t0
            results.append((name, err, secs))
            if err:
                print(f"FAIL {name}: {err}", flush=True)
            else:
                print(f"PASS {name}", flush=True)
    finally:
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.dir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
    if args.junit:
        write_junit(args.junit, suite, results)
    passed = sum(1 for _, e, _ in results if not e)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
