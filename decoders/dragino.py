"""Dragino LHT65 frames (fPort 2): built-in SHT temperature/humidity plus one external sensor.

Reference: TTN lorawan-devices vendor/dragino/lht65.js. Fixed 11-byte frame, big-endian:
  0-1   battery: bits 15-14 status (0 ultra low <= 2.50 V, 1 low, 2 OK, 3 good), bits 13-0 mV
  2-3   SHT temperature, i16, 0.01 °C
  4-5   SHT humidity, low 12 bits, 0.1 %RH
  6     bits 3-0 external sensor type, bit 6 poll reply, bit 7 external sensor not connected
  7-10  external sensor value, by type:
        1  DS18B20 probe temperature: i16 (7-8), 0.01 °C; 0x7FFF = no reading
        4  interrupt: pin level (7), interrupt flag (8)
        5  illuminance: u16 (7-8), lx
        6  ADC: u16 (7-8), mV
        7  interrupt count: u16 (7-8);  8: interrupt count u32 (7-10)
        9  DS18B20 + timestamp: the probe temperature moves to bytes 0-1 (no battery voltage;
           the battery status is then the top bits of byte 4), bytes 7-10 = unix time (u32)
           at which the sample was taken
        15 DS18B20 ROM id in bytes 2-5 and 7-10 (no SHT values): text, no metric
        0 / others: no external value

Kept from the vendor codec: fPort other than 2 -> error "unknown FPort"; frames that are not
11 bytes and poll replies give no values (the codec returns nothing; here an error, resp. a
warning, says why). Deliberate departures:
- the probe temperature is omitted (warning + sensor_error event) when byte 6 says the probe is
  not connected or the value is the 0x7FFF sentinel; the codec passes 327.67 °C on;
- the u32 interrupt count is unsigned (the codec's `<< 24` makes counts >= 2^31 negative);
- in mode 9 the values are placed at the payload's timestamp (a clock before 2015 means the
  device time was never set: warning, uplink time kept);
- the battery status becomes a low_battery event (status 0 or 1 -> active, 2 or 3 -> cleared).
Not mapped: the interrupt flag of mode 4 and the DS18B20 ROM id of mode 15.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from decoders.model import Decoder, DecodeResult

F_PORT = 2
FRAME_SIZE = 11

# battery u16, SHT temperature i16, SHT humidity u16, sensor byte, 4 external bytes
_FRAME = struct.Struct(">HhHB4s")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

_NO_READING = 0x7FFF  # DS18B20 sentinel (327.67 °C)
_POLL_REPLY = 0x40
_NOT_CONNECTED = 0x80
_CLOCK_SET_AFTER = 1_420_070_400  # 2015-01-01T00:00:00Z: earlier device times are not real


def _probe(result: DecodeResult, raw: int, connected: bool, time: datetime) -> None:
    """DS18B20 temperature (0.01 °C), unless the probe is absent or gave no reading."""
    if not connected:
        result.warnings.append("external probe not connected: probe temperature omitted")
        result.event("sensor_error", True, time)
    elif raw == _NO_READING:
        result.warnings.append("probe temperature 0x7FFF (no reading) omitted")
        result.event("sensor_error", True, time)
    else:
        result.measure("temperature", raw / 100, "probe", time)


def decode_lht65(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Dragino LHT65: battery, SHT temperature/humidity and the external sensor's value."""
    result = DecodeResult(received_at=received_at)
    if f_port != F_PORT:
        return result.error("unknown FPort")
    if len(payload) != FRAME_SIZE:
        return result.error(f"expected {FRAME_SIZE} bytes, got {len(payload)}")
    battery, sht_temp, sht_hum, sensor, ext = _FRAME.unpack(payload)
    if sensor & _POLL_REPLY:
        result.warnings.append("poll reply (datalog) frame: not decoded, as the vendor codec")
        return result
    kind = sensor & 0x0F
    connected = not sensor & _NOT_CONNECTED
    time = received_at
    if kind == 9:
        stamp = _U32.unpack_from(ext)[0]
        if stamp >= _CLOCK_SET_AFTER:
            time = datetime.fromtimestamp(stamp, UTC)
        else:
            result.warnings.append(f"device clock not set (timestamp {stamp}): uplink time used")
        _probe(result, _I16.unpack_from(payload)[0], connected, time)
        status = payload[4] >> 6
    else:
        result.measure("battery_voltage", (battery & 0x3FFF) / 1000, time=time)
        status = battery >> 14
    result.event("low_battery", status < 2, time)
    if kind != 15:
        result.measure("temperature", sht_temp / 100, time=time)
        result.measure("relative_humidity", (sht_hum & 0x0FFF) / 10, time=time)

    if kind == 1:
        _probe(result, _I16.unpack_from(ext)[0], connected, time)
    elif kind == 4:
        result.measure("digital_input", 1 if ext[0] else 0, time=time)
    elif kind == 5:
        result.measure("illuminance", _U16.unpack_from(ext)[0], time=time)
    elif kind == 6:
        result.measure("analog_voltage", _U16.unpack_from(ext)[0] / 1000, time=time)
    elif kind == 7:
        result.measure("pulse_count", _U16.unpack_from(ext)[0], time=time)
    elif kind == 8:
        result.measure("pulse_count", _U32.unpack_from(ext)[0], time=time)
    if not connected and kind not in (1, 9):  # modes 1 and 9 already said so
        result.warnings.append("external sensor not connected")
    return result


DECODERS: dict[str, Decoder] = {
    "dragino-lht65": decode_lht65,
}
