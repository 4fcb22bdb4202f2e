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

    month = _done(runs, "month")
    if month:
        s = results["scenarios"]["month"]
        out += [
            f"## Scenario 1: a typical month — {s['rooms']} rooms x {s['members']} members, "
            f"each sending every {s['period']:g} s, for {s['seconds']:g} s",
            "",
            *_month_table(month),
            "",
        ]
    out += _meeting(results)
    capacity = _done(runs, "capacity")
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

    out += _saturation(results)
    out += _storm(results)
    out += _two_processes(results)
    out += _slow_client(results)
    out += _layers(results)
    out += _ratios(runs)
    out += _notes(runs)
    return "\n".join(out) + "\n"


def _done(runs: list[dict], scenario: str) -> list[dict]:
    return [r for r in runs if r["scenario"] == scenario and "error" not in r and r["phases"]]


def _sends(run: dict) -> list[dict]:
    return [p for p in run["phases"] if p.get("kind", "send") == "send"]


def _month_table(runs: list[dict], label=None) -> list[str]:
    """Scenario 1's columns, one row per run (its first phase)."""
    rows = []
    for run in runs:
        phase = _sends(run)[0]
        resources = phase["resources"]
        latency = phase["latency"]
        rows.append(
            [
                label(run) if label else run["label"],
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
    return _table(
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


def _typing(phase: dict, run: dict) -> tuple[str, str]:
    typing = phase.get("typing")
    if not typing:
        return "- (no typing)", "-"
    if not typing["received"] and run.get("errors", {}).get("unknown_type"):
        return "not supported (unknown_type)", "-"
    latency = typing["latency"]
    received = (
        f"{typing['received_per_second']:,.1f} of {typing['expected_per_second']:,.1f}"
        f" ({typing['received']:,} of {typing['expected']:,})"
    )
    return received, f"{_n(latency['p50_ms'], 1)} / {_n(latency['p99_ms'], 1)}"


def _meeting(results: dict) -> list[str]:
    runs = _done(results["runs"], "meeting")
    if not runs:
        return []
    s = results["scenarios"]["meeting"]
    rows = []
    for run in runs:
        phase = _sends(run)[0]
        latency, resources = phase["latency"], phase["resources"]
        p99 = latency["p99_ms"]
        received, typing_latency = _typing(phase, run)
        rows.append(
            [
                run["label"],
                _n(run["connections"]),
                _n(phase["offered_messages_per_second"], 2),
                _n(phase["delivered_per_second"]),
                _n(latency["p50_ms"], 1),
                _n(latency["p95_ms"], 1),
                _n(p99, 1),
                _n(latency["max_ms"], 1),
                "-" if p99 is None else ("yes" if p99 < s["p99_target_ms"] else "**no**"),
                _integrity(run, phase),
                _n(resources["cpu_percent"]["server"]),
                _n(phase.get("server_cpu_us_per_delivery")),
                received,
                typing_latency,
            ]
        )
    return [
        f"## Scenario 2: a big meeting — one room of {runs[0]['connections']:,} members, each "
        f"sending a message every {s['period']:g} s (open loop), one member typing every "
        f"{s['typing']:g} s, for {s['seconds']:g} s",
        "",
        *_table(
            [
                "server",
                "members",
                "offered msg/s",
                "delivered/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                f"p99 < {s['p99_target_ms']:g} ms",
                "lost/dup/reord",
                "server CPU %",
                "server µs/delivery",
                "typing frames received/s (of expected)",
                "typing p50 / p99 ms",
            ],
            rows,
        ),
        "",
        "Typing latency is the arrival time less the typist's latest send (the frame carries "
        "no time): a latency over the typing interval would read short; the counts show it.",
        "",
    ]


def _saturation(results: dict) -> list[str]:
    runs = _done(results["runs"], "saturation")
    if not runs:
        return []
    out = [
        "## Latency at 25, 50, 75 and 90 % of the saturation throughput",
        "",
        "Open loop at fixed fractions of each server's saturation throughput: the capacity "
        "search's peak (the highest delivered/s of a step that delivered everything by the end "
        "of its drain, whatever its latency). Each step starts once the room is quiet.",
        "",
    ]
    for run in runs:
        phases = _sends(run)
        base = phases[0].get("of_deliveries_per_second")
        out += [f"{run['label']}: saturation {_n(base)} deliveries/s", ""]
        rows = []
        for phase in phases:
            fraction = phase["delivered_fraction_in_time"]
            latency, resources = phase["latency"], phase["resources"]
            rows.append(
                [
                    f"{100 * phase.get('fraction', 0):g} %",
                    _n(phase["offered_deliveries_per_second"]),
                    _n(phase["delivered_per_second"]),
                    "-" if fraction is None else f"{100 * fraction:.1f}",
                    _n(latency["p50_ms"], 1),
                    _n(latency["p95_ms"], 1),
                    _n(latency["p99_ms"], 1),
                    _n(latency["max_ms"], 1),
                    _integrity(run, phase) if run["server"] not in OURS else "",
                    _n(resources["cpu_percent"]["server"]),
                    _n(phase.get("server_cpu_us_per_delivery")),
                    _n(resources["cpu_percent"]["clients"]),
                ]
            )
        out += _table(
            [
                "load",
                "offered/s",
                "delivered/s",
                "in time %",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "missing",
                "server CPU %",
                "server µs/delivery",
                "clients CPU %",
            ],
            rows,
        )
        if run["server"] in OURS:
            out.append(
                f"Lost {run['gaps']}, duplicated {run['duplicates']}, reordered {run['reordered']}."
            )
        out.append("")
    return out


def _storm(results: dict) -> list[str]:
    runs = _done(results["runs"], "storm")
    if not runs:
        return []
    s = results["scenarios"]["storm"]
    rows = []
    for run in runs:
        phase = next((p for p in run["phases"] if p.get("kind") == "storm"), None)
        if phase is None:
            continue
        target = phase["healthy_to_all_resumed_seconds"]
        latency = phase["latency"]
        failures = ", ".join(f"{k} {v}" for k, v in phase["reconnect_failures"].items())
        rows.append(
            [
                run["label"],
                _n(phase["connections"]),
                _n(phase["killed_to_healthy_seconds"], 1),
                _n(phase["killed_to_all_resumed_seconds"], 1),
                _n(target, 1)
                + (
                    ""
                    if target is None
                    else (" (yes)" if target <= s["target_seconds"] else " (**no**)")
                ),
                f"{phase['resumed']:,} / {phase['disconnected']:,}",
                f"{phase['reconnect_attempts']:,} ({phase['reconnect_attempts_max']})",
                failures or "-",
                f"{phase['messages_tried']:,} ({phase['queued_while_down']:,} / "
                f"{phase['resent']:,})",
                f"{phase['unconfirmed']} / {phase['stored_twice']}",
                f"{run['gaps']} / {run['duplicates']} / {run['reordered']}",
                f"{_n(latency['p50_ms'], 0)} / {_n(latency['p99_ms'], 0)}",
            ]
        )
    return [
        f"## Scenario 4: reconnect storm — kill -9 of the server under "
        f"{rows[0][1] if rows else '-'} connections, restarted on the same port; clients "
        f"back off from {s['backoff_start']:g} s (doubling, at most {s['backoff_cap']:g} s, "
        f"jitter x0.75-1.25) and resume with ?after=; {s['senders']} members keep sending "
        f"{s['rate_per_sender']:g} message/s for {s['seconds']:g} s",
        "",
        *_table(
            [
                "server",
                "conns",
                "kill → /healthz s",
                "kill → all resumed s",
                f"/healthz → all resumed s (≤ {s['target_seconds']:g})",
                "resumed / dropped",
                "reconnect attempts (most by one)",
                "failed attempts",
                "messages tried (queued offline / resent)",
                "not back / stored twice",
                "lost/dup/reord seqs",
                "storm messages p50 / p99 ms",
            ],
            rows,
        ),
        "",
        "*Not back*: messages a sender tried whose client_id never came back (echo, resume or "
        "retry answer); *stored twice*: a client_id back with two seqs. Lost/dup/reord: every "
        "connection's seqs against the room's last (ping/pong) after the storm; the answers to "
        "retries of messages the resume already brought are not duplicates "
        "(their number is in the JSON, `retry_echoes`). Storm messages' latency runs from the "
        "first try, the outage included.",
        "",
    ]


def _two_processes(results: dict) -> list[str]:
    out = []
    runs = _done(results["runs"], "two-processes")
    if runs:
        s = results["scenarios"]["two-processes"]
        month = runs[0].get("month_scenario") or results["scenarios"].get("month") or {}
        out += [
            f"## Scenario 5: {s['processes']} Daphne processes sharing Redis — scenario 1's "
            f"load ({month.get('rooms', '?')} rooms x {month.get('members', '?')} members, each "
            f"sending every {month.get('period', 10):g} s) for {s['seconds']:g} s, clients "
            "dealt round robin across the processes",
            "",
            *_month_table(runs, lambda run: f"{run['label']}, {run['processes']} processes"),
            "",
        ]
    runs = [r for r in results["runs"] if r["scenario"] == "two-processes-capacity"]
    runs = [r for r in runs if "error" not in r]
    if runs:
        out += ["Capacity with two processes:", "", *_capacity_table(runs), ""]
    return out


def _rss(phase: dict) -> tuple[float | None, float | None]:
    """Growth of the server's resident memory over a phase, at its end and at most, MB."""
    samples = phase.get("server_rss_kb") or []
    if len(samples) < 2:
        return None, None
    first = samples[0][1]
    return (samples[-1][1] - first) / 1024, (max(kb for _, kb in samples) - first) / 1024


def _slow_client(results: dict) -> list[str]:
    runs = _done(results["runs"], "slow-client")
    if not runs:
        return []
    s = results["scenarios"]["slow-client"]
    out = [
        f"## Scenario 6: a slow client — in the capacity room, at "
        f"{100 * s['fraction']:g} % of the saturation throughput, bodies padded by {s['pad']:,} "
        f"characters, with {s['clients']} connections that stop reading after the handshake, "
        f"then without them ({s['seconds']:g} s, the control)",
        "",
    ]
    for run in runs:
        rows = []
        slow = None
        for phase in _sends(run):
            latency, resources = phase["latency"], phase["resources"]
            growth, peak = _rss(phase)
            slow = phase.get("slow_clients") or slow
            rows.append(
                [
                    "with slow clients" if phase.get("slow") else "control",
                    f"{phase['seconds']:g}",
                    _n(phase["offered_deliveries_per_second"]),
                    _n(phase["delivered_per_second"]),
                    _n(latency["p50_ms"], 1),
                    _n(latency["p95_ms"], 1),
                    _n(latency["p99_ms"], 1),
                    _n(latency["max_ms"], 1),
                    _n(growth, 1),
                    _n(peak, 1),
                    _n(resources["cpu_percent"]["server"]),
                    _n(phase.get("room_bytes_per_member", 0) / 1024, 0),
                ]
            )
        out += [
            f"{run['label']}:",
            "",
            *_table(
                [
                    "phase",
                    "s",
                    "offered/s",
                    "delivered/s (others)",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "server RSS growth MB",
                    "at most MB",
                    "server CPU %",
                    "KB due to each member",
                ],
                rows,
            ),
            "",
        ]
        if slow:
            out += _slow_lines(slow)
        out.append(
            f"Lost {run['gaps']}, duplicated {run['duplicates']}, reordered "
            f"{run['reordered']} (the members who read)."
        )
        out.append("")
    return out


def _slow_lines(slow: dict) -> list[str]:
    rows = []
    for n, each in enumerate(slow["each"], 1):
        after = each["closed_by_server_after"]
        if not each["joined"]:
            closed = f"never joined ({each['handshake_error'] or 'no room.state'})"
        elif after is None:
            closed = "no"
        else:
            closed = f"after {after:g} s ({each['closed_how']})"
        found = []
        if each.get("close_code") is not None:
            found.append(f"close {each['close_code']}")
        if each.get("slow_client_error"):
            found.append("error slow_client")
        if each.get("reset"):
            found.append("reset")
        elif each.get("eof"):
            found.append("end of stream")
        kernel = each["kernel_queued_at_end"]
        held = None if kernel is None else max(0, each["bytes_read_after"] - kernel)
        rows.append(
            [
                str(n),
                closed,
                _n(each["due_bytes"] / 1024, 0),
                "-" if kernel is None else _n(kernel / 1024, 0),
                _n(each["bytes_read_after"] / 1024, 0),
                "-" if held is None else _n(held / 1024, 0),
                ", ".join(found) or "-",
            ]
        )
    return [
        *_table(
            [
                "slow client",
                "closed by the server",
                "KB due during the phase",
                "KB in the kernel at the end",
                "KB read after the phase",
                "KB the server process held (read after, beyond the kernel's)",
                "found after the phase",
            ],
            rows,
        ),
        "",
        "The slow clients' sockets ask for a 4 KB receive buffer and 1,000-byte segments "
        "(so the kernel holds ~60-150 KB for them, not 4 MB); whether the server closed one "
        "is seen from /proc/net/tcp every second, without reading. What the server process "
        "held is what reading for 2 s after the phase brought beyond what the kernel held "
        "(a lower bound if the 2 s ran out). *Due* counts the room's frames during the "
        "phase, as a member who reads received them.",
        "",
    ]


def _capacity_table(runs: list[dict], label=None) -> list[str]:
    rows = []
    for run in runs:
        c = run["capacity"]
        rows.append(
            [
                label(run) if label else run["label"],
                _n(c["sustained_deliveries_per_second"]),
                _n(c["p99_ms_at_sustained"], 1),
                _n(c["server_cpu_us_per_delivery_at_sustained"]),
                _n(c.get("redis_commands_per_delivery_at_sustained"), 2),
                _n(c["broke_at_offered_deliveries_per_second"]),
                c["reason"],
                _n(c.get("peak_deliveries_per_second")),
                _n(c["steps"]),
                _n(run["settle_seconds"], 1) + ("" if run.get("settled", True) else " (not quiet)"),
            ]
        )
    return _table(
        [
            "server",
            "sustained deliveries/s",
            "p99 ms there",
            "server µs/delivery there",
            "Redis cmds/delivery there",
            "broke at (offered/s)",
            "why",
            "peak delivered/s (any latency)",
            "steps",
            "settle s",
        ],
        rows,
    )


def _layers(results: dict) -> list[str]:
    runs = [r for r in results["runs"] if r["server"] == "postgres" and "error" not in r]
    compared = [r for r in runs if r["scenario"] == "layers"]
    if not compared:
        return []
    main = [r for r in runs if r["scenario"] == "capacity"]
    rows = main + compared

    def label(run):
        where = "main search" if run["scenario"] == "capacity" else "short search"
        return f"{run.get('channel_layer', '?')} ({where})"

    out = [
        "## Channel layers: our server on PostgreSQL + Redis, capacity room",
        "",
        *_capacity_table(rows, label),
        "",
        "The short search starts at half the main search's sustained rate, so it reaches the "
        "limit in fewer steps.",
        "",
    ]
    months = [r for r in runs if r["scenario"] in ("month", "layers-month")]
    if any(r["scenario"] == "layers-month" for r in months):
        out += [
            "Scenario 1 with each layer:",
            "",
            *_month_table(months, lambda run: run.get("channel_layer", "?")),
            "",
        ]
    return out


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
        if run.get("errors"):
            notes.append(f"{where}: error frames: {run['errors']}")
        # What a session shares is noted once, under its first scenario.
        if run.get("session_scenarios", [run["scenario"]])[0] != run["scenario"]:
            continue
        if len(run.get("session_scenarios", [])) > 1:
            where = f"{run['label']}, {' + '.join(run['session_scenarios'])}"
        if run.get("connection_failures"):
            notes.append(f"{where}: connections failed: {run['connection_failures']}")
        if run.get("closed_during_run"):
            notes.append(f"{where}: sockets closed during the run: {run['closed_during_run']}")
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
