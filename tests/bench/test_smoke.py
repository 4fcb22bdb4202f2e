"""The benchmark harness's smoke run (`python -m bench.run --quick`), so that it cannot rot.

A benchmark is not a timed test: nothing here asserts a figure, only that the run
completes, writes its results, and that nothing was lost or duplicated.
"""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


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
        ("embedded", "capacity"),
        ("embedded", "month"),
    ]
    for run in runs:
        where = (run["server"], run["scenario"])
        assert "error" not in run, where
        assert run["connection_failures"] == {}, where
        assert run["phases"], where
        for phase in run["phases"]:
            assert phase["sent"] > 0, where
            assert phase["delivered"] == phase["expected_deliveries"], where
        if run["server"] == "embedded":
            assert (run["gaps"], run["duplicates"], run["no_final_pong"]) == (0, 0, 0), where
