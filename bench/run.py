"""Run the benchmark: `python -m bench.run [--quick] [--scenario NAME ...] [--duration S]`.

Our server (Daphne) on PostgreSQL + Redis and on the embedded defaults, and the two
baselines, under the same clients and the same offered load, one after the other on this
machine. Writes bench/results/<date>.json and .md (--quick: var/bench/results/) and prints
the Markdown. bench/README.md explains the figures.

Scenarios that use the same connections share one session (one server start, one round
of connecting and settling), one after the other: scenario 1 then the reconnect storm
(20 rooms x 25); the capacity search, the steps at fractions of its saturation, the big
meeting and the slow client (one room of 500). Between two of them every connection's
seqs are checked against the room's last, so each reports its own losses.
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import clients, report, servers

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("postgres", "embedded", "bare", "tutorial")
LABELS = {
    "postgres": "ours, PostgreSQL + Redis",
    "embedded": "ours, embedded (SQLite, in-memory layer)",
    "bare": "bare websockets",
    "tutorial": "Channels tutorial",
}
# BENCH_CHANNEL_LAYER (bench/settings.py) -> the class it selects.
LAYERS = {"pubsub": "RedisPubSubChannelLayer", "core": "RedisChannelLayer"}


@dataclass(frozen=True)
class Month:
    """Scenario 1, a typical month: rooms x members, each member sending every `period`
    seconds for `seconds`."""

    name = "month"
    rooms: int = 20
    members: int = 25
    period: float = 10.0
    seconds: float = 20.0
    settle_max: float = 30.0


@dataclass(frozen=True)
class Capacity:
    """Scenario 3: one room of `members`, offered load in steps of `seconds`, from `start`
    deliveries/s: doubled while p99 stays under half of `p99_limit_ms`, then x1.4;
    after the first failing step, once between it and the best passing one (or lower if
    even the first failed). A step fails when p99 passes `p99_limit_ms` or less than
    `in_time_min` of the deliveries arrived by the end of its drain. At most `max_steps`
    steps and `budget` seconds of steps."""

    name = "capacity"
    members: int = 500
    start: float = 1000.0
    seconds: float = 4.0
    max_steps: int = 10
    budget: float = 40.0
    p99_limit_ms: float = 250.0
    in_time_min: float = 0.99
    # Every join sends the room's whole online list to everyone in it: in a room of 500
    # that is 125,000 presence frames before the room is quiet.
    settle_max: float = 60.0


@dataclass(frozen=True)
class Saturation:
    """After the capacity search, open-loop steps of `seconds` at `fractions` of the
    saturation throughput (the search's peak: see saturation_base), each after the room
    went quiet (at most `quiet_max` s: the search's last step may have left a backlog)."""

    name = "saturation"
    fractions: tuple = (0.25, 0.5, 0.75, 0.9)
    seconds: float = 3.0
    quiet_max: float = 5.0


@dataclass(frozen=True)
class Meeting:
    """Scenario 2, a big meeting: the capacity room (every member in the side chat), each
    member sending a message every `period` seconds (open loop, spread over everyone), and
    one member sending `typing` every `typing` seconds, for `seconds`."""

    name = "meeting"
    period: float = 60.0
    typing: float = 1.0
    seconds: float = 20.0
    p99_target_ms: float = 150.0
    quiet_max: float = 10.0


@dataclass(frozen=True)
class Storm:
    """Scenario 4, a reconnect storm: scenario 1's connections (after `warmup` seconds of
    its load when scenario 1 did not run first); then the server is killed (SIGKILL)
    `kill_after` seconds into the storm and started again on the same port; every client
    reconnects with backoff (from `backoff_start` s, doubling, at most `backoff_cap` s,
    jitter x0.75-1.25) and resumes with ?after=. `senders` members keep sending
    `rate_per_sender` messages/s for `seconds`, resending what had no echo once back.
    Over when everyone resumed and every message came back, at most `timeout` s."""

    name = "storm"
    senders: int = 10
    rate_per_sender: float = 1.0
    warmup: float = 3.0
    kill_after: float = 1.0
    seconds: float = 6.0
    backoff_start: float = 0.4
    backoff_cap: float = 5.0
    timeout: float = 60.0
    target_seconds: float = 10.0


@dataclass(frozen=True)
class TwoProcesses:
    """Scenario 5: scenario 1's load for `seconds` with `processes` Daphne processes
    sharing Redis, the clients dealt round robin across them; with `capacity`, also a
    capacity search (steps of the capacity scenario, `capacity_budget` s)."""

    name = "two-processes"
    processes: int = 2
    seconds: float = 10.0
    capacity: bool = False
    capacity_budget: float = 30.0


@dataclass(frozen=True)
class SlowClient:
    """Scenario 6: in the capacity room, a phase of `seconds` at `fraction` of the
    saturation throughput (`deliveries`/s offered when no capacity search ran), bodies
    padded by `pad` characters, with `clients` slow clients (bench/slow.py) that never
    read after the handshake; then the same without them (the control). With
    `until_closed`, the phase with slow clients lasts until `after_close` seconds past the
    server's LIVE_SLOW_CLIENT_SECONDS (when it closes a client stuck that long), at most
    `max_seconds`, so that the close can be seen."""

    name = "slow-client"
    clients: int = 3
    seconds: float = 15.0
    fraction: float = 0.5
    deliveries: float = 2000.0
    pad: int = 3000
    quiet_max: float = 5.0
    until_closed: bool = True
    # The clock starts when the server first skips a frame for the client: after the
    # kernel's and Twisted's buffers (~125 KB) have filled, several seconds in.
    after_close: float = 12.0
    max_seconds: float = 40.0


@dataclass(frozen=True)
class Layers:
    """The channel-layer comparison: a short capacity search (at most `budget` s and
    `max_steps` steps, from half the main search's sustained rate) for each of `layers`
    the main capacity search did not use; with `month`, also scenario 1 with each."""

    name = "layers"
    layers: tuple = ("pubsub", "core")
    budget: float = 25.0
    max_steps: int = 6
    month: bool = False


FULL = {
    "month": Month(),
    "capacity": Capacity(),
    "saturation": Saturation(),
    "meeting": Meeting(),
    "storm": Storm(),
    "two-processes": TwoProcesses(),
    "slow-client": SlowClient(),
    "layers": Layers(),
}
QUICK = {
    "month": Month(rooms=2, members=4, period=1.0, seconds=2.0, settle_max=3.0),
    "capacity": Capacity(members=8, start=50.0, seconds=1.0, max_steps=2, settle_max=3.0),
    "saturation": Saturation(seconds=0.3, quiet_max=2.0),
    "meeting": Meeting(period=1.0, typing=1.0, seconds=2.0, quiet_max=2.0),
    "storm": Storm(senders=2, rate_per_sender=2.0, warmup=1.0, kill_after=0.3, seconds=2.0),
    "two-processes": TwoProcesses(seconds=2.0),
    "slow-client": SlowClient(
        clients=1, seconds=1.0, deliveries=40.0, pad=500, quiet_max=2.0, until_closed=False
    ),
    "layers": Layers(budget=3.0, max_steps=2),
}
# Which servers run which scenario by default (the issue asks for the others on ours
# only); an explicit --server runs every scenario it can.
DEFAULT_SERVERS = {
    "month": set(SERVERS),
    "capacity": set(SERVERS),
    "saturation": {"postgres", "bare", "tutorial"},
    "meeting": {"postgres"},
    "storm": {"postgres"},
    "two-processes": {"postgres"},
    "slow-client": {"postgres"},
    "layers": {"postgres"},
}
QUICK_SERVERS = {
    **DEFAULT_SERVERS,
    "saturation": {"embedded", "bare"},
    "meeting": {"embedded"},
    "storm": {"embedded"},
    "slow-client": {"embedded"},
}
# --extended: what the issue asks for if the time allows (over the 10 minutes).
EXTENDED_SERVERS = {
    **DEFAULT_SERVERS,
    "saturation": {"postgres", "embedded", "bare", "tutorial"},
    "meeting": {"postgres", "tutorial"},
}
POSSIBLE = {
    "storm": {"postgres", "embedded"},
    "two-processes": {"postgres"},
    "slow-client": {"postgres", "embedded"},
    "layers": {"postgres"},
}


# Plans: each scenario's decide(its phases so far, the session's phases) -> a plan or None


def month_plan(scenario: Month, tag: str = "month", seconds: float | None = None):
    senders = scenario.rooms * scenario.members

    def decide(mine, _everything):
        if mine:
            return None
        return {"rate": senders / scenario.period, "duration": seconds or scenario.seconds}

    return decide


def capacity_verdict(phase: dict, scenario: Capacity) -> str | None:
    """Why a step is past capacity, or None."""
    fraction = phase["delivered_fraction_in_time"]
    p99 = phase["latency_in_time"]["p99_ms"]
    if fraction is not None and fraction < scenario.in_time_min:
        return f"delivery fell behind ({100 * fraction:.1f} % delivered in time)"
    if p99 is not None and p99 > scenario.p99_limit_ms:
        return f"p99 {p99:.0f} ms > {scenario.p99_limit_ms:.0f} ms"
    lag = phase["send_lag"]["p99_ms"]
    if lag is not None and lag > 100:
        return f"clients fell behind their schedule (send lag p99 {lag:.0f} ms)"
    return None


def _step(rate: float, seconds: float) -> dict:
    # A slow rate gets a longer step (up to 3 of them), so that at least a few messages
    # make its percentiles.
    return {"rate": rate, "duration": round(min(max(seconds, 8 / rate), 3 * seconds), 1)}


def capacity_plan(scenario: Capacity, fanout: int):
    started: list[float] = []  # the first step's start: the budget is for steps only

    def decide(phases, _everything=None):
        if not started:
            started.append(time.monotonic())
        if not phases:
            return _step(scenario.start / fanout, scenario.seconds)
        last = phases[-1]
        verdict = capacity_verdict(last, scenario)
        if verdict:
            last["verdict"] = verdict
        if len(phases) >= scenario.max_steps or time.monotonic() - started[0] > scenario.budget:
            return None
        rate = last["offered_messages_per_second"]
        passed = [p["offered_messages_per_second"] for p in phases if "verdict" not in p]
        failed = [p["offered_messages_per_second"] for p in phases if "verdict" in p]
        if not failed:
            p99 = last["latency_in_time"]["p99_ms"] or 0.0
            return _step(rate * (2.0 if p99 < scenario.p99_limit_ms / 2 else 1.4), scenario.seconds)
        if not passed:  # even the start was too much: go down, three times at most
            return _step(rate / 2.5, scenario.seconds) if len(failed) <= 3 else None
        best, lowest_failed = max(passed), min(failed)
        if lowest_failed / best > 1.25:
            return _step(math.sqrt(best * lowest_failed), scenario.seconds)  # between the two
        return None

    return decide


def capacity_summary(phases: list[dict], scenario: Capacity) -> dict:
    passed = [phase for phase in phases if "verdict" not in phase]
    best = max(passed, key=lambda phase: phase["delivered_per_second"], default=None)
    floor = best["offered_messages_per_second"] if best else 0.0
    above = [p for p in phases if "verdict" in p and p["offered_messages_per_second"] > floor]
    broke = min(above, key=lambda phase: phase["offered_messages_per_second"], default=None)
    last = phases[-1]["offered_deliveries_per_second"] if phases else 0
    if broke is None:
        reason = f"not reached in {len(phases)} steps (the last offered {last:,.0f} deliveries/s)"
    elif best is None:
        reason = f"every step failed, the lowest too: {broke['verdict']}"
    else:
        reason = broke["verdict"]
    complete = [
        p["delivered_per_second"]
        for p in phases
        if (p["delivered_fraction_in_time"] or 0) >= scenario.in_time_min
    ]
    return {
        "steps": len(phases),
        "sustained_deliveries_per_second": best["delivered_per_second"] if best else None,
        "sustained_offered_deliveries_per_second": (
            best["offered_deliveries_per_second"] if best else None
        ),
        "p99_ms_at_sustained": best["latency"]["p99_ms"] if best else None,
        "server_cpu_us_per_delivery_at_sustained": (
            best.get("server_cpu_us_per_delivery") if best else None
        ),
        "redis_commands_per_delivery_at_sustained": (
            best.get("redis_commands_per_delivery") if best else None
        ),
        "broke_at_offered_deliveries_per_second": (
            broke["offered_deliveries_per_second"] if broke else None
        ),
        "reason": reason,
        # Throughput whatever the latency: the best step that still delivered everything.
        "peak_deliveries_per_second": max(complete, default=None),
    }


def saturation_base(phases: list[dict], scenario: Capacity) -> float | None:
    """The saturation throughput the fractions are of: the capacity search's peak (the
    highest delivered/s of a step that delivered everything by the end of its drain,
    whatever its latency); if no step did, the highest delivered/s of any step."""
    if not phases:
        return None
    complete = [
        p["delivered_per_second"]
        for p in phases
        if (p["delivered_fraction_in_time"] or 0) >= scenario.in_time_min
    ]
    return max(complete or [p["delivered_per_second"] for p in phases])


def saturation_plan(scenario: Saturation, capacity: Capacity, fanout: int):
    def decide(mine, everything):
        base = saturation_base([p for p in everything if p["tag"] == "capacity"], capacity)
        if not base or len(mine) >= len(scenario.fractions):
            return None
        fraction = scenario.fractions[len(mine)]
        return {
            **_step(base * fraction / fanout, scenario.seconds),
            "quiet": scenario.quiet_max,
            "fraction": fraction,
            "of_deliveries_per_second": base,
        }

    return decide


def meeting_plan(scenario: Meeting, members: int, typing: bool):
    def decide(mine, _everything):
        if mine:
            return None
        plan = {
            "rate": members / scenario.period,
            "duration": scenario.seconds,
            "quiet": scenario.quiet_max,
        }
        if typing:
            plan["typing"] = scenario.typing
        return plan

    return decide


def slow_plan(
    scenario: SlowClient, capacity: Capacity, fanout: int, close_after: float | None = None
):
    """The phase with the slow clients first, then the control. The slow clients join
    before any padded message: up to a46252e a history frame of 50 long messages went over
    Daphne's 64 KB frame limit (it bounds what the server sends too) and dropped the
    connection."""

    def decide(mine, everything):
        base = saturation_base([p for p in everything if p["tag"] == "capacity"], capacity)
        deliveries = base * scenario.fraction if base else scenario.deliveries
        plan = {
            "rate": deliveries / fanout,
            "duration": scenario.seconds,
            "pad": scenario.pad,
            "quiet": scenario.quiet_max,
        }
        if not mine:
            if scenario.until_closed and close_after:
                seconds = max(scenario.seconds, close_after + scenario.after_close)
                plan["duration"] = min(seconds, scenario.max_seconds)
            return {**plan, "slow": scenario.clients}
        if len(mine) == 1:
            return {**plan, "control": True}
        return None

    return decide


def storm_plan(scenario: Storm, month: Month):
    def decide(mine, everything):
        if any(p["kind"] == "storm" for p in mine):
            return None
        if not any(p["kind"] == "send" for p in everything):
            # Every client holds a last seq before the storm.
            return {
                "rate": month.rooms * month.members / month.period,
                "duration": scenario.warmup,
            }
        return {
            "kind": "storm",
            "senders": scenario.senders,
            "rate_per_sender": scenario.rate_per_sender,
            "kill_after": scenario.kill_after,
            "seconds": scenario.seconds,
            "backoff_start": scenario.backoff_start,
            "backoff_cap": scenario.backoff_cap,
            "timeout": scenario.timeout,
        }

    return decide


def program(segments: list[tuple[str, object]], checks: bool):
    """One decide() for a session that runs `segments` ((tag, decide) each) one after the
    other; with `checks`, a check of every connection's seqs between two of them."""
    state = {"index": 0, "start": 0}

    def decide(phases):
        while state["index"] < len(segments):
            tag, segment = segments[state["index"]]
            plan = segment(phases[state["start"] :], phases)
            if plan is not None:
                return {**plan, "tag": tag}
            ran = len(phases) > state["start"]
            state["index"] += 1
            state["start"] = len(phases)
            if checks and ran and state["index"] < len(segments):
                return {"kind": "check", "tag": tag}
        return None

    return decide


# Connections -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """`rooms` rooms of `members` connections each; rooms == 0: one room of `members`, for
    ours the community's room, which every benchmark member may read."""

    rooms: int
    members: int

    def pairs(self) -> list[tuple[int, int]]:
        """(room index, member index) of every connection."""
        if self.rooms:
            return [(r, m) for r in range(self.rooms) for m in range(self.members)]
        return [(0, m) for m in range(self.members)]


def baseline_specs(server: servers.Server, kind: str, layout: Layout) -> list[dict]:
    base = server.urls[0].replace("http", "ws", 1)
    specs = []
    for room, _member in layout.pairs():
        url = f"{base}/room-{room}" if kind == clients.BARE else f"{base}/ws/chat/room{room}/"
        specs.append(clients.connection_spec(url, f"room{room}", kind))
    return specs


def emails_needed(layout: Layout, seeded: dict, extra: int = 0) -> list[str]:
    """The members of `layout`'s connections, then `extra` more (the slow clients)."""
    rooms = seeded["rooms"]
    everyone = [email for room in rooms for email in room["members"]]
    if layout.rooms:
        return [rooms[r]["members"][m] for r, m in layout.pairs()]
    return everyone[: layout.members + extra]


def our_specs(server: servers.Server, layout: Layout, seeded: dict, cookies: dict) -> list[dict]:
    rooms = seeded["rooms"]
    emails = emails_needed(layout, seeded)
    specs = []
    for n, ((room, _member), email) in enumerate(zip(layout.pairs(), emails, strict=True)):
        room_id = rooms[room]["id"]
        url = server.urls[n % len(server.urls)]  # clients split across processes
        specs.append(
            clients.connection_spec(url, str(room_id), clients.OURS, cookie=cookies[email])
        )
    return specs


def slow_specs(server: servers.Server, layout: Layout, seeded: dict, cookies: dict, n: int):
    room_id = str(seeded["rooms"][0]["id"])
    extra = emails_needed(layout, seeded, n)[layout.members :]
    return [{"url": server.urls[0], "room": room_id, "cookie": cookies[e]} for e in extra]


# Sessions --------------------------------------------------------------------------------


@dataclass
class Session:
    """Scenarios that share one server start and one set of connections."""

    layout: Layout
    segments: list[tuple[str, object]]
    settle_max: float
    processes: int = 1
    env: dict = field(default_factory=dict)  # added to our server's
    slow: int = 0  # slow clients' members to sign in
    restart: bool = False
    extra: dict = field(default_factory=dict)  # copied into every entry

    @property
    def tags(self) -> list[str]:
        return [tag for tag, _ in self.segments]


_PER_SCENARIO = ("gaps", "connections_with_gaps", "duplicates", "reordered", "retry_echoes")


def split(result: dict, tags: list[str]) -> list[dict]:
    """One entry per scenario of a session: its phases, and its own losses (from the
    check that followed it, less the one before)."""
    shared = {
        k: v
        for k, v in result.items()
        if k not in ("phases", "checks", "errors", "foreign", *_PER_SCENARIO)
    }
    ends = {check["tag"]: check for check in result.get("checks", [])}
    previous = dict.fromkeys(_PER_SCENARIO, 0)
    entries = []
    for tag in tags:
        counts = ends.get(tag) if tag != tags[-1] else result
        counts = counts or previous
        phases = [p for p in result["phases"] if p["tag"] == tag]
        errors: dict[str, int] = {}
        for phase in phases:
            for code, n in phase.get("errors", {}).items():
                errors[code] = errors.get(code, 0) + n
        entry = {
            **shared,
            "scenario": tag,
            "phases": phases,
            "errors": errors,
            "session_errors": result["errors"],
            **{name: max(0, counts.get(name, 0) - previous[name]) for name in _PER_SCENARIO},
        }
        if len(tags) > 1:
            entry["session_scenarios"] = tags
        previous = {name: counts.get(name, 0) for name in _PER_SCENARIO}
        entries.append(entry)
    return entries


# Running ---------------------------------------------------------------------------------


class Runner:
    def __init__(self, args, scenarios: dict, work_dir: Path):
        self.args = args
        self.scenarios = scenarios
        self.work_dir = work_dir
        self.secret_key = secrets.token_urlsafe(50)
        self.password = secrets.token_urlsafe(12)
        self.runs: list[dict] = []
        self.effective: dict[str, dict] = {}  # by server: what its settings made of the env

    def _config(self, name: str):
        """The scenario's settings as this run has them (the defaults if not selected)."""
        return self.scenarios.get(name) or (QUICK if self.args.quick else FULL)[name]

    def wants(self, scenario: str, target: str) -> bool:
        if scenario not in self.scenarios:
            return False
        if self.args.explicit_servers:
            return target in POSSIBLE.get(scenario, set(SERVERS))
        if self.args.quick:
            defaults = QUICK_SERVERS
        else:
            defaults = EXTENDED_SERVERS if self.args.extended else DEFAULT_SERVERS
        return target in defaults[scenario]

    def sessions(self, target: str) -> list[Session]:
        """What `target` runs, grouped by the connections it needs."""
        s = self.scenarios
        month, capacity = self._config("month"), self._config("capacity")
        ours = target in ("postgres", "embedded")
        result = []
        by_rooms = Layout(month.rooms, month.members)
        segments = []
        if self.wants("month", target):
            segments.append(("month", month_plan(month)))
        if self.wants("storm", target) and ours:
            segments.append(("storm", storm_plan(s["storm"], month)))
        if segments:
            result.append(
                Session(by_rooms, segments, month.settle_max, restart="storm" in dict(segments))
            )
        one_room = Layout(0, capacity.members)
        segments, slow = [], 0
        search = self.wants("capacity", target) or (
            self.wants("saturation", target) and "capacity" not in s
        )
        if search:
            segments.append(("capacity", capacity_plan(capacity, capacity.members)))
        if self.wants("saturation", target):
            segments.append(
                ("saturation", saturation_plan(s["saturation"], capacity, capacity.members))
            )
        if self.wants("meeting", target):
            typing = target != "tutorial"  # the tutorial has no typing
            segments.append(("meeting", meeting_plan(s["meeting"], capacity.members, typing)))
        if self.wants("slow-client", target) and ours:
            slow = s["slow-client"].clients
            segments.append(
                (
                    "slow-client",
                    slow_plan(
                        s["slow-client"],
                        capacity,
                        capacity.members,
                        self.effective.get(target, {}).get("slow_client_seconds"),
                    ),
                )
            )
        if segments:
            result.append(Session(one_room, segments, capacity.settle_max, slow=slow))
        if self.wants("two-processes", target) and target == "postgres":
            two = s["two-processes"]
            segments = [("two-processes", month_plan(month, seconds=two.seconds))]
            result.append(
                Session(
                    by_rooms,
                    segments,
                    month.settle_max,
                    processes=two.processes,
                    extra={"month_scenario": vars_of(month)},
                )
            )
            if two.capacity:
                short = replace(capacity, budget=two.capacity_budget)
                segments = [("two-processes-capacity", capacity_plan(short, capacity.members))]
                result.append(
                    Session(
                        one_room,
                        segments,
                        capacity.settle_max,
                        processes=two.processes,
                        extra={"capacity_scenario": vars_of(short)},
                    )
                )
        return result

    def layer_sessions(self, main_layer: str) -> list[Session]:
        """The channel-layer comparison's sessions: the layers the main search did not
        measure."""
        layers = self.scenarios["layers"]
        capacity = self._config("capacity")
        main = next(
            (r for r in self.runs if r["server"] == "postgres" and r["scenario"] == "capacity"),
            None,
        )
        if main is not None and "error" in main:
            main = None
        sustained = main and main["capacity"]["sustained_deliveries_per_second"]
        short = replace(
            capacity,
            start=sustained / 2 if sustained else capacity.start,
            budget=layers.budget,
            max_steps=layers.max_steps,
        )
        month = self._config("month")
        result = []
        for name in layers.layers:
            if main and LAYERS[name] == main.get("channel_layer"):
                continue
            env = {"BENCH_CHANNEL_LAYER": name}
            segments = [("layers", capacity_plan(short, capacity.members))]
            extra = {"channel_layer": LAYERS[name], "capacity_scenario": vars_of(short)}
            one_room = Layout(0, capacity.members)
            result.append(Session(one_room, segments, capacity.settle_max, env=env, extra=extra))
            if layers.month:
                segments = [("layers-month", month_plan(month))]
                result.append(
                    Session(
                        Layout(month.rooms, month.members),
                        segments,
                        month.settle_max,
                        env=env,
                        extra={"channel_layer": LAYERS[name]},
                    )
                )
        return result

    def progress(self, phase: dict) -> None:
        if phase["kind"] == "storm":
            took = phase["killed_to_all_resumed_seconds"]
            line = (
                f"storm: {phase['resumed']}/{phase['disconnected']} resumed"
                + (f", all {took:.1f} s after the kill" if took is not None else "")
                + f"; {phase['messages_tried']} messages tried, "
                f"{phase['unconfirmed']} unconfirmed"
            )
        else:
            latency = phase["latency_in_time"]
            p99 = latency["p99_ms"]
            what = phase["tag"] + (" (warm-up)" if phase["tag"] == "storm" else "")
            line = (
                f"{what}: offered {phase['offered_deliveries_per_second']:,.0f}/s, "
                f"delivered {phase['delivered_per_second']:,.0f}/s, p99 "
                + ("-" if p99 is None else f"{p99:,.0f} ms")
            )
            if "slow_clients" in phase:
                closed = phase["slow_clients"]["closed_by_server"]
                line += f", slow clients closed by the server: {closed}"
        print(f"[bench]     {line}", file=sys.stderr, flush=True)

    def session(self, server: servers.Server, session: Session, specs, redis, **extra) -> dict:
        quick = self.args.quick
        checks = specs[0]["kind"] == clients.OURS if specs else False
        restart = None
        if session.restart:

            def restart():
                killed = server.kill(0)
                healthy = server.start(0)
                return {"killed_at": killed, "healthy_at": healthy}

        result = clients.run_session(
            specs,
            decide=program(session.segments, checks),
            server_pids=server.pids,
            other_pids={"redis": [redis.pid]} if redis is not None and redis.pid else None,
            redis_client=redis.client() if redis is not None else None,
            workers=self.args.workers,
            settle_quiet=0.3 if quick else 1.0,
            settle_max=session.settle_max,
            drain_max=2.0 if quick else 10.0,
            final_timeout=5.0 if quick else 15.0,
            restart=restart,
            progress=self.progress,
            **extra,
        )
        if not server.alive():
            result["server_died"] = server.log_tail()
        return result

    def record(self, target: str, session: Session, run) -> None:
        started = time.monotonic()
        names = " + ".join(session.tags)
        print(f"[bench] {LABELS[target]}: {names} ...", file=sys.stderr, flush=True)
        try:
            entries = split(run(), session.tags)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            print(f"[bench]   failed: {message}", file=sys.stderr, flush=True)
            entries = [{"scenario": tag, "error": message} for tag in session.tags]
        wall = round(time.monotonic() - started, 1)
        print(f"[bench]   done in {wall} s", file=sys.stderr, flush=True)
        for entry in entries:
            entry = {"server": target, "label": LABELS[target], **session.extra, **entry}
            entry["wall_seconds"] = wall
            if entry["scenario"] in CAPACITY_SEARCHES and ("error" not in entry):
                config = entry.get("capacity_scenario") or vars_of(self._config("capacity"))
                entry["capacity"] = capacity_summary(entry["phases"], capacity_of(config))
            self.runs.append(entry)

    def ours(self, deployment: servers.Deployment, redis) -> None:
        target = deployment.name
        effective = deployment.effective()
        self.effective[target] = effective
        sessions = self.sessions(target)
        main_layer = effective["channel_layer"]
        if target == "postgres" and self.wants("layers", target):
            sessions.append(None)  # decided after the main capacity search
        if not sessions:
            return
        # Members enough for every session: `rooms` rooms of `members` (scenario 1's
        # layout), and the one big room takes everyone in order (its slow clients too).
        layouts = [(s.layout, s.slow) for s in sessions if s is not None]
        if None in sessions:
            layouts.append((Layout(0, self._config("capacity").members), 0))
        rooms = max((layout.rooms for layout, _ in layouts), default=1) or 1
        members = max(
            layout.members if layout.rooms else math.ceil((layout.members + slow) / rooms)
            for layout, slow in layouts
        )
        seeded = deployment.seed(rooms=rooms, members=members, password=self.password)
        cache = ROOT / "var" / "bench" / f"sessions-{deployment.database}.json"
        processes_default = self.args.processes if target == "postgres" else 1
        try:
            queue = list(sessions)
            while queue:
                session = queue.pop(0)
                if session is None:
                    queue = self.layer_sessions(main_layer) + queue
                    continue
                processes = session.processes if session.processes > 1 else processes_default
                layer = session.extra.get("channel_layer", main_layer)

                def run(session=session, processes=processes, layer=layer):
                    with deployment.serve(processes, **session.env) as server:
                        emails = emails_needed(session.layout, seeded, session.slow)
                        cookies, signed = clients.sign_in(
                            server.urls[0], emails, self.password, cache
                        )
                        specs = our_specs(server, session.layout, seeded, cookies)
                        slow = slow_specs(server, session.layout, seeded, cookies, session.slow)
                        result = self.session(server, session, specs, redis, slow_specs=slow)
                        return {
                            "sign_in": signed,
                            "processes": processes,
                            "channel_layer": layer,
                            **result,
                        }

                self.record(target, session, run)
        finally:
            cache.unlink(missing_ok=True)  # its sessions die with the database

    def baseline(self, target: str, redis) -> None:
        for session in self.sessions(target):

            def run(session=session):
                if target == "bare":
                    context = servers.bare_server(self.work_dir)
                else:
                    context = servers.tutorial_server(
                        self.work_dir, redis.url if redis else "", self.args.tutorial_layer
                    )
                with context as server:
                    kind = clients.BARE if target == "bare" else clients.TUTORIAL
                    specs = baseline_specs(server, kind, session.layout)
                    layer_redis = redis if target == "tutorial" else None
                    result = self.session(server, session, specs, layer_redis)
                    if target == "tutorial":
                        result["channel_layer"] = self.args.tutorial_layer or (
                            "pubsub" if redis else "memory"
                        )
                    return result

            self.record(target, session, run)

    def run(self) -> None:
        wanted = self.args.servers
        needs_redis = "postgres" in wanted or (
            "tutorial" in wanted and self.args.tutorial_layer != "memory"
        )
        with contextlib.ExitStack() as stack:
            redis = None
            if needs_redis:
                redis = stack.enter_context(
                    servers.redis_server(self.work_dir / "redis", self.args.redis_url)
                )
            for target in wanted:
                if target == "postgres":
                    with servers.postgres_deployment(
                        self.work_dir,
                        redis.url,
                        secret_key=self.secret_key,
                        rate_limit=self.args.rate_limit,
                        admin_url=self.args.postgres_url,
                        channel_layer=self.args.channel_layer,
                    ) as deployment:
                        self.ours(deployment, redis)
                elif target == "embedded":
                    with servers.embedded_deployment(
                        self.work_dir, secret_key=self.secret_key, rate_limit=self.args.rate_limit
                    ) as deployment:
                        self.ours(deployment, None)
                else:
                    self.baseline(target, redis if target == "tutorial" else None)


# Machine ---------------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        memory_kb = int(meminfo.readline().split()[1])
    versions = {"python": platform.python_version()}
    from importlib.metadata import version

    for package in ("django", "channels", "channels-redis", "daphne", "websockets", "redis"):
        with contextlib.suppress(Exception):
            versions[package] = version(package)
    with contextlib.suppress(Exception):
        out = subprocess.run(
            ["redis-server", "--version"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
        versions["redis-server"] = out.split("v=")[1].split()[0]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (seconds, few clients)")
    parser.add_argument(
        "--scenario", action="append", choices=list(FULL), help="default: all of them"
    )
    parser.add_argument("--server", dest="servers", action="append", choices=SERVERS)
    parser.add_argument("--duration", type=float, help="seconds of scenario 1's sending")
    parser.add_argument(
        "--step", type=float, help="seconds of each capacity step (and saturation step)"
    )
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--processes", type=int, default=1, help="Daphne processes (PostgreSQL)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=int(os.environ.get("BENCH_RATE_LIMIT", 1000)),
        help="our server's messages per user per 10 s (default 1000, $BENCH_RATE_LIMIT)",
    )
    parser.add_argument("--channel-layer", choices=("pubsub", "core"), default="")
    parser.add_argument("--tutorial-layer", choices=("pubsub", "core", "memory"), default="")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--postgres-url", default=servers.DEFAULT_POSTGRES_URL)
    parser.add_argument("--results-dir", type=Path)
    parser.add_argument(
        "--extended",
        action="store_true",
        help="also the optional parts: the tutorial's meeting, the embedded server's "
        "saturation steps, scenario 1 with each channel layer, capacity with two processes "
        "(longer than 10 minutes)",
    )
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only rewrite the .md of a results file"
    )
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)

    scenarios = QUICK if args.quick else FULL
    scenarios = {name: s for name, s in scenarios.items() if name in (args.scenario or scenarios)}
    if args.duration and "month" in scenarios:
        scenarios["month"] = replace(scenarios["month"], seconds=args.duration)
    for name in ("capacity", "saturation"):
        if args.step and name in scenarios:
            scenarios[name] = replace(scenarios[name], seconds=args.step)
    if args.extended:
        if "layers" in scenarios:
            scenarios["layers"] = replace(scenarios["layers"], month=True)
        if "two-processes" in scenarios:
            scenarios["two-processes"] = replace(scenarios["two-processes"], capacity=True)
    args.explicit_servers = bool(args.servers)
    if not args.servers:
        args.servers = ["embedded", "bare"] if args.quick else list(SERVERS)
    results_dir = args.results_dir or (
        ROOT / "var" / "bench" / "results" if args.quick else ROOT / "bench" / "results"
    )

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # A terminated run still stops its servers (the context managers' exits run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    runner = Runner(args, scenarios, work_dir)
    try:
        runner.run()
    finally:
        keep = any("error" in run or "server_died" in run for run in runner.runs)
        if keep:
            print(f"[bench] logs kept in {work_dir}", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    info = machine()
    if "postgres" in args.servers:
        with contextlib.suppress(Exception):
            import psycopg

            with psycopg.connect(args.postgres_url, connect_timeout=5) as db:
                info["versions"]["postgresql"] = db.execute("SHOW server_version").fetchone()[0]
    now = datetime.datetime.now(datetime.UTC)
    results = {
        "date": now.date().isoformat(),
        "finished_at": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "wall_seconds": round(time.monotonic() - started, 1),
        "machine": info,
        "settings": {
            "rate_limit": f"{args.rate_limit} messages per user per 10 s (BENCH_RATE_LIMIT; "
            "the site's default is 10)",
            "password_hasher": "MD5 (a login costs microseconds instead of ~0.5 s)",
            "client_processes": args.workers,
            "extended": args.extended,
            "daphne_processes_postgres": args.processes,
            "channel_layer_ours": next(
                (
                    run["channel_layer"]
                    for run in runner.runs
                    if run["server"] == "postgres"
                    and run["scenario"] != "layers"
                    and "channel_layer" in run
                ),
                args.channel_layer or "the base settings' choice",
            ),
            # Passed through to our server from the environment, like any deployment's.
            "conn_max_age": (
                f"{runner.effective['postgres']['conn_max_age']} on PostgreSQL"
                if "postgres" in runner.effective
                else os.environ.get("CONN_MAX_AGE", "the base settings' default")
            ),
            "effective": runner.effective,
            "channel_layer_tutorial": args.tutorial_layer or "pubsub",
        },
        "scenarios": {name: vars_of(s) for name, s in scenarios.items()},
        "runs": runner.runs,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results["date"] + ("-quick" if args.quick else "")
    (results_dir / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    markdown = report.markdown(results)
    (results_dir / f"{stem}.md").write_text(markdown)
    print(markdown)
    print(f"[bench] wrote {results_dir / stem}.json and .md", file=sys.stderr)
    return 1 if any("error" in run for run in runner.runs) else 0


def render(path: Path) -> int:
    """Rewrite the Markdown of a results file (after a change to the report)."""
    results = json.loads(path.read_text())
    default = results["scenarios"].get("capacity")
    for run in results["runs"]:
        config = run.get("capacity_scenario") or default
        if run["scenario"] in CAPACITY_SEARCHES and "phases" in run and config:
            run["capacity"] = capacity_summary(run["phases"], capacity_of(config))
    path.write_text(json.dumps(results, indent=1) + "\n")
    markdown = report.markdown(results)
    path.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0


def vars_of(scenario) -> dict:
    return {"name": scenario.name, **scenario.__dict__}


CAPACITY_SEARCHES = ("capacity", "layers", "two-processes-capacity")


def capacity_of(fields: dict) -> Capacity:
    """A Capacity from its vars_of() (what the results file keeps)."""
    known = set(Capacity.__dataclass_fields__)
    return Capacity(**{k: v for k, v in fields.items() if k in known})


if __name__ == "__main__":
    sys.exit(main())
