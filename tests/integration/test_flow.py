"""Nothing accepted is dropped (issue 14): bursts are shaped instead of bounced, a
join storm completes, a router that stops reading for a minute loses nothing.

Real Prosody, real PostgreSQL, confabd with the default [muc] limits (the module
has no MUC_CONFIG), except where a test starts its own daemons."""
import os
import re
import secrets
import signal
import time

import confabtest as ct
from confabtest import (NS_CLIENT, describe, error_condition, local_name, pump_all, q)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)
from test_faults import (faults, rss_kib, small_asan_quarantine,  # noqa: F401  (fixture)
                         up_with_fake_router)

DEFAULT_BURST, DEFAULT_RATE, DEFAULT_QUEUE = 20, 5, 50   # [muc] message_burst/rate/queue


def flood(client, room, ids, body=lambda i: f"burst {i}"):
    for i, mid in enumerate(ids):
        client.xmpp.send_raw(f"<message to='{room}' type='groupchat' id='{mid}'>"
                             f"<body>{body(i)}</body></message>")


def outcomes(client, ids, timeout):
    """Exactly one answer per id (the reflection or an error), with arrival times."""
    want, got = set(ids), {}

    def collect():
        pump_all()
        now = time.monotonic()
        for st in client.take(lambda s: local_name(s) == "message" and s.get("id") in want):
            assert st.get("id") not in got, f"two answers for {st.get('id')}: {describe(st)}"
            got[st.get("id")] = (st, now)
        return len(got) == len(want)
    ct.wait_for(collect, timeout * ct.SLOW, "an answer to every message of the burst",
                detail=lambda: f"{len(got)}/{len(want)} answered")
    return got


def test_burst_of_30_reflected_in_full_with_defaults(muc):
    """A paste or a bot sends 30 messages at once: with the default limits every one
    is reflected, in order, to the sender and the room; nobody gets an error."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(bob, "Bob")
    alice.join(room, "Paster")
    bob.wait_presence(f"{room}/Paster")
    ids = [f"paste-{i}" for i in range(30)]
    flood(alice, room, ids)
    got = outcomes(alice, ids, 30)
    errors = [describe(st) for st, _ in got.values() if st.get("type") == "error"]
    assert not errors, f"{len(errors)} of 30 refused: {errors[:3]}"
    order = [st.get("id") for st, _ in sorted(got.values(), key=lambda v: v[1])]
    bob.sync()
    seen = [s.get("id") for s in bob.take(lambda s: local_name(s) == "message"
                                          and s.get("id") in set(ids))]
    assert seen == ids, f"the room saw {len(seen)} of 30, in this order: {seen}"
    assert sorted(order) == sorted(ids)


def test_burst_of_200_shaped_then_refused_with_wait(muc):
    """200 at once from one occupant: the bucket's burst goes at once, then the
    sender's queue drains at the configured rate (late, not refused); what does not
    fit in the queue is refused with resource-constraint, type wait, and a text that
    says when to retry. Every message gets exactly one answer; the room sees exactly
    the reflected ones, in order."""
    alice, bob = muc.client("alice"), muc.client("bob")
    room = muc.create_room(bob, "Bob")
    alice.join(room, "Bot")
    bob.wait_presence(f"{room}/Bot")
    n = 200
    ids = [f"bot-{i}" for i in range(n)]
    t0 = time.monotonic()
    flood(alice, room, ids)
    got = outcomes(alice, ids, 60)
    reflected = [mid for mid in ids if got[mid][0].get("type") == "groupchat"]
    errors = [got[mid][0] for mid in ids if got[mid][0].get("type") == "error"]
    assert len(reflected) + len(errors) == n
    assert len(reflected) >= DEFAULT_BURST + DEFAULT_QUEUE, \
        f"only {len(reflected)} reflected: the burst and the queue hold {DEFAULT_BURST + DEFAULT_QUEUE}"
    for e in errors:
        err = e.find(q("error", NS_CLIENT))
        assert error_condition(e) == "resource-constraint" and err.get("type") == "wait", describe(e)
        text = err.findtext("{urn:ietf:params:xml:ns:xmpp-stanzas}text") or ""
        assert re.search(r"retry in \d+ s", text), f"no retry time in {text!r}"
    # shaped: the last reflection comes when the queue has drained at the rate
    last = max(got[mid][1] for mid in reflected) - t0
    shaped = (len(reflected) - DEFAULT_BURST) / DEFAULT_RATE
    assert last >= 0.8 * shaped, f"{len(reflected)} reflected within {last:.1f}s: not shaped " \
                                 f"(at {DEFAULT_RATE}/s that takes {shaped:.1f}s)"
    bob.sync()
    seen = [s.get("id") for s in bob.take(lambda s: local_name(s) == "message"
                                          and s.get("id") in set(ids))]
    assert seen == reflected, f"the room saw {len(seen)}, {len(reflected)} were reflected"
    print(f"200-burst: {len(reflected)} reflected over {last:.1f}s, {len(errors)} refused (wait)")


def test_join_storm_1000_all_complete(faults, tmp_path):  # noqa: F811
    """1,000 joins into one room at once, no pacing, through a component link: every
    joiner gets its self-presence and the room's history, and confabd's memory stays
    within the output bound plus one stanza's fan-out."""
    n, hist = 1000, 3
    router, d = up_with_fake_router(faults, tmp_path, markers=("code='110'", "<body>hist-"),
                                    muc="max_occupants = 2000\n")
    room = f"storm-{secrets.token_hex(4)}@{ct.MUC_DOMAIN}"
    owner = "owner@localhost/r"
    router.make_room(owner, room, "owner")
    for i in range(hist):
        router.send(f"<message from='{owner}' to='{room}' type='groupchat' id='h{i}'>"
                    f"<body>hist-{i}</body></message>")
    router.wait_for(rb"hist-2", 10, "the last history message")
    base_110, base_hist = router.count("code='110'"), router.count("<body>hist-")
    base_rss = peak = rss_kib(d.proc.pid)
    storm = "".join(f"<presence from='s{i}@localhost/r' to='{room}/s{i}'>"
                    f"<x xmlns='http://jabber.org/protocol/muc'/></presence>" for i in range(n))
    t0 = time.monotonic()
    router.send(storm, timeout=120)
    deadline = time.monotonic() + 300 * ct.SLOW
    while router.count("code='110'") - base_110 < n and time.monotonic() < deadline:
        router.pump(0.05)
        peak = max(peak, rss_kib(d.proc.pid))
    took = time.monotonic() - t0
    joined = router.count("code='110'") - base_110
    assert joined == n, f"{joined} of {n} joins completed in {took:.0f}s\n{d.tail()}"
    router.ping(owner, timeout=60)
    history = router.count("<body>hist-") - base_hist
    assert history == n * hist, f"{history} history messages for {n} joiners (want {n * hist})"
    growth = (peak - base_rss) / 1024
    print(f"join storm: {n} joins in {took:.1f}s, {router.received / 2**20:.0f} MiB out, "
          f"RSS +{growth:.1f} MiB")
    assert growth < 16 + 64, f"confabd grew by {growth:.1f} MiB during the storm"
    assert not [ln for ln in d.lines() if "not sent" in ln or "discarded" in ln], d.tail()


def test_router_sigstop_60s_under_load_loses_nothing(pg, tmp_path):
    """Prosody is stopped (SIGSTOP) for 60 s while five occupants keep talking:
    confabd stops reading when its output is full, its memory stays bounded, and
    after SIGCONT every copy of every message arrives, in each sender's order."""
    stop_s = float(os.environ.get("CONFAB_TEST_STALL_S", "60"))
    with small_asan_quarantine():   # ASan's 256 MiB quarantine would fake growth
        env = ct.MucEnv("prosody", pg, tmp_path, "message_rate = 0\n",
                        link={"max_output_queue": "256KiB"})
    try:
        users = ["alice", "bob", "carol", "dave", "erin"]
        clients = [env.client(u) for u in users]
        room = env.create_room(clients[0], "n0")
        for i, c in enumerate(clients[1:], 1):
            c.join(room, f"n{i}")
        clients[0].wait_presence(f"{room}/n{len(users) - 1}")
        d = env.confabd
        base_rss = peak = rss_kib(d.proc.pid)
        pad = "x" * 900
        sent = {u: [] for u in users}
        received = {u: [] for u in users}
        rounds = [0]

        def talk_and_read(seconds, talking=True):
            """Each client sends one message per round (~50 rounds/s) and reads."""
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if talking:
                    i = rounds[0]
                    rounds[0] += 1
                    for u, c in zip(users, clients):
                        mid = f"{u}-{i}"
                        c.xmpp.send_raw(f"<message to='{room}' type='groupchat' id='{mid}'>"
                                        f"<body>load {mid} {pad}</body></message>")
                        sent[u].append(mid)
                pump_all(0.004)
                for u, c in zip(users, clients):
                    received[u] += [s.get("id") for s in c.take(
                        lambda s: local_name(s) == "message" and s.get("type") == "groupchat"
                        and "load" in (s.findtext(q("body", NS_CLIENT)) or ""))]
        mark = d.mark()
        talk_and_read(3)
        router_pid = env.router.proc.popen.pid
        os.kill(router_pid, signal.SIGSTOP)
        stalled_peak = base_rss
        try:
            end = time.monotonic() + stop_s
            while time.monotonic() < end:
                talk_and_read(0.5)   # the clients go on writing into the stopped router
                stalled_peak = max(stalled_peak, rss_kib(d.proc.pid))
        finally:
            os.kill(router_pid, signal.SIGCONT)
        talk_and_read(3)
        total = len(sent[users[0]])

        def complete():
            talk_and_read(0.2, talking=False)
            return all(len(received[u]) >= len(users) * total for u in users)
        ct.wait_for(complete, 180 * ct.SLOW, "every copy after the router came back",
                    detail=lambda: {u: f"{len(received[u])}/{len(users) * total}" for u in users})
        for u in users:
            for s in users:
                mine = [mid for mid in received[u] if mid.startswith(s + "-")]
                assert mine == sent[s], f"{u} got {len(mine)} of {s}'s {len(sent[s])}, " \
                                        f"or out of order"
        assert d.alive(), d.tail()
        assert not [ln for ln in d.lines() if "not sent" in ln], d.tail()
        paused = [ln for ln in d.lines(mark) if "stopped reading" in ln]
        peak = max(stalled_peak, rss_kib(d.proc.pid))
        growth = (peak - base_rss) / 1024
        print(f"router stopped {stop_s:.0f}s: {total} messages from each of 5 occupants, "
              f"{len(users) * len(users) * total} copies all delivered in order; confabd "
              f"stopped reading {len(paused)} times; RSS +{growth:.1f} MiB at most")
        assert growth < 64, f"confabd grew by {growth:.1f} MiB"
    finally:
        env.stop()
