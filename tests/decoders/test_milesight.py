"""Milesight specifics beyond the vectors: history timing, alarm events, sentinels, tables."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

import decoders
from decoders.milesight import CT10X, EM300_DI, EM300_TH
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState

RECEIVED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def _history(ts: int, temp_dc: int, hum_half: int, mode: int, gpio: int, pulses: int) -> bytes:
    return b"\x20\xce" + struct.pack("<IhBBBI", ts, temp_dc, hum_half, mode, gpio, pulses)


def test_em300_di_history_records_keep_their_own_time() -> None:
    t1, t2 = 1_773_475_200, 1_773_478_800  # 2026-03-14 08:00 and 09:00 UTC
    payload = (
        bytes.fromhex("01755C")
        + _history(t1, 201, 90, 2, 0, 1000)
        + _history(t2, 205, 91, 2, 0, 1010)
        + bytes.fromhex("05C8F6030000")  # current count 1014, at the uplink time
    )
    result = decoders.decode("milesight-em300-di", payload, 85, RECEIVED_AT)
    assert result.errors == []
    assert result.warnings == []
    pulses = [(m.time, m.value) for m in result.measurements if m.metric == "pulse_count"]
    assert pulses == [
        (datetime(2026, 3, 14, 8, 0, tzinfo=UTC), 1000),
        (datetime(2026, 3, 14, 9, 0, tzinfo=UTC), 1010),
        (RECEIVED_AT, 1014),
    ]
    battery = [m for m in result.measurements if m.metric == "battery_level"]
    assert [m.time for m in battery] == [RECEIVED_AT]


@pytest.mark.parametrize(
    ("mode", "metric"), [(1, "digital_input"), (2, "pulse_count"), (0, None), (7, None)]
)
def test_em300_di_history_mode_selects_gpio_or_pulse(mode: int, metric: str | None) -> None:
    result = decoders.decode(
        "milesight-em300-di", _history(1_773_475_200, 0, 0, mode, 1, 5), 85, RECEIVED_AT
    )
    extra = {m.metric for m in result.measurements} - {"temperature", "relative_humidity"}
    assert extra == ({metric} if metric else set())


@pytest.mark.parametrize(
    ("bits", "events"),
    [
        (0x00, []),
        (0x01, [("current_threshold", True)]),
        (0x02, [("current_threshold", False)]),
        (0x04, [("current_over_range", True)]),
        (0x08, [("current_over_range", False)]),
        (0x05, [("current_threshold", True), ("current_over_range", True)]),
        (0x0A, [("current_threshold", False), ("current_over_range", False)]),
    ],
)
def test_ct101_alarm_bits_raise_and_clear_events(bits: int, events: list[tuple[str, bool]]) -> None:
    payload = bytes.fromhex("8498B80BD007C409") + bytes((bits,))
    result = decoders.decode("milesight-ct101", payload, 85, RECEIVED_AT)
    assert [(e.code, e.active) for e in result.events] == events
    assert all(e.time == RECEIVED_AT for e in result.events)


def test_ct101_sentinel_in_alarm_record_omits_only_that_value() -> None:
    payload = bytes.fromhex("8498FFFFD007C40901")
    result = decoders.decode("milesight-ct101", payload, 85, RECEIVED_AT)
    assert sorted((m.channel, m.value) for m in result.measurements) == [("", 25.0), ("min", 20.0)]
    assert ("sensor_error", True) in [(e.code, e.active) for e in result.events]
    assert any("current/max" in w for w in result.warnings)


@pytest.mark.parametrize("temperature", [-0.1, -0.3])
def test_ct101_encoder_does_not_promise_sentinel_temperatures(temperature: float) -> None:
    state = PhysicalState(time=RECEIVED_AT, temperature=temperature, current=3.0)
    encoder = ENCODERS["milesight-ct101"]
    assert "temperature" not in {e.metric for e in encoder.expected(state)}
    f_port, payload = encoder.encode(state)
    result = decoders.decode("milesight-ct101", payload, f_port, state.time)
    assert "temperature" not in {m.metric for m in result.measurements}
    assert result.warnings


def test_em300_th_still_decodes_only_its_three_pairs() -> None:
    # EM300-DI's pulse pair is unknown to the EM300-TH table: decoding stops there.
    result = decoders.decode(
        "milesight-em300-th", bytes.fromhex("01755C05C800010000"), 85, RECEIVED_AT
    )
    assert [m.metric for m in result.measurements] == ["battery_level"]
    assert result.warnings
    assert not result.errors


def test_tables_share_the_em300_pairs() -> None:
    assert set(EM300_TH) < set(EM300_DI)
    assert (0x20, 0xCE) in EM300_DI
    assert EM300_DI[0x20, 0xCE][0] == 13
    assert CT10X[0x84, 0x98][0] == 7
    assert CT10X[0xFF, 0x16][0] == 8  # serial number
