"""Elsys TLV encoders (inverse of decoders.elsys)."""

from __future__ import annotations

import struct

from hardware.encoders.common import SLACK, Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 5  # Elsys devices' default application port

# ERS Lite periodic frame: 01 temperature i16 BE 0.1 °C, 02 humidity u8 %RH,
# 07 supply voltage u16 BE mV
_ERS_LITE = struct.Struct(">BhBBBH")


def encode_ers_lite(state: PhysicalState) -> tuple[int, bytes]:
    payload = _ERS_LITE.pack(
        0x01,
        round(clamp(state.temperature, -3276.8, 3276.7) * 10),
        0x02,
        round(clamp(state.relative_humidity, 0, 100)),
        0x07,
        round(clamp(state.battery_voltage, 0, 65.535) * 1000),
    )
    return F_PORT, payload


def expected_ers_lite(state: PhysicalState) -> list[Expected]:
    return [
        Expected("temperature", state.temperature, 0.05 + SLACK),
        Expected("relative_humidity", state.relative_humidity, 0.5 + SLACK),
        Expected("battery_voltage", state.battery_voltage, 0.0005 + SLACK),
    ]


ERS_LITE = ModelEncoder(encode=encode_ers_lite, expected=expected_ers_lite)

ENCODERS: dict[str, ModelEncoder] = {
    "elsys-ers-lite": ERS_LITE,
}
