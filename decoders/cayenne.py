"""Cayenne LPP, decoded as ChirpStack's built-in codec decodes it.

A frame is a sequence of (channel, type, value) items: 1 byte LPP channel, 1 byte LPP type,
then a value whose size and scale the type fixes (big-endian). The arbiter is ChirpStack's
chirpstack/src/codec/cayenne_lpp.rs (26 types, including the "extended" IPSO ones).
Like ChirpStack:
- an unknown type or a truncated value fails the frame ("Invalid data type"); ChirpStack then
  returns no object at all, we keep the items decoded before it and add an error;
- a single trailing byte (not enough for a channel/type header) is ignored (we warn);
- a (type, channel) pair seen twice keeps the last value (ChirpStack's BTreeMap insert);
- the fPort is not checked.

Types map to vocabulary metrics with channel = the LPP channel number as a string. Types with no
meaningful metric (analog in/out are unitless, presence/switch are actuator or occupancy states,
percentage and concentration do not say of what, GPS/accelerometer/gyrometer/colour/direction/
altitude/frequency/unix time are not measured quantities of this platform) are skipped, and one
warning per frame lists them.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import NamedTuple

from decoders.model import Decoder, DecodeResult

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_I16 = struct.Struct(">h")
_U32 = struct.Struct(">I")


class LppType(NamedTuple):
    """One LPP data type: ChirpStack's object key, value size, reader and divisor, our metric."""

    name: str
    size: int
    reader: struct.Struct | None  # None: multi-field value we do not map (only its size matters)
    divisor: float
    metric: str | None  # None: skipped with a warning
    max_value: float | None = None  # values above it are not valid for the metric (warning)


# type byte -> layout; sizes and scales from cayenne_lpp.rs (all big-endian)
LPP_TYPES: dict[int, LppType] = {
    0: LppType("digitalInput", 1, _U8, 1, "digital_input", 1),  # 1 byte, 0/1
    1: LppType("digitalOutput", 1, _U8, 1, None),  # 1 byte, actuator state
    2: LppType("analogInput", 2, _I16, 100, None),  # 2 bytes, 0.01, signed, no unit
    3: LppType("analogOutput", 2, _I16, 100, None),  # 2 bytes, 0.01, signed, no unit
    100: LppType("genericSensor", 4, _U32, 1, None),  # 4 bytes, unsigned, no unit
    101: LppType("illuminanceSensor", 2, _U16, 1, "illuminance"),  # 2 bytes, 1 lx, unsigned
    102: LppType("presenceSensor", 1, _U8, 1, None),  # 1 byte, bool
    103: LppType("temperatureSensor", 2, _I16, 10, "temperature"),  # 2 bytes, 0.1 °C, signed
    104: LppType("humiditySensor", 1, _U8, 2, "relative_humidity"),  # 1 byte, 0.5 %, unsigned
    113: LppType("accelerometer", 6, None, 1, None),  # 3 x 2 bytes, 0.001 G, signed
    115: LppType("barometer", 2, _U16, 10, "air_pressure"),  # 2 bytes, 0.1 hPa, unsigned
    116: LppType("voltage", 2, _U16, 100, "voltage"),  # 2 bytes, 0.01 V, unsigned
    117: LppType("current", 2, _U16, 1000, "current"),  # 2 bytes, 0.001 A, unsigned
    118: LppType("frequency", 4, _U32, 1, None),  # 4 bytes, 1 Hz, unsigned
    120: LppType("percentage", 1, _U8, 1, None),  # 1 byte, 1 %: of what is not said
    121: LppType("altitude", 2, _I16, 1, None),  # 2 bytes, 1 m, signed
    125: LppType("concentration", 2, _U16, 1, None),  # 2 bytes, 1 ppm: which gas is not said
    128: LppType("power", 2, _U16, 1, "active_power"),  # 2 bytes, 1 W, unsigned
    130: LppType("distance", 4, _U32, 1000, "distance"),  # 4 bytes, 0.001 m, unsigned
    131: LppType("energy", 4, _U32, 1000, "energy_active_import_index"),  # 4 bytes, 0.001 kWh
    132: LppType("direction", 2, _U16, 1, None),  # 2 bytes, 1 degree, unsigned
    133: LppType("unix_time", 4, _U32, 1, None),  # 4 bytes, s since epoch: a value, not a stamp
    134: LppType("gyrometer", 6, None, 1, None),  # 3 x 2 bytes, 0.01 °/s, signed
    135: LppType("color", 3, None, 1, None),  # 3 x 1 byte, RGB
    136: LppType("gpsLocation", 9, None, 1, None),  # 3 x 3 bytes: lat/lon 0.0001 °, alt 0.01 m
    142: LppType("switch", 1, _U8, 1, None),  # 1 byte, 0/1, actuator state
}

_CHANNELS = tuple(str(i) for i in range(256))


def decode_cayenne_lpp(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Cayenne LPP frame -> vocabulary metrics, channel = LPP channel number."""
    result = DecodeResult(received_at=received_at)
    if not payload:
        return result.error("empty payload")
    values: dict[tuple[str, str], float] = {}  # (metric, channel) -> value; last one wins
    skipped: list[str] = []
    offset, end = 0, len(payload)
    types = LPP_TYPES
    while offset + 2 <= end:
        channel = _CHANNELS[payload[offset]]
        type_byte = payload[offset + 1]
        spec = types.get(type_byte)
        if spec is None:
            result.errors.append(f"invalid data type {type_byte} at offset {offset}")
            break
        start = offset + 2
        offset = start + spec.size
        if offset > end:
            result.errors.append(
                f"{spec.name} on channel {channel} truncated: needs {spec.size} bytes"
            )
            break
        if spec.metric is None or spec.reader is None:
            skipped.append(f"{spec.name}/{channel}")
            continue
        value = spec.reader.unpack_from(payload, start)[0] / spec.divisor
        if spec.max_value is not None and value > spec.max_value:
            result.warnings.append(f"{spec.name}/{channel}: value {value:g} is not 0/1, dropped")
            continue
        values[spec.metric, channel] = value
    else:
        if offset < end:
            result.warnings.append(f"trailing byte at offset {offset} ignored")
    if skipped:
        result.warnings.append("no metric for LPP type, ignored: " + ", ".join(skipped))
    for (metric, channel), value in values.items():
        result.measure(metric, value, channel)
    return result


DECODERS: dict[str, Decoder] = {
    "cayenne-lpp": decode_cayenne_lpp,
}
