"""Scenarios on the virtual fleet: what real meters do that a counter rule must get right.

`hourly_run` drives a fleet hour by hour (every device sends one uplink on each hour) and
applies the named scenarios, each to the first device of its model:

- backflow: a water meter's register steps back over three hours (2 L, 2 L, 1 L), then
  forward flow resumes; the truth counts those hours negatively.
- unrecorded_replacement: right after an uplink, an electricity meter is replaced by a new
  one whose registers start at 0, and nobody records it.
- pulse_restart: a pulse reader's count restarts at 0 after a battery change (right after an
  uplink), while the meter it reads keeps turning.
- recorded_swap: a technician swaps a Linky 20 minutes after an uplink and records the swap
  (time, old meter's final index, new meter's initial index): `Run.swaps`.
- late_uplinks: four uplinks of two water meters (one with a clock, one without) around a
  Europe/Paris midnight reach the broker hours late, newest first, after everything else. ChirpStack stamped them at reception (their `time` and frame
  counters are the original ones): ChirpStack drops a frame whose counter is older than the
  device's last, so a device's frames can only be reordered after it, on the way to us.

Every register change that is not flow happens between physics steps, so the ground truth
(hardware/truth.py) only holds what flowed. None of this runs unless a scenario is named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from hardware.fleet import PARIS, VirtualDevice
from hardware.truth import HOUR, GroundTruth, hour_start

# Scenario -> the models of the devices it happens to.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "backflow": ("kamstrup-flowiq2200",),
    "unrecorded_replacement": ("adeunis-tic-pme-pmi",),
    "pulse_restart": ("adeunis-pulse-4",),
    "recorded_swap": ("adeunis-tic-cbe-linky-mono",),
    "late_uplinks": ("axioma-qalcosonic-w1", "milesight-em300-di"),
}
# Resets must come when the new count is < 10 % of the old one, and a local midnight must
# fall inside the run for the late uplinks.
MIN_HOURS = 30
BACKFLOW_LITRES = (2, 2, 1)
LATE_UPLINKS = 4  # per device
SWAP_AFTER_UPLINK = timedelta(minutes=20)

# When each scenario happens, as a share of the run (late uplinks: around a local midnight).
_SCHEDULE = {
    "backflow": 0.25,
    "pulse_restart": 0.4,
    "unrecorded_replacement": 0.6,
    "recorded_swap": 0.75,
}

# The PME-PMI registers a new meter starts at 0, and the Linky registers a swap replaces
# (TIC channel -> PhysicalState field).
_PME_REGISTERS = (
    "energy_active_index",
    "energy_reactive_import_index",
    "energy_reactive_export_index",
    "energy_apparent_index",
)
_LINKY_REGISTERS = {"HCHC": "energy_hc_index", "HCHP": "energy_hp_index"}
_LINKY_NEW_INDEX = {"HCHC": 152.318, "HCHP": 207.044}  # a refurbished meter, kWh


class ScenarioError(ValueError):
    """A scenario cannot run on this fleet or this run length."""


@dataclass(frozen=True, slots=True)
class Uplink:
    dev_eui: str
    model: str
    time: datetime  # when ChirpStack received it: the event's `time`
    f_port: int
    payload: bytes
    f_cnt: int


@dataclass(frozen=True, slots=True)
class MeterSwap:
    """What the technician records when swapping a meter (storage table `meter_swaps`)."""

    dev_eui: str
    metric: str
    channel: str
    swapped_at: datetime
    old_final_index: float
    new_initial_index: float


@dataclass(slots=True)
class Run:
    start: datetime
    end: datetime  # time of the last hourly uplink
    scenarios: list[str]
    truth: GroundTruth
    on_time: list[Uplink] = field(default_factory=list)  # in publishing order
    late: list[Uplink] = field(default_factory=list)  # published after on_time, in order
    swaps: list[MeterSwap] = field(default_factory=list)


def targets_of(fleet: list[VirtualDevice], scenario: str) -> list[VirtualDevice]:
    """The devices a scenario happens to: the first of each of its models."""
    devices = []
    for model in SCENARIOS[scenario]:
        device = next((d for d in fleet if d.model == model), None)
        if device is None:
            raise ScenarioError(f"scenario {scenario} needs a {model} in the fleet")
        devices.append(device)
    return devices


def _late_window(start: datetime) -> list[datetime]:
    """Four hours around the first Europe/Paris midnight at least 4 hours into the run, so
    that the late readings include a day's last one and the next day's first."""
    local = (start + 4 * HOUR).astimezone(PARIS)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), PARIS)
    first = midnight.astimezone(UTC) - LATE_UPLINKS // 2 * HOUR
    return [first + i * HOUR for i in range(LATE_UPLINKS)]


def _backflow(hours: dict[datetime, int]) -> Callable[[VirtualDevice, datetime], None]:
    """A flow change: in the given hours the meter's net flow is minus so many litres."""

    def change(device: VirtualDevice, step_start: datetime) -> None:
        state = device.state
        litres = hours.get(step_start)
        state.backflow = litres is not None
        if litres is not None:
            consumed = -litres / 1000
            state.water_volume_index += consumed - state.water_hourly[-1]
            state.water_hourly[-1] = consumed

    return change


def take_uplink(device: VirtualDevice, time: datetime) -> Uplink:
    """The device's uplink at `time` (its state advanced to it)."""
    f_port, payload = device.uplink(time)
    return Uplink(device.dev_eui, device.model, time, f_port, payload, device.f_cnt)


def hourly_run(
    fleet: list[VirtualDevice], start: datetime, hours: int, scenarios: Sequence[str] = ()
) -> Run:
    """Uplinks of every device at `start` and each of the next `hours` hours, with the
    scenarios applied; the devices' states start at `start` and are advanced in place."""
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ScenarioError(f"unknown scenario(s): {', '.join(unknown)}")
    if scenarios and hours < MIN_HOURS:
        raise ScenarioError(f"scenarios need a run of at least {MIN_HOURS} hours")
    start = hour_start(start)
    truth = GroundTruth()
    for device in fleet:
        device.truth = truth
    run = Run(start=start, end=start + hours * HOUR, scenarios=list(scenarios), truth=truth)
    at = {name: start + round(hours * share) * HOUR for name, share in _SCHEDULE.items()}
    late_times = set(_late_window(start)) if "late_uplinks" in scenarios else set()
    roles: dict[str, set[str]] = {}  # dev_eui -> the scenarios that happen to it
    for name in scenarios:
        for device in targets_of(fleet, name):
            roles.setdefault(device.dev_eui, set()).add(name)
            if name == "backflow":
                litres = {at[name] + i * HOUR: v for i, v in enumerate(BACKFLOW_LITRES)}
                device.flow_changes.append(_backflow(litres))
                for hour, v in litres.items():
                    truth.annotate(name, device.dev_eui, hour, litres=-v)
    for step in range(hours + 1):
        now = start + step * HOUR
        for device in fleet:
            role = roles.get(device.dev_eui, set())
            if "recorded_swap" in role and now == at["recorded_swap"]:
                run.swaps += _swap_linky(device, now - HOUR + SWAP_AFTER_UPLINK, truth)
            uplink = take_uplink(device, now)
            if "late_uplinks" in role and now in late_times:
                run.late.insert(0, uplink)
                truth.annotate("late_uplinks", device.dev_eui, now, published_after=run.end)
            else:
                run.on_time.append(uplink)
            if "pulse_restart" in role and now == at["pulse_restart"]:
                _restart_pulses(device, truth)
            if "unrecorded_replacement" in role and now == at["unrecorded_replacement"]:
                _replace_pme(device, truth)
    return run


def _restart_pulses(device: VirtualDevice, truth: GroundTruth) -> None:
    state = device.state
    before = dict(state.pulses)
    for name in state.pulses:
        state.pulses[name] = 0
    truth.annotate("pulse_restart", device.dev_eui, state.time, counts_before=before)


def _replace_pme(device: VirtualDevice, truth: GroundTruth) -> None:
    state = device.state
    before = {name: getattr(state, name) for name in _PME_REGISTERS}
    for name in _PME_REGISTERS:
        setattr(state, name, 0.0)
    truth.annotate("unrecorded_replacement", device.dev_eui, state.time, registers_before=before)


def _swap_linky(device: VirtualDevice, when: datetime, truth: GroundTruth) -> list[MeterSwap]:
    """Advance to the swap, note the old meter's indexes, fit the new meter."""
    device.advance(when)
    state = device.state
    swaps = []
    for channel, name in _LINKY_REGISTERS.items():
        old = round(getattr(state, name), 3)  # as the display and the TIC show it: Wh
        new = _LINKY_NEW_INDEX[channel]
        setattr(state, name, new)
        swaps.append(
            MeterSwap(device.dev_eui, "energy_active_import_index", channel, when, old, new)
        )
    truth.annotate(
        "recorded_swap",
        device.dev_eui,
        when,
        swaps=[
            {"channel": s.channel, "old": s.old_final_index, "new": s.new_initial_index}
            for s in swaps
        ],
    )
    return swaps
