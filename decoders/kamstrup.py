"""Kamstrup flowIQ2200 water meter: OMS records (decoders/oms.py) -> ICONE vocabulary.

The flowIQ2200 (LoRaWAN configuration 02K73A) sends plain OMS application frames: a daily
"midnight log" (date, volume register, info codes, ALD noise level, min/max flow and
flow temperature, all with storage number 1) and hourly frames (date, volume register and an
inverse compact profile of the register's past hourly values). Kamstrup-specific meaning of
manufacturer VIF 0xFF follows the reference codec (TTN lorawan-devices
vendor/kamstrup/mbusparser.js):

    0xFF 0x25  info code, water meter (bit field, 2 bytes)
    0xFF 0x22  info code, MULTICAL type 4 (bit field)
    0xFF 0x1B  ALD: acoustic leak-detection noise level (unsigned; 4095 = invalid)
    0xFF 0x1C  ALD last day (unsigned; 4095 = invalid)
    0xFF 0x16  module type / configuration number (static, no metric)

Like mbusparser.js, the info code is read whatever its function field (the meters send it
with function "maximum"), and every flag is reported, set or clear. Meter times are taken
as UTC, as the reference codec does.
"""

from __future__ import annotations

from datetime import datetime

from decoders import oms
from decoders.model import Decoder, DecodeResult, DeviceEvent, Measurement
from decoders.vocabulary import METRICS

_CHANNELS = ("", "max", "min")  # by OMS function field; "error state" values are not mapped

# Plain numeric records: OMS quantity -> metric. Volume is the meter register; its profile
# (hourly history) gives past values of the same register, at their own times.
_METRICS = {
    oms.VOLUME: "water_volume_index",
    oms.VOLUME_FLOW: "water_flow",
    oms.FLOW_TEMPERATURE: "water_temperature",
    oms.EXTERNAL_TEMPERATURE: "temperature",
}

# Info code bits (water meters), 0xFF 0x25: bit -> event code.
_INFOCODE_WATER = (
    "dry",  # 0 Dry
    "backflow",  # 1 Reverse
    "leak",  # 2 Leak
    "burst",  # 3 Burst
    "tamper",  # 4 Tamper
    "low_battery",  # 5 Low Battery
    "low_temperature",  # 6 Low Ambient Temperature
    "high_temperature",  # 7 High Ambient Temperature
)

# Info code bits, MULTICAL type 4, 0xFF 0x22: event code -> mask of the bits that mean it.
_INFOCODE_TYPE4 = {
    "low_battery": 1 << 1,
    "sensor_error": (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 20) | (1 << 21),
    "dry": (1 << 8) | (1 << 24),  # V1 / V2 air
    "backflow": (1 << 9) | (1 << 25),  # V1 / V2 reverse
    "leak": (1 << 12) | (1 << 13) | (1 << 18) | (1 << 19) | (1 << 30) | (1 << 31),
    "burst": (1 << 28) | (1 << 29),
    "meter_error": (1 << 16) | (1 << 17) | (1 << 22) | (1 << 23),
}

# First VIFE after manufacturer VIF 0xFF (see the module docstring).
_INFOCODE = 0x25
_INFOCODE_TYPE4_CODE = 0x22
_ALD = 0x1B
_ALD_LAST_DAY = 0x1C
_MODULE_TYPE = 0x16
_ALD_INVALID = 4095  # mbusparser.js: "invalid ALD"
_M3 = METRICS["water_volume_index"].unit


def _manufacturer(result: DecodeResult, record: oms.Record, time: datetime) -> None:
    code = record.vifes[0] if record.vifes else -1
    raw = record.integer
    if code in (_INFOCODE, _INFOCODE_TYPE4_CODE):
        if raw is None:
            return
        if code == _INFOCODE:
            result.events += [
                DeviceEvent(time, event, bool(raw & (1 << bit)))
                for bit, event in enumerate(_INFOCODE_WATER)
            ]
        else:
            result.events += [
                DeviceEvent(time, event, bool(raw & mask))
                for event, mask in _INFOCODE_TYPE4.items()
            ]
    elif code in (_ALD, _ALD_LAST_DAY):
        if raw is None:
            return
        if raw == _ALD_INVALID or raw == (1 << (8 * len(record.data))) - 1:
            result.warnings.append("ALD noise level invalid (sentinel value)")
            return
        result.measure(
            "acoustic_noise_level", raw, "last_day" if code == _ALD_LAST_DAY else "", time
        )
    elif code < 0:
        result.warnings.append("manufacturer-specific VIF without a VIFE ignored")
    elif code != _MODULE_TYPE:
        result.warnings.append(f"unknown Kamstrup manufacturer-specific VIFE {code:#04x} ignored")


def decode_flowiq2200(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """flowIQ2200: volume register (+ hourly history), min/max flow and water temperature,
    info-code events, ALD noise level."""
    result = DecodeResult(received_at=received_at)
    telegram = oms.parse(payload)
    result.errors.extend(telegram.errors)
    result.warnings.extend(telegram.warnings)
    for record in telegram.records:
        time = record.time or received_at
        if record.vif == oms.VIF_MANUFACTURER:
            _manufacturer(result, record, time)
            continue
        metric = _METRICS.get(record.quantity)
        if metric is None:
            continue
        if record.history is not None:
            if metric == "water_volume_index" and record.function == oms.INSTANTANEOUS:
                # Built directly: up to dozens per uplink, finite by construction.
                result.measurements += [
                    Measurement(when, metric, value, _M3) for when, value in record.history
                ]
            continue
        if record.value is None or not record.plain or record.function == oms.ERROR_STATE:
            continue
        if metric == "water_volume_index":
            if record.function == oms.INSTANTANEOUS:
                result.measure(metric, record.value, time=time)
            continue
        result.measure(metric, record.value, _CHANNELS[record.function], time)
    if not (result.measurements or result.events or result.errors or telegram.records):
        result.errors.append("no data record in frame")
    return result


DECODERS: dict[str, Decoder] = {
    "kamstrup-flowiq2200": decode_flowiq2200,
}
