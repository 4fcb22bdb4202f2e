"""Which real services the tests need, and what happens when one is missing.

On a laptop without PostgreSQL, Redis or Chromium those tests skip and the run ends with
a loud summary; with CI=true a missing service is a failure, never a skip.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

from bench.servers import free_port  # noqa: F401 - the tests' one, too

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"

missing: list[str] = []


def need(available: bool, what: str) -> None:
    """Skip (laptop) or fail (CI) the calling test when `what` is not available."""
    if available:
        return
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
    missing.append(message)
    pytest.skip(message)


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def redis_available() -> bool:
    url = urlparse(redis_url())
    return tcp_reachable(url.hostname or "127.0.0.1", url.port or 6379)


def postgres_url() -> str:
    """A PostgreSQL server's URL for tests that need one whatever the suite's database
    (TEST_POSTGRES_URL; its database is only used to create and drop others)."""
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def postgres_available() -> bool:
    url = urlparse(postgres_url())
    return tcp_reachable(url.hostname or "127.0.0.1", url.port or 5432)


def redis_server_available() -> bool:
    """The `redis-server` program, for tests that start (and stop) a Redis of their own."""
    return shutil.which("redis-server") is not None


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM)


def gettext_available() -> bool:
    return shutil.which("xgettext") is not None and shutil.which("msgfmt") is not None
