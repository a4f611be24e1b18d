"""Issue 6: XEP-0033 fan-out through ejabberd's mod_multicast.

With `[component] multicast = multicast.localhost`, confabd asks that service for
disco#info when its link comes up and, if it offers
http://jabber.org/protocol/address, sends each room broadcast once per
`multicast_max` recipients with a bcc address list instead of one stanza per
occupant. Real ejabberd 23.01 (with and without mod_multicast), real confabd and
PostgreSQL, real slixmpp clients: every occupant must still get every message and
presence exactly once, and nobody may see the address list.
"""

import re

import pytest

import confabtest as ct
from confabtest import NS_CLIENT, local_name, q

NS_ADDRESS = "http://jabber.org/protocol/address"
SERVICE = f"multicast.{ct.DOMAIN}"
MULTICAST_CONFIG = f"\n[component]\nmulticast = {SERVICE}\nmulticast_max = 2\n"


class MulticastEjabberd(ct.EjabberdRouter):
    """ejabberd with mod_multicast (its default limits: 20 addresses per stanza from a
    sender that is not a local user, such as a component)."""

    def __init__(self, components):
        super().__init__(components)
        self.config.write_text(self.config.read_text() + "  mod_multicast: {}\n")


ct.ROUTERS.setdefault("ejabberd-multicast", MulticastEjabberd)


@pytest.fixture
def env(pg, tmp_path, request):
    if "ejabberd" not in ct.muc_router_kinds():
        pytest.skip("CONFAB_TEST_ROUTERS excludes ejabberd")
    kind = request.param
    e = ct.MucEnv(kind, pg, tmp_path, MULTICAST_CONFIG)
    try:
        yield e
    finally:
        e.stop()


def chat_round(env, users):
    """Everyone joins one room and says something; returns {user: [stanzas received]}."""
    clients = {u: env.client(u) for u in users}
    owner = clients[users[0]]
    room = env.create_room(owner, users[0])
    for u in users[1:]:
        clients[u].join(room, u)
    # Everyone sees everyone's join (presence broadcasts go through the service too).
    for i, u in enumerate(users):
        for later in users[i + 1:]:   # the earlier ones came with u's own join
            clients[u].wait_presence(f"{room}/{later}", what=f"{later}'s presence at {u}")
    for u, c in clients.items():
        c.groupchat(room, f"hello from {u}")
    def hello(s):
        return (local_name(s) == "message" and s.get("type") == "groupchat"
                and (s.findtext(q("body", NS_CLIENT)) or "").startswith("hello from "))

    got = {u: c.wait_all(hello, len(users), what=f"greetings at {u}")
           for u, c in clients.items()}
    for u, c in clients.items():   # and nothing more: a duplicate would be here by now
        c.sync()
        got[u] += c.take(hello)
    return got


def check_exactly_once(got, users):
    for u, msgs in got.items():
        bodies = sorted(m.findtext(q("body", NS_CLIENT)) for m in msgs)
        assert bodies == sorted(f"hello from {o}" for o in users), \
            f"{u} got {bodies} (each message exactly once expected)"
        for m in msgs:
            assert m.find(q("addresses", NS_ADDRESS)) is None, \
                f"{u} saw an address list: {ct.describe(m)}"


@pytest.mark.parametrize("env", ["ejabberd-multicast"], indirect=True)
def test_fanout_through_mod_multicast(env):
    env.confabd.wait_log(rf"multicast: {SERVICE} offers XEP-0033", timeout=10)
    users = ["alice", "bob", "carol", "dave", "erin"]
    check_exactly_once(chat_round(env, users), users)
    assert "refused" not in env.confabd.text(), env.confabd.tail()
    d, env.confabd = env.confabd, None
    d.check_clean_exit()
    # 5 occupants, 2 addresses per stanza: each broadcast to all 5 is 3 stanzas.
    m = re.search(rf"multicast: (\d+) stanzas through {SERVICE} carried (\d+) copies", d.text())
    assert m, f"no multicast summary at exit:\n{d.tail()}"
    stanzas, copies = int(m.group(1)), int(m.group(2))
    assert copies >= 25 and stanzas * 2 >= copies and stanzas < copies, m.group(0)


@pytest.mark.parametrize("env", ["ejabberd"], indirect=True)
def test_without_the_service_copies_go_one_by_one(env):
    env.confabd.wait_log(rf"multicast: {SERVICE} does not offer XEP-0033", timeout=10)
    users = ["alice", "bob", "carol"]
    check_exactly_once(chat_round(env, users), users)


@pytest.fixture
def auto_env(pg, tmp_path, request):
    """confabd with the default configuration: [component] multicast = auto."""
    if "ejabberd" not in ct.muc_router_kinds():
        pytest.skip("CONFAB_TEST_ROUTERS excludes ejabberd")
    e = ct.MucEnv(request.param, pg, tmp_path)
    try:
        yield e
    finally:
        e.stop()


@pytest.mark.parametrize("auto_env", ["ejabberd-multicast"], indirect=True)
def test_auto_finds_mod_multicast_among_the_hosts_items(auto_env):
    """issue 15: ejabberd's own domain does not offer XEP-0033, its disco#items list
    multicast.<host>, which does: auto takes it, unchanged from the explicit setting."""
    env = auto_env
    env.confabd.wait_log(rf"multicast: {SERVICE} offers XEP-0033: .* up to 20 addresses",
                         timeout=10)
    users = ["alice", "bob", "carol"]
    check_exactly_once(chat_round(env, users), users)
    assert "refused" not in env.confabd.text(), env.confabd.tail()


@pytest.mark.parametrize("auto_env", ["ejabberd"], indirect=True)
def test_auto_without_any_service_copies_go_one_by_one(auto_env):
    auto_env.confabd.wait_log(rf"multicast: no XEP-0033 service at {ct.DOMAIN} ", timeout=10)
    users = ["alice", "bob", "carol"]
    check_exactly_once(chat_round(auto_env, users), users)


# --------------------------------------------------------------------------- Prosody
#
# Issue 15: contrib/prosody/mod_confab_multicast.lua makes Prosody's host a XEP-0033
# service for its components; confabd (multicast = auto, the default) finds it on its
# parent domain. The same tests run without the module, where confabd falls back to one
# stanza per copy: a client must see no difference.

import base64
import signal
import socket
import time
import xml.etree.ElementTree as ET

CONTRIB = ct.REPO / "contrib" / "prosody"
# What Prosody users run next to it: blocking, CSI, stream management (with a short
# hibernation, so a vanished client's queue is bounced within the test).
PROSODY_MODULES = ("blocklist", "csi_simple", "smacks")
PROSODY_HOST_CONFIG = "smacks_hibernation_time = 3\n"


class ProsodyMulticast(ct.ProsodyRouter):
    def __init__(self, components):
        super().__init__(components, modules=("confab_multicast",) + PROSODY_MODULES,
                         plugin_paths=(str(CONTRIB),), host_config=PROSODY_HOST_CONFIG)


class ProsodyPlain(ct.ProsodyRouter):
    def __init__(self, components):
        super().__init__(components, modules=PROSODY_MODULES, host_config=PROSODY_HOST_CONFIG)


ct.ROUTERS.setdefault("prosody-multicast", ProsodyMulticast)
ct.ROUTERS.setdefault("prosody-plain", ProsodyPlain)
BOTH = ["prosody-multicast", "prosody-plain"]


@pytest.fixture
def penv(pg, tmp_path, request):
    if "prosody" not in ct.muc_router_kinds():
        pytest.skip("CONFAB_TEST_ROUTERS excludes prosody")
    e = ct.MucEnv(request.param, pg, tmp_path)   # [component] multicast: the default (auto)
    try:
        if request.param == "prosody-multicast":
            e.confabd.wait_log(rf"multicast: {ct.DOMAIN} offers XEP-0033", timeout=10)
        else:
            e.confabd.wait_log(r"multicast: no XEP-0033 service at ", timeout=10)
        yield e
    finally:
        e.stop()


def prosody_log(env):
    return (env.router.dir / "prosody.log").read_text(errors="replace")


@pytest.mark.parametrize("penv", BOTH, indirect=True)
def test_prosody_every_copy_exactly_once(penv):
    users = ["alice", "bob", "carol", "dave", "erin"]
    check_exactly_once(chat_round(penv, users), users)
    d, penv.confabd = penv.confabd, None
    d.check_clean_exit()
    m = re.search(rf"multicast: (\d+) stanzas through {ct.DOMAIN} carried (\d+) copies", d.text())
    if penv.kind == "prosody-multicast":
        assert m, f"no multicast summary at exit:\n{d.tail()}"
        stanzas, copies = int(m.group(1)), int(m.group(2))
        assert copies >= 25 and stanzas < copies, m.group(0)
        # and the module delivered them from one serialisation (no client uses SM/CSI here)
        pre = [int(x) for x in re.findall(r"(\d+) pre-serialised", prosody_log(penv))]
        assert pre and pre[-1] >= 25, f"module log: {pre[-3:]}"
    else:
        assert m is None, m.group(0)


@pytest.mark.parametrize("penv", ["prosody-multicast"], indirect=True)
def test_prosody_module_refuses_clients(penv):
    alice, bob = penv.client("alice"), penv.client("bob")
    mid = alice.next_id("spray")
    alice.send(f"<message to='{ct.DOMAIN}' id='{mid}' type='chat'><body>spray</body>"
               f"<addresses xmlns='{NS_ADDRESS}'><address type='bcc' jid='{bob.full_jid}'/>"
               f"<address type='bcc' jid='{alice.full_jid}'/></addresses></message>")
    err = alice.wait_error("message", ct.DOMAIN, mid)
    assert err.find(f"{{{ct.NS_CLIENT}}}error/{{{ct.NS_STANZAS}}}forbidden") is not None, \
        ct.describe(err)
    bob.sync()
    assert not bob.take(lambda s: local_name(s) == "message"), bob.dump()
    # and its disco#info says what it is, with its limits (XEP-0128)
    info = alice.iq(ct.DOMAIN, "get", f"<query xmlns='{ct.NS_DISCO_INFO}'/>")
    feats = [f.get("var") for f in info.iter(f"{{{ct.NS_DISCO_INFO}}}feature")]
    assert NS_ADDRESS in feats, feats
    values = [v.text for v in info.iter("{jabber:x:data}value")]
    assert NS_ADDRESS in values and "100" in values, values


@pytest.mark.parametrize("penv", BOTH, indirect=True)
def test_prosody_blocked_room_gets_no_copy(penv):
    alice, bob, carol = penv.client("alice"), penv.client("bob"), penv.client("carol")
    room = penv.create_room(alice, "alice")
    bob.join(room, "bob")
    carol.join(room, "carol")
    r = bob.iq(None, "set", f"<block xmlns='urn:xmpp:blocking'><item jid='{room}'/></block>")
    assert r.get("type") == "result", ct.describe(r)
    alice.groupchat(room, "after the block")
    carol.wait_groupchat(room, "after the block")
    alice.wait_groupchat(room, "after the block")
    bob.sync()
    assert not bob.take(lambda s: local_name(s) == "message" and s.get("type") == "groupchat"
                        and s.findtext(q("body", NS_CLIENT)) == "after the block"), bob.dump()


@pytest.mark.parametrize("penv", BOTH, indirect=True)
def test_prosody_csi_holds_and_flushes_copies(penv):
    """XEP-0352 with mod_csi_simple: an inactive client's presence updates wait, and a
    message with a body flushes them, stamped with <delay/>; as for mod_muc's copies."""
    alice, bob, carol = penv.client("alice"), penv.client("bob"), penv.client("carol")
    room = penv.create_room(alice, "alice")
    bob.join(room, "bob")
    carol.join(room, "carol")
    bob.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    bob.pump(0.3)
    carol.send(f"<presence to='{room}/carol'><show>away</show></presence>")
    alice.wait_presence(f"{room}/carol", lambda s: s.findtext(q("show", NS_CLIENT)) == "away")
    bob.pump(1.0)
    away = lambda s: (local_name(s) == "presence" and s.get("from") == f"{room}/carol"   # noqa
                      and s.findtext(q("show", NS_CLIENT)) == "away")
    assert not bob.take(away), "an unimportant presence reached an inactive client at once"
    alice.groupchat(room, "important")
    got = bob.wait(away, what="carol's held presence, after the flush")
    assert got.find("{urn:xmpp:delay}delay") is not None, ct.describe(got)
    bob.wait_groupchat(room, "important")


# A bare-socket client: slixmpp hides stream management; this one enables it, vanishes
# without closing its stream (Prosody hibernates the session) and may resume.

NS_SM = "urn:xmpp:sm:3"


class RawClient:
    def __init__(self, user, password, port, resource="sm"):
        self.user, self.password, self.port, self.resource = user, password, port, resource
        self.sock = None
        self.stanzas = []
        self.h = 0          # stanzas received since <enabled/> or <resumed/>
        self.counting = False

    def _open(self):
        self.sock = socket.create_connection((ct.HOST, self.port), timeout=10)
        self._stream()

    def _stream(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.events = []
        self.sock.sendall(f"<?xml version='1.0'?><stream:stream to='{ct.DOMAIN}' "
                          "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                          "version='1.0'>".encode())
        self.read_until(lambda e: e.tag.endswith("}features"))

    def read_until(self, pred, timeout=10):
        deadline = time.monotonic() + timeout * ct.SLOW
        while True:
            for i, e in enumerate(self.events):
                if pred(e):
                    del self.events[:i + 1]
                    return e
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user}: nothing matching within {timeout}s; got "
                                     + ", ".join(ct.describe(e) for e in self.events[-10:]))
            self.sock.settimeout(0.05)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                ct.pump_all()
                continue
            if not data:
                raise AssertionError(f"{self.user}: stream closed")
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                if ev == "start":
                    self.depth += 1
                    continue
                self.depth -= 1
                if self.depth == 1:
                    if local_name(el) in ("message", "presence", "iq"):
                        self.stanzas.append(el)
                        if self.counting:
                            self.h += 1
                    self.events.append(el)

    def login(self):
        self._open()
        cred = base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()
        self.sock.sendall(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                          f"{cred}</auth>".encode())
        self.read_until(lambda e: local_name(e) == "success")
        self._stream()

    def connect_with_sm(self):
        self.login()
        self.sock.sendall(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                          f"<resource>{self.resource}</resource></bind></iq>".encode())
        self.read_until(lambda e: local_name(e) == "iq" and e.get("id") == "bind")
        self.full_jid = f"{self.user}@{ct.DOMAIN}/{self.resource}"
        self.sock.sendall(f"<enable xmlns='{NS_SM}' resume='true'/>".encode())
        enabled = self.read_until(lambda e: e.tag == f"{{{NS_SM}}}enabled")
        self.sm_id = enabled.get("id")
        self.counting = True

    def send(self, xml):
        self.sock.sendall(xml.encode())

    def vanish(self):
        """Drop the TCP connection, no </stream:stream>: the session hibernates."""
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def resume(self):
        self.login()
        self.counting = False
        self.send(f"<resume xmlns='{NS_SM}' previd='{self.sm_id}' h='{self.h}'/>")
        self.read_until(lambda e: e.tag == f"{{{NS_SM}}}resumed")

    def bodies(self, room):
        return [s.findtext(q("body", NS_CLIENT)) for s in self.stanzas
                if local_name(s) == "message" and (s.get("from") or "").startswith(room + "/")
                and s.get("type") == "groupchat"]

    def close(self):
        try:
            self.send("</stream:stream>")
            self.sock.close()
        except OSError:
            pass


def sm_room(penv):
    alice = penv.client("alice")
    room = penv.create_room(alice, "alice")
    bob = RawClient("bob", penv.passwords["bob"], penv.router.c2s_port)
    bob.connect_with_sm()
    bob.send(f"<presence to='{room}/bob'><x xmlns='{ct.NS_MUC}'/></presence>")
    bob.read_until(lambda e: local_name(e) == "message" and e.find(q("subject", NS_CLIENT))
                   is not None)
    alice.wait_presence(f"{room}/bob")
    return alice, bob, room


@pytest.mark.parametrize("penv", BOTH, indirect=True)
def test_prosody_stream_management_resume_gets_each_copy_once(penv):
    alice, bob, room = sm_room(penv)
    alice.groupchat(room, "before")
    bob.read_until(lambda e: e.findtext(q("body", NS_CLIENT)) == "before")
    bob.vanish()
    time.sleep(0.3)
    for i in range(3):
        alice.groupchat(room, f"while away {i}")
        alice.wait_groupchat(room, f"while away {i}")
    bob.resume()
    bob.read_until(lambda e: e.findtext(q("body", NS_CLIENT)) == "while away 2")
    alice.groupchat(room, "after")
    bob.read_until(lambda e: e.findtext(q("body", NS_CLIENT)) == "after")
    assert bob.bodies(room) == ["before", "while away 0", "while away 1", "while away 2",
                                "after"], bob.bodies(room)
    bob.close()


@pytest.mark.parametrize("penv", BOTH, indirect=True)
def test_prosody_gone_recipient_removed_with_333(penv):
    """bob's client vanishes after confabd's fan-out reached Prosody and before his copies
    were delivered (they wait in his stream management queue); when his session ends,
    Prosody bounces each undelivered copy from his address (recipient-unavailable), and
    confabd removes him as XEP-0045 §7.14 says (status 333). Everybody else gets every
    copy exactly once."""
    alice, bob, room = sm_room(penv)
    carol = penv.client("carol")
    carol.join(room, "carol")
    bob.vanish()
    time.sleep(0.3)
    alice.groupchat(room, "to a vanished client")
    for c in (alice, carol):
        c.wait_groupchat(room, "to a vanished client")
    gone = alice.wait_presence(f"{room}/bob", lambda s: s.get("type") == "unavailable",
                               timeout=15, what="bob's removal")
    assert 333 in ct.status_codes(gone), ct.describe(gone)
    carol.wait_presence(f"{room}/bob", lambda s: s.get("type") == "unavailable"
                        and 333 in ct.status_codes(s))
    alice.groupchat(room, "after bob")
    for c in (alice, carol):
        c.wait_groupchat(room, "after bob")
        c.sync()
        bodies = [s.findtext(q("body", NS_CLIENT)) for s in c.take(
            lambda s: local_name(s) == "message" and s.get("type") == "groupchat")]
        assert bodies.count("to a vanished client") == 0 and bodies.count("after bob") == 0, \
            bodies   # both were taken by the waits above: no second copy arrived
    assert "refused" not in penv.confabd.text(), penv.confabd.tail()
