"""Cayenne LPP encoder (inverse of decoders.cayenne): a DIY climate node.

The simulated node sends what the usual Arduino/RAK "Cayenne LPP" climate sketches send:
temperature on channel 1, humidity on channel 2, illuminance on channel 3.
"""

from __future__ import annotations

import struct

from hardware.encoders.common import Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 2  # any port works (ChirpStack does not check it); DIY sketches commonly use 1 or 2

_ITEM_I16 = struct.Struct(">BBh")  # channel, type, 2 bytes signed big-endian
_ITEM_U16 = struct.Struct(">BBH")  # channel, type, 2 bytes unsigned big-endian
_ITEM_U8 = struct.Struct(">BBB")  # channel, type, 1 byte unsigned

TEMPERATURE, HUMIDITY, ILLUMINANCE = 103, 104, 101  # LPP type bytes


def encode_cayenne_lpp(state: PhysicalState) -> tuple[int, bytes]:
    temperature = round(clamp(state.temperature, -3276.8, 3276.7) * 10)  # 0.1 °C
    humidity = round(clamp(state.relative_humidity, 0, 100) * 2)  # 0.5 %
    illuminance = round(clamp(state.illuminance, 0, 65535))  # 1 lx
    payload = (
        _ITEM_I16.pack(1, TEMPERATURE, temperature)
        + _ITEM_U8.pack(2, HUMIDITY, humidity)
        + _ITEM_U16.pack(3, ILLUMINANCE, illuminance)
    )
    return F_PORT, payload


def expected_cayenne_lpp(state: PhysicalState) -> list[Expected]:
    return [
        Expected("temperature", state.temperature, 0.05 + 1e-9, "1"),
        Expected("relative_humidity", state.relative_humidity, 0.25 + 1e-9, "2"),
        Expected("illuminance", state.illuminance, 0.5 + 1e-9, "3"),
    ]


CAYENNE_LPP = ModelEncoder(encode=encode_cayenne_lpp, expected=expected_cayenne_lpp)

ENCODERS: dict[str, ModelEncoder] = {
    "cayenne-lpp": CAYENNE_LPP,
}
