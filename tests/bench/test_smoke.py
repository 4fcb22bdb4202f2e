"""The benchmark harness's smoke run (`python -m bench.run --quick`), so that it cannot rot.

A benchmark is not a timed test: nothing here asserts a figure, only that the run
completes, writes its results, and that nothing was lost or duplicated.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.ci_once
def test_bench_quick_run_completes_without_loss_or_duplicates(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    [path] = tmp_path.glob("*-quick.json")
    assert (tmp_path / path.name.replace(".json", ".md")).exists()
    runs = json.loads(path.read_text())["runs"]
    assert sorted((run["server"], run["scenario"]) for run in runs) == [
        ("bare", "capacity"),
        ("bare", "month"),
        ("bare", "saturation"),
        ("embedded", "capacity"),
        ("embedded", "meeting"),
        ("embedded", "month"),
        ("embedded", "saturation"),
        ("embedded", "slow-client"),
        ("embedded", "storm"),
    ]
    for run in runs:
        where = (run["server"], run["scenario"])
        assert "error" not in run, where
        assert run["connection_failures"] == {}, where
        assert run["phases"], where
        for phase in run["phases"]:
            if phase["kind"] == "send":
                assert phase["sent"] > 0, where
                assert phase["delivered"] == phase["expected_deliveries"], where
        if run["server"] == "embedded":
            assert (run["gaps"], run["duplicates"], run["no_final_pong"]) == (0, 0, 0), where

    by_scenario = {(run["server"], run["scenario"]): run for run in runs}
    [meeting] = by_scenario["embedded", "meeting"]["phases"]
    assert meeting["typing"]["sent"] > 0
    saturation = by_scenario["bare", "saturation"]["phases"]
    assert [phase["fraction"] for phase in saturation] == [0.25, 0.5, 0.75, 0.9]
    # The storm: the server was killed and started again; every client came back and
    # resumed, and every message tried meanwhile is in the room exactly once.
    [storm] = [p for p in by_scenario["embedded", "storm"]["phases"] if p["kind"] == "storm"]
    assert storm["disconnected"] == storm["connections"] == storm["resumed"] > 0
    assert storm["messages_tried"] > 0
    assert (storm["unconfirmed"], storm["stored_twice"]) == (0, 0)
    # The slow client joined the room; the others still got everything (above).
    [slow] = [
        phase["slow_clients"]
        for phase in by_scenario["embedded", "slow-client"]["phases"]
        if "slow_clients" in phase
    ]
    assert slow["joined"] == slow["clients"] > 0
