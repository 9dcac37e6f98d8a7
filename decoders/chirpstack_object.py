"""Measurements from ChirpStack's decoded `object` (the output of a device-profile JS codec).

When a device profile runs the vendor's TTN codec inside ChirpStack, the uplink event carries
the codec's `data` as `object`, and we can map it instead of decoding the bytes. ChirpStack
passes it through protobuf Struct, so every number arrives as a float (12 -> 12.0) and NaN as
null. OBJECT_MAPPINGS gives, per model, the vendor codec's output keys (a dotted path for
nested objects, e.g. Adeunis `bytes.BASE`, Enless `values.pulse_ch1`) -> (metric, channel,
scale to the canonical unit). A value may be a number or a `{unit, value}` /
`{displayName, unit, value}` object (Adeunis, Enless, Decentlab): its `value` is used.
Models without a table use GENERIC_MAPPING (the vocabulary names and a few unambiguous keys).
Outputs that need per-record times (Milesight `history[]`, Kamstrup `values[]`, Axioma hourly
deltas, Adeunis `counterValues[]` whose channel depends on the frame type) are not mapped:
decode the bytes for those. Everything is placed at `received_at`. Never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from decoders.model import DecodeResult
from decoders.vocabulary import METRICS

ObjectMapping = dict[str, tuple[str, str, float]]

_WH = 0.001  # Wh -> kWh, varh -> kvarh, VAh -> kVAh

OBJECT_MAPPINGS: dict[str, ObjectMapping] = {
    # vendor/milesight-iot/em300-th.js
    "milesight-em300-th": {
        "battery": ("battery_level", "", 1.0),
        "temperature": ("temperature", "", 1.0),
        "humidity": ("relative_humidity", "", 1.0),
    },
    # vendor/milesight-iot/em300-di.js (history[] not mapped)
    "milesight-em300-di": {
        "battery": ("battery_level", "", 1.0),
        "temperature": ("temperature", "", 1.0),
        "humidity": ("relative_humidity", "", 1.0),
        "pulse": ("pulse_count", "", 1.0),
    },
    # vendor/milesight-iot/ct101.js: total_current is u32 / 100, in Ah
    "milesight-ct101": {
        "current": ("current", "", 1.0),
        "total_current": ("charge_index", "", 1.0),
        "temperature": ("temperature", "", 1.0),
        "current_max": ("current", "max", 1.0),
        "current_min": ("current", "min", 1.0),
    },
    # vendor/elsys/elsys.js (generic Elsys decoder: vdd, analog in mV, distance in mm, pressure hPa);
    # channels as decoders/elsys.py gives them
    "elsys-ers-lite": {
        "temperature": ("temperature", "", 1.0),
        "humidity": ("relative_humidity", "", 1.0),
        "vdd": ("battery_voltage", "", 0.001),
        "light": ("illuminance", "", 1.0),
        "motion": ("motion_count", "", 1.0),
        "co2": ("co2", "", 1.0),
        "externalTemperature": ("temperature", "probe", 1.0),
        "pulseAbs": ("pulse_count", "1", 1.0),
        "pulseAbs2": ("pulse_count", "2", 1.0),
        "pulse1": ("pulse_increment", "1", 1.0),
        "pulse2": ("pulse_increment", "2", 1.0),
        "accMotion": ("motion_count", "acc", 1.0),
        "analog1": ("analog_voltage", "1", 0.001),
        "analog2": ("analog_voltage", "2", 0.001),
        "digital": ("digital_input", "1", 1.0),
        "digital2": ("digital_input", "2", 1.0),
        "distance": ("distance", "", 0.001),
        "occupancy": ("occupancy", "", 1.0),
        "tvoc": ("tvoc", "", 1.0),
        "pressure": ("air_pressure", "", 1.0),
    },
    # vendor/dragino/lht65.js
    "dragino-lht65": {
        "BatV": ("battery_voltage", "", 1.0),
        "TempC_SHT": ("temperature", "", 1.0),
        "Hum_SHT": ("relative_humidity", "", 1.0),
        "TempC_DS": ("temperature", "probe", 1.0),
        "ILL_lx": ("illuminance", "", 1.0),
    },
    # vendor/decentlab/dl-sht35.js: {displayName, unit, value} objects
    "decentlab-dl-sht35": {
        "air_temperature": ("temperature", "", 1.0),
        "air_humidity": ("relative_humidity", "", 1.0),
        "battery_voltage": ("battery_voltage", "", 1.0),
    },
    # vendor/axioma/qalcosonic-w1-codec.js (log volume and hourly deltas need their times)
    "axioma-qalcosonic-w1": {
        "current_volume_m3": ("water_volume_index", "", 1.0),
    },
    # vendor/kamstrup/mbusparser.js: latestVolume = newest volume register
    "kamstrup-flowiq2200": {
        "latestVolume": ("water_volume_index", "", 1.0),
    },
    # vendor/adeunis/tic_cbe_linky_mono_lib.js: {unit, value} under data.bytes; indexes in Wh
    "adeunis-tic-cbe-linky-mono": {
        "bytes.BASE": ("energy_active_import_index", "BASE", _WH),
        "bytes.HCHC": ("energy_active_import_index", "HCHC", _WH),
        "bytes.HCHP": ("energy_active_import_index", "HCHP", _WH),
        "bytes.IINST": ("current", "", 1.0),
        "bytes.IMAX": ("current", "max", 1.0),
        "bytes.PAPP": ("apparent_power", "", 1.0),
    },
    # vendor/adeunis/tic_pme_pmi_lib.js: current period in Wh/varh/VAh, P registers in k-units
    "adeunis-tic-pme-pmi": {
        "bytes.EA_s": ("energy_active_import_index", "EA_s", _WH),
        "bytes.ER+_s": ("energy_reactive_import_index", "ER+_s", _WH),
        "bytes.ER-_s": ("energy_reactive_export_index", "ER-_s", _WH),
        "bytes.EAPP_s": ("energy_apparent_index", "EAPP_s", _WH),
        "bytes.EAP_s": ("energy_active_import_index", "EAP_s", 1.0),
        "bytes.ER+P_s": ("energy_reactive_import_index", "ER+P_s", 1.0),
        "bytes.ER-P_s": ("energy_reactive_export_index", "ER-P_s", 1.0),
        "bytes.EaP-1_s": ("energy_active_import_index", "EaP-1_s", 1.0),
        "bytes.ER+P-1_s": ("energy_reactive_import_index", "ER+P-1_s", 1.0),
        "bytes.ER-P-1_s": ("energy_reactive_export_index", "ER-P-1_s", 1.0),
    },
    # vendor/enless-wireless/enlessdecoder.js: {unit: '', value} pulse counters
    "enless-tx-pulse-led-600-038": {
        "values.pulse_ch1": ("pulse_count", "1", 1.0),
        "values.pulse_ch2": ("pulse_count", "2", 1.0),
        "values.pulse_oc": ("pulse_count", "oc", 1.0),
    },
    # vendor/adeunis/pulse_lib.js: counterValues[] is A or B depending on the frame: not mapped
    "adeunis-pulse-4": {},
}

# Flags in the codec output -> (event code, active). An event is emitted only when the flag is
# set (true or "yes"): a cleared state flag is the normal case, not a "cleared" report, except
# for the explicit "..._release" flags, which report that an alarm cleared.
OBJECT_EVENTS: dict[str, dict[str, tuple[str, bool]]] = {
    "axioma-qalcosonic-w1": {
        "low_battery": ("low_battery", True),
        "pipe_empty": ("dry", True),
        "backflow": ("backflow", True),
        "burst": ("burst", True),
        "leakage": ("leak", True),
        "low_temperature": ("low_temperature", True),
    },
    "milesight-ct101": {
        "current_alarm.current_threshold_alarm": ("current_threshold", True),
        "current_alarm.current_threshold_alarm_release": ("current_threshold", False),
        "current_alarm.current_over_range_alarm": ("current_over_range", True),
        "current_alarm.current_over_range_alarm_release": ("current_over_range", False),
    },
    "adeunis-pulse-4": {"bytes.status.lowBattery": ("low_battery", True)},
    "adeunis-tic-cbe-linky-mono": {"bytes.status.lowBattery": ("low_battery", True)},
    "adeunis-tic-pme-pmi": {"bytes.status.lowBattery": ("low_battery", True)},
}

# For models without a table: our metric names, and keys that cannot mean anything else.
GENERIC_MAPPING: ObjectMapping = {
    **{name: (name, "", 1.0) for name in METRICS},
    "humidity": ("relative_humidity", "", 1.0),
    "batteryVoltage": ("battery_voltage", "", 1.0),
    "batteryLevel": ("battery_level", "", 1.0),
}

_MISSING = object()

# path tuples precomputed once: model -> [(path, key, target)]
_Compiled = list[tuple[tuple[str, ...], str, tuple[str, str, float]]]


def _compile(mapping: ObjectMapping) -> _Compiled:
    return [(tuple(key.split(".")), key, target) for key, target in mapping.items()]


_COMPILED: dict[str, _Compiled] = {model: _compile(m) for model, m in OBJECT_MAPPINGS.items()}
_COMPILED_GENERIC = _compile(GENERIC_MAPPING)
_COMPILED_EVENTS = {
    model: [(tuple(key.split(".")), key, target) for key, target in events.items()]
    for model, events in OBJECT_EVENTS.items()
}


def _lookup(obj: Mapping[str, object], path: tuple[str, ...]) -> object:
    current: object = obj
    for part in path:
        if not isinstance(current, Mapping):
            return _MISSING
        current = current.get(part, _MISSING)
        if current is _MISSING:
            return _MISSING
    if isinstance(current, Mapping) and "value" in current:
        return current["value"]  # {unit, value} / {displayName, unit, value}
    return current


def decode_object(model_id: str, obj: Mapping[str, object], received_at: datetime) -> DecodeResult:
    """Map a ChirpStack decoded `object` of `model_id` to the vocabulary. Never raises."""
    result = DecodeResult(received_at=received_at)
    if not isinstance(obj, Mapping):
        return result.error(f"decoded object must be a JSON object, got {type(obj).__name__}")
    for path, key, (metric, channel, scale) in _COMPILED.get(model_id, _COMPILED_GENERIC):
        value = _lookup(obj, path)
        if value is _MISSING:
            continue
        if value is None:
            result.warnings.append(f"{key}: null (NaN or invalid in the codec), dropped")
        elif type(value) is float or type(value) is int:
            try:
                number = float(value)
            except OverflowError:
                result.warnings.append(f"{key}: number out of range, dropped")
                continue
            result.measure(metric, number * scale, channel)
        else:
            result.warnings.append(f"{key}: not a number ({type(value).__name__}), dropped")
    for path, key, (code, active) in _COMPILED_EVENTS.get(model_id, ()):
        flag = _lookup(obj, path)
        if flag in (True, "yes"):  # ChirpStack may also give 1.0
            result.event(code, active)
        elif flag is not _MISSING and flag not in (False, "no"):
            result.warnings.append(f"{key}: unexpected flag value {flag!r}, ignored")
    return result
