"""Milesight channel TLV encoders (inverse of decoders.milesight)."""

from __future__ import annotations

import struct

from hardware.encoders.common import Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 85  # Milesight devices' default application port


def encode_em300_th(state: PhysicalState) -> tuple[int, bytes]:
    battery = round(clamp(state.battery_level, 0, 100))
    temperature = round(clamp(state.temperature, -3276.8, 3276.7) * 10)
    humidity = round(clamp(state.relative_humidity, 0, 100) * 2)
    payload = (
        bytes((0x01, 0x75, battery))
        + bytes((0x03, 0x67))
        + struct.pack("<h", temperature)
        + bytes((0x04, 0x68, humidity))
    )
    return F_PORT, payload


def expected_em300_th(state: PhysicalState) -> list[Expected]:
    return [
        Expected("battery_level", state.battery_level, 0.5),
        Expected("temperature", state.temperature, 0.05),
        Expected("relative_humidity", state.relative_humidity, 0.25),
    ]


EM300_TH = ModelEncoder(encode=encode_em300_th, expected=expected_em300_th)


ENCODERS: dict[str, ModelEncoder] = {
    "milesight-em300-th": EM300_TH,
}
