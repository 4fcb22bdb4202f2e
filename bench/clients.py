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
import datetime
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

from bench import slow
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
        self.ready = asyncio.Event()  # ours: room.state and history (or the resume) received
        self.gone = asyncio.Event()  # the socket closed
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
        # Reconnecting (scenario 4).
        self.server_time = ""  # of the last room.state, heartbeat or pong
        self.resuming = False
        self.attempts = 0
        self.disconnected_at: float | None = None
        self.resumed_at: float | None = None

    def missing_upto(self, last: int) -> int:
        if self.start_seq is None:
            return 0
        received = (self.contiguous - self.start_seq) + sum(1 for seq in self.ahead if seq <= last)
        return max(0, (last - self.start_seq) - received)

    @property
    def usable(self) -> bool:
        return not self.closed and self.ready.is_set() and not self.resuming


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
        self.retry_echoes = 0  # a retried message's answer, when the resume brought it too
        self.foreign = 0
        self.stray = 0  # deliveries with no phase tag (not ours)
        self.readers: set[asyncio.Task] = set()
        self.tasks: set[asyncio.Task] = set()
        # Typing (scenario 2): the first connection of worker 0 types; everyone counts
        # the typing frames and times them against the typist's last send (shared).
        self.typist = self.conns[0] if index == 0 and self.conns else None
        self.typing_sent = 0
        self.typing_received = 0
        self.typing_hist = Histogram()
        # Bytes of room-wide frames one connection received (scenario 6: what a member
        # who does not read is due).
        self.observer = self.conns[0] if index == 0 and self.conns else None
        self.observed_bytes = 0
        self.observed_frames = 0
        # The reconnect storm's outbox: client_id -> [connection, frame, socket sent on,
        # client_id].
        self.outbox: dict[str, list] = {}
        self.tried: dict[str, set[int]] = {}  # client_id -> the seqs it came back with
        self.retried: dict[str, _Conn] = {}
        self.reconnect_failures = Counter()

    # Barrier across processes ------------------------------------------------------------

    async def barrier(self, timeout: float) -> None:
        await asyncio.to_thread(self.control["barrier"].wait, timeout)

    def _task(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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

    def _typing(self, c: _Conn, now: float) -> None:
        if c is self.typist:
            return  # the bare baseline echoes to the sender too
        self.typing_received += 1
        sent = self.control["typing_sent"].value
        if sent:
            self.typing_hist.add(max(0.0, now - sent) * 1000)

    def _on_ours(self, c: _Conn, raw: bytes, now_ns: int) -> str:
        # Presence lists grow with the room and are not measured: not parsed.
        if raw.startswith(b'{"type":"presence"'):
            self.frames["presence"] += 1
            self.last_frame = time.monotonic()
            return "presence"
        frame = json.loads(raw)
        kind = frame.get("type")
        self.frames[kind] += 1
        if kind not in ("heartbeat", "pong"):
            # Each connection's own heartbeat never stops: the room is quiet without it.
            self.last_frame = time.monotonic()
        if kind == "message.new":
            self._message(c, frame["message"], now_ns, live=True)
        elif kind == "typing":
            self._typing(c, now_ns / 1e9)
        elif kind == "room.state":
            c.server_time = frame.get("server_time", "")
            if c.start_seq is None:
                c.start_seq = c.contiguous = c.max_seq = frame["last_seq"]
            elif c.resuming:
                self._task(self._flush(c))  # as the page does: resend what had no echo
        elif kind == "history":
            if c.resuming or frame.get("after") is not None:
                # A resume's pages, or the answer to a history.fetch: count what is new.
                for message in frame["messages"]:
                    self._message(c, message, now_ns, live=False)
                if frame["has_more"]:
                    self._task(self._fetch(c))
                elif c.resuming:
                    c.resuming = False
                    c.ready.set()
                    self._task(self._flush(c))  # sent while the resume was under way
            elif not c.ready.is_set():
                last = max((m["seq"] for m in frame["messages"]), default=0)
                c.start_seq = c.contiguous = c.max_seq = max(c.start_seq or 0, last)
                c.ready.set()
        elif kind == "heartbeat":
            c.server_time = frame.get("server_time", c.server_time)
        elif kind == "pong":
            c.server_time = frame.get("server_time", c.server_time)
            c.final_last = frame["last_seq"]
            c.pong.set()
        elif kind == "error":
            self.errors[frame.get("code", "?")] += 1
        return kind

    def _message(self, c: _Conn, message: dict, now_ns: int, *, live: bool) -> None:
        if str(message["room"]) != c.room:
            self.foreign += 1
            return
        client_id = message.get("client_id")
        if client_id in self.tried:
            self.tried[client_id].add(message["seq"])
            self.outbox.pop(client_id, None)
        retried = self.retried.get(client_id) is c
        if self._seq(c, message["seq"], live=live, retried=retried):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                self._delivered(json.loads(message["body"]), now_ns)

    def _seq(self, c: _Conn, seq: int, *, live: bool = True, retried: bool = False) -> bool:
        """Count `seq` in; False if it was already there. Only live frames count as
        duplicates or reordered: history pages may overlap by design."""
        if seq <= c.contiguous or seq in c.ahead:
            if live and retried:
                self.retry_echoes += 1  # the server's answer to a retry: expected
            elif live:
                self.duplicates += 1
            return False
        if live and seq < c.max_seq:
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
        ws, ready, gone = c.ws, c.ready, c.gone
        kind = c.kind
        observer = c is self.observer
        try:
            while True:
                raw = await ws.recv(decode=False)
                now_ns = time.time_ns()
                if kind == OURS:
                    what = self._on_ours(c, raw, now_ns)
                    if observer and what not in ("heartbeat", "pong"):
                        self.observed_bytes += len(raw) + 4  # + the frame's header
                        self.observed_frames += 1
                elif raw.startswith(b'{"type":"typing"'):
                    self.last_frame = time.monotonic()
                    self.frames["typing"] += 1
                    self._typing(c, now_ns / 1e9)
                else:
                    self.last_frame = time.monotonic()
                    self.frames["message"] += 1
                    frame = json.loads(raw)
                    payload = frame if kind == BARE else json.loads(frame["message"])
                    self._delivered(payload, now_ns)
        except ConnectionClosed:
            pass
        finally:
            if c.ws is ws:  # not a socket already replaced by a reconnection
                c.closed = True
                c.closed_code = ws.close_code
                c.pong.set()
            ready.set()
            gone.set()

    # Connecting --------------------------------------------------------------------------

    def _resume_query(self, c: _Conn) -> str:
        """?after=<last seq held>&changed_since=<server time - 30 s>, as the page does."""
        query = {"after": c.contiguous}
        with contextlib.suppress(ValueError):
            since = datetime.datetime.fromisoformat(c.server_time.replace("Z", "+00:00"))
            since -= datetime.timedelta(seconds=30)
            query["changed_since"] = since.isoformat().replace("+00:00", "Z")
        return "?" + urlencode(query)

    async def _open(self, c: _Conn, timeout: float, *, resume: bool = False) -> None:
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
        c.ready, c.gone = asyncio.Event(), asyncio.Event()
        c.closed, c.closed_code, c.resuming = False, None, resume
        if c.kind == OURS:
            url = spec["url"].replace("http", "ws", 1) + f"/ws/rooms/{c.room}/"
            if resume:
                url += self._resume_query(c)
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
        if not c.connected_at:
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

    async def send_phase(self, phase: int, plan: dict, t0: float) -> None:
        """Open loop: this worker's share of the plan's rate (messages/s over every
        sender), at even intervals, round robin over its senders, whatever the answers;
        and the typist's typing frames if the plan has them."""
        rate, duration = plan["rate"], plan["duration"]
        pad = ',"x":"' + "x" * plan["pad"] + '"' if plan.get("pad") else ""
        self.sent[phase] = Counter()
        lag = self.send_lag[phase] = Histogram()
        senders = [c for c in self.senders if not c.closed]
        end = t0 + duration
        self.window = (int(t0 * 1e9), int(end * 1e9))
        self.in_window = 0
        typing = None
        if plan.get("typing") and self.typist is not None and self.typist.kind != TUTORIAL:
            typing = asyncio.create_task(self._type(self.typist, plan["typing"], t0, end))
        total_senders = self.control["total_senders"]
        if not senders or rate <= 0:
            await asyncio.sleep(max(0.0, end - time.time()))
            if typing is not None:
                await typing
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
            payload = f'{{"t":{time.time_ns()},"p":{phase}{pad}}}'
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
        if typing is not None:
            await typing

    async def _type(self, c: _Conn, interval: float, t0: float, end: float) -> None:
        """A `typing` frame every `interval` seconds; its send time is shared with every
        worker, which times the typing frames they receive against it."""
        k = 0
        while (due := t0 + 0.05 + k * interval) < end:
            await asyncio.sleep(max(0.0, due - time.time()))
            self.control["typing_sent"].value = time.time()
            try:
                await c.ws.send('{"type":"typing"}')
            except ConnectionClosed:
                return
            self.typing_sent += 1
            k += 1

    # The reconnect storm (scenario 4) ----------------------------------------------------

    async def storm(self, plan: dict, t0: float) -> dict:
        """The parent kills the server meanwhile and starts it again on the same port.
        Every connection that drops reconnects with backoff and jitter and resumes with
        ?after=<its last seq>; a few senders keep sending throughout, keeping what had no
        echo in an outbox that is resent (same client_id) once they are back. Over when
        the server is back, every dropped connection has resumed and every message tried
        came back (or at `timeout`)."""
        number = plan["number"]
        self.phase = number
        deadline = t0 + plan["timeout"]
        send_end = t0 + plan["seconds"]
        live = [c for c in self.conns if c.connected_at and not c.closed and c.kind == OURS]
        for c in live:
            c.attempts, c.disconnected_at, c.resumed_at = 0, None, None
        keepers = [asyncio.create_task(self._keep(c, plan, deadline)) for c in live]
        workers = self.control["workers"]
        share = plan["senders"] // workers + (1 if self.index < plan["senders"] % workers else 0)
        senders = [c for c in self.senders if c in live][:share]
        tried_before = set(self.tried)
        stats = Counter()
        sending = [
            asyncio.create_task(self._storm_sender(c, plan, number, t0, send_end, stats))
            for c in senders
        ]
        while time.time() < deadline:
            await asyncio.sleep(0.05)
            if time.time() < send_end or not self.control["restarted"].value:
                continue
            dropped = [c for c in live if c.disconnected_at]
            if all(c.resumed_at and not c.closed for c in dropped) and not self.outbox:
                break
        for task in (*keepers, *sending):
            task.cancel()
        await asyncio.gather(*keepers, *sending, return_exceptions=True)
        mine = {cid: seqs for cid, seqs in self.tried.items() if cid not in tried_before}
        dropped = [c for c in live if c.disconnected_at]
        return {
            "connections": len(live),
            "disconnected": len(dropped),
            "resumed": sum(1 for c in dropped if c.resumed_at and not c.closed),
            "first_disconnected_at": min((c.disconnected_at for c in dropped), default=None),
            "resumed_at": [c.resumed_at for c in dropped if c.resumed_at],
            "attempts": [c.attempts for c in dropped],
            "failures": dict(self.reconnect_failures),
            "tried": len(mine),
            "queued_while_down": stats["queued"],
            "resent": stats["resent"],
            "unconfirmed": sum(1 for seqs in mine.values() if not seqs),
            "stored_twice": sum(1 for seqs in mine.values() if len(seqs) > 1),
        }

    async def _keep(self, c: _Conn, plan: dict, deadline: float) -> None:
        """Reconnect `c` whenever it drops, until the storm is over."""
        while time.time() < deadline:
            await c.gone.wait()
            c.disconnected_at = c.disconnected_at or time.time()
            c.resumed_at = None
            attempt = 0
            while time.time() < deadline:
                # As a browser would: 0.3-0.5 s, doubling, at most `cap`, +-25 % jitter.
                delay = min(plan["backoff_cap"], plan["backoff_start"] * 2**attempt)
                await asyncio.sleep(delay * self.random.uniform(0.75, 1.25))
                attempt += 1
                c.attempts += 1
                try:
                    await self._open(c, max(0.5, min(15.0, deadline - time.time())), resume=True)
                except Exception as error:
                    self.reconnect_failures[type(error).__name__] += 1
                    if c.ws is not None and not c.closed:
                        c.ws.transport.abort()
                    c.closed = True
                    continue
                c.resumed_at = time.time()
                break

    async def _storm_sender(
        self, c: _Conn, plan: dict, number: int, t0: float, end: float, stats: Counter
    ) -> None:
        interval = 1.0 / plan["rate_per_sender"]
        due = t0 + self.random.random() * interval
        while due < end:
            await asyncio.sleep(max(0.0, due - time.time()))
            self.n += 1
            client_id = f"{self.token}-{self.index}-{self.n}"
            body = f'{{"t":{time.time_ns()},"p":{number}}}'
            frame = json.dumps({"type": "message.send", "body": body, "client_id": client_id})
            self.tried[client_id] = set()
            self.outbox[client_id] = entry = [c, frame, None, client_id]
            if c.usable:
                await self._send_entry(entry, stats)
            else:
                stats["queued"] += 1  # offline: sent once the socket is back
            due += interval

    async def _send_entry(self, entry: list, stats: Counter) -> None:
        c, frame, sent_on, client_id = entry
        if sent_on is not None:
            self.retried[client_id] = c
            stats["resent"] += 1
        entry[2] = c.ws
        with contextlib.suppress(ConnectionClosed):
            await c.ws.send(frame)

    async def _flush(self, c: _Conn) -> None:
        """Send what `c` has in the outbox and has not sent on this socket."""
        stats = self._flush_stats
        for client_id, entry in list(self.outbox.items()):
            if entry[0] is c and entry[2] is not c.ws and client_id in self.outbox:
                await self._send_entry(entry, stats)

    async def _fetch(self, c: _Conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            await c.ws.send(
                json.dumps({"type": "history.fetch", "after": c.contiguous, "limit": 100})
            )

    # The check of every seq (our server) ---------------------------------------------------

    async def final_check(self, timeout: float) -> dict:
        """Ask every open connection the room's last seq (ping -> pong), then wait until
        each holds every seq up to it: what is still missing then is a gap. Also run
        between scenarios that share a session: the counts are since the session began."""
        deadline = time.monotonic() + timeout
        open_conns = [c for c in self.conns if not c.closed and c.kind == OURS]
        for c in open_conns:
            c.final_last = None
            c.pong.clear()
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

    def _counters(self) -> dict:
        return {
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "retry_echoes": self.retry_echoes,
            "foreign": self.foreign,
        }

    # The whole run -----------------------------------------------------------------------

    async def run(self) -> None:
        control = self.control
        long_wait = control["barrier_timeout"]
        self._flush_stats = Counter()
        await self.barrier(long_wait)  # ready
        connected = await self.connect_all(control["concurrency"], control["open_timeout"])
        self.queue.put(("connected", self.index, connected))
        await self.barrier(long_wait)  # everyone connected
        settle = await self.quiet(control["settle_quiet"], control["settle_max"])
        await self.barrier(long_wait + control["settle_max"])  # settled
        while True:
            await self.barrier(long_wait)  # the parent has set the next plan
            plan = json.loads(control["plan"].value)
            kind = plan["kind"]
            if kind == "stop":
                break
            frames, errors = self.frames.copy(), self.errors.copy()
            self.observed_bytes = self.observed_frames = 0
            typing_sent, typing_received = self.typing_sent, self.typing_received
            self.typing_hist = Histogram()
            quiet = 0.0
            if plan.get("quiet"):
                quiet = await self.quiet(control["settle_quiet"], plan["quiet"])
            await self.barrier(long_wait + plan.get("quiet", 0))  # everyone ready
            await self.barrier(long_wait)  # go: the parent has set t0
            t0 = control["t0"].value
            if kind == "check":
                check = await self.final_check(control["final_timeout"])
                self.queue.put(("check", self.index, {**check, **self._counters()}))
                await self.barrier(long_wait + control["final_timeout"])  # check end
                continue
            if kind == "storm":
                self._flush_stats = Counter()
                report = await self.storm(plan, t0)
                report["resent"] += self._flush_stats["resent"]
                report["errors"] = dict(self.errors - errors)
                self.queue.put(("storm", self.index, report))
                await self.barrier(long_wait + plan["timeout"])  # storm end
                continue
            phase = plan["number"]
            self.phase = phase
            await self.send_phase(phase, plan, t0)
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
                        "quiet_seconds": round(quiet, 2),
                        "frames": dict(self.frames - frames),
                        "errors": dict(self.errors - errors),
                        "typing_sent": self.typing_sent - typing_sent,
                        "typing_room": self.typist.room if self.typist else None,
                        "typing_received": self.typing_received - typing_received,
                        "typing_hist": self.typing_hist.to_json(),
                        "observed_bytes": self.observed_bytes,
                        "observed_frames": self.observed_frames,
                    },
                )
            )
            await self.barrier(long_wait + plan["duration"] + control["drain_max"])  # end
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
                    "stray": self.stray,
                    "closed_during_run": Counter(
                        str(c.closed_code) for c in self.conns if c.closed and c.connected_at
                    ),
                    **self._counters(),
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

PLAN_BYTES = 8192


def _plan(plan) -> dict:
    """A plan as `decide` returns it: (offered messages/s, seconds), or a dict with
    `kind` "send" (the default: rate, duration; optionally typing: seconds between the
    typist's frames, pad: characters added to each body, slow: slow clients to open,
    quiet: seconds to wait at most for the room to go quiet first), "storm" (see
    _Worker.storm) or "check" (every connection's seqs against the room's last)."""
    if isinstance(plan, tuple):
        rate, duration = plan
        plan = {"rate": rate, "duration": duration}
    return {"kind": "send", "tag": "", **plan}


class _Sampler(threading.Thread):
    """Every second of a phase: the server processes' resident memory and, when there
    are any, the slow clients' sockets seen from the kernel."""

    def __init__(self, pids: list[int], slow_clients: list, started: float):
        super().__init__(daemon=True)
        self.pids, self.slow_clients, self.started = pids, slow_clients, started
        self.rss: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while True:
            self.rss.append(
                (round(time.time() - self.started, 2), sum(rss_kb(pid) for pid in self.pids))
            )
            slow.watch(self.slow_clients, self.started)
            if self.stop.wait(1.0):
                return

    def finish(self) -> list[tuple[float, int]]:
        self.stop.set()
        self.join(5)
        self.rss.append(
            (round(time.time() - self.started, 2), sum(rss_kb(pid) for pid in self.pids))
        )
        return self.rss


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
    slow_specs: list[dict] | None = None,
    restart=None,
    progress=None,
) -> dict:
    """Connect `specs` from `workers` processes, then run phases while
    `decide(phases_so_far)` returns a plan (see _plan); None ends the session.
    `slow_specs` are the connections a plan's `slow` opens (bench/slow.py); `restart()`
    kills the server and starts it again for a storm, and returns when and how; `progress`
    is told each phase's result. Returns the measurements (see bench/README.md)."""
    context = multiprocessing.get_context("spawn")
    workers = max(1, min(workers, len(specs)))
    barrier = context.Barrier(workers + 1)
    control = {
        "barrier": barrier,
        "barrier_timeout": open_timeout * (1 + len(specs) / concurrency / workers) + 30,
        "plan": context.Array("c", PLAN_BYTES),
        "t0": context.Value("d", 0.0),
        "typing_sent": context.RawValue("d", 0.0),
        "restarted": context.Value("b", 0),
        "workers": workers,
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

    def set_plan(plan: dict) -> None:
        data = json.dumps(plan).encode()
        if len(data) >= PLAN_BYTES:
            raise ValueError("plan too long")
        control["plan"].value = data

    slow_clients: list[slow.SlowClient] = []
    stages = {"start": time.monotonic()}
    phases: list[dict] = []
    checks: list[dict] = []
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
        while True:
            plan = decide(phases)
            if plan is None:
                set_plan({"kind": "stop"})
                wait(30)
                break
            plan = _plan(plan)
            kind = plan["kind"]
            if kind != "check":
                plan["number"] = len(phases)
            set_plan(plan)
            wait(30)  # the plan is set
            opened = []
            if plan.get("slow"):
                for spec in (slow_specs or [])[: plan["slow"]]:
                    client = slow.SlowClient(spec["url"], spec["room"], spec["cookie"])
                    slow_clients.append(client)
                    opened.append(client)
                    with contextlib.suppress(OSError):
                        client.open()
            wait(30 + plan.get("quiet", 0))  # everyone ready (the room quiet if asked)
            control["t0"].value = t0 = time.time() + 0.3
            wait(30)  # go
            if kind == "check":
                wait(final_timeout + 30)  # check end
                checks.append({"tag": plan["tag"], "workers": collect("check", 30)})
                continue
            start = snapshot()
            sampler = _Sampler(server_pids, opened, t0)
            sampler.start()
            if kind == "storm":
                time.sleep(max(0.0, t0 + plan["kill_after"] - time.time()))
                timing = restart()
                control["restarted"].value = 1
                wait(control["barrier_timeout"] + plan["timeout"])  # storm end
                end = snapshot()
                reports = collect("storm", 30)
                control["restarted"].value = 0
                phase = _storm_result(plan, reports, timing, end.since(start))
                phase["server_rss_kb"] = sampler.finish()
                phases.append(phase)
                if progress:
                    progress(phase)
                continue
            duration = plan["duration"]
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
            rss = sampler.finish()
            reports = collect("phase", 30)
            phase = _phase_result(plan, reports, by_room, end.since(start))
            phase["server_rss_kb"] = rss
            if opened:
                phase["slow_clients"] = _slow_result(opened, t0, phase)
            phases.append(phase)
            if progress:
                progress(phase)
        stages["phases"] = time.monotonic()
        finals = collect("final", final_timeout + 60)
        stages["final"] = time.monotonic()
        for process in processes:
            process.join(10)
        stages["joined"] = time.monotonic()
    finally:
        finished.set()
        barrier.abort()
        for client in slow_clients:
            client.abort()
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
        "checks": [_check_result(check) for check in checks],
        "frames": dict(sum((Counter(final["frames"]) for final in finals), Counter())),
        "errors": dict(sum((Counter(final["errors"]) for final in finals), Counter())),
        "gaps": sum(final.get("gaps", 0) for final in finals),
        "connections_with_gaps": sum(final.get("connections_with_gaps", 0) for final in finals),
        "no_final_pong": sum(final.get("no_pong", 0) for final in finals),
        "duplicates": sum(final["duplicates"] for final in finals),
        "reordered": sum(final["reordered"] for final in finals),
        "retry_echoes": sum(final["retry_echoes"] for final in finals),
        "foreign": sum(final["foreign"] for final in finals),
        "closed_during_run": dict(closed),
        "workers": workers,
        "stage_seconds": {
            name: round(stages[name] - previous, 2)
            for previous, name in zip(stages.values(), list(stages)[1:], strict=False)
        },
    }


def _check_result(check: dict) -> dict:
    """A check between two scenarios of one session: counts since the session began."""
    reports = check["workers"]
    return {
        "tag": check["tag"],
        **{
            name: sum(report[name] for report in reports)
            for name in (
                "gaps",
                "connections_with_gaps",
                "no_pong",
                "duplicates",
                "reordered",
                "retry_echoes",
                "foreign",
            )
        },
    }


def _phase_result(plan: dict, reports: list[dict], by_room: Counter, resources: dict) -> dict:
    """What the parent knows of a phase when it ends (decisions are made on this)."""
    rate, duration = plan["rate"], plan["duration"]
    sent_by_room = Counter()
    hist = Histogram()
    lag = Histogram()
    typing_hist = Histogram()
    frames, errors = Counter(), Counter()
    for report in reports:
        sent_by_room.update(report["sent_by_room"])
        hist.merge(Histogram.from_json(report["hist"]))
        lag.merge(Histogram.from_json(report["send_lag"]))
        typing_hist.merge(Histogram.from_json(report["typing_hist"]))
        frames.update(report["frames"])
        errors.update(report["errors"])
    expected = sum(count * by_room[room] for room, count in sent_by_room.items())
    in_time = sum(report["in_time"] for report in reports)
    in_window = sum(report["in_window"] for report in reports)
    fanout = sum(by_room.values()) / max(len(by_room), 1)
    result = {
        "tag": plan["tag"],
        "kind": "send",
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
        "quiet_seconds": max(report["quiet_seconds"] for report in reports),
        "frames": dict(frames),
        "errors": dict(errors),
        "resources": resources,
    }
    for key in ("fraction", "of_deliveries_per_second", "pad", "slow", "control"):
        if key in plan:
            result[key] = plan[key]
    if plan.get("typing"):
        sent = sum(report["typing_sent"] for report in reports)
        room = next((r["typing_room"] for r in reports if r["typing_room"] is not None), None)
        expected_typing = sent * max(0, by_room.get(room, 0) - 1)
        received = sum(report["typing_received"] for report in reports)
        result["typing"] = {
            "interval": plan["typing"],
            "sent": sent,
            "expected": expected_typing,
            "received": received,
            "received_per_second": round(received / duration, 1),
            "expected_per_second": round(expected_typing / duration, 1),
            # Receive time - the typist's last send: under-reads a latency over `interval`.
            "latency": typing_hist.summary(),
        }
    observed = sum(report["observed_bytes"] for report in reports)
    if observed:
        result["room_bytes_per_member"] = observed
        result["room_frames_per_member"] = sum(report["observed_frames"] for report in reports)
    return result


def _slow_result(clients: list, t0: float, phase: dict) -> dict:
    """What became of the slow clients: when the server closed them (seen from the
    kernel's table while nothing was read), what was queued in the kernel for them at the
    end, what they were due, and what reading afterwards found."""
    last = slow.watch(clients, t0)
    with ThreadPoolExecutor(len(clients)) as pool:
        after = list(pool.map(lambda client: client.finish(), clients))
    due = phase.get("room_bytes_per_member", 0)
    each = []
    for client, sample, read in zip(clients, last, after, strict=True):
        kernel = sample["kernel_queued"] if sample["client_state"] == "ESTABLISHED" else None
        each.append(
            {
                "joined": client.joined,
                "handshake_error": client.handshake_error,
                "closed_by_server_after": (
                    round(client.closed_at - t0, 1) if client.closed_at else None
                ),
                "closed_how": client.closed_how,
                "state_at_end": {
                    "client": sample["client_state"],
                    "server": sample["server_state"],
                },
                "kernel_queued_at_end": kernel,
                "due_bytes": due,
                # What reading afterwards brought beyond what the kernel held at the end:
                # what the server process was keeping for it (at least).
                "held_by_server_bytes": (
                    max(0, read["bytes_read_after"] - kernel) if kernel is not None else None
                ),
                "samples": client.samples,
                **read,
            }
        )
    return {
        "clients": len(clients),
        "joined": sum(1 for client in clients if client.joined),
        "closed_by_server": sum(1 for e in each if e["closed_by_server_after"] is not None),
        "each": each,
    }


def _storm_result(plan: dict, reports: list[dict], timing: dict, resources: dict) -> dict:
    resumed_at = sorted(t for report in reports for t in report["resumed_at"])
    attempts = [a for report in reports for a in report["attempts"]]
    killed, healthy = timing["killed_at"], timing["healthy_at"]
    disconnected = sum(report["disconnected"] for report in reports)
    resumed = sum(report["resumed"] for report in reports)
    everyone = resumed_at[-1] if resumed_at and resumed == disconnected else None
    failures, errors = Counter(), Counter()
    for report in reports:
        failures.update(report["failures"])
        errors.update(report["errors"])

    def total(name):
        return sum(report[name] for report in reports)

    return {
        "tag": plan["tag"],
        "kind": "storm",
        "seconds": round(resources["seconds"], 1),
        "connections": total("connections"),
        "disconnected": disconnected,
        "resumed": resumed,
        "killed_to_healthy_seconds": round(healthy - killed, 2),
        "killed_to_all_resumed_seconds": round(everyone - killed, 2) if everyone else None,
        "healthy_to_all_resumed_seconds": round(everyone - healthy, 2) if everyone else None,
        "healthy_to_half_resumed_seconds": (
            round(resumed_at[len(resumed_at) // 2] - healthy, 2) if resumed_at else None
        ),
        "reconnect_attempts": sum(attempts),
        "reconnect_attempts_max": max(attempts, default=0),
        "reconnect_failures": dict(failures),
        "messages_tried": total("tried"),
        "queued_while_down": total("queued_while_down"),
        "resent": total("resent"),
        "unconfirmed": total("unconfirmed"),
        "stored_twice": total("stored_twice"),
        "errors": dict(errors),
        "backoff": {
            "start": plan["backoff_start"],
            "cap": plan["backoff_cap"],
            "jitter": "x0.75-1.25",
        },
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
        phase["latency"] = hist.summary()
        if phase["kind"] != "send":
            continue
        phase["late"] = hist.total - phase["delivered_in_time"]
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
