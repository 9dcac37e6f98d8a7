"""Milesight channel TLV frames (EM300 family, CT10x).

A frame is a sequence of (channel_id, channel_type, value) triples; each (id, type) pair
has a fixed value size. Like the vendor codecs, decoding stops at the first unknown pair
(a warning names it) and keeps what was decoded before.
Reference: TTN lorawan-devices vendor/milesight-iot/em300-th.js.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime

from decoders.model import Decoder, DecodeResult

_I16_LE = struct.Struct("<h")

# A handler reads `size` bytes at `offset` and adds to the result.
Handler = Callable[[DecodeResult, bytes, int], None]


def _battery(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 01 75: 1 byte, battery level in %, unsigned
    result.measure("battery_level", payload[offset])


def _temperature(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 03 67: 2 bytes, 0.1 °C, signed, little-endian
    result.measure("temperature", _I16_LE.unpack_from(payload, offset)[0] / 10)


def _humidity(result: DecodeResult, payload: bytes, offset: int) -> None:
    # 04 68: 1 byte, 0.5 %RH, unsigned
    result.measure("relative_humidity", payload[offset] / 2)


# (channel_id, channel_type) -> (value size in bytes, handler)
Table = dict[tuple[int, int], tuple[int, Handler]]

EM300_TH: Table = {
    (0x01, 0x75): (1, _battery),
    (0x03, 0x67): (2, _temperature),
    (0x04, 0x68): (1, _humidity),
}


def decode_tlv(table: Table, payload: bytes, received_at: datetime) -> DecodeResult:
    """Walk the channel TLV frame with the model's table."""
    result = DecodeResult(received_at=received_at)
    if not payload:
        return result.error("empty payload")
    offset, end = 0, len(payload)
    while offset < end:
        if offset + 2 > end:
            result.warnings.append(f"trailing byte at offset {offset} ignored")
            break
        key = (payload[offset], payload[offset + 1])
        entry = table.get(key)
        if entry is None:
            result.warnings.append(
                f"unknown channel {key[0]:#04x} type {key[1]:#04x} at offset {offset}: rest ignored"
            )
            break
        size, handler = entry
        if offset + 2 + size > end:
            result.errors.append(
                f"channel {key[0]:#04x} type {key[1]:#04x} truncated: needs {size} bytes"
            )
            break
        handler(result, payload, offset + 2)
        offset += 2 + size
    if not result.measurements and not result.events and not result.errors:
        result.errors.append("no known channel in frame")
    return result


def decode_em300_th(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Milesight EM300-TH: battery %, temperature °C, humidity %RH."""
    return decode_tlv(EM300_TH, payload, received_at)


DECODERS: dict[str, Decoder] = {
    "milesight-em300-th": decode_em300_th,
}
