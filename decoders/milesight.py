"""Milesight channel TLV frames (EM300 family, CT10x).

A frame is a sequence of (channel_id, channel_type, value) triples; each (id, type) pair
has a fixed value size. Like the vendor codecs, decoding stops at the first unknown pair
(a warning names it) and keeps what was decoded before.
References (TTN lorawan-devices): vendor/milesight-iot/em300-th.js, em300-di.js, ct101.js.

Deliberate departures from the vendor codecs:
- a truncated value is an error here; the JS codecs read past the end (undefined -> 0/NaN);
- sentinels (CT10x current 0xFFFF, temperature 0xFFFD / 0xFFFF) give a warning, no value,
  also inside the CT10x alarm record where the JS codec does not check them;
- an unknown CT10x downlink-response type stops decoding with a warning (the JS codec throws,
  which loses the whole frame).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime

from decoders.model import Decoder, DecodeResult

_U16_LE = struct.Struct("<H")
_I16_LE = struct.Struct("<h")
_U32_LE = struct.Struct("<I")
# 20 CE history record, 13 bytes, little-endian: u32 unix time, i16 0.1 °C, u8 0.5 %RH,
# u8 mode (1 = GPIO, 2 = pulse), u8 GPIO level, u32 pulse count
_EM300_HISTORY = struct.Struct("<IhBBBI")
# 84 98 CT10x current alarm, 7 bytes: u16 max, u16 min, u16 current (0.01 A each), u8 alarm bits
_CT_ALARM = struct.Struct("<HHHB")

# CT10x sentinels in u16 value fields
_READ_FAILED = 0xFFFF
_OVER_RANGE = 0xFFFD

# A handler reads the value at `offset` (its size is checked by the caller) and adds to the result.
Handler = Callable[[DecodeResult, bytes, int], None]


def _ignore(result: DecodeResult, payload: bytes, offset: int) -> None:
    """Device info / downlink replies (versions, serial number, intervals): no metric."""


def _battery(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 01 75: 1 byte, battery level in %, unsigned
    result.measure("battery_level", payload[offset])


def _temperature(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 03 67: 2 bytes, 0.1 °C, signed, little-endian
    result.measure("temperature", _I16_LE.unpack_from(payload, offset)[0] / 10)


def _humidity(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 04 68: 1 byte, 0.5 %RH, unsigned
    result.measure("relative_humidity", payload[offset] / 2)


def _gpio(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 05 00: 1 byte, GPIO level (EM300-DI in digital-input mode)
    result.measure("digital_input", payload[offset])


def _pulse(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 05 C8: 4 bytes, absolute pulse count, unsigned, little-endian
    result.measure("pulse_count", _U32_LE.unpack_from(payload, offset)[0])


def _em300_history(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 20 CE: one stored record, placed at its own time
    ts, temp, hum, mode, gpio, pulses = _EM300_HISTORY.unpack_from(payload, offset)
    if ts == 0:
        result.warnings.append(f"history record at offset {offset - 2} has no time: skipped")
        return
    time = datetime.fromtimestamp(ts, UTC)
    result.measure("temperature", temp / 10, time=time)
    result.measure("relative_humidity", hum / 2, time=time)
    if mode == 1:
        result.measure("digital_input", gpio, time=time)
    elif mode == 2:
        result.measure("pulse_count", pulses, time=time)


def _ct_total_current(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 03 97: 4 bytes, 0.01 Ah accumulated current, unsigned, little-endian
    result.measure("charge_index", _U32_LE.unpack_from(payload, offset)[0] / 100)


def _ct_current_value(result: DecodeResult, raw: int, channel: str) -> None:
    """A u16 0.01 A current field; 0xFFFF means the CT could not be read."""
    if raw == _READ_FAILED:
        result.warnings.append(f"current{'/' + channel if channel else ''}: read failed (0xFFFF)")
        result.event("sensor_error", True)
        return
    result.measure("current", raw / 100, channel)


def _ct_current(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 04 98: 2 bytes, 0.01 A, unsigned, little-endian; 0xFFFF = read failed
    _ct_current_value(result, _U16_LE.unpack_from(payload, offset)[0], "")


def _ct_temperature_value(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 2 bytes, 0.1 °C, signed, little-endian; 0xFFFD = over range, 0xFFFF = read failed
    raw = _U16_LE.unpack_from(payload, offset)[0]
    if raw == _OVER_RANGE:
        result.warnings.append("temperature: over range (0xFFFD)")
    elif raw == _READ_FAILED:
        result.warnings.append("temperature: read failed (0xFFFF)")
        result.event("sensor_error", True)
    else:
        result.measure("temperature", _I16_LE.unpack_from(payload, offset)[0] / 10)


def _ct_current_alarm(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 84 98: period max / min / current, then alarm bits: 0 threshold alarm, 1 threshold
    # alarm released, 2 over-range alarm, 3 over-range alarm released
    high, low, now, bits = _CT_ALARM.unpack_from(payload, offset)
    _ct_current_value(result, high, "max")
    _ct_current_value(result, low, "min")
    _ct_current_value(result, now, "")
    for code, raised, released in (
        ("current_threshold", 0x01, 0x02),
        ("current_over_range", 0x04, 0x08),
    ):
        if bits & raised:
            result.event(code, True)
        elif bits & released:
            result.event(code, False)


def _ct_temperature_alarm(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 89 67: i16 LE 0.1 °C, then u8 alarm: 1 = threshold alarm, 0 = released. The threshold
    # condition (below / above / between / outside) is device configuration that the uplink
    # does not carry, so the direction is unknown: no low/high_temperature event, a warning.
    _ct_temperature_value(result, payload, offset)
    state = payload[offset + 2]
    if state == 1:
        result.warnings.append("temperature threshold alarm raised (direction per device config)")
    elif state == 0:
        result.warnings.append("temperature threshold alarm released")


# (channel_id, channel_type) -> (value size in bytes, handler)
Table = dict[tuple[int, int], tuple[int, Handler]]

EM300_TH: Table = {
    (0x01, 0x75): (1, _battery),
    (0x03, 0x67): (2, _temperature),
    (0x04, 0x68): (1, _humidity),
}

EM300_DI: Table = {
    **EM300_TH,
    (0x05, 0x00): (1, _gpio),
    (0x05, 0xC8): (4, _pulse),
    (0x20, 0xCE): (_EM300_HISTORY.size, _em300_history),
}

# CT10x device info (FF xx) and replies to downlinks (FE/FF xx): value sizes from ct101.js.
_CT_INFO_SIZES = {0x01: 1, 0x09: 2, 0x0A: 2, 0xFF: 2, 0x16: 8, 0x0F: 1, 0xFE: 1, 0x0B: 1}
_CT_REPLY_SIZES = {0x02: 2, 0x06: 9, 0x10: 1, 0x27: 1, 0x28: 1, 0x8E: 3, 0xF2: 2}

CT10X: Table = {
    **{(0xFE, t): (size, _ignore) for t, size in _CT_REPLY_SIZES.items()},
    **{(0xFF, t): (size, _ignore) for t, size in _CT_REPLY_SIZES.items()},
    **{(0xFF, t): (size, _ignore) for t, size in _CT_INFO_SIZES.items()},
    (0x03, 0x97): (4, _ct_total_current),
    (0x04, 0x98): (2, _ct_current),
    (0x09, 0x67): (2, _ct_temperature_value),
    (0x84, 0x98): (_CT_ALARM.size, _ct_current_alarm),
    (0x89, 0x67): (3, _ct_temperature_alarm),
}


def decode_tlv(table: Table, payload: bytes, received_at: datetime) -> DecodeResult:
    """Walk the channel TLV frame with the model's table."""
    result = DecodeResult(received_at=received_at)
    if not payload:
        return result.error("empty payload")
    lookup = table.get
    offset, end = 0, len(payload)
    while offset < end:
        if offset + 2 > end:
            result.warnings.append(f"trailing byte at offset {offset} ignored")
            break
        channel, kind = payload[offset], payload[offset + 1]
        entry = lookup((channel, kind))
        if entry is None:
            result.warnings.append(
                f"unknown channel {channel:#04x} type {kind:#04x} at offset {offset}: rest ignored"
            )
            break
        size, handler = entry
        if offset + 2 + size > end:
            result.errors.append(
                f"channel {channel:#04x} type {kind:#04x} truncated: needs {size} bytes"
            )
            break
        handler(result, payload, offset + 2)
        offset += 2 + size
    # Nothing recognised at all: not a frame of this model. (A frame of device-info pairs
    # only is valid and gives no measurement.)
    if offset == 0 and not result.errors:
        result.errors.append("no known channel in frame")
    return result


def decode_em300_th(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Milesight EM300-TH: battery %, temperature °C, humidity %RH."""
    return decode_tlv(EM300_TH, payload, received_at)


def decode_em300_di(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Milesight EM300-DI: battery, temperature, humidity, GPIO or pulse count, history."""
    return decode_tlv(EM300_DI, payload, received_at)


def decode_ct10x(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Milesight CT101/CT103/CT105: current, total current (Ah), temperature, alarms."""
    return decode_tlv(CT10X, payload, received_at)


DECODERS: dict[str, Decoder] = {
    "milesight-em300-th": decode_em300_th,
    "milesight-em300-di": decode_em300_di,
    "milesight-ct101": decode_ct10x,
}
