"""Axioma Qalcosonic W1 ultrasonic water meter, "enhanced 24h" frame on fPort 100.

Reference: TTN lorawan-devices vendor/axioma/qalcosonic-w1-codec.js (a community codec,
tested on 2024 meters). Frame layout, 51 bytes:

    0       1 byte   frame version, must be 0x01
    1-4     4 bytes  meter time, UNIX seconds, unsigned, little-endian
    5       1 byte   status (see _status_events)
    6-9     4 bytes  volume at the start of the log, litres, unsigned, little-endian
    10-50   41 bytes 23 x 14-bit hourly deltas (litres), LSB-first bit-packed, then a
                     6-bit history multiplier (non-zero: the codec warns that scaling may
                     be needed; values are still given, as the codec does)

Timing (the codec gives none): the 24 register readings are taken as hourly, the last one
at the meter time floored to the hour. So the log volume is the register 23 h before that,
delta i (1-based) is the consumption of the hour ending (23 - i) h before it, and the
current volume (log volume + all deltas) is the register at the end of the last hour.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from decoders.model import Decoder, DecodeResult, DeviceEvent, Measurement
from decoders.vocabulary import METRICS

F_PORT = 100
FRAME_LENGTH = 51
FRAME_VERSION = 0x01
DELTAS = 23
_DELTA_BITS = 14
_DELTA_MASK = (1 << _DELTA_BITS) - 1

# version u8, meter time u32 LE, status u8, log volume u32 LE (litres), packed deltas
_HEADER = struct.Struct("<BIBI")
_PACKED_START = _HEADER.size  # 10
_U32_INVALID = 0xFFFFFFFF
_HOUR = timedelta(hours=1)
_DELTA_OFFSETS = tuple(timedelta(hours=DELTAS - i) for i in range(1, DELTAS + 1))
_DELTA_SHIFTS = tuple(range(0, _DELTA_BITS * DELTAS, _DELTA_BITS))
_M3 = METRICS["water_volume"].unit
# 23 values per uplink: build the NamedTuples without their Python-level __new__ (as
# decoders.model does), about twice as fast.
_new = tuple.__new__


def _status_events(result: DecodeResult, status: int, time: datetime) -> None:
    """Status byte, with the codec's precedence: bits 5-7 are partly a code
    (0x20 leak, 0x60 backflow, 0xA0 burst, 0x80 low temperature); 0x10 alone is an empty pipe;
    0x04 low battery, 0x08 permanent error, 0x10 temporary error."""
    backflow = status & 0x60 == 0x60
    burst = status & 0xA0 == 0xA0
    pipe_empty = status == 0x10
    # Built directly (codes are constants of the vocabulary): 8 events on every uplink.
    result.events += [
        _new(DeviceEvent, (time, code, active))
        for code, active in (
            ("low_battery", bool(status & 0x04)),
            ("meter_error", bool(status & 0x08)),
            # An empty pipe is reported as `dry`, not also as a (temporary) sensor error.
            ("sensor_error", bool(status & 0x10) and not pipe_empty),
            ("dry", pipe_empty),
            ("backflow", backflow),
            ("burst", burst),
            ("leak", bool(status & 0x20) and not backflow and not burst),
            ("low_temperature", bool(status & 0x80) and not burst),
        )
    ]


def decode_qalcosonic_w1(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Qalcosonic W1: hourly consumption (23 intervals), volume register at log start and now,
    status events."""
    result = DecodeResult(received_at=received_at)
    if f_port != F_PORT:
        return result.error(f"unsupported fPort {f_port} (expected {F_PORT})")
    if len(payload) != FRAME_LENGTH:
        return result.error(f"unsupported payload length {len(payload)} (expected {FRAME_LENGTH})")
    version, timestamp, status, log_litres = _HEADER.unpack_from(payload)
    if version != FRAME_VERSION:
        return result.error(f"unsupported frame version {version:#04x}")

    if timestamp in (0, _U32_INVALID):
        result.warnings.append("meter time not set: reception time used")
        meter_time = received_at
    else:
        meter_time = datetime.fromtimestamp(timestamp, UTC)
    end = meter_time.replace(minute=0, second=0, microsecond=0)

    packed = int.from_bytes(payload[_PACKED_START:], "little")
    litres = [(packed >> shift) & _DELTA_MASK for shift in _DELTA_SHIFTS]
    total = sum(litres)
    packed >>= _DELTA_BITS * DELTAS  # leaves the 6-bit history multiplier
    # Built directly: 23 per uplink, finite by construction.
    result.measurements += [
        _new(Measurement, (end - offset, "water_volume", value / 1000, _M3, ""))
        for offset, value in zip(_DELTA_OFFSETS, litres, strict=True)
    ]
    if packed & 0x3F:
        result.warnings.append(
            f"non-zero history multiplier {packed & 0x3F}: additional scaling may be required"
        )

    if log_litres == _U32_INVALID:
        result.warnings.append("log volume invalid (0xFFFFFFFF): volume register omitted")
    else:
        result.measure("water_volume_index", log_litres / 1000, time=end - DELTAS * _HOUR)
        result.measure("water_volume_index", (log_litres + total) / 1000, time=end)
    _status_events(result, status, meter_time)
    return result


DECODERS: dict[str, Decoder] = {
    "axioma-qalcosonic-w1": decode_qalcosonic_w1,
}
