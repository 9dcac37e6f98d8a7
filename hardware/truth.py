"""Ground truth of the virtual fleet: what physically flowed through each register, per hour.

The fleet's physics step (hardware/fleet.py) moves the registers of a PhysicalState; a
`GroundTruth` records each step's movement, spread over the UTC hours the step covers pro
rata of time (the flow is constant within a step). Register changes that are not flow (a
meter replaced, a pulse reader restarting at 0) happen between steps and are not recorded.
`COUNTER_REGISTERS` says which state register each model reports as which (metric, channel),
so the truth can be compared with what the platform computes from the decoded readings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hardware.state import PhysicalState

HOUR = timedelta(hours=1)

# State registers that only move with flow (scenarios aside); pulse inputs are "pulses:<input>".
_FLOAT_REGISTERS = (
    "water_volume_index",
    "energy_active_index",
    "energy_hc_index",
    "energy_hp_index",
    "energy_reactive_import_index",
    "energy_reactive_export_index",
    "energy_apparent_index",
    "charge_index",
)


@dataclass(frozen=True, slots=True)
class Register:
    """One counter a model reports: its state register and the resolution it is sent with."""

    metric: str
    channel: str
    source: str  # a name in _FLOAT_REGISTERS, or "pulses:<input>"
    resolution: float  # in the metric's unit


def _water(resolution: float = 0.001) -> tuple[Register, ...]:
    return (Register("water_volume_index", "", "water_volume_index", resolution),)


# Must match the encoders (tests/hardware check it against each encoder's `expected`).
COUNTER_REGISTERS: dict[str, tuple[Register, ...]] = {
    "axioma-qalcosonic-w1": _water(),
    "kamstrup-flowiq2200": _water(),
    "adeunis-pulse-4": (
        Register("pulse_count", "A", "pulses:A", 1),
        Register("pulse_count", "B", "pulses:B", 1),
    ),
    "milesight-em300-di": (Register("pulse_count", "", "pulses:1", 1),),
    "enless-tx-pulse-led-600-038": (
        Register("pulse_count", "1", "pulses:1", 1),
        Register("pulse_count", "2", "pulses:2", 1),
        Register("pulse_count", "oc", "pulses:oc", 1),
    ),
    "adeunis-tic-cbe-linky-mono": (
        Register("energy_active_import_index", "HCHC", "energy_hc_index", 0.001),
        Register("energy_active_import_index", "HCHP", "energy_hp_index", 0.001),
    ),
    "adeunis-tic-pme-pmi": (
        Register("energy_active_import_index", "EA_s", "energy_active_index", 0.001),
        Register("energy_reactive_import_index", "ER+_s", "energy_reactive_import_index", 0.001),
        Register("energy_reactive_export_index", "ER-_s", "energy_reactive_export_index", 0.001),
        Register("energy_apparent_index", "EAPP_s", "energy_apparent_index", 0.001),
        Register("energy_active_import_index", "EAP_s", "energy_active_index", 1),
        Register("energy_reactive_import_index", "ER+P_s", "energy_reactive_import_index", 1),
        Register("energy_reactive_export_index", "ER-P_s", "energy_reactive_export_index", 1),
    ),
    "milesight-ct101": (Register("charge_index", "", "charge_index", 0.01),),
}


def register_values(state: PhysicalState) -> dict[str, float]:
    """Every flow register of the state, by source name."""
    values = {name: float(getattr(state, name)) for name in _FLOAT_REGISTERS}
    values.update({f"pulses:{k}": float(v) for k, v in state.pulses.items()})
    return values


def hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _spread(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """(UTC hour start, share of [start, end)) for every hour the interval overlaps."""
    total = (end - start).total_seconds()
    shares = []
    hour = hour_start(start)
    while hour < end:
        overlap = (min(end, hour + HOUR) - max(start, hour)).total_seconds()
        shares.append((hour, overlap / total))
        hour += HOUR
    return shares


class GroundTruth:
    """True movement of every register of every device, per UTC hour, plus annotations."""

    def __init__(self) -> None:
        # dev_eui -> source register -> hour start -> movement
        self._flows: dict[str, dict[str, dict[datetime, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        self.annotations: list[dict[str, Any]] = []

    def record_step(
        self,
        dev_eui: str,
        start: datetime,
        end: datetime,
        before: dict[str, float],
        after: dict[str, float],
    ) -> None:
        """One physics step [start, end): each register's movement, spread over its hours."""
        if end <= start:
            return
        shares = _spread(start, end)
        registers = self._flows[dev_eui]
        for name, value in after.items():
            moved = value - before.get(name, value)  # a register that appears has not moved
            hours = registers[name]
            for hour, share in shares:
                hours[hour] += moved * share

    def annotate(self, scenario: str, dev_eui: str, time: datetime, **detail: Any) -> None:
        self.annotations.append({"scenario": scenario, "dev_eui": dev_eui, "time": time, **detail})

    def hourly(self, dev_eui: str, source: str) -> dict[datetime, float]:
        """Movement of one state register per UTC hour (hours without a step are absent)."""
        return dict(self._flows.get(dev_eui, {}).get(source, {}))

    def register_hourly(self, dev_eui: str, register: Register) -> dict[datetime, float]:
        return self.hourly(dev_eui, register.source)


def truth_document(
    truth: GroundTruth,
    devices: list[tuple[str, str, str]],
    start: datetime,
    end: datetime,
    scenarios: list[str],
    meter_swaps: list[dict[str, Any]],
) -> dict[str, Any]:
    """The JSON-ready ground truth of `devices` ((dev_eui, model, site_id) each)."""
    body = []
    for dev_eui, model, site_id in devices:
        registers = [
            {
                "metric": r.metric,
                "channel": r.channel,
                "resolution": r.resolution,
                "hours": {
                    h.isoformat(): v for h, v in sorted(truth.register_hourly(dev_eui, r).items())
                },
            }
            for r in COUNTER_REGISTERS.get(model, ())
        ]
        body.append(
            {"dev_eui": dev_eui, "model": model, "site_id": site_id, "registers": registers}
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "scenarios": scenarios,
        "devices": body,
        "annotations": [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in a.items()}
            for a in truth.annotations
        ],
        "meter_swaps": [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in s.items()}
            for s in meter_swaps
        ],
    }
