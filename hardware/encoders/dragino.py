"""Dragino LHT65 encoder (inverse of decoders.dragino), external DS18B20 probe mode (type 1)."""

from __future__ import annotations

import struct

from hardware.encoders.common import SLACK, Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 2  # the LHT65 sends its periodic frame on fPort 2

# battery u16 (status bits 15-14, mV bits 13-0), SHT i16 0.01 °C, SHT u16 0.1 %RH,
# sensor type byte, probe i16 0.01 °C, then 0x7FFF filler: 11 bytes, big-endian
_LHT65 = struct.Struct(">HhHBhH")


def _battery_status(volts: float) -> int:
    """The LHT65's battery status bits: 0 ultra low, 1 low, 2 OK, 3 good."""
    if volts <= 2.50:
        return 0
    if volts <= 2.55:
        return 1
    if volts <= 2.65:
        return 2
    return 3


def encode_lht65(state: PhysicalState) -> tuple[int, bytes]:
    volts = clamp(state.battery_voltage, 0, 16.383)
    payload = _LHT65.pack(
        _battery_status(volts) << 14 | round(volts * 1000),
        round(clamp(state.temperature, -327.68, 327.66) * 100),
        round(clamp(state.relative_humidity, 0, 100) * 10),
        0x01,  # external sensor: DS18B20 temperature, connected
        round(clamp(state.probe_temperature, -327.68, 327.66) * 100),  # 0x7FFF is reserved
        0x7FFF,
    )
    return F_PORT, payload


def expected_lht65(state: PhysicalState) -> list[Expected]:
    return [
        Expected("battery_voltage", state.battery_voltage, 0.0005 + SLACK),
        Expected("temperature", state.temperature, 0.005 + SLACK),
        Expected("relative_humidity", state.relative_humidity, 0.05 + SLACK),
        Expected("temperature", state.probe_temperature, 0.005 + SLACK, channel="probe"),
    ]


LHT65 = ModelEncoder(encode=encode_lht65, expected=expected_lht65)

ENCODERS: dict[str, ModelEncoder] = {
    "dragino-lht65": LHT65,
}
