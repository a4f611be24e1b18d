"""pytest fixtures for confab's integration tests.

Real servers only: a private PostgreSQL cluster, Prosody and ejabberd as routers,
confabd/confab-archiver from $CONFAB_BUILD (default <repo>/build), and slixmpp as
the client. All on 127.0.0.1 with free ports; every process started here is
stopped at teardown, also when a test fails.

Environment:
  CONFAB_BUILD          build directory with the binaries (default <repo>/build)
  CONFAB_TEST_ROUTERS   comma-separated routers to test against (default prosody,ejabberd)
  CONFAB_TEST_KEEP=1    keep router/PostgreSQL directories under /tmp for debugging
  CONFAB_TEST_SLOW      multiply daemon timeouts (e.g. 3 under valgrind)
"""

import os
import secrets

import pytest

import confabtest as ct

ROUTER_KINDS = [k.strip() for k in
                os.environ.get("CONFAB_TEST_ROUTERS", "prosody,ejabberd").split(",") if k.strip()]
KEEP = os.environ.get("CONFAB_TEST_KEEP") == "1"

# Component secrets the routers are configured with (fresh per test run).
SECRETS = {
    ct.MUC_DOMAIN: "muc-" + secrets.token_hex(8),
    ct.ARCHIVE_DOMAIN: "archive-" + secrets.token_hex(8),
}
USERS = {"alice": "alice-pw-" + secrets.token_hex(4), "bob": "bob-pw-" + secrets.token_hex(4)}


def pytest_report_header(config):
    return [f"confab build: {ct.BUILD}", f"routers: {', '.join(ROUTER_KINDS)}"]


@pytest.fixture(scope="session")
def pg():
    """A private PostgreSQL 15 cluster with the databases confab and confab_compliance."""
    server = ct.Postgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if not KEEP:
            import shutil
            shutil.rmtree(server.dir, ignore_errors=True)


def _router(kind):
    """The body of a router fixture: a router of kind with USERS, stopped (and its
    directory removed unless CONFAB_TEST_KEEP=1) when the fixture ends."""
    router = ct.ROUTERS[kind](SECRETS)
    for user, password in USERS.items():
        router.register(user, password)
    router.start()
    try:
        yield router
    finally:
        ct.stop_router(router)


@pytest.fixture(scope="module", params=ROUTER_KINDS)
def router(request):
    """A router shared by the read-only tests of a module (one per router kind)."""
    yield from _router(request.param)


@pytest.fixture(params=ROUTER_KINDS)
def fresh_router(request):
    """A router of its own for a test that kills, restarts or misconfigures things."""
    yield from _router(request.param)


@pytest.fixture
def prosody_router():
    """A Prosody router of its own, for behaviour specific to Prosody."""
    yield from _router("prosody")


def _linked_daemon(program, workdir, router, pg):
    """The body of a daemon fixture: program attached to router, up until the
    fixture ends, and then it must exit 0 on SIGTERM."""
    d = ct.Daemon(program, workdir, ct.config_text(router.router_addr, SECRETS, pg))
    d.start()
    try:
        d.wait_link_up()
        yield d
    finally:
        d.check_clean_exit()


@pytest.fixture(scope="module")
def confabd(router, pg, tmp_path_factory):
    """confabd attached to the shared router; must exit 0 on SIGTERM at the end."""
    yield from _linked_daemon("confabd", tmp_path_factory.mktemp(f"confabd-{router.kind}"),
                              router, pg)


@pytest.fixture(scope="module")
def archiver(router, pg, tmp_path_factory):
    """confab-archiver attached to the shared router."""
    yield from _linked_daemon("confab-archiver",
                              tmp_path_factory.mktemp(f"archiver-{router.kind}"), router, pg)


@pytest.fixture(scope="module")
def client(router):
    """alice, logged in to the shared router."""
    c = ct.XmppClient("alice@localhost/tests", USERS["alice"], router.c2s_port)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def new_client():
    """Factory: new_client(router) logs alice in; closed at teardown."""
    made = []

    def make(router, user="alice"):
        c = ct.XmppClient(f"{user}@localhost/t{len(made)}", USERS[user], router.c2s_port)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def daemons(pg, tmp_path):
    """Factory for daemons with a custom config, started by the test.

    daemons(program, router, **config_text kwargs) -> started ct.Daemon.
    At teardown every daemon the test did not stop itself must exit 0 on SIGTERM
    within 5 s and must not have printed a sanitizer report."""
    started = []

    def make(program, router, **kw):
        name = f"{program}-{len(started)}"
        d = ct.Daemon(program, tmp_path, ct.config_text(router.router_addr, SECRETS, pg, **kw),
                      name=name)
        started.append(d)
        return d.start()
    yield make
    errors = []
    for d in started:
        try:
            if d.returncode is None:
                d.check_clean_exit()
            elif d.sanitizer_reports():
                errors.append(f"{d.name}: sanitizer report:\n" + "\n".join(d.sanitizer_reports()))
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)
