"""Climate-sensor specifics beyond the vectors: Elsys type table, LHT65 modes, Decentlab v2."""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

import decoders
from decoders.decentlab import decode_v2, group
from decoders.elsys import TYPES
from decoders.model import DecodeResult

RECEIVED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)

# Value sizes in vendor/elsys/elsys.js (type -> bytes after the type byte).
ELSYS_SIZES = {
    0x01: 2, 0x02: 1, 0x03: 3, 0x04: 2, 0x05: 1, 0x06: 2, 0x07: 2, 0x08: 2, 0x09: 6, 0x0A: 2,
    0x0B: 4, 0x0C: 2, 0x0D: 1, 0x0E: 2, 0x0F: 1, 0x10: 4, 0x11: 1, 0x12: 1, 0x13: 65, 0x14: 4,
    0x15: 2, 0x16: 2, 0x17: 4, 0x18: 2, 0x19: 2, 0x1A: 1, 0x1B: 4, 0x1C: 2,
}  # fmt: skip


def test_elsys_table_matches_codec_sizes() -> None:
    assert {t: size for t, (size, _) in TYPES.items()} == ELSYS_SIZES


def test_elsys_every_type_in_one_frame_decodes_in_step() -> None:
    # All 28 types back to back, then a humidity: the walk must land exactly on the last type.
    payload = b"".join(bytes((t,)) + bytes(size) for t, size in ELSYS_SIZES.items()) + b"\x02\x2a"
    result = decoders.decode("elsys-ers-lite", payload, 5, RECEIVED_AT)
    assert result.errors == []
    assert result.warnings == []
    assert ("relative_humidity", "", 42.0) in [
        (m.metric, m.channel, m.value) for m in result.measurements
    ]


def test_elsys_pressure_and_sound_units() -> None:
    result = decoders.decode("elsys-ers-lite", bytes.fromhex("14000F75F4153C2D"), 5, RECEIVED_AT)
    got = {(m.metric, m.channel): (m.value, m.unit) for m in result.measurements}
    assert got == {
        ("air_pressure", ""): (1013.236, "hPa"),
        ("sound_level", "peak"): (60.0, "dBA"),
        ("sound_level", "avg"): (45.0, "dBA"),
    }


def _lht65(sensor: int, ext: bytes, battery: int = 0xCBF6) -> bytes:
    return struct.pack(">HhH", battery, 2829, 886) + bytes((sensor,)) + ext


@pytest.mark.parametrize("f_port", [0, 1, 3, 85, 223])
def test_lht65_rejects_other_ports(f_port: int) -> None:
    result = decoders.decode("dragino-lht65", _lht65(1, bytes(4)), f_port, RECEIVED_AT)
    assert result.errors == ["unknown FPort"]
    assert not result.measurements


@pytest.mark.parametrize(("status", "low"), [(0, True), (1, True), (2, False), (3, False)])
def test_lht65_battery_status_drives_low_battery(status: int, low: bool) -> None:
    payload = _lht65(0, bytes(4), battery=status << 14 | 2600)
    result = decoders.decode("dragino-lht65", payload, 2, RECEIVED_AT)
    assert [(e.code, e.active) for e in result.events] == [("low_battery", low)]
    assert ("battery_voltage", 2.6) in [(m.metric, m.value) for m in result.measurements]


def test_lht65_timestamp_mode_places_every_value_at_sample_time() -> None:
    sample = datetime(2026, 3, 14, 7, 0, tzinfo=UTC)
    payload = (
        struct.pack(">hhH", 2781, 2829, 0xC376)
        + b"\x09"
        + struct.pack(">I", int(sample.timestamp()))
    )
    result = decoders.decode("dragino-lht65", payload, 2, RECEIVED_AT)
    assert result.errors == []
    assert result.warnings == []
    assert {m.time for m in result.measurements} == {sample}
    assert {e.time for e in result.events} == {sample}
    assert "battery_voltage" not in {m.metric for m in result.measurements}


@pytest.mark.parametrize("kind", [2, 3, 10, 11, 12, 13, 14])
def test_lht65_unknown_external_types_give_the_base_values(kind: int) -> None:
    result = decoders.decode("dragino-lht65", _lht65(kind, bytes(4)), 2, RECEIVED_AT)
    assert sorted(m.metric for m in result.measurements) == [
        "battery_voltage",
        "relative_humidity",
        "temperature",
    ]


def test_decentlab_v2_groups_follow_flag_bit_order() -> None:
    seen: list[tuple[str, tuple[int, ...]]] = []

    def record(name: str) -> Callable[[DecodeResult, tuple[int, ...]], None]:
        def emit(result: DecodeResult, x: tuple[int, ...]) -> None:
            seen.append((name, x))

        return emit

    groups = [group(1, record("a")), group(3, record("b")), group(2, record("c"))]
    payload = bytes.fromhex("02 0001 0005") + struct.pack(">HHH", 7, 8, 9)  # flags: a and c
    result = decode_v2(groups, payload, RECEIVED_AT)
    assert result.errors == []
    assert result.warnings == []
    assert seen == [("a", (7,)), ("c", (8, 9))]


@pytest.mark.parametrize("raw", [0, 1, 0x64A0, 0x79B1, 0x8000, 0xFFFF])
def test_decentlab_sht35_conversion_is_the_codec_formula(raw: int) -> None:
    payload = bytes.fromhex("02030e0001") + struct.pack(">HH", raw, raw)
    result = decoders.decode("decentlab-dl-sht35", payload, 1, RECEIVED_AT)
    got = {m.metric: m.value for m in result.measurements}
    assert got == {
        "temperature": 175 * raw / 65535 - 45,
        "relative_humidity": 100 * raw / 65535,
    }
