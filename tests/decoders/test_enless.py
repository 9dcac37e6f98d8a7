"""Enless TX PULSE LED 600-038 specifics beyond the vectors: alarm bits and battery codes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from decoders.enless import DECODERS
from hardware.encoders.enless import ENCODERS
from hardware.state import PhysicalState

RECEIVED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
DECODE = DECODERS["enless-tx-pulse-led-600-038"]


def _frame(alarms: int = 0, states: int = 0) -> bytes:
    return struct.pack(">BHBBBIIIHH", 0, 0xAA, 0x0A, 1, 1, 10, 20, 30, alarms, states)


@pytest.mark.parametrize(
    ("bit", "code"),
    [
        (0x0001, "flow_high"),
        (0x0002, "flow_high"),
        (0x0004, "flow_high"),
        (0x0010, "flow_low"),
        (0x0020, "flow_low"),
        (0x0040, "flow_low"),
        (0x0100, "leak"),
        (0x0200, "leak"),
        (0x0400, "leak"),
    ],
)
def test_each_alarm_bit_raises_its_event(bit: int, code: str) -> None:
    result = DECODE(_frame(alarms=bit), 1, RECEIVED_AT)
    assert {e.code: e.active for e in result.events} == {
        c: c == code for c in ("flow_high", "flow_low", "leak")
    }


def test_unassigned_alarm_bits_raise_nothing() -> None:
    result = DECODE(_frame(alarms=0x0888 | 0xF000), 1, RECEIVED_AT)
    assert not any(e.active for e in result.events)


@pytest.mark.parametrize(("code", "level"), [(0, 100), (1, 75), (2, 50), (3, 25)])
def test_battery_code_in_state_bits_2_and_3(code: int, level: float) -> None:
    # the other state bits (message type, inputs, debounce) must not disturb it
    result = DECODE(_frame(states=0x0773 & ~0x000C | code << 2), 1, RECEIVED_AT)
    battery = [m.value for m in result.measurements if m.metric == "battery_level"]
    assert battery == [level]


@pytest.mark.parametrize(("level", "reported"), [(100, 100), (80, 75), (55, 50), (5, 25)])
def test_encoder_quantizes_battery_to_25_percent_steps(level: float, reported: float) -> None:
    state = PhysicalState(time=RECEIVED_AT, battery_level=level, pulses={"1": 1, "2": 2, "oc": 3})
    f_port, payload = ENCODERS["enless-tx-pulse-led-600-038"].encode(state)
    result = DECODE(payload, f_port, state.time)
    assert result.errors == []
    assert result.warnings == []
    values = {(m.metric, m.channel): m.value for m in result.measurements}
    assert values == {
        ("pulse_count", "1"): 1,
        ("pulse_count", "2"): 2,
        ("pulse_count", "oc"): 3,
        ("battery_level", ""): reported,
    }
