"""Enless Wireless TX PULSE LED 600-038: optical LED pulse reader for electricity meters.

Fixed 22-byte layout (reference: TTN lorawan-devices vendor/enless-wireless/enlessdecoder.js,
shared by all Enless TX models; the type byte selects the layout):

    bytes 0-2    transmitter id (u24 BE)                       -> nothing (identity)
    byte 3       device type: 0x0A = 600-038 (0x08 600-036, 0x09 600-037, 0x0B 600-039 share
                 this layout and are decoded with a warning; other types -> error)
    byte 4       sequence counter, byte 5 firmware version (low 6 bits) -> nothing
    bytes 6-9    pulse counter input 1  (u32 BE, absolute count) -> pulse_count channel "1"
    bytes 10-13  pulse counter input 2  (u32 BE)                 -> pulse_count channel "2"
    bytes 14-17  pulse counter open-collector input (u32 BE)     -> pulse_count channel "oc"
    bytes 18-19  alarm bits (u16 BE): 0x0001/0x0002/0x0004 flow high on 1/2/oc,
                 0x0010/0x0020/0x0040 flow low, 0x0100/0x0200/0x0400 leak
    bytes 20-21  state bits (u16 BE): bit 0 message type (alarm/normal), bits 2-3 battery
                 level (00 100 %, 01 75 %, 10 50 %, 11 25 %), bits 4-6 input open/closed,
                 bits 8-10 debounce enabled

The vendor codec does not check the fPort. It loses the battery level (its second
`addStateField` call replaces `states`); we keep it, since it is in the frame.
Events carry no channel, so each alarm event is active when any input raises it.
"""

from __future__ import annotations

import struct
from datetime import datetime

from decoders.model import Decoder, DecodeResult

TYPE_600_038 = 0x0A
# Enless pulse-family types that share the 600-038 layout.
_PULSE_FAMILY = {0x08: "600-036", 0x09: "600-037", 0x0B: "600-039"}
FRAME_LENGTH = 22

# bytes 6-21: three counters (u32 BE), alarm bits (u16 BE), state bits (u16 BE)
_BODY = struct.Struct(">IIIHH")
_BODY_OFFSET = 6

_ALARMS = (
    (0x0007, "flow_high"),
    (0x0070, "flow_low"),
    (0x0700, "leak"),
)
_BATTERY_SHIFT, _BATTERY_MASK = 2, 0x03
BATTERY_LEVELS = (100.0, 75.0, 50.0, 25.0)  # % by battery code 0..3


def decode_tx_pulse_led(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Enless TX PULSE LED 600-038: three pulse counters, flow/leak alarms, battery level."""
    result = DecodeResult(received_at=received_at)
    size = len(payload)
    if size < 4:
        return result.error(f"frame too short: {size} bytes, needs {FRAME_LENGTH}")
    device_type = payload[3]
    if device_type != TYPE_600_038:
        family = _PULSE_FAMILY.get(device_type)
        if family is None:
            return result.error(f"device type {device_type:#04x} is not a TX PULSE 600-038")
        result.warnings.append(
            f"device type {device_type:#04x} (TX {family}) decoded with the 600-038 layout"
        )
    if size < FRAME_LENGTH:
        return result.error(f"frame truncated: {size} bytes, needs {FRAME_LENGTH}")
    if size > FRAME_LENGTH:
        result.warnings.append(f"{size - FRAME_LENGTH} trailing bytes ignored")
    ch1, ch2, oc, alarms, states = _BODY.unpack_from(payload, _BODY_OFFSET)
    result.measure("pulse_count", ch1, "1")
    result.measure("pulse_count", ch2, "2")
    result.measure("pulse_count", oc, "oc")
    result.measure("battery_level", BATTERY_LEVELS[(states >> _BATTERY_SHIFT) & _BATTERY_MASK])
    for mask, code in _ALARMS:
        result.event(code, bool(alarms & mask))
    return result


DECODERS: dict[str, Decoder] = {
    "enless-tx-pulse-led-600-038": decode_tx_pulse_led,
}
