"""The virtual fleet: simulated devices of every catalogued model, with plausible physics.

Each device carries a PhysicalState that evolves with time by the device's category:
water meters follow a daily consumption profile (some leak at night), electricity meters
follow building occupancy, server-room probes sit near 22 °C with occasional excursions,
batteries slowly decay. The model's encoder turns the state into the real payload bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hardware.catalogue import Category, ModelSheet
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState
from hardware.truth import GroundTruth, register_values

PARIS = ZoneInfo("Europe/Paris")
DEV_EUI_PREFIX = "ec0e"  # all virtual devices: ec0e + 12 hex digits

# Demo sites of the metropolis (ids are the registry's site ids).
SITES: tuple[tuple[str, str, str, float], ...] = (
    ("hotel-de-ville", "Hôtel de ville de Tours", "building", 12_500.0),
    ("datacenter-metropole", "Datacenter métropolitain", "datacenter", 900.0),
    ("ecole-rabelais", "École élémentaire Rabelais", "school", 2_300.0),
    ("piscine-bords-de-loire", "Piscine des Bords de Loire", "sports", 4_100.0),
    ("station-pompage-nord", "Station de pompage Nord", "pumping_station", 350.0),
)
# Demo positions (WGS 84 latitude, longitude) in Tours for the boards' maps; illustrative,
# not the buildings' surveyed coordinates.
SITE_POSITIONS: dict[str, tuple[float, float]] = {
    "hotel-de-ville": (47.3903, 0.6890),
    "datacenter-metropole": (47.3628, 0.7012),
    "ecole-rabelais": (47.3941, 0.6812),
    "piscine-bords-de-loire": (47.3985, 0.7068),
    "station-pompage-nord": (47.4142, 0.6937),
}


@dataclass(slots=True)
class VirtualDevice:
    dev_eui: str
    model: str
    category: Category
    site_id: str
    leaky: bool  # water: a night-time leak; climate: a hot-spot rack
    state: PhysicalState
    f_cnt: int = 0
    rng: random.Random = field(default_factory=random.Random)
    role: str | None = None  # registry role: it_load, facility_total, cooling, rack_inlet...
    location: str = ""
    # Opt-in: the ground truth the physics step fills, and scenario changes to the flow
    # (hardware/scenarios.py), each called after a step as (device, step start).
    truth: GroundTruth | None = None
    flow_changes: list[Callable[[VirtualDevice, datetime], None]] = field(default_factory=list)

    def advance(self, now: datetime) -> None:
        """Evolve the physical state up to `now` (hour by hour across long gaps)."""
        state = self.state
        while state.time < now:
            start = state.time
            step = min(now - start, timedelta(hours=1))
            before = register_values(state) if self.truth is not None else {}
            _evolve(self, start + step, step.total_seconds() / 3600)
            for change in self.flow_changes:
                change(self, start)
            if self.truth is not None:
                self.truth.record_step(
                    self.dev_eui, start, state.time, before, register_values(state)
                )

    def uplink(self, now: datetime) -> tuple[int, bytes]:
        """Advance to `now` and encode the model's payload; returns (f_port, payload)."""
        self.advance(now)
        self.f_cnt += 1
        return ENCODERS[self.model].encode(self.state)


def _daily_profile(local: datetime) -> float:
    """Occupancy of a public building, 0..1: weekdays 8-18 h, low at night and weekends."""
    hour = local.hour + local.minute / 60
    weekday = local.weekday() < 5
    day = math.exp(-(((hour - 12.5) / 4.0) ** 2))
    return (0.15 + 0.85 * day) if weekday else 0.15 + 0.2 * day


# The demo datacenter's metering (storage: devices.role). IT energy is read at the UPS output
# (The Green Grid category 1); the facility meter is the site's utility meter.
DATACENTER_SITE = "datacenter-metropole"
DATACENTER_METERS: tuple[tuple[str, str, str], ...] = (
    ("facility_total", "adeunis-tic-pme-pmi", "TGBT, utility meter"),
    ("it_load", "adeunis-tic-pme-pmi", "UPS output"),
    ("cooling", "adeunis-tic-pme-pmi", "chiller and CRAH switchboard"),
)
RACK_INLETS: tuple[tuple[str, str, bool], ...] = (
    ("milesight-em300-th", "rack A2, cold aisle, 1.5 m", False),
    ("milesight-em300-th", "rack B4, cold aisle, 1.5 m", True),  # a hot spot: excursions
)
IT_LOAD_KW = 30.0
OTHER_LOSSES = 0.12  # UPS losses, lighting, security: share of the IT load, not metered apart


def outdoor_temperature(local: datetime) -> float:
    """Tours, °C: a seasonal mean (about 5 °C in mid-January, 20 °C in mid-July) and a daily
    swing of +-5 °C peaking at 15:00."""
    season = -math.cos(2 * math.pi * (local.timetuple().tm_yday - 15) / 365.25)
    day = math.sin(2 * math.pi * (local.hour + local.minute / 60 - 9) / 24)
    return 12.5 + 7.5 * season + 5.0 * day


def datacenter_power_kw(role: str, local: datetime) -> float:
    """Power of each metered part of the datacenter (deterministic, so the three meters agree):
    the cooling needs 0.38 x the IT load at 5 °C outside or below, up to 0.88 x at 25 °C or
    above; facility = IT x (1 + losses + cooling ratio), hence a PUE from 1.5 to 2.0."""
    it_kw = IT_LOAD_KW * (1 + 0.08 * _daily_profile(local))
    ratio = min(0.88, max(0.38, 0.38 + 0.025 * (outdoor_temperature(local) - 5)))
    if role == "it_load":
        return it_kw
    if role == "cooling":
        return it_kw * ratio
    return it_kw * (1 + OTHER_LOSSES + ratio)


def _evolve(device: VirtualDevice, now: datetime, hours: float) -> None:
    state, rng = device.state, device.rng
    units_before = _meter_units(state, device.category)
    local = now.astimezone(PARIS)
    occupancy = _daily_profile(local)
    # supply: ~10-year lithium cell, faster at the end
    state.battery_level = max(0.0, state.battery_level - hours * 100 / (10 * 8760))
    state.battery_voltage = 2.8 + 0.8 * (state.battery_level / 100) ** 0.3
    state.low_battery = state.battery_level < 10
    if device.category is Category.WATER:
        night = local.hour < 5
        flow = 0.35 * occupancy * rng.uniform(0.6, 1.4)  # m³/h
        if device.leaky and night:
            flow += 0.04  # a leak: continuous flow through the night
        consumed = flow * hours
        state.water_volume_index += consumed
        state.water_hourly = [*state.water_hourly[-23:], consumed]
        state.water_flow_min = min(flow, 0.04 if device.leaky else 0.0)
        state.water_flow_max = flow * rng.uniform(1.2, 2.5)
        state.leak = device.leaky and night
    elif device.category is Category.ENERGY:
        if device.role in ("facility_total", "it_load", "cooling"):
            power_kw = datacenter_power_kw(device.role, local)
        else:
            base_kw = 40.0 if device.site_id == DATACENTER_SITE else 5.0
            power_kw = base_kw * (0.6 + 0.4 * occupancy) * rng.uniform(0.95, 1.05)
        energy = power_kw * hours
        state.energy_active_index += energy
        if 6 <= local.hour < 22:
            state.energy_hp_index += energy
        else:
            state.energy_hc_index += energy
        state.energy_reactive_import_index += energy * 0.2
        state.energy_apparent_index += energy * 1.02
        state.active_power = power_kw * 1000
        state.apparent_power = state.active_power * 1.02
        state.current = state.apparent_power / state.voltage
        state.current_min = state.current * 0.8
        state.current_max = state.current * 1.3
        state.charge_index += state.current * hours
    else:
        server_room = device.site_id == DATACENTER_SITE
        target = 22.0 if server_room else 19.0 + 2.5 * occupancy
        if device.leaky and rng.random() < 0.02:
            target += rng.uniform(4, 9)  # a hot-spot excursion at a rack inlet
        state.temperature += (target - state.temperature) * min(1.0, hours * 2) + rng.gauss(0, 0.1)
        state.probe_temperature = state.temperature + rng.gauss(0, 0.2)
        humidity_target = 45.0 if server_room else 50.0
        state.relative_humidity += (humidity_target - state.relative_humidity) * min(1.0, hours)
        state.relative_humidity = min(100.0, max(0.0, state.relative_humidity + rng.gauss(0, 0.5)))
        state.co2 = 420 + 600 * occupancy * rng.uniform(0.8, 1.2)
        state.illuminance = 500 * occupancy
        state.motion_count += int(occupancy * 20 * hours + rng.random())
    pulses = _meter_units(state, device.category) - units_before
    if pulses:
        for name in _PULSE_INPUTS:
            state.pulses[name] = state.pulses.get(name, 0) + pulses
    state.time = now


# Pulse inputs wired to the meter (the models' other inputs stay idle at 0). Readers count
# the pulses their meter emits, so a reader restarting at 0 (hardware/scenarios.py) counts on.
_PULSE_INPUTS = ("A", "1", "ch1")
_IDLE_INPUTS = {
    Category.WATER: ("B",),
    Category.ENERGY: ("B", "2", "ch2", "oc"),
    Category.CLIMATE: (),
}


def _meter_units(state: PhysicalState, category: Category) -> int:
    """The meter's pulse output so far: 1 L/pulse (water), 1 Wh/pulse (electricity LED)."""
    if category is Category.WATER:
        return int(state.water_volume_index * 1000)
    if category is Category.ENERGY:
        return int(state.energy_active_index * 1000)
    return 0


def sync_pulses(state: PhysicalState, category: Category) -> None:
    """Set the pulse readers to their meter's count (at installation)."""
    if category is not Category.CLIMATE:
        units = _meter_units(state, category)
        state.pulses.update(dict.fromkeys(_PULSE_INPUTS, units))
        state.pulses.update(dict.fromkeys(_IDLE_INPUTS[category], 0))


def dev_eui_for(index: int) -> str:
    return f"{DEV_EUI_PREFIX}{index:012x}"


def build_fleet(
    catalogue: dict[str, ModelSheet], size: int, start: datetime, seed: int = 42
) -> list[VirtualDevice]:
    """`size` devices spread over every catalogued model that has an encoder."""
    models = sorted(m for m in catalogue if m in ENCODERS)
    if not models:
        raise ValueError("no catalogued model has an encoder")
    rng = random.Random(seed)
    fleet = []
    for index in range(size):
        model = models[index % len(models)]
        category = catalogue[model].category
        if category is Category.CLIMATE:
            site = SITES[1][0] if index % 2 == 0 else rng.choice(SITES)[0]
        else:
            site = rng.choice(SITES)[0]
        state = PhysicalState(
            time=start,
            battery_level=rng.uniform(60, 100),
            water_volume_index=rng.uniform(10, 5_000),
            energy_active_index=rng.uniform(1_000, 90_000),
            relative_humidity=rng.uniform(35, 55),
            temperature=rng.uniform(19, 23),
        )
        state.energy_hc_index = state.energy_active_index * 0.4
        state.energy_hp_index = state.energy_active_index * 0.6
        state.water_hourly = [0.0] * 24
        sync_pulses(state, category)  # the first uplink reads the meter's count, not 0
        fleet.append(
            VirtualDevice(
                dev_eui=dev_eui_for(index),
                model=model,
                category=category,
                site_id=site,
                leaky=rng.random() < 0.1,
                state=state,
                rng=random.Random(seed * 1_000_003 + index),
            )
        )
    return fleet


def datacenter_devices(
    catalogue: dict[str, ModelSheet], first_index: int, start: datetime, seed: int = 42
) -> list[VirtualDevice]:
    """The demo datacenter's IT, facility and cooling meters and its rack-inlet sensors, with
    their roles; dev_euis follow the fleet's (from `first_index`)."""
    specs = [(role, model, where, False) for role, model, where in DATACENTER_METERS]
    specs += [("rack_inlet", model, where, hot) for model, where, hot in RACK_INLETS]
    rng = random.Random(seed)
    devices = []
    for offset, (role, model, where, hot) in enumerate(specs):
        index = first_index + offset
        state = PhysicalState(
            time=start,
            battery_level=rng.uniform(60, 100),
            energy_active_index=rng.uniform(100_000, 900_000),
            relative_humidity=rng.uniform(40, 50),
            temperature=22.0,
        )
        state.water_hourly = [0.0] * 24
        sync_pulses(state, catalogue[model].category)
        devices.append(
            VirtualDevice(
                dev_eui=dev_eui_for(index),
                model=model,
                category=catalogue[model].category,
                site_id=DATACENTER_SITE,
                leaky=hot,
                state=state,
                rng=random.Random(seed * 1_000_003 + index),
                role=role,
                location=where,
            )
        )
    return devices
