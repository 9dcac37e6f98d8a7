"""Elsys TLV frames (ERS, ERS Lite, ERS CO2, EMS, ELT families): one decoder for all types.

A frame is a sequence of (type byte, value); each type has a fixed value size, big-endian.
Reference: TTN lorawan-devices vendor/elsys/elsys.js (shared by every Elsys model).

The reference codec fills one object, so a type that occurs twice keeps its LAST value
(the EMS example in ems-codec.yaml relies on it: two pulse1 entries, the second wins), except
external temperature 2 (0x19), which becomes a list. Values are therefore collected per
(metric, channel) and emitted at the end; the 0x19 list becomes channels `probe2`,
`probe2_2`, `probe2_3`, ... in frame order.

Mapping to the vocabulary (type: codec field -> metric / channel):
  0x01 temperature -> temperature            0x0C externalTemperature -> temperature/probe
  0x02 humidity -> relative_humidity          0x0D digital -> digital_input/1
  0x04 light -> illuminance                   0x0E distance (mm) -> distance (m)
  0x05 motion -> motion_count                 0x0F accMotion -> motion_count/acc
  0x06 co2 -> co2                             0x10 irInternal/ExternalTemperature ->
  0x07 vdd (mV) -> battery_voltage (V)             temperature/ir_internal, ir_external
  0x08 analog1 (mV) -> analog_voltage/1 (V)   0x11 occupancy -> occupancy
  0x0A pulse1 (relative) -> pulse_increment/1 0x14 pressure (0.001 hPa) -> air_pressure
  0x0B pulseAbs -> pulse_count/1              0x15 soundPeak / soundAvg -> sound_level/peak, avg
  0x16 pulse2 (relative) -> pulse_increment/2 0x19 externalTemperature2 -> temperature/probe2...
  0x17 pulseAbs2 -> pulse_count/2             0x1A digital2 -> digital_input/2
  0x18 analog2 (mV) -> analog_voltage/2 (V)   0x1B analogUv (µV, signed) -> analog_voltage/uv
  0x1C tvoc -> tvoc (ppb)
Decoded but not mapped (no metric fits; skipped over, no warning):
  0x03 acceleration x/y/z (raw, 63 = 1 g: device orientation, not a time series we keep),
  0x09 GPS lat/long (3 bytes each, raw: the codec applies no scaling, so no coordinates),
  0x12 waterleak (0-255 level whose leak threshold is device-specific: no leak event),
  0x13 Grid-EYE 8x8 thermal image (reference byte + 64 pixels).
0x3D (debug) and any other type end decoding, as in the codec (a warning here).

Deliberate departures from elsys.js:
- a truncated value is an error (the codec reads past the end and yields 0);
- 32-bit fields are read unsigned (pulseAbs, pulseAbs2) or signed as documented (pressure,
  analogUv); the codec's `<< 24` makes absolute pulse counts >= 2^31 negative.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime

from decoders.model import Decoder, DecodeResult

_I8X3 = struct.Struct(">bbb")
_U16 = struct.Struct(">H")
_I16 = struct.Struct(">h")
_I16X2 = struct.Struct(">hh")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")

# Values collected for one frame: (metric, channel) -> value; a repeated type overwrites.
Values = dict[tuple[str, str], float]
Handler = Callable[[Values, bytes, int], None]


def _skip(values: Values, payload: bytes, offset: int) -> None:
    """A type that no metric fits (see the module docstring): its bytes are stepped over."""


def _u8(metric: str, channel: str = "") -> Handler:
    key = (metric, channel)

    def handler(values: Values, payload: bytes, offset: int) -> None:
        values[key] = payload[offset]

    return handler


def _u16(metric: str, channel: str = "", scale: float = 1.0) -> Handler:
    key = (metric, channel)

    def handler(values: Values, payload: bytes, offset: int) -> None:
        values[key] = _U16.unpack_from(payload, offset)[0] * scale

    return handler


def _temp16(channel: str = "") -> Handler:
    # 2 bytes, 0.1 °C, signed, big-endian
    key = ("temperature", channel)

    def handler(values: Values, payload: bytes, offset: int) -> None:
        values[key] = _I16.unpack_from(payload, offset)[0] / 10

    return handler


def _u32(metric: str, channel: str) -> Handler:
    key = (metric, channel)

    def handler(values: Values, payload: bytes, offset: int) -> None:
        values[key] = _U32.unpack_from(payload, offset)[0]

    return handler


def _i32(metric: str, channel: str, scale: float) -> Handler:
    key = (metric, channel)

    def handler(values: Values, payload: bytes, offset: int) -> None:
        values[key] = _I32.unpack_from(payload, offset)[0] * scale

    return handler


def _ir_temperature(values: Values, payload: bytes, offset: int) -> None:
    # 0x10: 2 x 2 bytes, 0.1 °C, signed, big-endian: sensor body, then IR (surface) target
    internal, external = _I16X2.unpack_from(payload, offset)
    values["temperature", "ir_internal"] = internal / 10
    values["temperature", "ir_external"] = external / 10


def _sound(values: Values, payload: bytes, offset: int) -> None:
    # 0x15: 1 byte peak, 1 byte average, dB(A), unsigned
    values["sound_level", "peak"] = payload[offset]
    values["sound_level", "avg"] = payload[offset + 1]


def _external_temperature_2(values: Values, payload: bytes, offset: int) -> None:
    # 0x19: 2 bytes, 0.1 °C, signed; may repeat (several probes on input 2): the codec makes
    # a list, here each occurrence gets the next channel: probe2, probe2_2, probe2_3, ...
    n = 1
    channel = "probe2"
    while ("temperature", channel) in values:
        n += 1
        channel = f"probe2_{n}"
    values["temperature", channel] = _I16.unpack_from(payload, offset)[0] / 10


# type byte -> (value size in bytes, handler); sizes from elsys.js
TYPES: dict[int, tuple[int, Handler]] = {
    0x01: (2, _temp16()),  # temperature, 0.1 °C, signed
    0x02: (1, _u8("relative_humidity")),  # 1 byte, %RH
    0x03: (3, _skip),  # acceleration x, y, z: 3 x i8 (not mapped)
    0x04: (2, _u16("illuminance")),  # 2 bytes, lux
    0x05: (1, _u8("motion_count")),  # 1 byte, PIR motion count
    0x06: (2, _u16("co2")),  # 2 bytes, ppm
    0x07: (2, _u16("battery_voltage", scale=0.001)),  # 2 bytes, mV -> V
    0x08: (2, _u16("analog_voltage", "1", 0.001)),  # 2 bytes, mV -> V
    0x09: (6, _skip),  # GPS: 3 bytes lat, 3 bytes long, raw (not mapped)
    0x0A: (2, _u16("pulse_increment", "1")),  # 2 bytes, pulses since last uplink
    0x0B: (4, _u32("pulse_count", "1")),  # 4 bytes, absolute pulse count, unsigned
    0x0C: (2, _temp16("probe")),  # external temperature, 0.1 °C, signed
    0x0D: (1, _u8("digital_input", "1")),  # 1 byte, 0 or 1
    0x0E: (2, _u16("distance", scale=0.001)),  # 2 bytes, mm -> m
    0x0F: (1, _u8("motion_count", "acc")),  # 1 byte, accelerometer motion count
    0x10: (4, _ir_temperature),  # 2 x i16, 0.1 °C
    0x11: (1, _u8("occupancy")),  # 1 byte: 0 vacant, 1 pending, 2 occupied
    0x12: (1, _skip),  # water leak level 0-255 (not mapped)
    0x13: (65, _skip),  # Grid-EYE: reference + 64 pixels (not mapped)
    0x14: (4, _i32("air_pressure", "", 0.001)),  # 4 bytes, 0.001 hPa, signed as in the codec
    0x15: (2, _sound),  # peak, average, dB(A)
    0x16: (2, _u16("pulse_increment", "2")),  # 2 bytes, pulses since last uplink, input 2
    0x17: (4, _u32("pulse_count", "2")),  # 4 bytes, absolute pulse count, input 2
    0x18: (2, _u16("analog_voltage", "2", 0.001)),  # 2 bytes, mV -> V
    0x19: (2, _external_temperature_2),  # 0.1 °C, signed, repeatable
    0x1A: (1, _u8("digital_input", "2")),  # 1 byte, 0 or 1
    0x1B: (4, _i32("analog_voltage", "uv", 1e-6)),  # 4 bytes, µV, signed -> V
    0x1C: (2, _u16("tvoc")),  # 2 bytes, ppb
}


def decode_elsys(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Any Elsys TLV frame; the codec does not check the fPort (Elsys devices use 5)."""
    result = DecodeResult(received_at=received_at)
    if not payload:
        return result.error("empty payload")
    values: Values = {}
    offset, end = 0, len(payload)
    while offset < end:
        kind = payload[offset]
        entry = TYPES.get(kind)
        if entry is None:
            result.warnings.append(f"unknown type {kind:#04x} at offset {offset}: rest ignored")
            break
        size, handler = entry
        if offset + 1 + size > end:
            result.errors.append(f"type {kind:#04x} truncated: needs {size} bytes")
            break
        handler(values, payload, offset + 1)
        offset += 1 + size
    if offset == 0 and not result.errors:
        result.errors.append("no known type in frame")
    for (metric, channel), value in values.items():
        result.measure(metric, value, channel)
    return result


DECODERS: dict[str, Decoder] = {
    "elsys-ers-lite": decode_elsys,
}
