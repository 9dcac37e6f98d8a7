"""The measurement vocabulary: metric names, canonical units, kinds, and event codes.

This module is the code form of the contract in ``docs/measurements.md``. Decoders, storage,
the API and the dashboards all use these names; a decoder cannot emit a metric that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a metric's values relate to each other over time."""

    GAUGE = "gauge"  # instantaneous level
    COUNTER = "counter"  # monotonic register: consumption = difference of two readings
    INTERVAL = "interval"  # quantity consumed during the interval ending at `time`


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    kind: Kind
    description: str


_METRICS = (
    Metric(
        "temperature",
        "°C",
        Kind.GAUGE,
        "air or probe temperature; channel `probe` for an external probe",
    ),
    Metric("relative_humidity", "%", Kind.GAUGE, "relative humidity"),
    Metric("co2", "ppm", Kind.GAUGE, "CO2 concentration"),
    Metric("illuminance", "lx", Kind.GAUGE, "light level"),
    Metric("motion_count", "1", Kind.COUNTER, "PIR motion counter"),
    Metric("battery_voltage", "V", Kind.GAUGE, "battery or supply voltage"),
    Metric("battery_level", "%", Kind.GAUGE, "battery level"),
    Metric("water_volume_index", "m³", Kind.COUNTER, "water meter volume register"),
    Metric(
        "water_volume", "m³", Kind.INTERVAL, "water consumed during the interval ending at `time`"
    ),
    Metric(
        "water_flow", "m³/h", Kind.GAUGE, "water flow; channel `min` / `max` for period extremes"
    ),
    Metric("pulse_count", "1", Kind.COUNTER, "pulse input counter; channel = input name"),
    Metric(
        "energy_active_import_index",
        "kWh",
        Kind.COUNTER,
        "active energy register; channel = TIC label",
    ),
    Metric("energy_reactive_import_index", "kvarh", Kind.COUNTER, "reactive energy (Q+) register"),
    Metric("energy_reactive_export_index", "kvarh", Kind.COUNTER, "reactive energy (Q-) register"),
    Metric("energy_apparent_index", "kVAh", Kind.COUNTER, "apparent energy register"),
    Metric("active_power", "W", Kind.GAUGE, "active power"),
    Metric("apparent_power", "VA", Kind.GAUGE, "apparent power (TIC PAPP, SINSTS)"),
    Metric("current", "A", Kind.GAUGE, "RMS current; channel `min` / `max` for period extremes"),
    Metric(
        "charge_index", "Ah", Kind.COUNTER, "accumulated current (Milesight CT10x total current)"
    ),
    Metric("voltage", "V", Kind.GAUGE, "RMS voltage"),
    # Metrics added beyond docs/measurements.md; each helper appends in its own section.
    # --- added for Milesight / Elsys / Dragino / Decentlab ---
    Metric(
        "pulse_increment",
        "1",
        Kind.INTERVAL,
        "pulses counted during the interval ending at `time` (Elsys relative pulse); channel = input",
    ),
    Metric("digital_input", "1", Kind.GAUGE, "digital input level, 0 or 1; channel = input name"),
    Metric("analog_voltage", "V", Kind.GAUGE, "analog input voltage; channel = input name"),
    Metric("distance", "m", Kind.GAUGE, "distance measured by a range sensor"),
    Metric("occupancy", "1", Kind.GAUGE, "Elsys occupancy: 0 vacant, 1 pending, 2 occupied"),
    Metric("air_pressure", "hPa", Kind.GAUGE, "barometric air pressure"),
    Metric("sound_level", "dBA", Kind.GAUGE, "sound pressure level; channel `peak` / `avg`"),
    Metric("tvoc", "ppb", Kind.GAUGE, "total volatile organic compounds"),
    # --- added for Kamstrup OMS / Axioma ---
    Metric(
        "water_temperature",
        "°C",
        Kind.GAUGE,
        "temperature of the water in a meter (OMS flow temperature); channel `min` / `max`",
    ),
    Metric(
        "acoustic_noise_level",
        "1",
        Kind.GAUGE,
        "acoustic leak-detection noise level on the vendor's scale (Kamstrup ALD); "
        "channel `last_day` for the previous day's value",
    ),
    # --- added for Adeunis / Enless ---
    Metric(
        "pulse_rate",
        "1/h",
        Kind.GAUGE,
        "pulse input rate in pulses per hour (Adeunis Pulse flow); channel = input name, "
        "`<input>/min` / `<input>/max` for period extremes",
    ),
    # --- added for generic formats (Cayenne LPP, SenML) ---
)

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}

EVENT_CODES: frozenset[str] = frozenset(
    {
        "leak",
        "burst",
        "backflow",
        "dry",
        "tamper",
        "low_battery",
        "low_temperature",
        "high_temperature",
        "flow_high",
        "flow_low",
        "current_threshold",
        "current_over_range",
        "sensor_error",
        "meter_error",
    }
)
