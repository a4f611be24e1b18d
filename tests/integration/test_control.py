"""The control channel (issue 17 item 3): confabctl's changes reach a running confabd
through PostgreSQL LISTEN/NOTIFY within a second, and `confabctl status` shows what
the running confabd publishes. Real Prosody, PostgreSQL, clients and confabctl."""
import hashlib
import json
import re
import time

import psycopg

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
    history_becomes(bob, room, "Bob", [])


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


def bodies(join):
    return [m.findtext(q("body", NS_CLIENT)) for m in join.history]


def history_becomes(client, room, nick, want):
    """The change reaches confabd through NOTIFY and a reload: join until the
    history is what the store now holds (within 3 s), leaving between tries."""
    seen = []

    def check():
        got = bodies(client.join(room, nick))
        seen.append(got)
        if got != want:
            client.leave(room, nick)
        return got == want
    ct.wait_for(check, 3 * ct.SLOW, f"join history {want}", interval=0.2,
                detail=lambda: seen[-1:])


def test_messages_remove_replace_and_clear_reach_a_loaded_room(muc, pg, tmp_path):
    """confabctl messages remove|replace by Lync's filters (dry run first), with the
    officer in the compliance event; the occupied room's join history shows the
    change at once; rooms clear empties it."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(alice, "Owner", config={**PERSISTENT,
                                                   "muc#roomconfig_enablelogging": "1"})
    bob.join(room, "Bob")
    for who, body in ((bob, "buy cheap potions"), (bob, "hello"), (bob, "CHEAP deals"),
                      (alice, "cheap talk")):
        who.groupchat(room, body)
        alice.wait_groupchat(room, body)
    # confabctl with a compliance stream configured writes its events to the outbox
    ini = tmp_path / "ctl.ini"
    ini.write_text(muc.confabd.config.read_text().replace(
        "archiver =\n", f"archiver = {ct.ARCHIVE_DOMAIN}\n", 1))

    def run(*args):
        r = ct.run_tool("confabctl", "-c", ini, *args)
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return r.stdout
    assert "3 messages would be removed" in run("messages", "remove", "--room", room,
                                                 "--keywords", "cheap")
    out = run("messages", "remove", "--room", room, "--keywords", "cheap", "--sender",
              f"bob@{ct.DOMAIN}", "--reason", "spam", "--officer", "Olivia", "--apply")
    assert "removed 2 messages" in out, out
    out = run("messages", "replace", "--room", room, "--keywords", "hello", "--match", "exact",
              "--officer", "Olivia", "--apply")
    assert "replaced 1 message" in out, out
    history_becomes(muc.client("carol"), room, "Late",
                    [None, "This message was replaced by the Persistent Chat administrator.", None,
                     "cheap talk"])
    with psycopg.connect(pg.dsn("confab")) as db:
        events = [x for (x,) in db.execute("SELECT xml FROM compliance_outbox WHERE room = %s",
                                           (room,))]
    moderated = [e for e in events if "type='moderate'" in e or 'type="moderate"' in e]
    assert len(moderated) == 3 and all("Olivia" in e for e in moderated), events
    # each carries the hash of the text it took down
    hashes = {re.search(r"text-sha256=.([0-9a-f]{64})", e).group(1) for e in moderated}
    assert hashes == {hashlib.sha256(b.encode()).hexdigest()
                      for b in ("buy cheap potions", "hello", "CHEAP deals")}, events
    run("rooms", "clear", room, "--before", "2099-01-01")
    history_becomes(muc.client("dave"), room, "Later", [])
    # the clear's purge event digests the texts it removed, in order (a taken-down
    # message has none left; include/purge_digest.h)
    left = ["", "This message was replaced by the Persistent Chat administrator.", "",
            "cheap talk"]
    digest = hashlib.sha256("".join(f"{len(t.encode())}:{t}," for t in left).encode())
    with psycopg.connect(pg.dsn("confab")) as db:
        purges = [x for (x,) in db.execute("SELECT xml FROM compliance_outbox WHERE room = %s "
                                           "AND xml LIKE %s", (room, "%type='purge'%"))]
    assert len(purges) == 1 and f"texts-sha256='{digest.hexdigest()}'" in purges[0], purges


def test_rooms_report_filters_and_occupants_now(muc):
    """Cisco's Room Report: owners, members, occupants now (what the running confabd
    publishes), messages, last message, size; filters; table, CSV and JSON."""
    alice, bob = muc.client("alice"), muc.client("bob")
    busy = muc.create_room(alice, "Owner", config=PERSISTENT)
    quiet = muc.create_room(bob, "Bob", config=PERSISTENT)
    for i in range(4):
        alice.groupchat(busy, f"report {i}")
        alice.wait_groupchat(busy, f"report {i}")

    def rows(*args):
        return {r["room"]: r for r in json.loads(ctl(muc, "--json", "rooms", "report", *args))}
    got = ct.wait_for(lambda: (lambda r: r if r.get(busy, {}).get("occupants") == 1 else None)(
        rows()), 12 * ct.SLOW, "the report with the occupant now")
    b = got[busy]
    assert b["owners"] == f"alice@{ct.DOMAIN}" and b["messages"] == 4 and b["bytes"] > 0, b
    assert b["last_message"] and got[quiet]["messages"] == 0
    by_bob = rows("--owner", f"bob@{ct.DOMAIN}")   # other tests' rooms may be bob's too
    assert quiet in by_bob and busy not in by_bob, sorted(by_bob)
    assert busy in rows("--min-messages", "3") and quiet not in rows("--min-messages", "3")
    assert quiet in rows("--idle-since", "2099-01-01")
    csv = ctl(muc, "rooms", "report", "--csv", "--name", busy.split("@")[0])
    lines = csv.strip().splitlines()
    assert lines[0] == "room,name,owners,members,occupants,messages,last_message,bytes", lines
    assert len(lines) == 2 and lines[1].startswith(busy + ","), lines
