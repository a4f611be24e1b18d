"""The README's first command as a user meets it (issue 18's done-when): scripts/up.sh
brings up PostgreSQL, Prosody, confabd and confab-archiver; a real client (slixmpp)
logs in with the printed password, carbons and PEP bookmarks work as on a real server,
a room on the MUC service works, both daemons' metrics answer; scripts/up.sh stop ends
it. Own ports, so a developer's running demo is left alone."""
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
import confabtest as ct

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path):
    ports = {"CONFAB_C2S_PORT": ct.free_port(), "CONFAB_COMPONENT_PORT": ct.free_port(),
             "CONFAB_PG_PORT": ct.free_port(), "CONFAB_METRICS_PORT": ct.free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "CONFAB_BUILD": str(ct.BUILD),
           "CONFAB_RUN": str(tmp_path / "run")}
    up = subprocess.run(["bash", str(ROOT / "scripts" / "up.sh")], env=env, capture_output=True,
                        text=True, timeout=600)
    try:
        assert up.returncode == 0, f"up.sh failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        yield ports, up.stdout
    finally:
        stop = subprocess.run(["bash", str(ROOT / "scripts" / "up.sh"), "stop"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stdout + stop.stderr


def password(out, user):
    m = re.search(rf"{user}@localhost\s+password (\S+)", out)
    assert m, f"up.sh did not print {user}'s password:\n{out}"
    return m.group(1)


def test_demo_like_a_real_server(demo):
    ports, out = demo
    alice = ct.MucClient("alice@localhost/demo", password(out, "alice"), ports["CONFAB_C2S_PORT"])
    try:
        for p in ("xep_0030", "xep_0280"):
            alice.xmpp.register_plugin(p)

        async def carbons_on():
            return await alice.xmpp.plugin["xep_0280"].enable()
        alice.run(carbons_on())   # IqError ("Server error enabling message carbons") fails here
        bookmark = ("<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                    "<publish node='urn:xmpp:bookmarks:1'><item id='lobby@conference.localhost'>"
                    "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true' name='Lobby'>"
                    "<nick>alice</nick></conference></item></publish><publish-options>"
                    "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                    "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                    "<field var='pubsub#persist_items'><value>true</value></field>"
                    "<field var='pubsub#access_model'><value>whitelist</value></field></x>"
                    "</publish-options></pubsub></iq>")
        r = alice.iq("alice@localhost", "set", bookmark[bookmark.index("<pubsub"):
                                                         bookmark.rindex("</iq>")])
        assert r.get("type") == "result", ct.describe(r)
        room = "lobby@conference.localhost"
        j = alice.join(room, "alice")
        assert j.self_presence is not None
        alice.groupchat(room, "hello from the demo")
        alice.wait_groupchat(room, "hello from the demo")
    finally:
        alice.close()
    # the bookmark survives a reconnect (PEP with persistent items)
    again = ct.MucClient("alice@localhost/again", password(out, "alice"), ports["CONFAB_C2S_PORT"])
    try:
        r = again.iq("alice@localhost", "get", "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                     "<items node='urn:xmpp:bookmarks:1'/></pubsub>")
        assert r.get("type") == "result" and "lobby@conference.localhost" in ct.describe(r), \
            ct.describe(r)
    finally:
        again.close()
    for port in (ports["CONFAB_METRICS_PORT"], ports["CONFAB_METRICS_PORT"] + 1):
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "confab_link_up 1" in text, text[:500]
