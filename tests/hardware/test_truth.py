"""The fleet's ground truth: the register table matches the encoders, the truth is each
register's net movement, and recording it does not change what the fleet sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from decoders.vocabulary import METRICS, Kind
from hardware.catalogue import load_catalogue
from hardware.encoders import ENCODERS
from hardware.fleet import VirtualDevice, build_fleet
from hardware.scenarios import hourly_run
from hardware.truth import COUNTER_REGISTERS, register_values

START = datetime(2026, 10, 24, 10, tzinfo=UTC)  # the run crosses the October DST change


def _fleet() -> list[VirtualDevice]:
    catalogue = load_catalogue()
    return build_fleet(catalogue, len([m for m in catalogue if m in ENCODERS]), START)


def test_counter_registers_are_what_each_encoder_sends() -> None:
    for device in _fleet():
        device.advance(START + timedelta(hours=5))
        sent = {
            (e.metric, e.channel): e
            for e in ENCODERS[device.model].expected(device.state)
            if METRICS[e.metric].kind is Kind.COUNTER
        }
        table = {(r.metric, r.channel): r for r in COUNTER_REGISTERS.get(device.model, ())}
        assert set(table) == set(sent), device.model
        values = register_values(device.state)
        for key, register in table.items():
            assert values[register.source] == pytest.approx(
                sent[key].value, abs=sent[key].tolerance
            )
            assert register.resolution >= sent[key].tolerance / 2, (device.model, key)


def test_truth_is_each_registers_net_movement() -> None:
    fleet = _fleet()
    initial = {d.dev_eui: register_values(d.state) for d in fleet}
    run = hourly_run(fleet, START, 30)
    for device in fleet:
        final = register_values(device.state)
        for register in COUNTER_REGISTERS.get(device.model, ()):
            hours = run.truth.register_hourly(device.dev_eui, register)
            moved = final[register.source] - initial[device.dev_eui][register.source]
            assert sum(hours.values()) == pytest.approx(moved, rel=1e-9, abs=1e-9)
            assert min(hours.values()) >= 0  # no scenario: nothing runs backwards
            assert len(hours) == 30  # 31 uplinks, 30 hours: the DST day has 25 local hours


def test_recording_the_truth_changes_nothing_the_fleet_sends() -> None:
    plain, recorded = _fleet(), _fleet()
    run = hourly_run(recorded, START, 30)
    sent = [
        (d.dev_eui, d.uplink(START + step * timedelta(hours=1)))
        for step in range(31)
        for d in plain
    ]
    assert sent == [(u.dev_eui, (u.f_port, u.payload)) for u in run.on_time]
    assert not run.late
    assert not run.swaps
