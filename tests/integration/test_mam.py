"""XEP-0313 MAM on rooms (issue 4 "Must show"): paging forward and backward over
hundreds of messages gives each message exactly once and in order; start/end, with
and full-text filters; RSM count and index; history that survives a confabd restart.

Real Prosody, real PostgreSQL (the session's cluster, database confab), real slixmpp
clients; confabd runs with [storage] dsn, so every query here is answered by the
messages table. Section numbers are those of XEP-0313 1.1 and XEP-0059 1.0."""

import time
from datetime import datetime

import pytest

import confabtest as ct
from confabtest import (NS_CLIENT, NS_DATA, NS_DELAY, NS_DISCO_INFO, NS_MUC_USER, NS_SID,
                        describe, error_condition, form_fields, jid_bare, local_name, q,
                        submit_form)
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

MUC_CONFIG = "message_rate = 0\npresence_rate = 0\n"

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
FULLTEXT = "{urn:xmpp:fulltext:0}fulltext"

TOTAL = 300
BATCH = 100
WORDS = ("apple", "banana", "cherry")


# ------------------------------------------------------------------ helpers

def is_groupchat_body(room):
    return lambda s: (local_name(s) == "message" and s.get("type") == "groupchat"
                      and jid_bare(s.get("from")) == room
                      and s.find(q("body", NS_CLIENT)) is not None)


def stanza_id(st, room):
    for sid in st.findall(q("stanza-id", NS_SID)):
        if sid.get("by") == room:
            return sid.get("id")
    return None


class Page:
    """One MAM answer: the result messages (in arrival order) and the <fin/>."""

    def __init__(self, reply, results):
        self.reply = reply
        self.error = error_condition(reply) if reply.get("type") == "error" else None
        self.results = results
        self.ids = [r.find(q("result", NS_MAM)).get("id") for r in results]
        self.fwd = [r.find(f"{q('result', NS_MAM)}/{q('forwarded', NS_FORWARD)}/"
                           f"{q('message', NS_CLIENT)}") for r in results]
        self.bodies = [m.findtext(q("body", NS_CLIENT)) for m in self.fwd]
        self.stamps = [r.find(f"{q('result', NS_MAM)}/{q('forwarded', NS_FORWARD)}/"
                              f"{q('delay', NS_DELAY)}").get("stamp") for r in results]
        fin = reply.find(q("fin", NS_MAM))
        self.fin = fin
        self.complete = fin is not None and fin.get("complete") == "true"
        rset = fin.find(q("set", NS_RSM)) if fin is not None else None
        first = rset.find(q("first", NS_RSM)) if rset is not None else None
        self.first = first.text if first is not None else None
        self.first_index = first.get("index") if first is not None else None
        self.last = rset.findtext(q("last", NS_RSM)) if rset is not None else None
        count = rset.findtext(q("count", NS_RSM)) if rset is not None else None
        self.count = int(count) if count is not None else None

    def __repr__(self):
        return (f"Page(n={len(self.ids)}, complete={self.complete}, first={self.first}, "
                f"last={self.last}, count={self.count}, error={self.error})")


def mam(client, room, fields=None, rsm=None, extra="", expect_ok=True):
    """Query room's archive; fields: {var: value} of the form; rsm: {max, after, before,
    index} (before='' is the empty <before/>)."""
    qid = client.next_id("mam")
    form = submit_form(NS_MAM, fields) if fields else ""
    rsm_xml = ""
    if rsm is not None:
        rsm_xml = f"<set xmlns='{NS_RSM}'>" + "".join(
            f"<{k}/>" if v == "" else f"<{k}>{v}</{k}>" for k, v in rsm.items()) + "</set>"
    reply = client.iq(room, "set", f"<query xmlns='{NS_MAM}' queryid='{qid}'>{form}{rsm_xml}"
                                   f"{extra}</query>", timeout=15)
    # Results precede the fin on one stream; a round trip makes sure they are all in.
    client.sync()
    results = client.take(lambda s: local_name(s) == "message" and s.get("from") == room
                          and s.find(q("result", NS_MAM)) is not None
                          and s.find(q("result", NS_MAM)).get("queryid") == qid)
    page = Page(reply, results)
    if expect_ok:
        assert page.error is None, f"MAM query on {room} failed: {describe(reply)}"
        assert page.fin is not None, f"no <fin/> in {describe(reply)}"
    return page


def walk_forward(client, room, fields=None, size=50):
    pages, after = [], None
    while True:
        rsm = {"max": size} if after is None else {"max": size, "after": after}
        p = mam(client, room, fields, rsm)
        pages.append(p)
        if p.complete:
            return pages
        assert p.ids, f"an incomplete page must not be empty: {p}"
        after = p.last


def walk_backward(client, room, fields=None, size=50):
    pages, before = [], ""
    while True:
        p = mam(client, room, fields, {"max": size, "before": before})
        pages.append(p)
        if p.complete:
            return pages
        assert p.ids, f"an incomplete page must not be empty: {p}"
        before = p.first


def flatten(pages, attr="ids"):
    return [x for p in pages for x in getattr(p, attr)]


class Archive:
    """The module's room and what its occupants saw, in broadcast (= archive) order."""

    def __init__(self, room, seen):
        self.room = room
        self.bodies = [b for b, _, _ in seen]
        self.senders = [f for _, f, _ in seen]
        self.ids = [i for _, _, i in seen]
        self.stamps = []   # filled by the first full walk


@pytest.fixture(scope="module")
def archive(muc_env):
    """A persistent, logging room with TOTAL messages in three batches more than a
    second apart (for time filters); every 10th is bob's, the rest alice's (the
    owner). Bodies: "msgNNN <fruit>", plus " zebra" when NNN is a multiple of 37."""
    alice = muc_env.client("alice", "archive-a")
    bob = muc_env.client("bob", "archive-b")
    room = muc_env.create_room(alice, "Alice", {"muc#roomconfig_persistentroom": True,
                                                "muc#roomconfig_enablelogging": True},
                               prefix="mam")
    bob.join(room, "Bob")
    seen = []
    for batch in range(TOTAL // BATCH):
        if batch:
            time.sleep(1.2)
        for n in range(batch * BATCH + 1, (batch + 1) * BATCH + 1):
            body = f"msg{n:03d} {WORDS[n % 3]}" + (" zebra" if n % 37 == 0 else "")
            (bob if n % 10 == 0 else alice).groupchat(room, body)
        got = alice.wait_all(is_groupchat_body(room), BATCH, timeout=15, what="reflections")
        seen += [(m.findtext(q("body", NS_CLIENT)), m.get("from"), stanza_id(m, room))
                 for m in got]
    bob.take()
    assert len(set(b for b, _, _ in seen)) == TOTAL
    assert all(i for _, _, i in seen), "every reflected message carries a stanza-id"
    return Archive(room, seen)


def occupant(muc, user, room, nick):
    c = muc.client(user)
    c.join(room, nick)
    return c


def in_order(archive, indices):
    return [archive.bodies[i] for i in indices]


def when(stamp):
    """An XEP-0082 stamp as a datetime (stamps with and without fractions compare)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# ------------------------------------------------------------------ §7, §4.1.6

def test_disco_and_form(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")
    r = alice.iq(archive.room, "get", f"<query xmlns='{NS_DISCO_INFO}'/>")
    feats = {f.get("var") for f in r.find(q("query", NS_DISCO_INFO)).findall(
        q("feature", NS_DISCO_INFO))}
    assert {NS_MAM, NS_MAM + "#extended", "urn:xmpp:fulltext:0"} <= feats, feats
    r = alice.iq(archive.room, "get", f"<query xmlns='{NS_MAM}'/>")
    assert r.get("type") == "result", describe(r)
    fields = form_fields(r.find(f"{q('query', NS_MAM)}/{q('x', NS_DATA)}"))
    assert fields["FORM_TYPE"] == ("hidden", [NS_MAM])
    for var, ftype in (("with", "jid-single"), ("start", "text-single"), ("end", "text-single"),
                       (FULLTEXT, "text-single")):
        assert fields[var][0] == ftype, fields


# ------------------------------------------------------------------ §4.3 paging

def test_forward_paging_each_message_once_in_order(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")
    pages = walk_forward(alice, archive.room, size=50)
    assert [len(p.ids) for p in pages] == [50] * 6, pages
    assert [p.complete for p in pages] == [False] * 5 + [True]
    assert flatten(pages) == archive.ids
    assert flatten(pages, "bodies") == archive.bodies
    for p in pages:
        assert (p.first, p.last) == (p.ids[0], p.ids[-1])
    # §7.1.2: the forwarded stanza is from the occupant JID and has no 'to'.
    fwd = [m for p in pages for m in p.fwd]
    assert [m.get("from") for m in fwd] == archive.senders
    assert all(m.get("to") is None and m.get("type") == "groupchat" for m in fwd)
    archive.stamps = flatten(pages, "stamps")
    times = [when(s) for s in archive.stamps]
    assert times == sorted(times)


def test_backward_paging_from_the_end(muc, archive):
    bob = occupant(muc, "bob", archive.room, "Bob")
    pages = walk_backward(bob, archive.room, size=50)
    assert [len(p.ids) for p in pages] == [50] * 6, pages
    assert [p.complete for p in pages] == [False] * 5 + [True]
    # Each page is chronological; pages come newest first.
    assert flatten(reversed(pages)) == archive.ids
    assert flatten(reversed(pages), "bodies") == archive.bodies
    # An uneven page size: the oldest page is the short one, and it is complete.
    pages = walk_backward(bob, archive.room, size=70)
    assert [len(p.ids) for p in pages] == [70, 70, 70, 70, 20]
    assert flatten(reversed(pages)) == archive.ids


def test_page_boundaries_and_service_maximum(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")
    # A page ending on the last message is complete; one after it is empty and complete.
    p = mam(alice, archive.room, rsm={"max": 10, "after": archive.ids[TOTAL - 11]})
    assert p.ids == archive.ids[-10:] and p.complete
    p = mam(alice, archive.room, rsm={"max": 10, "after": archive.ids[-1]})
    assert p.ids == [] and p.complete and p.first is None
    p = mam(alice, archive.room, rsm={"max": 10, "before": archive.ids[10]})
    assert p.ids == archive.ids[:10] and p.complete
    # The service maximum (100, as Cisco) caps any page.
    p = mam(alice, archive.room, rsm={"max": 1000})
    assert p.ids == archive.ids[:100] and not p.complete
    p = mam(alice, archive.room)
    assert p.ids == archive.ids[:100] and not p.complete


def test_count_and_index(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")
    p = mam(alice, archive.room, rsm={"max": 0})
    assert p.ids == [] and p.count == TOTAL and not p.complete
    p = mam(alice, archive.room, rsm={"max": 25, "index": 0})
    assert p.ids == archive.ids[:25]
    assert (p.first_index, p.count) == ("0", TOTAL)
    # XEP-0059 §2.4: a page that starts at a position, from PostgreSQL.
    p = mam(alice, archive.room, rsm={"max": 25, "index": 130})
    assert p.ids == archive.ids[130:155] and not p.complete
    assert (p.first_index, p.count) == ("130", TOTAL)
    p = mam(alice, archive.room, rsm={"max": 25, "index": TOTAL - 10})
    assert p.ids == archive.ids[TOTAL - 10:] and p.complete
    p = mam(alice, archive.room, rsm={"max": 25, "index": TOTAL + 5})
    assert p.ids == [] and p.complete and p.count == TOTAL
    # The position is within the filtered set: every tenth message is Bob's.
    bob = mam(alice, archive.room, {"with": f"{archive.room}/Bob"}, {"max": 100})
    p = mam(alice, archive.room, {"with": f"{archive.room}/Bob"}, {"max": 5, "index": 3})
    assert p.ids == bob.ids[3:8] and p.first_index == "3"
    # Counts follow the filters.
    p = mam(alice, archive.room, {"with": f"{archive.room}/Bob"}, {"max": 0})
    assert p.count == TOTAL // 10
    p = mam(alice, archive.room, {FULLTEXT: "zebra"}, {"max": 0})
    assert p.count == TOTAL // 37


# ------------------------------------------------------------------ §4.1 filters

def test_start_end_filters(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")
    if not archive.stamps:
        archive.stamps = flatten(walk_forward(alice, archive.room), "stamps")
    # The batches are more than a second apart: the second batch by its own times.
    start, end = archive.stamps[BATCH], archive.stamps[2 * BATCH - 1]
    pages = walk_forward(alice, archive.room, {"start": start, "end": end}, size=30)
    assert flatten(pages) == archive.ids[BATCH:2 * BATCH]
    assert [p.complete for p in pages][-1] and not any(p.complete for p in pages[:-1])
    pages = walk_backward(alice, archive.room, {"start": start}, size=50)
    assert flatten(reversed(pages)) == archive.ids[BATCH:]
    # Inclusive bounds: everything up to the tenth message's millisecond.
    upto = [i for i, s in enumerate(archive.stamps) if when(s) <= when(archive.stamps[9])]
    p = mam(alice, archive.room, {"end": archive.stamps[9]})
    assert p.ids == [archive.ids[i] for i in upto] and p.complete
    p = mam(alice, archive.room, {"start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"})
    assert p.ids == [] and p.complete
    p = mam(alice, archive.room, {"start": "yesterday"}, expect_ok=False)
    assert p.error == "bad-request"


def test_with_filter_follows_whois(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")   # the owner: a moderator
    carol = occupant(muc, "carol", archive.room, "Carol")   # a participant
    bobs = [i for i, f in enumerate(archive.senders) if f == f"{archive.room}/Bob"]
    assert len(bobs) == TOTAL // 10
    # By occupant JID: anyone.
    pages = walk_forward(carol, archive.room, {"with": f"{archive.room}/Bob"}, size=20)
    assert flatten(pages, "bodies") == in_order(archive, bobs)
    # By real JID: in a semi-anonymous room only those who may see real JIDs...
    p = mam(carol, archive.room, {"with": f"bob@{ct.DOMAIN}"}, expect_ok=False)
    assert p.error == "forbidden", describe(p.reply)
    pages = walk_forward(alice, archive.room, {"with": f"bob@{ct.DOMAIN}"}, size=20)
    assert flatten(pages, "bodies") == in_order(archive, bobs)
    p = mam(alice, archive.room, {"with": f"bob@{ct.DOMAIN}/archive-b"})
    assert p.bodies == in_order(archive, bobs)
    p = mam(alice, archive.room, {"with": f"bob@{ct.DOMAIN}/elsewhere"})
    assert p.bodies == []
    # ...and they alone get the sender's real JID with each message (§7.1.2).
    p = mam(alice, archive.room, rsm={"max": 20})
    items = [m.find(f"{q('x', NS_MUC_USER)}/{q('item', NS_MUC_USER)}") for m in p.fwd]
    assert all(i is not None for i in items), describe(p.results[0])
    real = {f"{archive.room}/Bob": f"bob@{ct.DOMAIN}/archive-b",
            f"{archive.room}/Alice": f"alice@{ct.DOMAIN}/archive-a"}
    assert [i.get("jid") for i in items] == [real[f] for f in archive.senders[:20]]
    p = mam(carol, archive.room, rsm={"max": 10})
    assert all(m.find(q("x", NS_MUC_USER)) is None for m in p.fwd), describe(p.results[0])


def test_fulltext_finds_the_right_messages(muc, archive):
    bob = occupant(muc, "bob", archive.room, "Bob")
    zebras = [i for i, b in enumerate(archive.bodies) if "zebra" in b]
    p = mam(bob, archive.room, {FULLTEXT: "zebra"})
    assert p.bodies == in_order(archive, zebras) and p.complete
    # websearch syntax: words are ANDed, '-' excludes.
    both = [i for i in zebras if "banana" in archive.bodies[i]]
    assert both
    p = mam(bob, archive.room, {FULLTEXT: "zebra banana"})
    assert p.bodies == in_order(archive, both)
    p = mam(bob, archive.room, {FULLTEXT: "zebra -banana"})
    assert p.bodies == in_order(archive, [i for i in zebras if i not in both])
    # Paging within a search.
    cherries = [i for i, b in enumerate(archive.bodies) if b.split()[1] == "cherry"]
    pages = walk_forward(bob, archive.room, {FULLTEXT: "cherry"}, size=30)
    assert flatten(pages, "bodies") == in_order(archive, cherries)
    pages = walk_backward(bob, archive.room, {FULLTEXT: "cherry"}, size=30)
    assert flatten(reversed(pages), "bodies") == in_order(archive, cherries)
    p = mam(bob, archive.room, {FULLTEXT: "durian"})
    assert p.ids == [] and p.complete


# ------------------------------------------------------------------ errors and access

def test_unknown_ids_and_access(muc, archive):
    alice = occupant(muc, "alice", archive.room, "Alice")
    p = mam(alice, archive.room, rsm={"after": "0" * 32}, expect_ok=False)
    assert p.error == "item-not-found"
    p = mam(alice, archive.room, rsm={"before": "nonsense"}, expect_ok=False)
    assert p.error == "item-not-found"
    p = mam(alice, archive.room, {"include-groupchat": "true"}, expect_ok=False)
    assert p.error == "feature-not-implemented"
    # Not an occupant of an open room: may read it all the same, as anyone who
    # may enter may (XEP-0313 §7.1.2; Prosody's muc_mam; poezio asks before
    # its join completes).
    dave = muc.client("dave")
    p = mam(dave, archive.room, rsm={"max": "5"})
    assert p.ids == archive.ids[:5]
    # #extended: ids and metadata.
    p = mam(alice, archive.room, {"ids": [archive.ids[200], archive.ids[5]]})
    assert p.ids == [archive.ids[5], archive.ids[200]] and p.complete
    r = alice.iq(archive.room, "get", f"<metadata xmlns='{NS_MAM}'/>")
    md = r.find(q("metadata", NS_MAM))
    assert md.find(q("start", NS_MAM)).get("id") == archive.ids[0], describe(r)
    assert md.find(q("end", NS_MAM)).get("id") == archive.ids[-1], describe(r)


def test_archive_only_while_logging_and_only_historic(muc):
    """Issue 11: the archive serves only what was sent while archiving was on
    (PostgreSQL's messages.archived), and neither chat states nor XEP-0334
    no-store messages are archived; join history keeps what the room kept."""
    alice = muc.client("alice")
    room = muc.create_room(alice, "Owner", {"muc#roomconfig_persistentroom": True,
                                            "muc#roomconfig_enablelogging": False})
    alice.groupchat(room, "said while off")
    alice.wait_groupchat(room, "said while off")
    alice.configure(room, {"muc#roomconfig_enablelogging": True})
    alice.groupchat(room, "said while on")
    alice.wait_groupchat(room, "said while on")
    alice.send(f"<message to='{room}' type='groupchat' id='cs1'><composing "
               f"xmlns='http://jabber.org/protocol/chatstates'/></message>")
    alice.groupchat(room, "not for the record", children="<no-store xmlns='urn:xmpp:hints'/>")
    alice.wait_groupchat(room, "not for the record")
    alice.groupchat(room, "last")
    alice.wait_groupchat(room, "last")
    bob = muc.client("bob")
    p = mam(bob, room)   # bob is not in the room: an open room's archive is his to read
    assert p.bodies == ["said while on", "last"], p.bodies
    j = bob.join(room, "Bob")
    bodies = [m.findtext(q("body", ct.NS_CLIENT)) for m in j.history]
    assert bodies == ["said while off", "said while on", "last"], bodies


# ------------------------------------------------------------------ persistence

def test_history_survives_confabd_restart(muc, archive):
    d = muc.confabd
    rc = d.stop()
    assert rc == 0, f"confabd exited with {rc} on SIGTERM\n{d.tail()}"
    mark = d.mark()
    d.start()
    d.wait_link_up(after=mark)
    d.wait_rooms_ready(after=mark)
    alice = occupant(muc, "alice", archive.room, "Alice")
    pages = walk_forward(alice, archive.room, size=50)
    assert flatten(pages) == archive.ids
    assert flatten(pages, "bodies") == archive.bodies
    pages = walk_backward(alice, archive.room, size=50)
    assert flatten(reversed(pages)) == archive.ids
    p = mam(alice, archive.room, {FULLTEXT: "zebra"})
    assert p.bodies == [b for b in archive.bodies if "zebra" in b]
    # New messages continue the archive after the old ones.
    alice.groupchat(archive.room, "after the restart")
    m = alice.wait(is_groupchat_body(archive.room), timeout=10)
    p = mam(alice, archive.room, rsm={"max": 2, "before": ""})
    assert p.bodies == [archive.bodies[-1], "after the restart"]
    assert p.ids[-1] == stanza_id(m, archive.room)
