"""The benchmark's clients: several OS processes of asyncio WebSocket connections (the
`websockets` library), so that the clients are not what limits the server.

`run_session()` (in the parent) starts the worker processes and paces them with a barrier
across processes:

    ready -> connect all -> connected -> settle (the room goes quiet) -> settled
    -> [phase start -> open-loop sending at the offered rate -> sent (the parent adds up
        what each worker's connections should receive) -> drain (until they have, or a
        time limit) -> phase end] ...
    -> final check (our server: every missing seq is counted) -> report

Every message carries its send time (`t`, ns since the epoch: one clock for every process
on this machine) and its phase (`p`); every receiving connection records receive time -
`t`. The schedule is open loop (sends never wait for answers); how late a client sends
against its schedule is reported as `send_lag`, and a step where the clients lag is
flagged, since the clients then measure themselves rather than the server.

Our server's `message.new` frames also carry the room's `seq`: each connection counts
gaps, duplicates and reordering against the room's last seq at connect (room.state,
history) and at the end (a `pong`).

`sign_in()` signs members in once each through the real login page.
"""

import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlparse

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.measure import Histogram, Snapshot, rss_kb

OURS, BARE, TUTORIAL = "ours", "bare", "tutorial"


# Signing in ------------------------------------------------------------------------------

_CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def _sign_in_one(base_url: str, email: str, password: str) -> str:
    """The session cookie ("sessionid=...") the real login page gives `email`."""
    url = urlparse(base_url)
    http_connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        http_connection.request("GET", "/accounts/login/")
        response = http_connection.getresponse()
        page = response.read()
        cookies = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        token = _CSRF_FIELD.search(page)
        if response.status != 200 or token is None or "csrftoken" not in cookies:
            raise RuntimeError(f"login page: HTTP {response.status}, no CSRF token")
        form = urlencode(
            {"username": email, "password": password, "csrfmiddlewaretoken": token.group(1)}
        )
        http_connection.request(
            "POST",
            "/accounts/login/",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            },
        )
        response = http_connection.getresponse()
        response.read()
        cookies = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        if response.status != 302 or "sessionid" not in cookies:
            raise RuntimeError(f"login of {email}: HTTP {response.status}, no session")
        return f"sessionid={cookies['sessionid'].value}"
    finally:
        http_connection.close()


def sign_in(
    base_url: str, emails: list[str], password: str, cache: Path, threads: int = 4
) -> tuple[dict[str, str], dict]:
    """Session cookies for `emails`, by email: from `cache` (a JSON file kept for one
    database, so a run signs each member in once) or through the login page.
    Returns (cookies, {"signed_in": n, "cached": n, "seconds": s})."""
    cookies: dict[str, str] = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [email for email in emails if email not in cookies]
    started = time.monotonic()
    if todo:
        with ThreadPoolExecutor(threads) as pool:
            made = pool.map(lambda email: _sign_in_one(base_url, email, password), todo)
            cookies.update(zip(todo, made, strict=True))
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(cookies))
        cache.chmod(0o600)
    stats = {
        "signed_in": len(todo),
        "cached": len(emails) - len(todo),
        "seconds": round(time.monotonic() - started, 2),
    }
    return {email: cookies[email] for email in emails}, stats


# Connections -----------------------------------------------------------------------------


def connection_spec(
    url: str, room: str, kind: str, *, sends: bool = True, cookie: str | None = None
) -> dict:
    """What a worker needs to open one connection (picklable). `url` is the server's
    http:// base for ours (the Origin is made from it), the full ws:// URL otherwise."""
    return {"url": url, "room": room, "kind": kind, "sends": sends, "cookie": cookie}


class _Conn:
    """One connection's state, and for our server its view of the room's seqs."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.kind = spec["kind"]
        self.room = spec["room"]
        self.ws = None
        self.connected_at = 0.0
        self.ready = asyncio.Event()  # ours: room.state and history received
        self.closed_code: int | None = None
        self.closed = False
        # Seqs: every seq up to `contiguous` was received; `ahead` holds later ones
        # received past a hole. Small, however long the run.
        self.start_seq: int | None = None
        self.contiguous = 0
        self.ahead: set[int] = set()
        self.max_seq = 0
        self.final_last: int | None = None
        self.pong = asyncio.Event()

    def missing_upto(self, last: int) -> int:
        if self.start_seq is None:
            return 0
        received = (self.contiguous - self.start_seq) + sum(1 for seq in self.ahead if seq <= last)
        return max(0, (last - self.start_seq) - received)


class _Worker:
    def __init__(self, index: int, specs: list[dict], control: dict, queue):
        self.index = index
        self.conns = [_Conn(spec) for spec in specs]
        self.control = control
        self.queue = queue
        self.random = random.Random(index)
        self.token = secrets.token_hex(3)
        self.senders = [c for c in self.conns if c.spec["sends"]]
        self.random.shuffle(self.senders)

        self.phase = -1
        self.n = 0  # messages sent: client_ids stay unique across phases
        self.hist: dict[int, Histogram] = {}
        self.send_lag: dict[int, Histogram] = {}
        self.sent: dict[int, Counter] = {}
        self.in_window = 0  # deliveries received inside the current sending window
        self.window = (0, 0)  # ns
        self.last_delivery = 0.0  # monotonic
        self.last_frame = 0.0  # monotonic; room-wide frames only (not heartbeats)
        self.frames = Counter()  # frames received by type
        self.errors = Counter()
        self.duplicates = 0
        self.reordered = 0
        self.foreign = 0
        self.stray = 0  # deliveries with no phase tag (not ours)
        self.readers: set[asyncio.Task] = set()

    # Barrier across processes ------------------------------------------------------------

    async def barrier(self, timeout: float) -> None:
        await asyncio.to_thread(self.control["barrier"].wait, timeout)

    # Receiving ---------------------------------------------------------------------------

    def _delivered(self, payload: dict, now_ns: int) -> None:
        phase = payload.get("p")
        if phase is None:
            self.stray += 1
            return
        hist = self.hist.get(phase)
        if hist is None:
            hist = self.hist[phase] = Histogram()
        hist.add((now_ns - payload["t"]) / 1e6)
        if self.window[0] <= now_ns <= self.window[1]:
            self.in_window += 1
        self.last_delivery = time.monotonic()

    def _on_ours(self, c: _Conn, raw: bytes, now_ns: int) -> None:
        # Presence lists grow with the room and are not measured: not parsed.
        if raw.startswith(b'{"type":"presence"'):
            self.frames["presence"] += 1
            self.last_frame = time.monotonic()
            return
        frame = json.loads(raw)
        kind = frame.get("type")
        self.frames[kind] += 1
        if kind not in ("heartbeat", "pong"):
            # Each connection's own heartbeat never stops: the room is quiet without it.
            self.last_frame = time.monotonic()
        if kind == "message.new":
            message = frame["message"]
            if str(message["room"]) != c.room:
                self.foreign += 1
                return
            if self._seq(c, message["seq"]):
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    self._delivered(json.loads(message["body"]), now_ns)
        elif kind == "room.state":
            c.start_seq = c.contiguous = c.max_seq = frame["last_seq"]
        elif kind == "history":
            if not c.ready.is_set():
                last = max((m["seq"] for m in frame["messages"]), default=0)
                c.start_seq = c.contiguous = c.max_seq = max(c.start_seq or 0, last)
                c.ready.set()
        elif kind == "pong":
            c.final_last = frame["last_seq"]
            c.pong.set()
        elif kind == "error":
            self.errors[frame.get("code", "?")] += 1

    def _seq(self, c: _Conn, seq: int) -> bool:
        """Count `seq` in; False for a duplicate."""
        if seq <= c.contiguous or seq in c.ahead:
            self.duplicates += 1
            return False
        if seq < c.max_seq:
            self.reordered += 1
        c.max_seq = max(c.max_seq, seq)
        if seq == c.contiguous + 1:
            c.contiguous = seq
            while c.contiguous + 1 in c.ahead:
                c.contiguous += 1
                c.ahead.discard(c.contiguous)
        else:
            c.ahead.add(seq)
        return True

    async def _read(self, c: _Conn) -> None:
        kind = c.kind
        try:
            while True:
                raw = await c.ws.recv(decode=False)
                now_ns = time.time_ns()
                if kind == OURS:
                    self._on_ours(c, raw, now_ns)
                else:
                    self.last_frame = time.monotonic()
                    self.frames["message"] += 1
                    frame = json.loads(raw)
                    payload = frame if kind == BARE else json.loads(frame["message"])
                    self._delivered(payload, now_ns)
        except ConnectionClosed:
            pass
        finally:
            c.closed = True
            c.closed_code = c.ws.close_code
            c.ready.set()
            c.pong.set()

    # Connecting --------------------------------------------------------------------------

    async def _open(self, c: _Conn, timeout: float) -> None:
        spec = c.spec
        options = {
            "compression": None,
            "proxy": None,
            "open_timeout": timeout,
            "close_timeout": 1,
            # The server's own keepalive is what a browser answers; none from here, so a
            # loaded client cannot time a socket out on its own.
            "ping_interval": None,
            "max_size": 2**22,  # presence lists of a big room are large
        }
        if c.kind == OURS:
            url = spec["url"].replace("http", "ws", 1) + f"/ws/rooms/{c.room}/"
            c.ws = await connect(
                url, origin=spec["url"], additional_headers={"Cookie": spec["cookie"]}, **options
            )
        else:
            c.ws = await connect(spec["url"], **options)
        reader = asyncio.create_task(self._read(c))
        self.readers.add(reader)
        reader.add_done_callback(self.readers.discard)
        if c.kind == OURS:
            await asyncio.wait_for(c.ready.wait(), timeout)
            if c.closed:
                raise ConnectionError(f"closed with code {c.closed_code}")
        c.connected_at = time.time()

    async def connect_all(self, concurrency: int, timeout: float) -> dict:
        gate = asyncio.Semaphore(concurrency)
        failures = Counter()

        async def one(c: _Conn) -> None:
            async with gate:
                try:
                    await self._open(c, timeout)
                except Exception as error:
                    failures[type(error).__name__ + ": " + str(error)[:80]] += 1
                    c.closed = True

        started = time.time()
        await asyncio.gather(*(one(c) for c in self.conns))
        done = [c.connected_at for c in self.conns if not c.closed]
        return {
            "started": started,
            "finished": max(done, default=started),
            "connected_by_room": Counter(c.room for c in self.conns if not c.closed),
            "failures": dict(failures),
        }

    async def quiet(self, quiet: float, longest: float) -> float:
        """Wait until no room frame arrived for `quiet` seconds, at most `longest`; the
        seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < longest:
            if time.monotonic() - max(self.last_frame, started) >= quiet:
                break
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def drain(self, phase: int, expected: float, longest: float) -> float:
        """Wait until this worker's connections hold every delivery of the phase's
        messages, at most `longest`; the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < longest:
            hist = self.hist.get(phase)
            if (hist.total if hist else 0) >= expected:
                break
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    # Sending -----------------------------------------------------------------------------

    def _frame(self, c: _Conn, payload: str, n: int) -> str:
        if c.kind == OURS:
            client_id = f"{self.token}-{self.index}-{n}"
            return json.dumps({"type": "message.send", "body": payload, "client_id": client_id})
        if c.kind == TUTORIAL:
            return json.dumps({"message": payload})
        return payload

    async def send_phase(self, phase: int, rate: float, duration: float, t0: float) -> None:
        """Open loop: this worker's share of `rate` (messages/s over every sender), at even
        intervals, round robin over its senders, whatever the answers."""
        self.sent[phase] = Counter()
        lag = self.send_lag[phase] = Histogram()
        senders = [c for c in self.senders if not c.closed]
        end = t0 + duration
        self.window = (int(t0 * 1e9), int(end * 1e9))
        self.in_window = 0
        total_senders = self.control["total_senders"]
        if not senders or rate <= 0:
            await asyncio.sleep(max(0.0, end - time.time()))
            return
        interval = total_senders / (rate * len(self.senders))
        first = t0 + self.random.random() * interval  # workers do not send in step
        n = 0
        while True:
            due = first + n * interval
            if due >= end:
                break
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif n % 16 == 0:
                await asyncio.sleep(0)  # behind schedule: still let the readers run
            c = senders[n % len(senders)]
            payload = f'{{"t":{time.time_ns()},"p":{phase}}}'
            self.n += 1
            try:
                await c.ws.send(self._frame(c, payload, self.n))
            except ConnectionClosed:
                pass
            else:
                self.sent[phase][c.room] += 1
            lag.add(max(0.0, time.time() - due) * 1000)
            n += 1
        await asyncio.sleep(max(0.0, end - time.time()))

    # The final check (our server) ----------------------------------------------------------

    async def final_check(self, timeout: float) -> dict:
        """Ask every open connection the room's last seq (ping -> pong), then wait until
        each holds every seq up to it: what is still missing then is a gap."""
        deadline = time.monotonic() + timeout
        open_conns = [c for c in self.conns if not c.closed]
        for c in open_conns:
            with contextlib.suppress(ConnectionClosed):
                await c.ws.send('{"type":"ping","request_id":"final"}')
        for c in open_conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.pong.wait(), max(0.01, deadline - time.monotonic()))
        last_by_room: dict[str, int] = {}
        for c in open_conns:
            if c.final_last is not None:
                last_by_room[c.room] = max(last_by_room.get(c.room, 0), c.final_last)
        # A message may still be on its way behind the pong (the consumer answers a ping
        # while group messages wait in its queue).
        while time.monotonic() < deadline and any(
            c.missing_upto(last_by_room.get(c.room, 0)) for c in open_conns if not c.closed
        ):
            await asyncio.sleep(0.05)
        gaps = sum(c.missing_upto(last_by_room.get(c.room, 0)) for c in open_conns)
        return {
            "gaps": gaps,
            "connections_with_gaps": sum(
                1 for c in open_conns if c.missing_upto(last_by_room.get(c.room, 0))
            ),
            "no_pong": sum(1 for c in open_conns if c.final_last is None),
            "last_seq_by_room": last_by_room,
        }

    # The whole run -----------------------------------------------------------------------

    async def run(self) -> None:
        control = self.control
        long_wait = control["barrier_timeout"]
        await self.barrier(long_wait)  # ready
        connected = await self.connect_all(control["concurrency"], control["open_timeout"])
        self.queue.put(("connected", self.index, connected))
        await self.barrier(long_wait)  # everyone connected
        settle = await self.quiet(control["settle_quiet"], control["settle_max"])
        await self.barrier(long_wait + control["settle_max"])  # settled
        phase = 0
        while True:
            await self.barrier(long_wait)  # the parent has set the next phase
            if control["stop"].value:
                break
            rate, duration, t0 = (
                control["rate"].value,
                control["duration"].value,
                control["t0"].value,
            )
            self.phase = phase
            await self.send_phase(phase, rate, duration, t0)
            self.queue.put(("sent", self.index, dict(self.sent[phase])))
            await self.barrier(long_wait)  # everyone has sent
            await self.barrier(long_wait)  # the parent has worked out what each should get
            expected = control["expected"][self.index]
            drained = await self.drain(phase, expected, control["drain_max"])
            hist = self.hist.get(phase, Histogram())
            self.queue.put(
                (
                    "phase",
                    self.index,
                    {
                        "phase": phase,
                        "sent_by_room": dict(self.sent[phase]),
                        "in_time": hist.total,
                        "in_window": self.in_window,
                        "hist": hist.to_json(),
                        "send_lag": self.send_lag[phase].to_json(),
                        "drain_seconds": round(drained, 2),
                    },
                )
            )
            await self.barrier(long_wait + duration + control["drain_max"])  # phase end
            phase += 1
        check = {}
        if any(c.kind == OURS for c in self.conns):
            check = await self.final_check(control["final_timeout"])
        self.queue.put(
            (
                "final",
                self.index,
                {
                    "settle_seconds": round(settle, 2),
                    "hist": {p: h.to_json() for p, h in self.hist.items()},
                    "frames": dict(self.frames),
                    "errors": dict(self.errors),
                    "duplicates": self.duplicates,
                    "reordered": self.reordered,
                    "foreign": self.foreign,
                    "stray": self.stray,
                    "closed_during_run": Counter(
                        str(c.closed_code) for c in self.conns if c.closed and c.connected_at
                    ),
                    **check,
                },
            )
        )
        for c in self.conns:
            if c.ws is not None and not c.closed:
                c.ws.transport.abort()  # no closing handshakes: the server is stopped next


def _worker_main(index: int, specs: list[dict], control: dict, queue) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    worker = _Worker(index, specs, control, queue)
    with contextlib.suppress(threading.BrokenBarrierError):  # the parent gave up, and says why
        asyncio.run(worker.run())


# The parent's side -----------------------------------------------------------------------


def run_session(
    specs: list[dict],
    *,
    decide,
    server_pids: list[int],
    other_pids: dict[str, list[int]] | None = None,
    redis_client=None,
    workers: int = 2,
    concurrency: int = 25,
    open_timeout: float = 30.0,
    settle_quiet: float = 1.0,
    settle_max: float = 30.0,
    drain_max: float = 5.0,
    final_timeout: float = 10.0,
) -> dict:
    """Connect `specs` from `workers` processes, then run phases while
    `decide(phases_so_far)` returns (offered messages/s, seconds); None ends the session.
    Returns the measurements (see bench/README.md)."""
    context = multiprocessing.get_context("spawn")
    workers = max(1, min(workers, len(specs)))
    barrier = context.Barrier(workers + 1)
    control = {
        "barrier": barrier,
        "barrier_timeout": open_timeout * (1 + len(specs) / concurrency / workers) + 30,
        "stop": context.Value("b", 0),
        "rate": context.Value("d", 0.0),
        "duration": context.Value("d", 0.0),
        "t0": context.Value("d", 0.0),
        "total_senders": sum(1 for spec in specs if spec["sends"]),
        "concurrency": concurrency,
        "open_timeout": open_timeout,
        "settle_quiet": settle_quiet,
        "settle_max": settle_max,
        "drain_max": drain_max,
        "expected": context.Array("d", workers),
        "final_timeout": final_timeout,
    }
    queue = context.Queue()
    shares = [specs[i::workers] for i in range(workers)]
    processes = [
        context.Process(target=_worker_main, args=(i, shares[i], control, queue), daemon=True)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    client_pids = [process.pid for process in processes]
    finished = threading.Event()

    def watchdog() -> None:
        # A worker that dies would leave everyone waiting at the barrier until its timeout.
        while not finished.wait(0.5):
            if any(p.exitcode not in (None, 0) for p in processes):
                barrier.abort()
                return

    threading.Thread(target=watchdog, daemon=True).start()

    def snapshot() -> Snapshot:
        groups = {"server": server_pids, "clients": client_pids, **(other_pids or {})}
        return Snapshot(groups, redis_client)

    def wait(timeout: float) -> None:
        barrier.wait(timeout)

    def collect(kind: str, timeout: float) -> list[dict]:
        got = {}
        deadline = time.monotonic() + timeout
        while len(got) < workers:
            message_kind, index, body = queue.get(timeout=max(0.1, deadline - time.monotonic()))
            if message_kind != kind:
                raise RuntimeError(f"worker {index} sent {message_kind}, expected {kind}")
            got[index] = body
        return [got[i] for i in range(workers)]

    stages = {"start": time.monotonic()}
    try:
        wait(control["barrier_timeout"])  # ready
        stages["ready"] = time.monotonic()
        rss_before = sum(rss_kb(pid) for pid in server_pids)
        before_connect = snapshot()
        connected = collect("connected", control["barrier_timeout"])
        wait(30)  # everyone connected
        after_connect = snapshot()
        stages["connected"] = time.monotonic()
        wait(control["barrier_timeout"] + settle_max)  # settled
        settled = snapshot()
        rss_after = sum(rss_kb(pid) for pid in server_pids)
        stages["settled"] = time.monotonic()

        by_room = Counter()
        for report in connected:
            by_room.update(report["connected_by_room"])
        phases = []
        while True:
            plan = decide(phases)
            if plan is None:
                control["stop"].value = 1
                wait(30)
                break
            rate, duration = plan
            control["rate"].value = rate
            control["duration"].value = duration
            control["t0"].value = time.time() + 0.3
            wait(30)  # phase start
            start = snapshot()
            wait(control["barrier_timeout"] + duration)  # everyone has sent
            sent_by_room = Counter()
            for sent in collect("sent", 30):
                sent_by_room.update(sent)
            for index, report in enumerate(connected):
                control["expected"][index] = sum(
                    count * report["connected_by_room"].get(room, 0)
                    for room, count in sent_by_room.items()
                )
            wait(30)  # expected deliveries set
            wait(control["barrier_timeout"] + drain_max)  # phase end
            end = snapshot()
            reports = collect("phase", 30)
            phases.append(_phase_result(rate, duration, reports, by_room, end.since(start)))
        stages["phases"] = time.monotonic()
        finals = collect("final", final_timeout + 60)
        stages["final"] = time.monotonic()
        for process in processes:
            process.join(10)
        stages["joined"] = time.monotonic()
    finally:
        finished.set()
        barrier.abort()
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)

    connections = sum(by_room.values())
    started = min(report["started"] for report in connected)
    finished = max(report["finished"] for report in connected)
    failures = Counter()
    for report in connected:
        failures.update(report["failures"])
    _finalise_phases(phases, finals, by_room)
    closed = Counter()
    for final in finals:
        closed.update(final["closed_during_run"])
    return {
        "connections": connections,
        "connection_failures": dict(failures),
        "connect_seconds": round(finished - started, 2),
        "connections_per_second": round(connections / max(finished - started, 1e-6), 1),
        "connect_resources": after_connect.since(before_connect),
        "settle_seconds": max(final["settle_seconds"] for final in finals),
        "settled": max(final["settle_seconds"] for final in finals) < settle_max - 0.1,
        "settle_resources": settled.since(after_connect),
        "server_rss_kb_before": rss_before,
        "server_rss_kb_after": rss_after,
        "server_kb_per_connection": round((rss_after - rss_before) / max(connections, 1), 1),
        "phases": phases,
        "frames": dict(sum((Counter(final["frames"]) for final in finals), Counter())),
        "errors": dict(sum((Counter(final["errors"]) for final in finals), Counter())),
        "gaps": sum(final.get("gaps", 0) for final in finals),
        "connections_with_gaps": sum(final.get("connections_with_gaps", 0) for final in finals),
        "no_final_pong": sum(final.get("no_pong", 0) for final in finals),
        "duplicates": sum(final["duplicates"] for final in finals),
        "reordered": sum(final["reordered"] for final in finals),
        "foreign": sum(final["foreign"] for final in finals),
        "closed_during_run": dict(closed),
        "workers": workers,
        "stage_seconds": {
            name: round(stages[name] - previous, 2)
            for previous, name in zip(stages.values(), list(stages)[1:], strict=False)
        },
    }


def _phase_result(
    rate: float, duration: float, reports: list[dict], by_room: Counter, resources: dict
) -> dict:
    """What the parent knows of a phase when it ends (decisions are made on this)."""
    sent_by_room = Counter()
    hist = Histogram()
    lag = Histogram()
    for report in reports:
        sent_by_room.update(report["sent_by_room"])
        hist.merge(Histogram.from_json(report["hist"]))
        lag.merge(Histogram.from_json(report["send_lag"]))
    expected = sum(count * by_room[room] for room, count in sent_by_room.items())
    in_time = sum(report["in_time"] for report in reports)
    in_window = sum(report["in_window"] for report in reports)
    fanout = sum(by_room.values()) / max(len(by_room), 1)
    return {
        "offered_messages_per_second": round(rate, 2),
        "offered_deliveries_per_second": round(rate * fanout, 1),
        "seconds": duration,
        "sent": sum(sent_by_room.values()),
        "expected_deliveries": expected,
        "delivered_in_time": in_time,
        "delivered_fraction_in_time": round(in_time / expected, 4) if expected else None,
        "delivered_per_second": round(in_window / duration, 1),
        "latency_in_time": hist.summary(),
        "send_lag": lag.summary(),
        "drain_seconds": max(report["drain_seconds"] for report in reports),
        "resources": resources,
    }


def _finalise_phases(phases: list[dict], finals: list[dict], by_room: Counter) -> None:
    """Latency over every delivery of each phase's messages, late ones included."""
    for number, phase in enumerate(phases):
        hist = Histogram()
        for final in finals:
            data = final["hist"].get(number)
            if data is not None:
                hist.merge(Histogram.from_json(data))
        phase["delivered"] = hist.total
        phase["late"] = hist.total - phase["delivered_in_time"]
        phase["latency"] = hist.summary()
        resources = phase["resources"]
        if hist.total:
            cpu = resources["cpu_seconds"]
            phase["server_cpu_us_per_delivery"] = round(1e6 * cpu["server"] / hist.total, 1)
            phase["client_cpu_us_per_delivery"] = round(1e6 * cpu["clients"] / hist.total, 1)
            if "redis_commands" in resources:
                phase["redis_commands_per_delivery"] = round(
                    resources["redis_commands"] / hist.total, 4
                )


def default_workers() -> int:
    return max(2, min(4, (os.cpu_count() or 2)))
