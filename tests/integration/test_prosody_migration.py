"""Migration from Prosody's MUC (issue 17 item 6): rooms made by Prosody's own mod_muc
with muc_mam (slixmpp clients create them, make them persistent, set affiliations, a
registered nick and the subject, and talk), written by contrib/prosody's
mod_confab_export (`prosodyctl mod_confab_export HOST FILE`), imported by `confabctl
import`, then served by confabd on the same domain through the same Prosody: history
(messages, nicks, order) in join history and MAM, affiliations honoured. The command
sequence is docs/migration.md's."""
import json
import subprocess

import psycopg
import pytest

import confabtest as ct
from confabtest import NS_CLIENT, q
from test_export import assert_continues
from test_mam import mam

CONTRIB = ct.REPO / "contrib" / "prosody"
MUC_COMPONENT = f'Component "{ct.MUC_DOMAIN}" "muc"\n  modules_enabled = {{ "muc_mam"; "ping" }}\n'
TALK = [("alice", "Owner", "hello from prosody"), ("bob", "Bobby", "hi <there> & all"),
        ("alice", "Owner", "third"), ("bob", "Bobby", "ünïcode ✓")]


def ok(reply, what="iq"):
    assert reply.get("type") == "result", f"{what}: {ct.describe(reply)}"
    return reply


def prosodyctl(router, *args):
    r = subprocess.run(["prosodyctl", "--config", str(router.config), *map(str, args)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"prosodyctl {args}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def confabctl(ini, *args):
    r = ct.run_tool("confabctl", "-c", ini, *args, timeout=60)
    assert r.returncode == 0, f"confabctl {args}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def make_rooms_on_prosody(router, passwords):
    """Prosody's own MUC: a persistent, archived room with a member who registered a
    nick, an outcast, an admin, a subject and a conversation; a second, hidden one."""
    clients = {u: ct.MucClient(f"{u}@{ct.DOMAIN}/mig", passwords[u], router.c2s_port)
               for u in ("alice", "bob")}
    alice, bob = clients["alice"], clients["bob"]
    try:
        for c in clients.values():
            c.available()
        room = f"garden@{ct.MUC_DOMAIN}"
        j = alice.join(room, "Owner")
        assert 201 in ct.status_codes(j.self_presence), ct.describe(j.self_presence)
        alice.configure(room, {"muc#roomconfig_persistentroom": "1",
                               "muc#roomconfig_roomname": "Garden",
                               "muc#roomconfig_roomdesc": "from Prosody",
                               "muc#roomconfig_publicroom": "1",
                               "muc#roomconfig_enablearchiving": "1"})
        for user, affiliation in (("bob", "member"), ("dave", "admin"), ("frank", "outcast")):
            # one item per request: Prosody 0.12 applies only the first of several
            ok(alice.admin(room, f"<item affiliation='{affiliation}' jid='{user}@{ct.DOMAIN}'/>"),
               affiliation)
        form = ct.submit_form(ct.NS_MUC_REGISTER, {"muc#register_roomnick": "Bobby"})
        ok(bob.iq(room, "set", f"<query xmlns='{ct.NS_REGISTER}'>{form}</query>"), "register")
        bob.join(room, "Bobby")
        alice.send(f"<message to='{room}' type='groupchat'><subject>Roses</subject></message>")
        alice.wait(lambda s: s.findtext(q("subject", NS_CLIENT)) == "Roses", 5, "subject")
        for user, _nick, body in TALK:
            clients[user].groupchat(room, body)
            alice.wait_groupchat(room, body)
        hidden = f"attic@{ct.MUC_DOMAIN}"
        alice.join(hidden, "Owner")
        alice.configure(hidden, {"muc#roomconfig_persistentroom": "1",
                                 "muc#roomconfig_publicroom": "0"})
        return room, hidden
    finally:
        ct.close_clients(list(clients.values()))


@pytest.fixture
def prosody_muc(tmp_path):
    if "prosody" not in ct.muc_router_kinds():
        pytest.skip("CONFAB_TEST_ROUTERS excludes prosody")
    import secrets
    secret = "muc-" + secrets.token_hex(8)
    router = ct.ProsodyRouter({f"unused.{ct.DOMAIN}": "unused"}, plugin_paths=[CONTRIB])
    router.config.write_text(router.config.read_text() + MUC_COMPONENT)
    yield router, secret
    ct.stop_router(router)


def test_prosody_muc_to_confab(prosody_muc, pg, tmp_path):
    router, secret = prosody_muc
    passwords = {u: f"{u}-pw" for u in ct.MUC_USERS}
    for u, p in passwords.items():
        router.register(u, p)
    router.start()
    room, hidden = make_rooms_on_prosody(router, passwords)
    router.stop()

    # the documented sequence: export with Prosody's tool, switch the domain to confab
    out = tmp_path / "prosody-muc.jsonl"
    r = subprocess.run(["prosodyctl", "--config", str(router.config), "mod_confab_export",
                        ct.DOMAIN, str(out)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "is not a muc component" in r.stdout + r.stderr, r
    said = prosodyctl(router, "mod_confab_export", ct.MUC_DOMAIN, out)
    assert "exported 2 rooms, 4 messages" in said, said
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    garden = next(r for r in recs if r["type"] == "room" and r["jid"] == room)
    affs = {a["jid"]: (a["affiliation"], a.get("nick")) for a in garden["affiliations"]}
    assert affs == {f"alice@{ct.DOMAIN}": ("owner", None), f"bob@{ct.DOMAIN}": ("member", "Bobby"),
                    f"dave@{ct.DOMAIN}": ("admin", None),
                    f"frank@{ct.DOMAIN}": ("outcast", None)}, garden
    router.config.write_text(router.config.read_text().replace(
        MUC_COMPONENT, f'Component "{ct.MUC_DOMAIN}"\n  component_secret = "{secret}"\n'))
    dsn = pg.create_database(f"confab_mig_{secrets_hex()}")
    daemon = ct.Daemon("confabd", tmp_path, ct.config_text(
        router.router_addr, {ct.MUC_DOMAIN: secret}, pg, chat_dsn=dsn,
        extra="\n[muc]\nmessage_rate = 0\n"), name="confabd-mig")
    confabctl(daemon.config, "db", "migrate")
    said = confabctl(daemon.config, "import", out)
    assert "2 rooms created" in said and "4 messages" in said, said
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT name, description, persistent, public_list, logging, "
                           "subject, last_seq FROM rooms WHERE jid = %s", (room,)).fetchone()
        assert row == ("Garden", "from Prosody", True, True, True, "Roses", 4), row
        assert conn.execute("SELECT public_list FROM rooms WHERE jid = %s",
                            (hidden,)).fetchone()[0] is False

    router.start()
    daemon.start()
    clients = []
    try:
        daemon.wait_link_up()

        def client(user):
            c = ct.MucClient(f"{user}@{ct.DOMAIN}/new", passwords[user], router.c2s_port)
            clients.append(c)
            c.available()
            return c
        carol = client("carol")
        j = carol.join(room, "Carol")
        got = [(m.get("from"), m.findtext(q("body", NS_CLIENT))) for m in j.history]
        assert got == [(f"{room}/{nick}", body) for _u, nick, body in TALK], got
        assert j.subject.findtext(q("subject", NS_CLIENT)) == "Roses"
        page = mam(carol, room)
        assert page.bodies == [body for _u, _n, body in TALK], page
        # affiliations: the outcast stays out, the registered nick is Bob's, the owner owns
        err = client("frank").join_error(room, "Frank")
        assert err.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") is not None, \
            ct.describe(err)
        err = client("erin").join_error(room, "Bobby")
        assert err.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}conflict") is not None, \
            ct.describe(err)
        alice = client("alice")
        alice.join(room, "Owner")
        ct.wait_for(lambda: alice.config_form(room) is not None, 5, "the owner's config form")
        admins = alice.admin_list(room, affiliation="admin")
        assert [i.get("jid") for i in admins.iter() if i.tag.endswith("item")] == \
            [f"dave@{ct.DOMAIN}"], ct.describe(admins)
        assert_continues(alice, dsn, room, 5)
    finally:
        ct.close_clients(clients)
        ct.stop_daemon(daemon)


def secrets_hex():
    import secrets
    return secrets.token_hex(4)
