"""Scenarios: each does what it says to the registers and the truth, and the frames stay
what a real device sends (every reading of a register at a time is the same in all frames)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

import decoders
from hardware.catalogue import load_catalogue
from hardware.fleet import PARIS, VirtualDevice, build_fleet
from hardware.scenarios import (
    BACKFLOW_LITRES,
    SCENARIOS,
    Run,
    ScenarioError,
    hourly_run,
    targets_of,
)
from hardware.truth import COUNTER_REGISTERS, HOUR, register_values

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
HOURS = 36


def _fleet() -> list[VirtualDevice]:
    catalogue = load_catalogue()
    models = {m: catalogue[m] for m in COUNTER_REGISTERS}
    return build_fleet(models, len(models), START, seed=3)


@pytest.fixture(scope="module")
def scenario_run() -> tuple[list[VirtualDevice], Run]:
    fleet = _fleet()
    return fleet, hourly_run(fleet, START, HOURS, list(SCENARIOS))


def _readings(run: Run, dev_eui: str, metric: str, channel: str = "") -> dict[datetime, set[float]]:
    """Every value each frame gives for the register at each time."""
    values: dict[datetime, set[float]] = defaultdict(set)
    for uplink in run.on_time + run.late:
        if uplink.dev_eui != dev_eui:
            continue
        result = decoders.decode(uplink.model, uplink.payload, uplink.f_port, uplink.time)
        assert not result.errors, result.errors
        for m in result.measurements:
            if (m.metric, m.channel) == (metric, channel):
                values[m.time].add(round(m.value, 6))
    return values


def test_backflow_steps_the_register_back_and_counts_negatively(
    scenario_run: tuple[list[VirtualDevice], Run],
) -> None:
    fleet, run = scenario_run
    (meter,) = targets_of(fleet, "backflow")
    hours = sorted(a["time"] for a in run.truth.annotations if a["scenario"] == "backflow")
    truth = run.truth.hourly(meter.dev_eui, "water_volume_index")
    assert [truth[h] for h in hours] == pytest.approx([-v / 1000 for v in BACKFLOW_LITRES])
    readings = _readings(run, meter.dev_eui, "water_volume_index")
    assert all(len(v) == 1 for v in readings.values()), "frames disagree on a past register"
    series = [next(iter(readings[t])) for t in sorted(readings)]
    steps = [round(b - a, 6) for a, b in itertools.pairwise(series) if b < a]
    assert steps == [-v / 1000 for v in BACKFLOW_LITRES]


def test_frames_with_history_agree_with_the_readings_they_repeat(
    scenario_run: tuple[list[VirtualDevice], Run],
) -> None:
    fleet, run = scenario_run
    for device in fleet:
        if device.model in ("axioma-qalcosonic-w1", "kamstrup-flowiq2200"):
            readings = _readings(run, device.dev_eui, "water_volume_index")
            assert all(len(v) == 1 for v in readings.values()), device.model


def test_resets_leave_the_truth_counting_what_flowed(
    scenario_run: tuple[list[VirtualDevice], Run],
) -> None:
    fleet, run = scenario_run
    notes = {a["scenario"]: a for a in run.truth.annotations}
    (reader,) = targets_of(fleet, "pulse_restart")
    before = notes["pulse_restart"]["counts_before"]["A"]
    flowed = sum(run.truth.hourly(reader.dev_eui, "pulses:A").values())
    assert reader.state.pulses["A"] < 0.1 * before  # it restarted near 0 ...
    start_count = next(
        next(iter(v)) for t, v in sorted(_readings(run, reader.dev_eui, "pulse_count", "A").items())
    )
    assert flowed == pytest.approx(
        before - start_count + reader.state.pulses["A"]
    )  # ... and counted on

    (meter,) = targets_of(fleet, "unrecorded_replacement")
    old = notes["unrecorded_replacement"]["registers_before"]["energy_active_index"]
    assert meter.state.energy_active_index < 0.1 * old
    assert min(run.truth.hourly(meter.dev_eui, "energy_active_index").values()) > 0


def test_recorded_swap_yields_the_technicians_records(
    scenario_run: tuple[list[VirtualDevice], Run],
) -> None:
    fleet, run = scenario_run
    (linky,) = targets_of(fleet, "recorded_swap")
    assert [(s.channel, s.new_initial_index) for s in run.swaps] == [
        ("HCHC", 152.318),
        ("HCHP", 207.044),
    ]
    swap = run.swaps[0]
    assert swap.swapped_at.minute == 20  # between two uplinks
    readings = _readings(run, linky.dev_eui, "energy_active_import_index", "HCHC")
    before = max(t for t in readings if t < swap.swapped_at)
    after = min(t for t in readings if t > swap.swapped_at)
    assert next(iter(readings[before])) <= swap.old_final_index
    assert swap.new_initial_index <= next(iter(readings[after])) < swap.old_final_index


def test_late_uplinks_keep_their_times_and_come_last_newest_first(
    scenario_run: tuple[list[VirtualDevice], Run],
) -> None:
    fleet, run = scenario_run
    late_devices = {d.dev_eui for d in targets_of(fleet, "late_uplinks")}
    assert len(run.late) == 8
    assert {u.dev_eui for u in run.late} == late_devices
    times = [u.time for u in run.late]
    assert times == sorted(times, reverse=True)
    local_days = {t.astimezone(PARIS).date() for t in times}
    assert (
        len(local_days) == 2
    )  # around a local midnight: a day's last reading and the next's first
    assert not {(u.dev_eui, u.time) for u in run.late} & {(u.dev_eui, u.time) for u in run.on_time}
    for uplink in (u for u in run.late if u.model == "axioma-qalcosonic-w1"):
        result = decoders.decode(
            uplink.model, uplink.payload, uplink.f_port, uplink.time + 6 * HOUR
        )
        # the meter's clock says when, whatever time the uplink is filed under
        assert max(m.time for m in result.measurements) <= uplink.time


def test_scenarios_are_opt_in_and_checked() -> None:
    fleet = _fleet()
    with pytest.raises(ScenarioError, match="unknown"):
        hourly_run(fleet, START, HOURS, ["flood"])
    with pytest.raises(ScenarioError, match="at least"):
        hourly_run(fleet, START, 12, ["backflow"])
    with pytest.raises(ScenarioError, match="kamstrup"):
        hourly_run([d for d in fleet if "kamstrup" not in d.model], START, HOURS, ["backflow"])
    run = hourly_run(_fleet(), START, HOURS)
    assert not run.truth.annotations
    assert all(
        v >= 0 for d in fleet for v in run.truth.hourly(d.dev_eui, "water_volume_index").values()
    )
    assert register_values(fleet[0].state)  # untouched fleets still have their registers
    assert timedelta(0) < run.end - run.start
