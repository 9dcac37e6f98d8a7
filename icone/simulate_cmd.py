"""`icone simulate --hours H [--scenario NAME] [--truth FILE]`: a history of hourly uplinks
with the scenarios of hardware/scenarios.py, and the fleet's ground truth as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hardware.fleet import VirtualDevice
from hardware.scenarios import MIN_HOURS, SCENARIOS, Run, hourly_run
from hardware.truth import HOUR, GroundTruth, hour_start, truth_document

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hours",
        type=int,
        default=0,
        help="publish H hours of history instead: every device on each hour, ending now",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=[*SCENARIOS, "all"],
        help=f"with --hours (>= {MIN_HOURS}): apply this scenario (repeatable; 'all')",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="write the fleet's true consumption per device, register and hour to FILE (JSON)",
    )


def usage_error(args: argparse.Namespace) -> str | None:
    if args.scenario and args.hours < MIN_HOURS:
        return f"--scenario needs --hours {MIN_HOURS} or more"
    if args.hours < 0:
        return "--hours must be positive"
    return None


def scenarios(args: argparse.Namespace) -> list[str]:
    return list(SCENARIOS) if "all" in args.scenario else sorted(set(args.scenario))


def attach_truth(fleet: list[VirtualDevice]) -> GroundTruth:
    truth = GroundTruth()
    for device in fleet:
        device.truth = truth
    return truth


def publish_history(
    client: mqtt.Client, fleet: list[VirtualDevice], args: argparse.Namespace
) -> tuple[int, Run]:
    """The last `args.hours` hours, on-time uplinks first, then the late ones."""
    from hardware import simulator

    start = hour_start(datetime.now(UTC)) - args.hours * HOUR
    for device in fleet:
        device.state.time = start
    run = hourly_run(fleet, start, args.hours, scenarios(args))
    sent = simulator.publish_all(
        client, simulator.run_messages(run.on_time, args.protobuf), len(run.on_time)
    )
    sent += simulator.publish_all(
        client, simulator.run_messages(run.late, args.protobuf, seed=8), len(run.late)
    )
    return sent, run


def write_truth(
    path: Path,
    fleet: list[VirtualDevice],
    truth: GroundTruth,
    start: datetime,
    run: Run | None = None,
) -> None:
    """The ground truth as JSON; with a scenario run, its annotations and swap records."""
    document = truth_document(
        truth,
        [(d.dev_eui, d.model, d.site_id) for d in fleet],
        start,
        run.end if run else max(d.state.time for d in fleet),
        run.scenarios if run else [],
        [dataclasses.asdict(s) for s in run.swaps] if run else [],
    )
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
