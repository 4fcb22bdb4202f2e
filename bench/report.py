"""The Markdown report of a run's results (bench/README.md explains the columns)."""

OURS = ("postgres", "embedded")


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and digits == 0:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _integrity(run: dict, phase: dict) -> str:
    """lost / duplicated / reordered: our server's from the per-room seq, the baselines'
    (which have no seq) as deliveries that never came."""
    if run["server"] in OURS:
        return f"{run['gaps']} / {run['duplicates']} / {run['reordered']}"
    missing = phase["expected_deliveries"] - phase["delivered"]
    return f"{missing} / - / -"


def _ratio(ours, baseline) -> str:
    if not ours or not baseline:
        return "-"
    ratio = ours / baseline
    if ratio >= 10:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def markdown(results: dict) -> str:
    machine = results["machine"]
    settings = results["settings"]
    runs = results["runs"]
    out = [
        f"# Benchmark, {results['date']}" + (" (quick smoke run)" if results["quick"] else ""),
        "",
        f"Machine: {machine['nproc']} cores ({machine['cpu_model']}), "
        f"{machine['memory_gb']} GB; Python {machine['versions'].get('python')}, "
        f"Django {machine['versions'].get('django')}, Channels "
        f"{machine['versions'].get('channels')}, Daphne {machine['versions'].get('daphne')}, "
        f"websockets {machine['versions'].get('websockets')}. "
        f"Whole run: {results['wall_seconds']:.0f} s.",
        "",
        f"Our server's settings (bench/settings.py): rate limit {settings['rate_limit']}; "
        f"password hasher {settings['password_hasher']}; channel layer "
        f"{settings['channel_layer_ours']}; CONN_MAX_AGE {settings['conn_max_age']}. "
        f"Tutorial layer: {settings['channel_layer_tutorial']}. "
        f"{settings['client_processes']} client processes.",
        "",
    ]
    failed = [run for run in runs if "error" in run]
    for run in failed:
        out.append(f"**{run['label']}, {run['scenario']}: failed** — {run['error']}")
    if failed:
        out.append("")

    month = [r for r in runs if r["scenario"] == "month" and "error" not in r and r["phases"]]
    if month:
        s = results["scenarios"]["month"]
        out += [
            f"## Scenario 1: a typical month — {s['rooms']} rooms x {s['members']} members, "
            f"each sending every {s['period']:g} s, for {s['seconds']:g} s",
            "",
        ]
        rows = []
        for run in month:
            phase = run["phases"][0]
            resources = phase["resources"]
            latency = phase["latency"]
            rows.append(
                [
                    run["label"],
                    _n(run["connections"]),
                    _n(run["connections_per_second"]),
                    _n(run["server_kb_per_connection"]),
                    _n(phase["offered_messages_per_second"], 1),
                    _n(phase["delivered_per_second"]),
                    _n(latency["p50_ms"], 1),
                    _n(latency["p95_ms"], 1),
                    _n(latency["p99_ms"], 1),
                    _n(latency["max_ms"], 1),
                    _integrity(run, phase),
                    _n(resources["cpu_percent"]["server"]),
                    _n(phase.get("server_cpu_us_per_delivery")),
                    _n(resources["cpu_percent"]["clients"]),
                    _n(resources["cpu_percent"].get("redis")),
                    _n(resources["cpu_percent"]["rest_of_machine"]),
                    _n(phase.get("redis_commands_per_delivery"), 2),
                ]
            )
        out += _table(
            [
                "server",
                "conns",
                "conn/s",
                "KB/conn",
                "offered msg/s",
                "delivered/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "lost/dup/reord",
                "server CPU %",
                "server µs/delivery",
                "clients CPU %",
                "Redis CPU %",
                "rest CPU %",
                "Redis cmds/delivery",
            ],
            rows,
        )
        out.append("")

    capacity = [r for r in runs if r["scenario"] == "capacity" and "error" not in r]
    if capacity:
        s = results["scenarios"]["capacity"]
        out += [
            f"## Scenario 3: capacity — one room of {s['members']} members, offered load in "
            f"{s['seconds']:g} s steps from {s['start']:,.0f} deliveries/s (x2, then x1.4, then "
            f"between the best passing and the first failing step); a step fails when p99 > "
            f"{s['p99_limit_ms']:g} ms or under {100 * s['in_time_min']:g} % is delivered "
            "by the end of its drain",
            "",
        ]
        rows = []
        for run in capacity:
            c = run["capacity"]
            rows.append(
                [
                    run["label"],
                    _n(c["sustained_deliveries_per_second"]),
                    _n(c["p99_ms_at_sustained"], 1),
                    _n(c["server_cpu_us_per_delivery_at_sustained"]),
                    _n(c["broke_at_offered_deliveries_per_second"]),
                    c["reason"],
                    _n(c.get("peak_deliveries_per_second")),
                    _n(run["connections_per_second"]),
                    _n(run["server_kb_per_connection"]),
                    _n(run["settle_seconds"], 1)
                    + ("" if run.get("settled", True) else " (not quiet)"),
                ]
            )
        out += _table(
            [
                "server",
                "sustained deliveries/s",
                "p99 ms there",
                "server µs/delivery there",
                "broke at (offered/s)",
                "why",
                "peak delivered/s (any latency)",
                "conn/s",
                "KB/conn",
                "settle s",
            ],
            rows,
        )
        out.append("")
        for run in capacity:
            out += [f"Steps, {run['label']}:", ""]
            rows = []
            for phase in run["phases"]:
                resources = phase["resources"]
                fraction = phase["delivered_fraction_in_time"]
                rows.append(
                    [
                        f"{phase['seconds']:g}",
                        _n(phase["offered_deliveries_per_second"]),
                        _n(phase["delivered_per_second"]),
                        "-" if fraction is None else f"{100 * fraction:.1f}",
                        _n(phase["latency"]["p50_ms"], 1),
                        _n(phase["latency"]["p99_ms"], 1),
                        _n(phase["latency"]["max_ms"], 1),
                        _integrity(run, phase) if run["server"] not in OURS else "",
                        _n(resources["cpu_percent"]["server"]),
                        _n(phase.get("server_cpu_us_per_delivery")),
                        _n(resources["cpu_percent"]["clients"]),
                        _n(resources["cpu_percent"]["rest_of_machine"]),
                        phase.get("verdict", ""),
                    ]
                )
            out += _table(
                [
                    "s",
                    "offered/s",
                    "delivered/s",
                    "in time %",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "missing",
                    "server CPU %",
                    "server µs/delivery",
                    "clients CPU %",
                    "rest CPU %",
                    "verdict",
                ],
                rows,
            )
            if run["server"] in OURS:
                out.append(
                    f"Whole session: lost {run['gaps']}, duplicated {run['duplicates']}, "
                    f"reordered {run['reordered']}."
                )
            out.append("")

    out += _ratios(runs)
    out += _notes(runs)
    return "\n".join(out) + "\n"


def _find(runs, server, scenario):
    for run in runs:
        if run["server"] == server and run["scenario"] == scenario and "error" not in run:
            return run
    return None


def _ratios(runs: list[dict]) -> list[str]:
    rows = []
    for ours in OURS:
        for scenario, what in (("capacity", "capacity"), ("month", "scenario 1")):
            run = _find(runs, ours, scenario)
            if run is None:
                continue
            bare, tutorial = _find(runs, "bare", scenario), _find(runs, "tutorial", scenario)
            if scenario == "capacity":

                def sustained(r):
                    return r and r["capacity"]["sustained_deliveries_per_second"]

                rows.append(
                    [
                        f"{run['label']}: {what}, sustained deliveries/s",
                        _ratio(sustained(run), sustained(bare)),
                        _ratio(sustained(run), sustained(tutorial)),
                    ]
                )
            else:

                def p99(r):
                    return r and r["phases"] and r["phases"][0]["latency"]["p99_ms"]

                def cpu(r):
                    return r and r["phases"] and r["phases"][0].get("server_cpu_us_per_delivery")

                rows.append(
                    [
                        f"{run['label']}: {what}, p99 latency",
                        _ratio(p99(run), p99(bare)),
                        _ratio(p99(run), p99(tutorial)),
                    ]
                )
                rows.append(
                    [
                        f"{run['label']}: {what}, server CPU per delivery",
                        _ratio(cpu(run), cpu(bare)),
                        _ratio(cpu(run), cpu(tutorial)),
                    ]
                )
    if not rows:
        return []
    return [
        "## Ours against the baselines (ours ÷ baseline)",
        "",
        *_table(["", "÷ bare websockets", "÷ Channels tutorial"], rows),
        "",
    ]


def _notes(runs: list[dict]) -> list[str]:
    notes = []
    for run in runs:
        if "error" in run:
            continue
        where = f"{run['label']}, {run['scenario']}"
        if run.get("connection_failures"):
            notes.append(f"{where}: connections failed: {run['connection_failures']}")
        if run.get("closed_during_run"):
            notes.append(f"{where}: sockets closed during the run: {run['closed_during_run']}")
        if run.get("errors"):
            notes.append(f"{where}: error frames: {run['errors']}")
        if run.get("no_final_pong"):
            notes.append(
                f"{where}: {run['no_final_pong']} connections never answered the final ping"
            )
        if run.get("foreign"):
            notes.append(f"{where}: {run['foreign']} messages of another room")
        if run.get("server_died"):
            notes.append(f"{where}: the server died")
    if not notes:
        return []
    return ["## Notes", "", *[f"- {note}" for note in notes], ""]
