"""Decentlab protocol v2 encoder (inverse of decoders.decentlab), DL-SHT35 layout."""

from __future__ import annotations

import struct

from hardware.encoders.common import SLACK, Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 1  # Decentlab devices send measurements on fPort 1
DEVICE_ID = 782  # the fleet's simulated device id (static, not decoded into a metric)

# version u8 (2), device id u16, flags u16 (0x0003: T+RH group and battery group), then words:
# temperature raw = (T + 45) * 65535 / 175, humidity raw = RH * 65535 / 100, battery mV
_SHT35 = struct.Struct(">BHHHHH")
_T_STEP = 175 / 65535
_RH_STEP = 100 / 65535


def encode_dl_sht35(state: PhysicalState) -> tuple[int, bytes]:
    payload = _SHT35.pack(
        2,
        DEVICE_ID,
        0x0003,
        round(clamp((state.temperature + 45) / _T_STEP, 0, 65535)),
        round(clamp(state.relative_humidity / _RH_STEP, 0, 65535)),
        round(clamp(state.battery_voltage, 0, 65.535) * 1000),
    )
    return F_PORT, payload


def expected_dl_sht35(state: PhysicalState) -> list[Expected]:
    return [
        Expected("temperature", state.temperature, _T_STEP / 2 + SLACK),
        Expected("relative_humidity", state.relative_humidity, _RH_STEP / 2 + SLACK),
        Expected("battery_voltage", state.battery_voltage, 0.0005 + SLACK),
    ]


DL_SHT35 = ModelEncoder(encode=encode_dl_sht35, expected=expected_dl_sht35)

ENCODERS: dict[str, ModelEncoder] = {
    "decentlab-dl-sht35": DL_SHT35,
}
