"""Adeunis specifics beyond the vectors: history timing, meter clock, status events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from decoders.adeunis import DECODERS, DEFAULT_PULSE4_HISTORY_PERIOD, make_pulse4_decoder
from hardware.encoders.adeunis import ENCODERS
from hardware.state import PhysicalState

RECEIVED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
PULSE4 = DECODERS["adeunis-pulse-4"]
PME = DECODERS["adeunis-tic-pme-pmi"]


def _pme_frame(date: bytes) -> bytes:
    return bytes((0x49, 0x00)) + date + bytes(16) + b"HPE" + bytes(24)


def test_history_default_period_is_the_factory_24_hours() -> None:
    assert timedelta(seconds=43200 * 2) == DEFAULT_PULSE4_HISTORY_PERIOD
    result = PULSE4(bytes.fromhex("5A00000000640001000100010001"), 1, RECEIVED_AT)
    times = [m.time for m in result.measurements]
    assert times == [RECEIVED_AT - k * timedelta(hours=24) for k in range(5)]
    assert [m.value for m in result.measurements] == [100, 99, 98, 97, 96]


def test_history_uses_the_configured_period() -> None:
    hourly = make_pulse4_decoder(timedelta(hours=1))
    result = hourly(bytes.fromhex("5B0000000064000A000A"), 1, RECEIVED_AT)
    assert [(m.channel, m.value, m.time) for m in result.measurements] == [
        ("B", 100, RECEIVED_AT),
        ("B", 90, RECEIVED_AT - timedelta(hours=1)),
        ("B", 80, RECEIVED_AT - timedelta(hours=2)),
    ]


def test_history_is_anchored_on_the_appended_timestamp() -> None:
    stamp = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)  # 0x18D2FC90 s after 2013-01-01
    result = PULSE4(bytes.fromhex("5A040000006400050018D2FC90"), 1, RECEIVED_AT)
    assert [(m.value, m.time) for m in result.measurements] == [
        (100, stamp),
        (95, stamp - timedelta(hours=24)),
    ]
    assert [e.time for e in result.events] == [stamp]


@pytest.mark.parametrize(
    ("alarms", "active"),
    [(0x00, set()), (0x02, {"flow_high"}), (0x08, {"tamper"}), (0x20, {"leak"})],
)
def test_keepalive_alarm_bits_of_either_channel(alarms: int, active: set[str]) -> None:
    payload = bytes((0x30, 0x00, alarms)) + bytes(8)
    result = PULSE4(payload, 1, RECEIVED_AT)
    states = {e.code: e.active for e in result.events}
    assert states == {
        "low_battery": False,
        "flow_high": "flow_high" in active,
        "tamper": "tamper" in active,
        "leak": "leak" in active,
    }


@pytest.mark.parametrize(
    ("date", "utc"),
    [
        (bytes((21, 4, 20, 13, 43, 5)), datetime(2020, 4, 21, 11, 43, 5, tzinfo=UTC)),  # CEST
        (bytes((15, 1, 26, 8, 0, 0)), datetime(2026, 1, 15, 7, 0, tzinfo=UTC)),  # CET
        # repeated autumn hour: the first occurrence (still CEST) is taken
        (bytes((25, 10, 26, 2, 30, 0)), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # spring gap (02:30 does not exist): read with the offset before the change
        (bytes((29, 3, 26, 2, 30, 0)), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_pme_meter_clock_is_french_legal_time(date: bytes, utc: datetime) -> None:
    result = PME(_pme_frame(date), 1, RECEIVED_AT)
    assert result.errors == [], result.errors
    assert {m.time for m in result.measurements} == {utc}


def test_tic_absent_register_is_a_warning_not_a_value() -> None:
    frame = bytearray(_pme_frame(bytes((15, 1, 26, 8, 0, 0))))
    frame[8:12] = (0x80000000).to_bytes(4, "big")
    result = PME(bytes(frame), 1, RECEIVED_AT)
    assert "EA_s" not in {m.channel for m in result.measurements}
    assert any("EA_s" in w for w in result.warnings)


def test_encoders_set_the_low_battery_status_bit() -> None:
    state = PhysicalState(time=RECEIVED_AT, low_battery=True, pulses={"A": 7, "B": 9})
    for model, encoder in ENCODERS.items():
        f_port, payload = encoder.encode(state)
        result = DECODERS[model](payload, f_port, state.time)
        assert result.errors == []
        assert ("low_battery", True) in {(e.code, e.active) for e in result.events}


def test_pme_encoder_date_round_trips_to_the_state_time() -> None:
    state = PhysicalState(time=datetime(2026, 7, 1, 12, 34, 56, tzinfo=UTC))
    f_port, payload = ENCODERS["adeunis-tic-pme-pmi"].encode(state)
    result = PME(payload, f_port, RECEIVED_AT)
    assert {m.time for m in result.measurements} == {state.time}
