"""The control channel (issue 17 item 3): confabctl's changes reach a running confabd
through PostgreSQL LISTEN/NOTIFY within a second, and `confabctl status` shows what
the running confabd publishes. Real Prosody, PostgreSQL, clients and confabctl."""
import json
import time

import confabtest as ct
from confabtest import NS_CLIENT, NS_MUC_USER, q
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

MUC_CONFIG = "message_rate = 0\n"
PERSISTENT = {"muc#roomconfig_persistentroom": "1"}


def ctl(muc, *args):
    r = ct.run_tool("confabctl", "-c", muc.confabd.config, *args)
    assert r.returncode == 0, f"confabctl {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def test_destroy_reaches_occupants_within_a_second(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", config=PERSISTENT)
    bob.join(room, "Bob")
    alice.wait_presence(f"{room}/Bob")
    t0 = time.monotonic()
    ctl(muc, "rooms", "destroy", room, "--reason", "closed by policy", "--venue",
        f"lobby@{ct.MUC_DOMAIN}")
    for c, nick in ((bob, "Bob"), (alice, "Owner")):
        p = c.wait(lambda s: s.get("from") == f"{room}/{nick}" and s.get("type") == "unavailable",
                   5, "the destroy presence")
        d = p.find(f"{q('x', NS_MUC_USER)}/{q('destroy', NS_MUC_USER)}")
        assert d is not None and d.get("jid") == f"lobby@{ct.MUC_DOMAIN}", ct.describe(p)
        assert d.findtext(q("reason", NS_MUC_USER)) == "closed by policy"
    took = time.monotonic() - t0
    assert took < 2 * ct.SLOW, f"the occupants learned of the destroy after {took:.1f}s"
    muc.confabd.wait_log(r"control: " + room.replace(".", r"\.") + r" destroyed by confabctl")
    # the name is a tombstone now: a join is told the room is gone
    err = bob.join_error(room, "Again")
    assert err.find(f"{q('error', NS_CLIENT)}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}gone") \
        is not None, ct.describe(err)


def test_history_purge_reaches_a_loaded_room(muc):
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", config=PERSISTENT)
    for i in range(3):
        alice.groupchat(room, f"old {i}")
        alice.wait_groupchat(room, f"old {i}")
    ctl(muc, "history", "purge", "--room", room, "--before", "2099-01-01")
    ct.wait_for(lambda: not bob.join(room, "Bob").history or (bob.leave(room, "Bob"), False)[1],
                3 * ct.SLOW, "a join without the purged history")


def test_status_shows_the_running_confabd(muc):
    alice = muc.client("alice")
    muc.create_room(alice, "Owner")

    def running():
        rows = json.loads(ctl(muc, "--json", "status"))
        return [r for r in rows if r["running"] and r["status"]["occupants"] >= 1]
    rows = ct.wait_for(running, 12 * ct.SLOW, "confabd's status with our occupant")
    assert len(rows) == 1, rows
    st = rows[0]["status"]
    assert st["link_up"] is True and st["rooms"] >= 1, st
    assert rows[0]["version"] and rows[0]["pid"] == muc.confabd.proc.popen.pid
    table = ctl(muc, "status")
    assert "running" in table.splitlines()[0] and "yes" in table, table
