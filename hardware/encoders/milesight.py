"""Milesight channel TLV encoders (inverse of decoders.milesight)."""

from __future__ import annotations

import struct

from hardware.encoders.common import SLACK, Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 85  # Milesight devices' default application port

_I16_LE = struct.Struct("<h")
_U16_LE = struct.Struct("<H")
_U32_LE = struct.Struct("<I")
_CT_SENTINELS = (b"\xfd\xff", b"\xff\xff")  # CT10x temperature 0xFFFD / 0xFFFF


def _battery_pair(state: PhysicalState) -> bytes:
    # 01 75: u8 %
    return bytes((0x01, 0x75, round(clamp(state.battery_level, 0, 100))))


def _temperature_pair(channel: int, temperature: float) -> bytes:
    # xx 67: i16 LE, 0.1 °C
    return bytes((channel, 0x67)) + _I16_LE.pack(round(clamp(temperature, -3276.8, 3276.7) * 10))


def _humidity_pair(state: PhysicalState) -> bytes:
    # 04 68: u8, 0.5 %RH
    return bytes((0x04, 0x68, round(clamp(state.relative_humidity, 0, 100) * 2)))


# Half a field step, plus slack for the float rounding of value * scale (2.55 * 10 rounds to 26,
# and 2.6 - 2.55 is a hair above 0.05 in binary floating point).


def _climate_expected(state: PhysicalState) -> list[Expected]:
    return [
        Expected("battery_level", state.battery_level, 0.5 + SLACK),
        Expected("temperature", state.temperature, 0.05 + SLACK),
        Expected("relative_humidity", state.relative_humidity, 0.25 + SLACK),
    ]


def encode_em300_th(state: PhysicalState) -> tuple[int, bytes]:
    payload = (
        _battery_pair(state) + _temperature_pair(0x03, state.temperature) + _humidity_pair(state)
    )
    return F_PORT, payload


EM300_TH = ModelEncoder(encode=encode_em300_th, expected=_climate_expected)


def _em300_di_pulses(state: PhysicalState) -> int:
    """The EM300-DI has one pulse input; the fleet keeps its count under input "1"."""
    return int(clamp(state.pulses.get("1", 0), 0, 0xFFFFFFFF))


def encode_em300_di(state: PhysicalState) -> tuple[int, bytes]:
    # Periodic report in pulse-counter mode: battery, temperature, humidity, 05 C8 u32 LE count
    payload = (
        _battery_pair(state)
        + _temperature_pair(0x03, state.temperature)
        + _humidity_pair(state)
        + bytes((0x05, 0xC8))
        + _U32_LE.pack(_em300_di_pulses(state))
    )
    return F_PORT, payload


def expected_em300_di(state: PhysicalState) -> list[Expected]:
    return [*_climate_expected(state), Expected("pulse_count", _em300_di_pulses(state), 0)]


EM300_DI = ModelEncoder(encode=encode_em300_di, expected=expected_em300_di)


def encode_ct101(state: PhysicalState) -> tuple[int, bytes]:
    # Periodic report: 03 97 total current u32 LE 0.01 Ah, 04 98 current u16 LE 0.01 A
    # (0xFFFF is the read-failed sentinel, so the largest value is 655.34 A),
    # 09 67 temperature i16 LE 0.1 °C.
    payload = (
        bytes((0x03, 0x97))
        + _U32_LE.pack(round(clamp(state.charge_index, 0, 42_949_672.95) * 100))
        + bytes((0x04, 0x98))
        + _U16_LE.pack(round(clamp(state.current, 0, 655.34) * 100))
        + _temperature_pair(0x09, state.temperature)
    )
    return F_PORT, payload


def expected_ct101(state: PhysicalState) -> list[Expected]:
    readings = [
        Expected("charge_index", state.charge_index, 0.005 + SLACK),
        Expected("current", state.current, 0.005 + SLACK),
    ]
    # -0.3 °C and -0.1 °C encode as 0xFFFD / 0xFFFF, the CT10x "over range" / "read failed"
    # sentinels: the device cannot report them, so decoding gives no temperature then.
    if _I16_LE.pack(round(clamp(state.temperature, -3276.8, 3276.7) * 10)) not in _CT_SENTINELS:
        readings.append(Expected("temperature", state.temperature, 0.05 + SLACK))
    return readings


CT101 = ModelEncoder(encode=encode_ct101, expected=expected_ct101)


ENCODERS: dict[str, ModelEncoder] = {
    "milesight-em300-th": EM300_TH,
    "milesight-em300-di": EM300_DI,
    "milesight-ct101": CT101,
}
