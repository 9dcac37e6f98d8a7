"""What a simulated device "sees": physical quantities in canonical units.

The virtual fleet evolves one `PhysicalState` per device (hardware/fleet.py); each model's
encoder turns it into that model's real byte layout (hardware/encoders/). Encoders read only
the fields their model carries and quantize them exactly as the device would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class PhysicalState:
    time: datetime
    # climate
    temperature: float = 22.0  # °C, ambient (rack inlet for server-room probes)
    probe_temperature: float = 22.0  # °C, external probe where the model has one
    relative_humidity: float = 45.0  # %
    co2: float = 450.0  # ppm
    illuminance: float = 300.0  # lx
    motion_count: int = 0
    # supply
    battery_level: float = 100.0  # %
    battery_voltage: float = 3.6  # V
    # water: meter register and recent hourly consumption (oldest first, last = latest hour)
    water_volume_index: float = 0.0  # m³
    water_hourly: list[float] = field(default_factory=list)  # m³ per hour, up to 24 entries
    water_flow_min: float = 0.0  # m³/h over the reporting period
    water_flow_max: float = 0.0  # m³/h
    leak: bool = False
    burst: bool = False
    backflow: bool = False
    # electricity
    energy_active_index: float = 0.0  # kWh, main register (BASE / EA_s)
    energy_hc_index: float = 0.0  # kWh, off-peak register (HCHC)
    energy_hp_index: float = 0.0  # kWh, peak register (HCHP)
    energy_reactive_import_index: float = 0.0  # kvarh
    energy_reactive_export_index: float = 0.0  # kvarh
    energy_apparent_index: float = 0.0  # kVAh
    apparent_power: float = 0.0  # VA
    active_power: float = 0.0  # W
    current: float = 0.0  # A
    current_min: float = 0.0  # A over the period
    current_max: float = 0.0  # A over the period
    charge_index: float = 0.0  # Ah
    voltage: float = 230.0  # V
    # pulse inputs: absolute counts by the vendor's input name (A, B, 1, 2, oc)
    pulses: dict[str, int] = field(default_factory=dict)
    low_battery: bool = False
