"""SenML in CBOR (RFC 8428): a pack (array) of records, each a map.

Keys are the CBOR integer labels (bver -1, bn -2, bt -3, bu -4, bv -5, bs -6, n 0, u 1, v 2,
vs 3, vb 4, s 5, t 6, ut 7, vd 8) or, as some encoders write, the JSON string keys.
Resolution (RFC 8428 section 4.5): base fields apply to the records that follow until changed;
name = bn + n, time = bt + t, value = bv + v, sum = bs + s, unit = u or bu. A resolved time
below 2**28 is relative to "now", which for an uplink is `received_at` (RFC 8428 section 4.5.3).
Records with only vs / vb / vd (string, boolean, data) are ignored with a warning. A field name
ending in "_" must be understood (RFC 8428 section 4.4): we understand none, so the pack fails.

Name/unit -> metric mapping (the only way a SenML record becomes a measurement):
1. The name's last segment (after the last ':', '/' or '.', lower-cased) is looked up in
   NAME_METRICS: a vocabulary metric name or a common alias ("temp", "hum", "battery"...) gives
   candidate metrics and a channel ("probe" for an external temperature probe).
   The record's unit, converted to our canonical unit, must fit exactly one candidate;
   without a unit the value is taken as already in the candidate's canonical unit.
2. A name that is not recognised (or no name) leaves the decision to the unit, and only for
   units that mean one metric here (UNIT_DEFAULT_METRIC: Cel/K -> temperature, %RH ->
   relative_humidity, lx, W/kW, VA, A/mA, Ah, Wh/kWh/J -> energy_active_import_index,
   m3/l -> water_volume_index, m3/s,l/s -> water_flow, hPa/Pa -> air_pressure).
   Ambiguous units (V: battery or mains voltage, %: battery or humidity, ppm: which gas,
   count, var h: import or export) need a recognised name; otherwise the record is ignored
   with a warning, as is a record whose unit contradicts its name.
3. With no `v`, a record's sum `s` is used for counter metrics (a meter index is the integral
   of its flow), and ignored with a warning otherwise.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import cbor2

from decoders.model import Decoder, DecodeResult
from decoders.vocabulary import METRICS, Kind

# RFC 8428 CBOR labels; string keys (JSON-style) map to the same codes
BVER, BN, BT, BU, BV, BS = -1, -2, -3, -4, -5, -6
N, U, V, VS, VB, S, T, UT, VD = 0, 1, 2, 3, 4, 5, 6, 7, 8
_NAMES = ("n", "u", "v", "vs", "vb", "s", "t", "ut", "vd")
_BASE_NAMES = ("bver", "bn", "bt", "bu", "bv", "bs")
_LABELS: dict[object, int] = {
    **{label: label for label in range(-6, 9)},
    **{name: code for code, name in enumerate(_NAMES)},
    **{name: -1 - code for code, name in enumerate(_BASE_NAMES)},
}
_MISSING = object()


class UnitConversion(NamedTuple):
    """A SenML unit as our canonical unit: canonical = value * scale + offset."""

    canonical: str
    scale: float
    offset: float = 0.0


# SenML units (RFC 8428 registry + RFC 8798 additions) that reach our vocabulary.
# "%RH" is kept apart from "%" so that it can only mean relative humidity.
UNITS: dict[str, UnitConversion] = {
    "Cel": UnitConversion("°C", 1.0),
    "K": UnitConversion("°C", 1.0, -273.15),
    "%RH": UnitConversion("%RH", 1.0),
    "%": UnitConversion("%", 1.0),
    "ppm": UnitConversion("ppm", 1.0),
    "lx": UnitConversion("lx", 1.0),
    "V": UnitConversion("V", 1.0),
    "mV": UnitConversion("V", 0.001),
    "A": UnitConversion("A", 1.0),
    "mA": UnitConversion("A", 0.001),
    "W": UnitConversion("W", 1.0),
    "kW": UnitConversion("W", 1000.0),
    "VA": UnitConversion("VA", 1.0),
    "kVA": UnitConversion("VA", 1000.0),
    "Wh": UnitConversion("kWh", 0.001),
    "kWh": UnitConversion("kWh", 1.0),
    "J": UnitConversion("kWh", 1 / 3_600_000),
    "varh": UnitConversion("kvarh", 0.001),
    "kvarh": UnitConversion("kvarh", 1.0),
    "kVAh": UnitConversion("kVAh", 1.0),
    "Ah": UnitConversion("Ah", 1.0),
    "m3": UnitConversion("m³", 1.0),
    "l": UnitConversion("m³", 0.001),
    "m3/s": UnitConversion("m³/h", 3600.0),
    "l/s": UnitConversion("m³/h", 3.6),
    "hPa": UnitConversion("hPa", 1.0),
    "Pa": UnitConversion("hPa", 0.01),
    "count": UnitConversion("1", 1.0),
}

# Units that designate one metric on their own (rule 2).
UNIT_DEFAULT_METRIC: dict[str, str] = {
    "°C": "temperature",
    "%RH": "relative_humidity",
    "lx": "illuminance",
    "W": "active_power",
    "VA": "apparent_power",
    "A": "current",
    "Ah": "charge_index",
    "kWh": "energy_active_import_index",
    "kVAh": "energy_apparent_index",
    "m³": "water_volume_index",
    "m³/h": "water_flow",
    "hPa": "air_pressure",
}

# Canonical units each metric accepts; relative humidity also takes a plain "%".
_ACCEPTED: dict[str, frozenset[str]] = {name: frozenset({m.unit}) for name, m in METRICS.items()}
_ACCEPTED["relative_humidity"] = frozenset({"%", "%RH"})

_BATTERY = ("battery_voltage", "battery_level")
# name segment -> (candidate metrics, channel) (rule 1); vocabulary names map to themselves
NAME_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    **{name: ((name,), "") for name in METRICS},
    "temp": (("temperature",), ""),
    "probe": (("temperature",), "probe"),
    "probe_temperature": (("temperature",), "probe"),
    "external_temperature": (("temperature",), "probe"),
    "ext_temp": (("temperature",), "probe"),
    "humidity": (("relative_humidity",), ""),
    "hum": (("relative_humidity",), ""),
    "rh": (("relative_humidity",), ""),
    "lux": (("illuminance",), ""),
    "light": (("illuminance",), ""),
    "battery": (_BATTERY, ""),
    "bat": (_BATTERY, ""),
    "batt": (_BATTERY, ""),
    "vbat": (("battery_voltage",), ""),
    "vdd": (("battery_voltage",), ""),
    "power": (("active_power",), ""),
    "energy": (("energy_active_import_index",), ""),
    "pressure": (("air_pressure",), ""),
    "volume": (("water_volume_index",), ""),
    "flow": (("water_flow",), ""),
    "pulses": (("pulse_count",), ""),
    "pulse": (("pulse_count",), ""),
    "motion": (("motion_count",), ""),
}

_RELATIVE_LIMIT = 2**28  # RFC 8428 4.5.3: smaller resolved times are relative to now
_TYPE_NUMBER = (int, float)


class Target(NamedTuple):
    metric: str
    channel: str
    scale: float
    offset: float
    counter: bool  # a counter may come from a record's sum `s`


# (name segment, unit) -> Target, or the warning text explaining the rejection. Bounded cache:
# devices repeat the same few names, so most records skip the mapping work.
_CACHE: dict[tuple[str, str | None], Target | str] = {}  # (full name, unit) ->
_CACHE_MAX = 4096


def _segment(name: str) -> str:
    """The last segment of a SenML name (after ':', '/' or '.'), lower-cased."""
    cut = max(name.rfind(":"), name.rfind("/"), name.rfind("."))
    return name[cut + 1 :].lower()


def _is_counter(metric: str) -> bool:
    return METRICS[metric].kind is Kind.COUNTER


def _resolve(segment: str, unit: str | None) -> Target | str:
    """Rules 1 and 2 of the module docstring."""
    conversion = UNITS.get(unit) if unit is not None else None
    if unit is not None and conversion is None:
        return f"unit {unit!r} not supported"
    named = NAME_METRICS.get(segment)
    if named is not None:
        candidates, channel = named
        if conversion is None:
            fits = list(candidates)
            scale, offset = 1.0, 0.0
        else:
            fits = [m for m in candidates if conversion.canonical in _ACCEPTED[m]]
            scale, offset = conversion.scale, conversion.offset
        if len(fits) == 1:
            return Target(fits[0], channel, scale, offset, _is_counter(fits[0]))
        if not fits:
            return f"unit {unit!r} does not fit name {segment!r}"
        return f"name {segment!r} without unit is ambiguous"
    if conversion is None:
        return f"name {segment!r} not recognised and no unit"
    metric = UNIT_DEFAULT_METRIC.get(conversion.canonical)
    if metric is None:
        return f"unit {unit!r} is ambiguous without a recognised name (got {segment!r})"
    return Target(metric, "", conversion.scale, conversion.offset, _is_counter(metric))


def _target(name: str, unit: str | None) -> Target | str:
    key = (name, unit)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        found = _CACHE[key] = _resolve(_segment(name), unit)
    return found


def _number(value: object) -> float | None:
    """A finite JSON/CBOR number, or None (booleans and other types are not numbers)."""
    if type(value) not in _TYPE_NUMBER:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # int or float, checked above
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _load(payload: bytes, result: DecodeResult) -> object:
    """Decode one CBOR item; trailing bytes are a warning. Any decoding failure -> None."""
    stream = io.BytesIO(payload)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:  # cbor2 raises several types on hostile input; never propagate
        result.errors.append(f"invalid CBOR: {type(exc).__name__}: {exc}")
        return None
    if stream.tell() != len(payload):
        result.warnings.append(f"{len(payload) - stream.tell()} trailing bytes after CBOR ignored")
    return item


def decode_senml_cbor(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """SenML/CBOR pack -> vocabulary metrics (see the module docstring for the mapping)."""
    result = DecodeResult(received_at=received_at)
    if not payload:
        return result.error("empty payload")
    pack = _load(payload, result)
    if result.errors:
        return result
    if isinstance(pack, Mapping):
        pack = [pack]  # lenient: a lone record instead of a one-record pack
    if not isinstance(pack, list):
        return result.error(f"SenML pack must be a CBOR array, got {type(pack).__name__}")

    warnings = result.warnings
    # base fields (None: the pack gave a base of the wrong type; its records are ignored)
    base_name: str | None = ""
    base_unit: object = None
    base_time: float | None = 0.0
    base_value: float | None = 0.0
    base_sum: float | None = 0.0
    last_when, last_time = math.nan, received_at  # records of a pack often share one time
    seen: set[tuple[str, str, float]] = set()
    for index, raw in enumerate(pack):
        if type(raw) is not dict and not isinstance(raw, Mapping):
            warnings.append(f"record {index}: not a map, ignored")
            continue
        n: object = ""
        u: object = _MISSING
        v: object = _MISSING
        s: object = _MISSING
        t: object = 0.0
        other_value = False
        for key, item in raw.items():
            try:
                code = _LABELS.get(key)
            except TypeError:  # an unhashable key: not a SenML label
                code = None
            if code is None:
                if isinstance(key, str) and key.endswith("_"):
                    result.measurements.clear()
                    return result.error(f"record {index}: mandatory field {key!r} not understood")
            elif code == N:
                n = item
            elif code == V:
                v = item
            elif code == U:
                u = item
            elif code == T:
                t = item
            elif code == BN:
                base_name = item if type(item) is str else None
            elif code == BT:
                base_time = _number(item)
            elif code == BU:
                base_unit = item
            elif code == BV:
                base_value = _number(item)
            elif code == BS:
                base_sum = _number(item)
            elif code == S:
                s = item
            elif code in (VS, VB, VD):
                other_value = True
            # BVER and UT: nothing to do (we read version 10 packs; no update time use)

        if v is _MISSING and s is _MISSING:
            if other_value:
                warnings.append(f"record {index}: non-numeric value (vs/vb/vd) ignored")
            continue
        if type(n) is not str or base_name is None:
            warnings.append(f"record {index}: name is not text, ignored")
            continue
        name = base_name + n
        unit = base_unit if u is _MISSING else u
        target = _target(name, unit if type(unit) is str else None)
        if isinstance(target, str):
            warnings.append(f"record {index} ({name}): {target}, ignored")
            continue
        if v is not _MISSING:
            value, base = (v if type(v) is float else _number(v)), base_value
        elif target.counter:
            value, base = (s if type(s) is float else _number(s)), base_sum  # index = sum
        else:
            warnings.append(f"record {index} ({name}): sum of a {target.metric} ignored")
            continue
        offset = t if type(t) is float else _number(t)
        relative = base_time
        if value is None or base is None or offset is None or relative is None:
            warnings.append(f"record {index} ({name}): value or time is not a number, ignored")
            continue

        when = relative + offset
        if when != last_when:
            try:
                if when < _RELATIVE_LIMIT:
                    last_time = received_at + timedelta(seconds=when)
                else:
                    last_time = datetime.fromtimestamp(when, UTC)
            except (OverflowError, ValueError, OSError):
                warnings.append(f"record {index} ({name}): time {when!r} out of range, ignored")
                last_when = math.nan
                continue
            last_when = when
        key3 = (target.metric, target.channel, when)
        if key3 in seen:
            warnings.append(f"record {index} ({name}): duplicate {target.metric}, ignored")
            continue
        seen.add(key3)
        result.measure(
            target.metric, (base + value) * target.scale + target.offset, target.channel, last_time
        )
    if not result.measurements and not result.warnings:
        result.errors.append("empty SenML pack")
    return result


DECODERS: dict[str, Decoder] = {
    "senml-cbor": decode_senml_cbor,
}
