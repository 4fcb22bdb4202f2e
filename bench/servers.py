"""Starting and stopping what the benchmark measures, each as a context manager that
always stops what it started (terminate, then kill) and waits a bounded time for anything:

- `redis_server()`: a Redis of the run's own on a free loopback port (commands counted
  on it are the benchmark's alone; the shared Redis is never touched);
- `postgres_deployment()` / `embedded_deployment()`: our server's database, created and
  migrated for the run (PostgreSQL: a fresh database, dropped after; embedded: SQLite under
  a temporary directory, in-memory channel layer), with `.seed()` for members and
  `.serve(processes)` for Daphne;
- `bare_server()`: baseline 1, bench/baseline_ws.py;
- `tutorial_server()`: baseline 2, the Channels tutorial consumer on Daphne.
"""

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"

# Never inherited by a server: each deployment says what it uses.
_SERVER_ENV_DROPPED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "ALLOWED_HOSTS",
    "VAR_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "ROOM_RATE_LIMIT_MESSAGES",
    "BENCH_CHANNEL_LAYER",
    "BENCH_TUTORIAL_LAYER",
)


# free_port, stop_process and wait_for_http serve the test suite's servers too.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV_DROPPED}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def stop_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_http(
    url: str, process: subprocess.Popen, timeout: float = 30.0, interval: float = 0.1
) -> None:
    """Until `url` answers with any HTTP status (the server is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(interval)
    raise RuntimeError(f"the server did not answer {url} within {timeout:g} s")


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Server:
    """Running server processes: `urls` are their http:// bases, one per process.

    `kill(n)` and `start(n)` (scenario 4, the reconnect storm) end process n with SIGKILL
    and start it again with the same command on the same port; `pids` and `processes` are
    updated in place, so whoever holds the lists sees the new process."""

    name: str
    urls: list[str]
    pids: list[int]
    logs: list[Path] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    health: str = "/healthz"

    def log_tail(self) -> str:
        return "\n".join(f"---- {log.name}\n{_tail(log)}" for log in self.logs)

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def kill(self, index: int = 0) -> float:
        """kill -9 process `index`; the time.time() of the kill."""
        process = self.processes[index]
        killed_at = time.time()
        process.kill()
        process.wait(10)
        return killed_at

    def start(self, index: int = 0, timeout: float = 30.0) -> float:
        """Start process `index` again (same command, same port, its log appended to);
        the time.time() at which it answered `health`."""
        if self.processes[index].poll() is None:
            raise RuntimeError(f"{self.name} process {index} is still running")
        with self.logs[index].open("a") as out:
            out.write(f"\n---- restarted at {time.strftime('%H:%M:%S')}\n")
            out.flush()
            process = subprocess.Popen(
                self.commands[index], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[index] = process
        self.pids[index] = process.pid
        wait_for_http(self.urls[index] + self.health, process, timeout, interval=0.05)
        return time.time()


@contextlib.contextmanager
def _processes(name: str, commands: list[list[str]], env: dict, log_dir: Path, health: str):
    """Start one process per command (each given its port by `commands`), yield a Server
    once every one answers `health`; stop them all on exit (restarted ones included)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    server = Server(name, [], [], commands=[command for _port, command in commands], env=env)
    server.health = health
    try:
        for n, (port, command) in enumerate(commands):
            log = log_dir / f"{name}-{n}.log"
            server.logs.append(log)
            with log.open("w") as out:
                process = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
            server.processes.append(process)
            server.pids.append(process.pid)
            server.urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(server.urls, server.processes, strict=True):
            wait_for_http(url + health, process)
        yield server
    except Exception:
        for log in server.logs:
            print(f"---- {log} (last lines)\n{_tail(log)}", file=sys.stderr)
        raise
    finally:
        for process in server.processes:
            stop_process(process)


def daphne_command(port: int, application: str = "chatserver.asgi:application") -> list[str]:
    """Daphne on loopback, serving `application` as `make run` and the Procfile do."""
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        # As `make run` serves it.
        "--websocket-max-message-size",
        "65536",
        application,
    ]


# Redis -------------------------------------------------------------------------------------


@dataclass
class Redis:
    url: str
    pid: int | None

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


@contextlib.contextmanager
def redis_server(directory: Path, url: str | None = None):
    """A redis-server of our own (no persistence) on a free port; or, given `url`, that
    Redis as it is (nothing started, nothing stopped)."""
    if url:
        yield Redis(url, None)
        return
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (directory / "redis.log").open("w")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        cwd=directory,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{_tail(directory / 'redis.log')}")
            time.sleep(0.05)
        yield Redis(f"redis://127.0.0.1:{port}/0", process.pid)
    finally:
        stop_process(process)


# Our server ------------------------------------------------------------------------------


@dataclass
class Deployment:
    """Our server's database (and channel layer), ready for Daphne processes."""

    name: str  # "postgres" or "embedded"
    database: str  # a label: the PostgreSQL database's name, or the SQLite file
    env: dict
    work_dir: Path

    def manage(self, *args: str, timeout: float = 300, extra_env: dict | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def seed(self, *, rooms: int, members: int, password: str) -> dict:
        """bench_members: {"community", "rooms": [{"id", "members": [emails]}]}."""
        out = self.manage(
            "bench_members",
            f"--rooms={rooms}",
            f"--members={members}",
            f"--password={password}",
        )
        return json.loads(out.strip().splitlines()[-1])

    def sql(self, statement: str) -> None:
        """One statement on the deployment's database (e.g. clearing presence rows a
        stopped server left)."""
        url = self.env.get("DATABASE_URL")
        if url:
            import psycopg

            with psycopg.connect(url, autocommit=True) as db:
                db.execute(statement)
        else:
            import sqlite3

            db = sqlite3.connect(Path(self.env["VAR_DIR"]) / "db.sqlite3", timeout=20)
            try:
                db.execute(statement)
                db.commit()
            finally:
                db.close()

    def effective(self, **env: str) -> dict:
        """What the settings make of the environment (with `env` added), for the results:
        the channel layer's class, CONN_MAX_AGE and LIVE_SLOW_CLIENT_SECONDS (after how
        long a client that stopped reading is closed)."""
        out = self.manage(
            "shell",
            "-c",
            "import json; from django.conf import settings; print(json.dumps({"
            "'channel_layer': settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1],"
            "'conn_max_age': settings.DATABASES['default'].get('CONN_MAX_AGE'),"
            "'slow_client_seconds': getattr(settings, 'LIVE_SLOW_CLIENT_SECONDS', None)}))",
            extra_env=env,
            timeout=60,
        )
        return json.loads(out.strip().splitlines()[-1])

    @contextlib.contextmanager
    def serve(self, processes: int = 1, **env: str):
        """Daphne processes on free ports; `env` is added to the deployment's (e.g.
        BENCH_CHANNEL_LAYER for the layer comparison)."""
        if processes > 1 and "REDIS_URL" not in self.env:
            raise ValueError("several processes need a shared channel layer (Redis)")
        ports = [free_port() for _ in range(processes)]
        commands = [(port, daphne_command(port)) for port in ports]
        # A stopped server's presence rows would make the next one's rooms look busy.
        self.sql("DELETE FROM rooms_presence")
        with _processes(
            f"ours-{self.name}",
            commands,
            {**self.env, **env},
            self.work_dir / "logs",
            "/healthz",
        ) as server:
            yield server


def _our_env(secret_key: str, rate_limit: int, **extra: str) -> dict:
    return clean_env(
        DJANGO_SETTINGS_MODULE="bench.settings",
        SECRET_KEY=secret_key,
        BENCH_RATE_LIMIT=str(rate_limit),
        **extra,
    )


@contextlib.contextmanager
def postgres_deployment(
    work_dir: Path,
    redis_url: str,
    *,
    secret_key: str,
    rate_limit: int,
    admin_url: str = DEFAULT_POSTGRES_URL,
    channel_layer: str = "",
):
    """A fresh PostgreSQL database, migrated, dropped on exit; channel layer on Redis."""
    import psycopg
    from psycopg import sql

    name = f"bench_{time.strftime('%Y%m%d')}_{os.getpid()}_{secrets.token_hex(3)}"
    url = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        extra = {"DATABASE_URL": url, "REDIS_URL": redis_url, "VAR_DIR": str(work_dir / "var")}
        if channel_layer:
            extra["BENCH_CHANNEL_LAYER"] = channel_layer
        deployment = Deployment(
            "postgres", name, _our_env(secret_key, rate_limit, **extra), work_dir
        )
        deployment.manage("migrate", "--no-input", "-v", "0")
        yield deployment
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def embedded_deployment(work_dir: Path, *, secret_key: str, rate_limit: int):
    """The embedded defaults: SQLite (var/db.sqlite3 under a directory of the run's own)
    and the in-memory channel layer, hence one process."""
    var = work_dir / "embedded-var"
    var.mkdir(parents=True, exist_ok=True)
    env = _our_env(secret_key, rate_limit, VAR_DIR=str(var))
    deployment = Deployment("embedded", f"sqlite-{work_dir.name}", env, work_dir)
    deployment.manage("migrate", "--no-input", "-v", "0")
    yield deployment


# Baselines -------------------------------------------------------------------------------


@contextlib.contextmanager
def bare_server(work_dir: Path):
    """Baseline 1: bench/baseline_ws.py (one process, one core at most)."""
    port = free_port()
    command = [sys.executable, "-m", "bench.baseline_ws", "--port", str(port)]
    with _processes("bare", [(port, command)], clean_env(), work_dir / "logs", "/healthz") as s:
        yield s


@contextlib.contextmanager
def tutorial_server(work_dir: Path, redis_url: str = "", layer: str = ""):
    """Baseline 2: the Channels tutorial's consumer on Daphne; `layer` pubsub, core or
    memory (default: pubsub with `redis_url`, memory without)."""
    port = free_port()
    env = clean_env(DJANGO_SETTINGS_MODULE="bench.tutorial.settings")
    if redis_url:
        env["REDIS_URL"] = redis_url
    if layer:
        env["BENCH_TUTORIAL_LAYER"] = layer
    command = daphne_command(port, "bench.tutorial.asgi:application")
    with _processes("tutorial", [(port, command)], env, work_dir / "logs", "/healthz") as s:
        yield s
