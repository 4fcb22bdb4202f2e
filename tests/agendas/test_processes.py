"""The meeting socket across two real server processes (Daphne in subprocesses, real
WebSocket clients, PostgreSQL shared by both, Redis between them): concurrent commands
from both sides never corrupt the state — every client sees every version once, rising by
one, and the same final state — and a turn that runs out while the chair presses "next"
at that instant advances exactly once, many times over."""

import asyncio
import contextlib
import json
import time
from datetime import datetime

import pytest
from websockets.asyncio.client import connect

from tests.processes import run_python, server_env, servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.asyncio]


@pytest.fixture
def meeting_world(postgres_database):
    def make(members: int, turn_seconds: int = 60) -> dict:
        # In a subprocess, on PostgreSQL runs too: the tests are async, and the ORM will
        # not run in their event loop's thread.
        out = run_python(
            postgres_database, "-m", "tests.agendas.process_seed", str(members), str(turn_seconds)
        )
        seeded = json.loads(out.strip().splitlines()[-1])
        return {**seeded, "database": postgres_database}

    return make


class MeetingClient:
    """A member's socket on one server process: keeps every `meeting.state` by version."""

    def __init__(self, base: str, meeting: int, person: dict):
        self.url = base.replace("http", "ws", 1) + f"/ws/meetings/{meeting}/"
        self.origin = base
        self.person = person
        self.label = f"{person['name']}@{base}"
        self.states: dict[int, dict] = {}
        self.done: list[int] = []
        self.errors: list[dict] = []
        self.offset = 0.0  # the server clock minus the local clock, seconds

    async def __aenter__(self):
        self._socket = await connect(
            self.url,
            origin=self.origin,
            additional_headers={"Cookie": self.person["cookie"]},
            compression=None,
            proxy=None,
            open_timeout=5,
        ).__aenter__()
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc):
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._socket.close()

    async def _read(self):
        async for text in self._socket:
            frame = json.loads(text)
            if frame["type"] == "meeting.state":
                assert frame["version"] not in self.states or (
                    _same(self.states[frame["version"]], frame)
                ), f"{self.label}: two different states at version {frame['version']}"
                self.states[frame["version"]] = frame
                server = datetime.fromisoformat(frame["server_time"].replace("Z", "+00:00"))
                self.offset = server.timestamp() - time.time()
            elif frame["type"] == "command.done":
                self.done.append(frame["version"])
            elif frame["type"] == "error":
                self.errors.append(frame)

    async def send(self, frame: dict) -> None:
        await self._socket.send(json.dumps(frame))

    @property
    def latest(self) -> dict:
        return self.states[max(self.states)]

    async def wait_for(self, test, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not (self.states and test(self.latest)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.label}: no {what} within {timeout} s")
            await asyncio.sleep(0.02)


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "server_time"} == {
        k: v for k, v in b.items() if k != "server_time"
    }


def _contiguous(client: MeetingClient) -> None:
    versions = sorted(client.states)
    assert versions == list(range(versions[0], versions[-1] + 1)), (
        f"{client.label} missed versions: {sorted(set(range(versions[0], versions[-1])) - set(versions))}"  # noqa: E501
    )


async def test_concurrent_commands_on_two_processes_never_corrupt_the_state(
    meeting_world, redis_url, tmp_path
):
    world = meeting_world(6)
    chair, manager, people = world["chair"], world["manager"], world["members"]
    with servers(tmp_path, 2, **server_env(world, redis_url)) as [(a, _), (b, _)]:
        placements = [(chair, a), (manager, b), (people[1], a), (people[2], b), (people[3], b)]
        clients = [MeetingClient(base, world["meeting"], person) for person, base in placements]
        async with contextlib.AsyncExitStack() as stack:
            for client in clients:
                await stack.enter_async_context(client)
            present = {person["id"] for person, _base in placements}
            for client in clients:
                await client.wait_for(
                    lambda s: {p["id"] for p in s["present"]} == present, 10, "everyone present"
                )
            run_chair, run_manager = clients[0], clients[1]
            await run_chair.send({"type": "meeting.start"})
            await run_chair.wait_for(lambda s: s["status"] == "live", 5, "live")
            await run_chair.send({"type": "agenda.next"})
            await run_chair.wait_for(
                lambda s: s["items"][1]["id"] == s["current_item"], 5, "the roundtable"
            )
            await run_chair.send({"type": "roundtable.start", "order": "alphabetical"})
            await run_chair.wait_for(
                lambda s: s["roundtable"]["current_speaker"], 5, "the first speaker"
            )
            # Both sides at once: the chair moves turns on process A while the manager
            # changes the queue and extends turns on process B.
            ids = [p["id"] for p in people]

            async def chairing():
                for _ in range(4):
                    await run_chair.send({"type": "turn.next"})
                    await asyncio.sleep(0.01)

            async def managing():
                for user in ids[4:]:
                    await run_manager.send({"type": "queue.add", "user": user})
                    await run_manager.send({"type": "turn.extend"})
                    await asyncio.sleep(0.01)

            await asyncio.gather(chairing(), managing())
            sent = 4 + 2 * len(ids[4:])
            deadline = time.monotonic() + 10
            while len(run_chair.done) + len(run_chair.errors) < 4 or (
                len(run_manager.done) + len(run_manager.errors) < sent - 4
            ):
                assert time.monotonic() < deadline, "every command answered"
                await asyncio.sleep(0.05)
            final = max(max(c.done) for c in (run_chair, run_manager) if c.done)
            for client in clients:
                await client.wait_for(lambda s, v=final: s["version"] >= v, 10, "the last move")
            await asyncio.sleep(0.5)  # a late or doubled frame would have come by now

            for client in clients:
                _contiguous(client)
            top = max(max(c.states) for c in clients)
            finals = [c.states[top] for c in clients]
            assert all(_same(finals[0], other) for other in finals[1:])
            # No command was refused for a race: the conditional update re-read and applied.
            unexpected = [e for c in clients for e in c.errors if e["code"] != "extend_limit"]
            assert unexpected == []
            spoken = finals[0]["roundtable"]["done"]
            assert len(spoken) == len({p["id"] for p in spoken}) == 4


async def test_a_turn_runs_out_as_the_chair_presses_next_and_advances_exactly_once(
    meeting_world, redis_url, tmp_path
):
    turns = 6
    world = meeting_world(turns + 2, turn_seconds=1)
    chair, people = world["chair"], world["members"]
    with servers(tmp_path, 2, **server_env(world, redis_url)) as [(a, _), (b, _)]:
        # The chair's console on process A, members on both: both processes' clocks run.
        clients = [
            MeetingClient(a, world["meeting"], chair),
            MeetingClient(b, world["meeting"], people[1]),
            *(MeetingClient(b if n % 2 else a, world["meeting"], people[n]) for n in range(2, 8)),
        ]
        async with contextlib.AsyncExitStack() as stack:
            for client in clients:
                await stack.enter_async_context(client)
            console = clients[0]
            everyone = {p["id"] for p in people}
            await console.wait_for(
                lambda s: {p["id"] for p in s["present"]} == everyone, 10, "everyone present"
            )
            for frame in (
                {"type": "meeting.start"},
                {"type": "agenda.next"},
                {"type": "roundtable.start", "order": "alphabetical"},
            ):
                await console.send(frame)
                count = len(console.done)
                deadline = time.monotonic() + 5
                while len(console.done) == count:
                    assert time.monotonic() < deadline, frame
                    await asyncio.sleep(0.02)
            for _turn in range(turns):
                state = console.latest
                speaker = state["roundtable"]["current_speaker"]["id"]
                ends = datetime.fromisoformat(
                    state["roundtable"]["turn_ends_at"].replace("Z", "+00:00")
                ).timestamp()
                # Press "next" at the deadline, by the server's clock.
                await asyncio.sleep(max(0.0, ends - (time.time() + console.offset)))
                await console.send({"type": "turn.next", "speaker": speaker})
                await console.wait_for(
                    lambda s, who=speaker: (
                        s["roundtable"]["current_speaker"]
                        and s["roundtable"]["current_speaker"]["id"] != who
                    ),
                    5,
                    "the next speaker",
                )
            await asyncio.sleep(0.5)

            for client in clients:
                _contiguous(client)
            done = [p["id"] for p in console.latest["roundtable"]["done"]]
            # Each speaker once, in the queue's order, nobody skipped by a double advance.
            assert len(done) == len(set(done)) >= turns
            order = sorted(people, key=lambda p: p["name"].casefold())
            assert done == [p["id"] for p in order][: len(done)]
            assert console.errors == []
