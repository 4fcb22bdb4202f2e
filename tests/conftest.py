import contextlib
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone, translation
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

from bench.servers import daphne_command, stop_process, wait_for_http
from tests import services

ROOT = Path(__file__).resolve().parent.parent

# Fixtures for tests that run several server processes (world, postgres_database...).
pytest_plugins = ["tests.processes"]

# Hypothesis in CI: its own "ci" profile (derandomized, no example database), without
# shrinking: a failure names the frame that failed and how (tests/rooms/test_fuzz.py), and
# shrinking a test's failures can take minutes; print_blob reproduces one locally, shrunk.
hypothesis_settings.register_profile(
    "ci-no-shrink",
    hypothesis_settings.get_profile("ci"),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
if services.IN_CI:
    hypothesis_settings.load_profile("ci-no-shrink")


def pytest_terminal_summary(terminalreporter):
    if services.missing:
        terminalreporter.section("SKIPPED: real services missing", sep="!", red=True, bold=True)
        for what in sorted(set(services.missing)):
            terminalreporter.line(f"  {what}: its tests were skipped", red=True, bold=True)
        terminalreporter.line("  With CI=true these are failures.", red=True)


@pytest.fixture(autouse=True)
def _no_leftover_language_or_zone():
    """A request through the test client leaves its language and zone active in this
    thread (in production each request activates its own); start and end each test clean."""
    translation.deactivate()
    timezone.deactivate()
    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) on a free loopback port; Django sends through it. Its
    `refused` addresses are refused (550), as a server that does not know a mailbox."""
    from tests.mail import Inbox, smtp_serving

    with smtp_serving(settings, Inbox()) as inbox:
        yield inbox


@pytest.fixture
def stalling_smtp(settings):
    """The same server, stalling on its 20th message until its `release` is set, then
    refusing it (451): a worker killed meanwhile left it half sent (tests.mail.Stalling)."""
    from tests.mail import Stalling, smtp_serving

    with smtp_serving(settings, Stalling(at=20)) as inbox:
        try:
            yield inbox
        finally:
            inbox.release.set()


@pytest.fixture
def redis_url():
    services.need(services.redis_available(), f"Redis at {services.redis_url()}")
    return services.redis_url()


def database_url_for_tests() -> str:
    """A DATABASE_URL pointing at the test database, for server subprocesses."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    user = quote(s.get("USER") or "")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{s['NAME']}"


@contextlib.contextmanager
def run_daphne_process(log_path: Path, **env_overrides: str):
    """Run the real server (Daphne) in a subprocess on a free port; yields its base URL and
    the process (to kill it) once /healthz answers (with any status). Always stopped."""
    port = services.free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatserver.settings.test",
        "PYTHONUNBUFFERED": "1",
        **env_overrides,
    }
    # Set for Playwright in this process only; the server must stay async-safe.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            daphne_command(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/healthz", process)
            yield base, process
        finally:
            stop_process(process, grace=10)


@contextlib.contextmanager
def run_daphne(log_path: Path, **env_overrides: str):
    """Run the real server (Daphne) in a subprocess on a free port; yields its base URL
    once /healthz answers (with any status)."""
    with run_daphne_process(log_path, **env_overrides) as (base, _process):
        yield base


@pytest.fixture
def daphne_server(transactional_db, tmp_path):
    """The real server (Daphne, WebSockets included) on the test database.

    What a test creates is what the server sees (a file for SQLite); data must be
    committed, hence `transactional_db`. Yields the base URL.
    """
    with run_daphne(tmp_path / "daphne.log", DATABASE_URL=database_url_for_tests()) as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, driven by Playwright (which cannot download browsers here).

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while
    it is open, so Django's ORM needs DJANGO_ALLOW_ASYNC_UNSAFE meanwhile; it is set for
    the browser modules only and removed afterwards, so no other test runs with it.
    """
    services.need(services.chromium_available(), f"Chromium at {services.CHROMIUM}")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=services.CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    return browser_context.new_page()


@pytest.fixture(scope="session", autouse=True)
def _drop_stray_postgres_sessions(django_db_setup, django_db_blocker):
    """Threads that ran the consumers' database work keep their connections; PostgreSQL
    will not drop the test database while they are open. End them before it tries."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
