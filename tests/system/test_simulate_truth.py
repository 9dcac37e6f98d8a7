"""`icone simulate --hours --scenario --truth`: publishes to the real broker and writes the
fleet's ground truth, with each scenario's annotations and the technician's swap records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from hardware.scenarios import SCENARIOS
from icone.embedded import RunningService


def _simulate(
    args: list[str], broker: RunningService, cwd: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICONE_")}
    return subprocess.run(
        [sys.executable, "-m", "icone", "simulate", *args],
        env={**env, "ICONE_MQTT_URL": broker.url, "ICONE_STATE_DIR": str(cwd / "state")},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_simulate_writes_the_ground_truth(broker: RunningService, tmp_path: Path) -> None:
    out = tmp_path / "truth.json"
    result = _simulate(
        ["--devices", "14", "--hours", "30", "--scenario", "all", "--truth", str(out)],
        broker,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "published 434 uplinks from 14 virtual devices" in result.stdout  # 14 x 31
    truth = json.loads(out.read_text(encoding="utf-8"))
    assert truth["scenarios"] == list(SCENARIOS)
    assert {a["scenario"] for a in truth["annotations"]} == set(SCENARIOS)
    assert [(s["channel"], s["new_initial_index"]) for s in truth["meter_swaps"]] == [
        ("HCHC", 152.318),
        ("HCHP", 207.044),
    ]
    start, end = datetime.fromisoformat(truth["start"]), datetime.fromisoformat(truth["end"])
    assert (end - start).total_seconds() == 30 * 3600
    water = [
        r
        for d in truth["devices"]
        if d["model"] == "kamstrup-flowiq2200"
        for r in d["registers"]
        if r["metric"] == "water_volume_index"
    ]
    assert len(water) == 1
    hours = water[0]["hours"]
    assert len(hours) == 30
    assert all(start <= datetime.fromisoformat(h) < end for h in hours)
    assert sorted(round(v, 9) for v in hours.values() if v < 0) == [-0.002, -0.002, -0.001]


def test_scenarios_need_a_history(broker: RunningService, tmp_path: Path) -> None:
    result = _simulate(["--scenario", "backflow", "--count", "5"], broker, tmp_path)
    assert result.returncode == 2
    assert "--scenario needs --hours 30" in result.stderr
