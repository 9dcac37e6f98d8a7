"""Decentlab protocol v2 frames (generic; the DL-SHT35 is one sensor layout of it).

Reference: TTN lorawan-devices vendor/decentlab/dl-sht35.js. Every Decentlab device sends:
  0     protocol version, u8 (must be 2)
  1-2   device id, u16 BE (static: no metric)
  3-4   flags, u16 BE: bit i set = sensor group i follows
  5-    for each flagged group, in bit order, its fixed number of u16 BE words
A model is its list of sensor groups (word count + conversion). A missing group is normal
(e.g. the battery-only frame), so each frame carries only what its flags say.

Kept from the codec: a version other than 2 is an error. Departures: a truncated group is an
error (the codec reads NaN); flag bits beyond the model's groups and trailing bytes give a
warning (the codec ignores them silently).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from decoders.model import Decoder, DecodeResult

PROTOCOL_VERSION = 2
_HEADER = struct.Struct(">BHH")  # version u8, device id u16 BE, flags u16 BE


@dataclass(frozen=True, slots=True)
class SensorGroup:
    """One flagged group: `words` u16 BE values, turned into measurements by `emit`."""

    words: struct.Struct
    emit: Callable[[DecodeResult, tuple[int, ...]], None]


def group(n_words: int, emit: Callable[[DecodeResult, tuple[int, ...]], None]) -> SensorGroup:
    return SensorGroup(struct.Struct(f">{n_words}H"), emit)


def decode_v2(groups: Sequence[SensorGroup], payload: bytes, received_at: datetime) -> DecodeResult:
    """Walk a protocol-v2 frame with the model's sensor groups."""
    result = DecodeResult(received_at=received_at)
    if len(payload) < _HEADER.size:
        return result.error(f"frame too short: the header needs {_HEADER.size} bytes")
    version, _device_id, flags = _HEADER.unpack_from(payload)
    if version != PROTOCOL_VERSION:
        return result.error(f"protocol version {version} doesn't match v2")
    if flags >> len(groups):
        result.warnings.append(f"flags {flags:#06x}: unknown sensor groups ignored")
    offset = _HEADER.size
    for i, sensor in enumerate(groups):
        if not flags & (1 << i):
            continue
        end = offset + sensor.words.size
        if end > len(payload):
            return result.error(f"sensor group {i} truncated: needs {sensor.words.size} bytes")
        sensor.emit(result, sensor.words.unpack_from(payload, offset))
        offset = end
    if offset < len(payload):
        result.warnings.append(f"{len(payload) - offset} trailing bytes ignored")
    return result


def _battery(result: DecodeResult, x: tuple[int, ...]) -> None:
    # 1 word, mV -> V
    result.measure("battery_voltage", x[0] / 1000)


def _sht35(result: DecodeResult, x: tuple[int, ...]) -> None:
    # 2 words: temperature = 175 * raw / 65535 - 45 °C, humidity = 100 * raw / 65535 %
    result.measure("temperature", 175 * x[0] / 65535 - 45)
    result.measure("relative_humidity", 100 * x[1] / 65535)


DL_SHT35 = (group(2, _sht35), group(1, _battery))


def decode_dl_sht35(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Decentlab DL-SHT35: air temperature, air humidity, battery voltage."""
    return decode_v2(DL_SHT35, payload, received_at)


DECODERS: dict[str, Decoder] = {
    "decentlab-dl-sht35": decode_dl_sht35,
}
