"""Kamstrup flowIQ2200 and Axioma Qalcosonic W1: timing of history records, status events,
and the encoders' frames."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest

import decoders
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState

RECEIVED = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
METER_TIME = int(datetime(2026, 3, 14, 9, 10, 5, tzinfo=UTC).timestamp())


def _axioma(status: int = 0, deltas: list[int] | None = None, log_litres: int = 1000) -> bytes:
    packed = 0
    for i, litres in enumerate(deltas or [0] * 23):
        packed |= litres << (14 * i)
    header = struct.pack("<BIBI", 1, METER_TIME, status, log_litres)
    return header + packed.to_bytes(41, "little")


def _events(model: str, payload: bytes, f_port: int) -> dict[str, bool]:
    result = decoders.decode(model, payload, f_port, RECEIVED)
    assert result.errors == []
    return {e.code: e.active for e in result.events}


# Status byte -> the events set, following the precedence of qalcosonic-w1-codec.js.
@pytest.mark.parametrize(
    ("status", "active"),
    [
        (0x00, set()),
        (0x04, {"low_battery"}),
        (0x08, {"meter_error"}),
        (0x10, {"dry"}),  # exactly 0x10: empty pipe, reported as dry only
        (0x14, {"sensor_error", "low_battery"}),  # temporary error with another flag
        (0x20, {"leak"}),
        (0x60, {"backflow"}),
        (0x80, {"low_temperature"}),
        (0xA0, {"burst"}),
        (0xE0, {"backflow", "burst"}),
        (0xB8, {"burst", "sensor_error", "meter_error"}),
    ],
)
def test_axioma_status_events(status: int, active: set[str]) -> None:
    events = _events("axioma-qalcosonic-w1", _axioma(status), 100)
    assert len(events) == 8
    assert {code for code, on in events.items() if on} == active


def test_axioma_history_timing() -> None:
    deltas = list(range(1, 24))  # delta_i = i litres
    result = decoders.decode("axioma-qalcosonic-w1", _axioma(deltas=deltas), 100, RECEIVED)
    end = datetime(2026, 3, 14, 9, tzinfo=UTC)  # meter time 09:10:05 floored to the hour
    volumes = [(m.time, m.value) for m in result.measurements if m.metric == "water_volume"]
    assert volumes == [(end - timedelta(hours=23 - i), i / 1000) for i in range(1, 24)]
    index = sorted(
        (m.time, m.value) for m in result.measurements if m.metric == "water_volume_index"
    )
    assert index == [(end - timedelta(hours=23), 1.0), (end, (1000 + sum(deltas)) / 1000)]
    # the events carry the meter time, not the reception time
    assert {e.time for e in result.events} == {datetime(2026, 3, 14, 9, 10, 5, tzinfo=UTC)}


def test_axioma_unset_meter_time_falls_back_to_reception() -> None:
    payload = bytearray(_axioma())
    payload[1:5] = b"\0\0\0\0"
    result = decoders.decode("axioma-qalcosonic-w1", bytes(payload), 100, RECEIVED)
    assert "meter time not set" in result.warnings[0]
    latest = max(m.time for m in result.measurements)
    assert latest == datetime(2026, 3, 14, 9, tzinfo=UTC)


def test_kamstrup_profile_history_times_and_values() -> None:
    # upstream "Multiple profile values for volume": base 3 L at 2024-07-24 19:00, deltas 0,0,0,3
    payload = bytes.fromhex("78446D003318374413030000004D9313226101000000030000") + bytes(26)
    result = decoders.decode("kamstrup-flowiq2200", payload, 1, RECEIVED)
    assert result.errors == []
    assert result.warnings == []
    series = [(m.time, m.value) for m in result.measurements]
    base = datetime(2024, 7, 24, 19, tzinfo=UTC)
    assert series[0] == (base, 0.003)
    assert [t for t, _ in series] == [base - timedelta(hours=h) for h in range(33)]
    assert [v for _, v in series[:4]] == [0.003] * 4
    assert {v for _, v in series[4:]} == {0.0}


def test_kamstrup_info_code_events_at_log_time() -> None:
    payload = bytes.fromhex("78446D0020F32A52FF250C00")  # leak (bit 2) + burst (bit 3)
    result = decoders.decode("kamstrup-flowiq2200", payload, 1, RECEIVED)
    midnight = datetime(2023, 10, 19, tzinfo=UTC)
    assert {(e.code, e.active, e.time) for e in result.events if e.active} == {
        ("leak", True, midnight),
        ("burst", True, midnight),
    }


def _state(**changes: object) -> PhysicalState:
    state = PhysicalState(
        time=datetime(2026, 3, 14, 0, 0, 30, tzinfo=UTC),
        water_volume_index=1234.5678,
        water_hourly=[0.01 * i for i in range(24)],
        water_flow_min=0.012,
        water_flow_max=1.5,
        probe_temperature=11.6,
        leak=True,
        low_battery=True,
    )
    for name, value in changes.items():
        setattr(state, name, value)
    return state


def test_kamstrup_encoder_daily_frame() -> None:
    f_port, payload = ENCODERS["kamstrup-flowiq2200"].encode(_state())
    result = decoders.decode("kamstrup-flowiq2200", payload, f_port, RECEIVED)
    assert result.errors == []
    assert result.warnings == []
    midnight = datetime(2026, 3, 14, tzinfo=UTC)
    got = {(m.metric, m.channel): (m.value, m.time) for m in result.measurements}
    assert got == {
        ("water_volume_index", ""): (1234.568, midnight),
        ("water_flow", "min"): (0.012, midnight),
        ("water_flow", "max"): (1.5, midnight),
        ("water_temperature", "min"): (12.0, midnight),
        ("water_temperature", "max"): (12.0, midnight),
    }
    assert {e.code for e in result.events if e.active} == {"leak", "low_battery"}


def test_kamstrup_encoder_hourly_profile_frame() -> None:
    state = _state(time=datetime(2026, 3, 14, 7, 59, tzinfo=UTC))
    f_port, payload = ENCODERS["kamstrup-flowiq2200"].encode(state)
    result = decoders.decode("kamstrup-flowiq2200", payload, f_port, RECEIVED)
    assert result.errors == []
    assert result.warnings == []
    series = sorted((m.time, m.value) for m in result.measurements)
    assert len(series) == 12  # register + 11 past hours
    assert series[-1] == (datetime(2026, 3, 14, 7, tzinfo=UTC), 1234.568)
    # each step back removes the consumption of that hour (0.23 m³, then 0.22 m³, ...)
    assert series[-2][1] == pytest.approx(1234.568 - 0.23)
    assert series[-3][1] == pytest.approx(1234.568 - 0.23 - 0.22)


def test_axioma_encoder_frame_matches_state() -> None:
    state = _state(burst=True)
    f_port, payload = ENCODERS["axioma-qalcosonic-w1"].encode(state)
    assert (f_port, len(payload)) == (100, 51)
    result = decoders.decode("axioma-qalcosonic-w1", payload, f_port, RECEIVED)
    assert result.errors == []
    assert result.warnings == []
    volumes = [m.value for m in result.measurements if m.metric == "water_volume"]
    assert volumes == pytest.approx([0.01 * i for i in range(1, 24)])
    assert {e.code for e in result.events if e.active} == {"burst", "low_battery"}
