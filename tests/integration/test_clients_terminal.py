"""Console XMPP clients (profanity 0.13, poezio 0.14) in tmux use confabd rooms; the tests assert what the user sees on screen.

Keys go in with `tmux send-keys`, the screen is read with `tmux capture-pane -p`
(confabtest.TmuxClient); every check polls the screen with a timeout. The other side of
each scenario (room owner, inviter, kicker) is a slixmpp MucClient. poezio refuses to
run as root, so it runs as the unprivileged user `confabtest` (created on first use)
with a HOME of its own under /tmp. Prosody only (muc_env): the router does not change
what a client shows.
"""

import re
import shutil
import time

import pytest

import confabtest as ct
from confabtest import NS_MUC_USER, q, status_codes
from confabtest import muc, muc_env  # noqa: F401  (fixtures)

MUC_CONFIG = "message_rate = 0\npresence_rate = 0\n"

pytestmark = pytest.mark.skipif(not (shutil.which("tmux") and shutil.which("profanity")
                                     and shutil.which("poezio")),
                                reason="needs tmux, profanity and poezio (scripts/deps.sh)")

CHATSTATES = "http://jabber.org/protocol/chatstates"


@pytest.fixture
def terminal(muc):
    """terminal(kind, user) starts profanity or poezio logged in as user; every tmux
    server is killed at teardown, and the homes are removed unless CONFAB_TEST_KEEP=1."""
    started = []

    def start(kind, user):
        home = ct.make_workdir(f"confab-{kind}-{user}-")
        cls = {"profanity": ct.ProfanityClient, "poezio": ct.PoezioClient}[kind]
        client = None
        try:
            client = cls(home, user, muc.passwords[user], muc.router.c2s_port)
        finally:
            started.append((client, home))
        return client
    yield start
    for client, home in started:
        if client is not None:
            client.stop()
        if not ct.os.environ.get("CONFAB_TEST_KEEP") == "1":
            shutil.rmtree(home, ignore_errors=True)


def room_local(room):
    return room.split("@", 1)[0]


def kick(owner, room, nick, reason):
    reply = owner.admin(room, f"<item nick='{nick}' role='none'><reason>{reason}</reason></item>")
    assert reply.get("type") == "result", ct.describe(reply)


def invite(owner, room, invitee, reason):
    owner.send(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'><invite to='{invitee}'>"
               f"<reason>{reason}</reason></invite></x></message>")


def chat_states(sender, room):
    """What a client sends around typing: bare chat states, no body (XEP-0085 §5.5).
    Hints say not to store them (XEP-0334), as poezio does."""
    for state in ("composing", "paused", "active"):
        sender.send(f"<message to='{room}' type='groupchat'><{state} xmlns='{CHATSTATES}'/>"
                    "<no-store xmlns='urn:xmpp:hints'/></message>")
    sender.sync()


# ------------------------------------------------------------------ profanity

def test_profanity_history_on_join(muc, terminal):
    """The last messages appear when profanity joins, even though the speaker's client
    sent chat states after them (history is messages, not typing notifications)."""
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", {"muc#roomconfig_historylength": 3}, prefix="profhist")
    for i in range(3):
        alice.groupchat(room, f"history line {i}")
        alice.wait_groupchat(room, f"history line {i}")
    chat_states(alice, room)
    bob = terminal("profanity", "bob")
    bob.type(f"/join {room}")
    bob.wait_screen(r"You have joined the room as bob", what="profanity to enter the room")
    try:
        for i in range(3):
            bob.wait_screen(rf"alice: history line {i}\b", timeout=5,
                            what=f"history line {i} on join")
    except ct.WaitTimeout as e:
        raise AssertionError(f"{e}\nconfabd's history for {room} (historylength 3) held alice's "
                             "three chat states, not her three messages") from None


def test_profanity_password_refused_then_retry(muc, terminal):
    """A join without the password shows the refusal; /join with the password enters."""
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", {"muc#roomconfig_passwordprotectedroom": True,
                                            "muc#roomconfig_roomsecret": "prof-secret"},
                           prefix="profpw")
    bob = terminal("profanity", "bob")
    bob.type(f"/join {room}")
    # "Error joining room" is profanity's MUC join error; "Error from" is how it shows
    # an error presence it did not recognise as the answer to a join
    bob.wait_screen(rf"Error joining room {re.escape(room)}, reason: not-authorized|"
                    rf"Error from {re.escape(room)}/bob: .*password", what="the refusal")
    bob.type(f"/join {room} password prof-secret")
    try:
        bob.wait_screen(r"You have joined the room as bob", timeout=8)
    except ct.WaitTimeout as e:
        raise AssertionError(
            f"{e}\nprofanity treats {room} as joined after the refused join: the error "
            f"presence from {room}/bob had no <x xmlns='{ct.NS_MUC}'/>, so profanity did not "
            "take it as the room's answer to its join") from None
    alice.wait_presence(f"{room}/bob", what="bob's presence in the room")


def test_profanity_receives_invitation(muc, terminal):
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", prefix="profinv")
    bob = terminal("profanity", "bob")
    invite(alice, room, "bob@localhost", "profanity welcome")
    # the inviter is alice's JID, or her occupant JID in a semi-anonymous room
    # (XEP-0045 §7.8.2), which profanity shows as its bare part, the room
    bob.wait_screen(rf"Chat room invite received:\s+\S+ - +From +: "
                    rf"(alice@localhost|{re.escape(room)})\s+"
                    rf"\S+ - +Room +: {re.escape(room)}\s+\S+ - +Message: profanity welcome",
                    what="the invitation")
    bob.type("/invite list")
    bob.wait_screen(rf"(?m)^\S+ - +{re.escape(room)}\s*$", what="/invite list to list the room")
    bob.type(f"/join {room}")
    bob.wait_screen(r"You have joined the room as bob")


def test_profanity_kicked(muc, terminal):
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", prefix="profkick")
    bob = terminal("profanity", "bob")
    bob.type(f"/join {room}")
    bob.wait_screen(r"You have joined the room as bob")
    alice.wait_presence(f"{room}/bob")
    kick(alice, room, "bob", "too loud")
    bob.wait_screen(r"[Kk]icked .*too loud|too loud.*[Kk]icked", what="profanity to show the kick")


def test_profanity_room_config(muc, terminal):
    """bob creates a room in profanity and configures it with /room config and the form
    commands; the room then has the name, persistence and password bob set."""
    alice = muc.client("alice")
    bob = terminal("profanity", "bob")
    room = ct.new_room("profcfg")
    bob.type(f"/join {room}")
    bob.wait_screen(r"Room locked, requires configuration", what="the new-room notice")
    bob.type("/room config")
    bob.wait_screen(r"Form title: Configuration for", what="the configuration form")
    screen = bob.screen()

    def tag(label):
        m = re.search(rf"\[(field\d+)\] {re.escape(label)}", screen)
        assert m, f"no field {label!r} in the form on screen:\n{screen}"
        return m.group(1)
    settings = [(tag("Natural-language room name:"), "ProfanityRoom"),
                (tag("Make the room persistent:"), "on"),
                (tag("Password required to enter:"), "on"),
                (tag("Password:"), "prof-cfg-secret")]
    for field, value in settings:
        bob.type(f"/{field} {value}")
        time.sleep(0.2)  # profanity redraws the form after each field
    bob.type("/form show")
    bob.wait_screen(r"Make the room persistent: TRUE", what="the edited form")
    bob.type("/form submit")
    bob.wait_screen(r"Room configuration successful", what="the configuration result")

    alice_err = alice.join_error(room, "alice")
    assert ct.error_condition(alice_err) == "not-authorized", ct.describe(alice_err)
    j = alice.join(room, "alice", password="prof-cfg-secret")
    assert 110 in status_codes(j.self_presence)
    info = alice.iq(room, "get", f"<query xmlns='{ct.NS_DISCO_INFO}'/>")
    features = {f.get("var") for f in info.iter(q("feature", ct.NS_DISCO_INFO))}
    identity = info.find(f"{q('query', ct.NS_DISCO_INFO)}/{q('identity', ct.NS_DISCO_INFO)}")
    assert {"muc_persistent", "muc_passwordprotected"} <= features, features
    assert identity is not None and identity.get("name") == "ProfanityRoom", ct.describe(info)


# ------------------------------------------------------------------ poezio

def test_poezio_history_from_archive(muc, terminal):
    """poezio fetches a room's history from its MAM archive when it joins: with a
    history length of 2, the earlier messages can only come from the archive."""
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", {"muc#roomconfig_historylength": 2, "mam": True,
                                            "muc#roomconfig_enablelogging": True},
                           prefix="poezhist")
    for i in range(5):
        alice.groupchat(room, f"archived line {i}")
        alice.wait_groupchat(room, f"archived line {i}")
    carol = terminal("poezio", "carol")
    carol.command(f"/join {room}")
    carol.wait_screen(r"You \(carol\) joined the room", what="poezio to enter the room")
    try:
        for i in range(5):
            carol.wait_screen(rf"alice> archived line {i}\b", timeout=8,
                              what=f"archived line {i}")
    except ct.WaitTimeout as e:
        raise AssertionError(f"{e}\n{mam_exchange(carol, room)}") from None


def mam_exchange(client, room):
    """poezio's MAM queries to room and confabd's answers, from poezio's debug log."""
    lines = client.log_text().splitlines()
    ids = [m.group(1) for ln in lines if "SEND:" in ln and "urn:xmpp:mam:2" in ln
           and f'to="{room}"' in ln for m in [re.search(r'<iq id="([^"]+)"', ln)] if m]
    out = [ln[ln.find("SEND:"):][:500] for ln in lines
           if "SEND:" in ln and (f'to="{room}/' in ln and "<presence" in ln
                                 or any(f'"{i}"' in ln for i in ids))]
    out += [ln[ln.find("RECV:"):][:500] for ln in lines
            if "RECV:" in ln and any(f'id="{i}"' in ln for i in ids) and "<iq" in ln]
    return "poezio's join and MAM exchange with the room:\n" + "\n".join(out)


def test_poezio_password_refused_then_retry(muc, terminal):
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", {"muc#roomconfig_passwordprotectedroom": True,
                                            "muc#roomconfig_roomsecret": "poez-secret"},
                           prefix="poezpw")
    carol = terminal("poezio", "carol")
    carol.command(f"/join {room}")
    # poezio 0.14 prints a join error only when the error presence carries a muc#user
    # element, which XEP-0045 does not put there: the screen shows the tab not connected,
    # the debug log shows why
    ct.wait_for(lambda: f'from="{room}/carol"' in carol.log_text()
                and "not-authorized" in carol.log_text(), 10,
                "poezio to receive the not-authorized presence")
    carol.wait_screen(rf"\[{re.escape(room)}\].*Not connected", what="the tab not connected")
    assert "You (carol) joined the room" not in carol.screen()
    carol.command(f"/join {room}/carol poez-secret")
    carol.wait_screen(r"You \(carol\) joined the room", what="poezio to enter with the password")
    alice.wait_presence(f"{room}/carol")


def test_poezio_receives_invitation(muc, terminal):
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", prefix="poezinv")
    carol = terminal("poezio", "carol")
    invite(alice, room, "carol@localhost", "poezio welcome")
    # poezio wraps the notice itself, so the roster column's frame sits in the middle
    carol.wait_screen(rf"You are invited to the room {re.escape(room)} by[\s\u2502]*"
                      rf"(alice@localhost|{re.escape(room)}/alice)",
                      what="the invitation")
    carol.wait_screen(r"poezio welcome", what="the invitation's reason")
    # poezio's roster-tab /accept is for subscriptions; an invitation is taken with /join
    carol.command(f"/join {room}")
    carol.wait_screen(r"You \(carol\) joined the room", what="poezio to enter the room")


def test_poezio_kicked(muc, terminal):
    alice = muc.client("alice")
    room = muc.create_room(alice, "alice", prefix="poezkick")
    carol = terminal("poezio", "carol")
    carol.command(f"/join {room}")
    carol.wait_screen(r"You \(carol\) joined the room")
    alice.wait_presence(f"{room}/carol")
    kick(alice, room, "carol", "poezio out")
    carol.wait_screen(r"You have been kicked.*poezio out", what="poezio to show the kick")


def test_poezio_room_config(muc, terminal):
    """carol creates a room in poezio and fills /configure's form (name, persistent,
    password), sends it with Ctrl+Y; the room then has what she set."""
    alice = muc.client("alice")
    carol = terminal("poezio", "carol")
    room = ct.new_room("poezcfg")
    carol.command(f"/join {room}")
    carol.wait_screen(r"The room has been created", what="the new-room notice")
    carol.command("/configure")
    carol.wait_screen(r"Configuration for", what="the configuration form tab")
    carol.type("Poezio Room", enter=False)
    carol.key("Down", "Down", "Down")   # to "Make the room persistent"
    carol.key("Right")
    carol.key("Down", "Down", "Down", "Down")  # to "Password required to enter"
    carol.key("Right")
    carol.key("Down")                   # to "Password"
    carol.type("poez-cfg-secret", enter=False)
    carol.wait_screen(r"Make the room persistent\s+← True", what="persistent set in the form")
    carol.wait_screen(r"Password required to enter\s+← True", what="password flag in the form")
    carol.wait_screen(r"Natural-language room name\s+Poezio Room", what="the name in the form")
    carol.key("C-y")
    carol.wait_screen(rf"\[{re.escape(room)}\]", what="poezio back in the room tab")

    def configured():
        info = alice.iq(room, "get", f"<query xmlns='{ct.NS_DISCO_INFO}'/>")
        ident = info.find(f"{q('query', ct.NS_DISCO_INFO)}/{q('identity', ct.NS_DISCO_INFO)}")
        return info if ident is not None and ident.get("name") == "Poezio Room" else None
    info = ct.wait_for(configured, 5, f"{room} to carry the name set in poezio")
    features = {f.get("var") for f in info.iter(q("feature", ct.NS_DISCO_INFO))}
    assert {"muc_persistent", "muc_passwordprotected"} <= features, features
    err = alice.join_error(room, "alice")
    assert ct.error_condition(err) == "not-authorized", ct.describe(err)
    j = alice.join(room, "alice", password="poez-cfg-secret")
    assert 110 in status_codes(j.self_presence)
