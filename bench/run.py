"""Run the benchmark: `python -m bench.run [--quick] [--scenario NAME ...] [--duration S]`.

Our server (Daphne) on PostgreSQL + Redis and on the embedded defaults, and the two
baselines, under the same clients and the same offered load, one after the other on this
machine. Writes bench/results/<date>.json and .md (--quick: var/bench/results/) and prints
the Markdown. bench/README.md explains the figures.
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
from dataclasses import dataclass, replace
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
    deliveries/s: doubled while p99 stays under a fifth of `p99_limit_ms`, then x1.4;
    after the first failing step, once between it and the best passing one (or lower if
    even the first failed). A step fails when p99 passes `p99_limit_ms` or less than
    `in_time_min` of the deliveries arrived by the end of its drain. At most `max_steps`
    steps and `budget` seconds of steps."""

    name = "capacity"
    members: int = 500
    start: float = 1000.0
    seconds: float = 4.0
    max_steps: int = 12
    budget: float = 75.0
    p99_limit_ms: float = 250.0
    in_time_min: float = 0.99
    # Every join sends the room's whole online list to everyone in it: in a room of 500
    # that is 125,000 presence frames before the room is quiet.
    settle_max: float = 90.0


FULL = {"month": Month(), "capacity": Capacity()}
QUICK = {
    "month": Month(rooms=2, members=4, period=1.0, seconds=2.0, settle_max=3.0),
    "capacity": Capacity(members=8, start=50.0, seconds=1.0, max_steps=2, settle_max=3.0),
}


# Plans -----------------------------------------------------------------------------------


def month_plan(scenario: Month):
    senders = scenario.rooms * scenario.members

    def decide(phases):
        return None if phases else (senders / scenario.period, scenario.seconds)

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


def capacity_plan(scenario: Capacity, fanout: int):
    started: list[float] = []  # the first step's start: the budget is for steps only

    def step(rate: float) -> tuple[float, float]:
        # A slow rate gets a longer step (up to 3 of them), so that at least a few
        # messages make its percentiles.
        return rate, round(min(max(scenario.seconds, 8 / rate), 3 * scenario.seconds), 1)

    def decide(phases):
        if not started:
            started.append(time.monotonic())
        if not phases:
            return step(scenario.start / fanout)
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
            return step(rate * (2.0 if p99 < scenario.p99_limit_ms / 5 else 1.4))
        if not passed:  # even the start was too much: go down, three times at most
            return step(rate / 2.5) if len(failed) <= 3 else None
        best, lowest_failed = max(passed), min(failed)
        if lowest_failed / best > 1.25:
            return step(math.sqrt(best * lowest_failed))  # between the two
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
        "broke_at_offered_deliveries_per_second": (
            broke["offered_deliveries_per_second"] if broke else None
        ),
        "reason": reason,
        # Throughput whatever the latency: the best step that still delivered everything.
        "peak_deliveries_per_second": max(complete, default=None),
    }


# Connections -----------------------------------------------------------------------------


def room_layout(scenario) -> list[tuple[int, int]]:
    """(room index, member index) of every connection."""
    if scenario.name == "month":
        return [(r, m) for r in range(scenario.rooms) for m in range(scenario.members)]
    return [(0, m) for m in range(scenario.members)]


def baseline_specs(server: servers.Server, kind: str, scenario) -> list[dict]:
    base = server.urls[0].replace("http", "ws", 1)
    specs = []
    for room, _member in room_layout(scenario):
        url = f"{base}/room-{room}" if kind == clients.BARE else f"{base}/ws/chat/room{room}/"
        specs.append(clients.connection_spec(url, f"room{room}", kind))
    return specs


def our_specs(server: servers.Server, scenario, seeded: dict, cookies: dict) -> list[dict]:
    rooms = seeded["rooms"]
    everyone = [email for room in rooms for email in room["members"]]
    specs = []
    for n, (room, member) in enumerate(room_layout(scenario)):
        if scenario.name == "month":
            email, room_id = rooms[room]["members"][member], rooms[room]["id"]
        else:  # one big room: the community's room, with every benchmark member
            email, room_id = everyone[member], rooms[0]["id"]
        url = server.urls[n % len(server.urls)]  # clients split across processes
        specs.append(
            clients.connection_spec(url, str(room_id), clients.OURS, cookie=cookies[email])
        )
    return specs


def emails_needed(scenario, seeded: dict) -> list[str]:
    rooms = seeded["rooms"]
    if scenario.name == "month":
        return [rooms[r]["members"][m] for r, m in room_layout(scenario)]
    everyone = [email for room in rooms for email in room["members"]]
    return everyone[: scenario.members]


# Running ---------------------------------------------------------------------------------


class Runner:
    def __init__(self, args, scenarios: dict, work_dir: Path):
        self.args = args
        self.scenarios = scenarios
        self.work_dir = work_dir
        self.secret_key = secrets.token_urlsafe(50)
        self.password = secrets.token_urlsafe(12)
        self.runs: list[dict] = []

    def session(self, server: servers.Server, scenario, specs: list[dict], redis) -> dict:
        if scenario.name == "month":
            decide = month_plan(scenario)
        else:
            decide = capacity_plan(scenario, len(specs))
        quick = self.args.quick
        result = clients.run_session(
            specs,
            decide=decide,
            server_pids=server.pids,
            other_pids={"redis": [redis.pid]} if redis is not None and redis.pid else None,
            redis_client=redis.client() if redis is not None else None,
            workers=self.args.workers,
            settle_quiet=0.3 if quick else 1.0,
            settle_max=scenario.settle_max,
            drain_max=2.0 if quick else 10.0,
            final_timeout=5.0 if quick else 15.0,
        )
        if scenario.name == "capacity":
            result["capacity"] = capacity_summary(result["phases"], scenario)
        if not server.alive():
            result["server_died"] = server.log_tail()
        return result

    def record(self, target: str, scenario, run) -> None:
        started = time.monotonic()
        entry = {"server": target, "label": LABELS[target], "scenario": scenario.name}
        print(f"[bench] {LABELS[target]}: {scenario.name} ...", file=sys.stderr, flush=True)
        try:
            entry.update(run())
        except Exception as error:
            entry["error"] = f"{type(error).__name__}: {error}"
            print(f"[bench]   failed: {entry['error']}", file=sys.stderr, flush=True)
        entry["wall_seconds"] = round(time.monotonic() - started, 1)
        print(f"[bench]   done in {entry['wall_seconds']} s", file=sys.stderr, flush=True)
        self.runs.append(entry)

    def ours(self, deployment: servers.Deployment, redis) -> None:
        month = self.scenarios.get("month")
        capacity = self.scenarios.get("capacity")
        rooms = month.rooms if month else 1
        members = max(
            month.members if month else 0, math.ceil(capacity.members / rooms) if capacity else 0
        )
        seeded = deployment.seed(rooms=rooms, members=members, password=self.password)
        cache = ROOT / "var" / "bench" / f"sessions-{deployment.database}.json"
        processes = self.args.processes if deployment.name == "postgres" else 1
        try:
            for scenario in self.scenarios.values():

                def run(scenario=scenario):
                    with deployment.serve(processes) as server:
                        emails = emails_needed(scenario, seeded)
                        cookies, signed = clients.sign_in(
                            server.urls[0], emails, self.password, cache
                        )
                        specs = our_specs(server, scenario, seeded, cookies)
                        result = self.session(server, scenario, specs, redis)
                        return {"sign_in": signed, "processes": processes, **result}

                self.record(deployment.name, scenario, run)
        finally:
            cache.unlink(missing_ok=True)  # its sessions die with the database

    def baseline(self, target: str, redis) -> None:
        for scenario in self.scenarios.values():

            def run(scenario=scenario):
                if target == "bare":
                    context = servers.bare_server(self.work_dir)
                else:
                    context = servers.tutorial_server(
                        self.work_dir, redis.url if redis else "", self.args.tutorial_layer
                    )
                with context as server:
                    kind = clients.BARE if target == "bare" else clients.TUTORIAL
                    specs = baseline_specs(server, kind, scenario)
                    layer_redis = redis if target == "tutorial" else None
                    result = self.session(server, scenario, specs, layer_redis)
                    if target == "tutorial":
                        result["channel_layer"] = self.args.tutorial_layer or (
                            "pubsub" if redis else "memory"
                        )
                    return result

            self.record(target, scenario, run)

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
        "--scenario", action="append", choices=sorted(FULL), help="default: all of them"
    )
    parser.add_argument("--server", dest="servers", action="append", choices=SERVERS)
    parser.add_argument("--duration", type=float, help="seconds of scenario 1's sending")
    parser.add_argument("--step", type=float, help="seconds of each capacity step")
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
        "--render", type=Path, metavar="JSON", help="only rewrite the .md of a results file"
    )
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)

    scenarios = QUICK if args.quick else FULL
    scenarios = {name: s for name, s in scenarios.items() if name in (args.scenario or scenarios)}
    if args.duration and "month" in scenarios:
        scenarios["month"] = replace(scenarios["month"], seconds=args.duration)
    if args.step and "capacity" in scenarios:
        scenarios["capacity"] = replace(scenarios["capacity"], seconds=args.step)
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
            "daphne_processes_postgres": args.processes,
            "channel_layer_ours": args.channel_layer or "pubsub (the base settings' choice)",
            # Passed through to our server from the environment, like any deployment's.
            "conn_max_age": os.environ.get("CONN_MAX_AGE", "0 (the base settings' default)"),
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
    if "capacity" in results["scenarios"]:
        fields = dict(results["scenarios"]["capacity"])
        fields.pop("name", None)
        scenario = Capacity(**fields)
        for run in results["runs"]:
            if run["scenario"] == "capacity" and "phases" in run:
                run["capacity"] = capacity_summary(run["phases"], scenario)
        path.write_text(json.dumps(results, indent=1) + "\n")
    markdown = report.markdown(results)
    path.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0


def vars_of(scenario) -> dict:
    return {"name": scenario.name, **scenario.__dict__}


if __name__ == "__main__":
    sys.exit(main())
