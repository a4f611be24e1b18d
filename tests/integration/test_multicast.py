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
