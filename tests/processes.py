"""Real server processes for tests: Daphne in subprocesses on a PostgreSQL database every
process shares, Redis between them. Fixtures and helpers for tests/rooms/test_processes.py,
tests/live/test_shutdown.py and any other test of several processes (tests/conftest.py
loads this module as a plugin, so its fixtures are everyone's).

The processes need PostgreSQL even when the suite runs on SQLite: then a module that uses
them gets a PostgreSQL database of its own (migrated by a subprocess, dropped after).
"""

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection

from tests import services
from tests.conftest import ROOT, database_url_for_tests, run_daphne_process
from tests.rooms import process_seed

# Sending faster than a person would is the point here, not the rate limit.
RATE_LIMIT_OFF = {"ROOM_RATE_LIMIT_MESSAGES": "100000", "LIVE_FRAMES_MAX": "100000"}


# PostgreSQL, whatever the suite runs on ---------------------------------------------------


@pytest.fixture(scope="module")
def fresh_postgres():
    """A migrated PostgreSQL database of the module's own (for a SQLite run); its URL."""
    services.need(services.postgres_available(), f"PostgreSQL at {services.postgres_url()}")
    import psycopg
    from psycopg import sql

    admin_url = services.postgres_url()
    name = f"test_processes_{os.getpid()}_{secrets.token_hex(3)}"
    url = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        manage_py(url, "migrate", "--no-input", "-v", "0")
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _subprocess_env(database_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatserver.settings.test",
        "DATABASE_URL": database_url,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def manage_py(database_url: str, *args: str, **env: str) -> str:
    return run_python(database_url, "manage.py", *args, **env)


def run_python(database_url: str, *args: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**_subprocess_env(database_url), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"{args} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture
def postgres_database(request, transactional_db):
    """The URL of a PostgreSQL database every server process shares: the test database
    when the suite runs on PostgreSQL (what the servers see must be committed, hence
    transactional_db), otherwise the module's own."""
    if connection.vendor == "postgresql":
        return database_url_for_tests()
    return request.getfixturevalue("fresh_postgres")


@pytest.fixture
def world_of(postgres_database):
    """Makes a fresh room with `members` signed-in members, in `postgres_database`:
    world_of(3) -> {"room": id, "members": [{"id", "name", "cookie"}], "database": url}."""

    def make(members: int) -> dict:
        if connection.vendor == "postgresql":
            seeded = process_seed.seed(members=members)
        else:
            out = run_python(postgres_database, "-m", "tests.rooms.process_seed", str(members))
            seeded = json.loads(out.strip().splitlines()[-1])
        return {**seeded, "database": postgres_database}

    return make


@pytest.fixture
def world(world_of):
    """A fresh room with three signed-in members (see `world_of`)."""
    return world_of(3)


def stored_messages(database_url: str, room_id: int) -> list[tuple[int, str, int]]:
    """(seq, client_id, author id) of every message the room holds, by seq."""
    import psycopg

    with psycopg.connect(database_url) as db:
        return db.execute(
            "SELECT seq, client_id, author_id FROM rooms_message WHERE room_id = %s ORDER BY seq",
            [room_id],
        ).fetchall()


def presence_rows(database_url: str, room_id: int) -> int:
    import psycopg

    with psycopg.connect(database_url) as db:
        query = "SELECT count(*) FROM rooms_presence WHERE room_id = %s"
        return db.execute(query, [room_id]).fetchone()[0]


async def wait_everyone_left(database_url: str, room_id: int, timeout: float = 5) -> None:
    """Wait until the servers have handled every disconnect (no presence row left), so
    none is half done when they are stopped; a row that stays is a bug."""
    deadline = time.monotonic() + timeout
    while (left := presence_rows(database_url, room_id)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert left == 0, f"{left} presence rows stayed after every socket closed"


# Processes --------------------------------------------------------------------------------


@contextlib.contextmanager
def servers(tmp_path: Path, count: int, **env: str):
    """`count` Daphne processes on one database and channel layer: [(base URL, process)].
    Stopped on exit; the end of each log is printed (pytest shows it when a test fails)."""
    logs = [tmp_path / f"daphne-{n}.log" for n in range(count)]
    try:
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(run_daphne_process(log, **env)) for log in logs]
    finally:
        for log in logs:
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-40:]
                print(f"---- {log.name} (last lines) ----", *tail, sep="\n")


def server_env(world: dict, redis_url: str, **extra: str) -> dict:
    return {"DATABASE_URL": world["database"], "REDIS_URL": redis_url, **RATE_LIMIT_OFF, **extra}


def check_clients_hold_the_room(clients: list, stored: list[tuple]) -> None:
    """Every client (a tests.rooms.wsclient.RoomClient) holds exactly the stored messages,
    in seq order, as stored (client_id and author)."""
    seqs = [seq for seq, _client_id, _author in stored]
    for client in clients:
        assert client.seqs == seqs, client.label
        assert client.shown == seqs, client.label
        assert not client.foreign, client.label
        for seq, client_id, author in stored:
            held = client.messages[seq]
            assert (held["client_id"], held["author"]["id"]) == (client_id, author), client.label
