"""Checks of a device against the catalogue: model known, role fit for the model, pulse
weights on the model's pulse inputs, registers on the model's counters. Each problem names
its field (`loc`), as FastAPI's 422 answers do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from decoders.vocabulary import METRICS, Kind
from hardware.catalogue import Category, ModelSheet
from ingest_service.enrich import PULSE_METRIC
from registry.errors import Problem
from registry.models import PulseWeightIn, RegisterIn

# Role -> the catalogue categories a device must belong to to play it. Pulse readers may play
# any metering role: their pulse weights say what they count.
ROLES: dict[str, frozenset[Category]] = {
    "it_load": frozenset({Category.ENERGY}),
    "facility_total": frozenset({Category.ENERGY}),
    "cooling": frozenset({Category.ENERGY}),
    "sub_meter": frozenset({Category.ENERGY, Category.WATER}),
    "main_water": frozenset({Category.WATER}),
    "rack_inlet": frozenset({Category.CLIMATE}),
    "rack_exhaust": frozenset({Category.CLIMATE}),
    "room": frozenset({Category.CLIMATE}),
}
_METERING = frozenset({"it_load", "facility_total", "cooling", "sub_meter", "main_water"})


def _pulse_channels(sheet: ModelSheet) -> list[str]:
    return [ch for m in sheet.metrics if m.metric == PULSE_METRIC for ch in m.channels]


def check_model(model: str, catalogue: Mapping[str, ModelSheet]) -> list[Problem]:
    if model in catalogue:
        return []
    return [Problem(("model",), f"unknown model {model!r}; the catalogue has {len(catalogue)}")]


def check_role(role: str | None, sheet: ModelSheet) -> list[Problem]:
    if role is None:
        return []
    if role not in ROLES:
        return [Problem(("role",), f"unknown role {role!r}; one of {', '.join(sorted(ROLES))}")]
    if sheet.category in ROLES[role] or (role in _METERING and _pulse_channels(sheet)):
        return []
    return [Problem(("role",), f"a {sheet.category} device ({sheet.id}) cannot be {role!r}")]


def check_pulse_weights(
    weights: Mapping[str, PulseWeightIn] | None, sheet: ModelSheet
) -> list[Problem]:
    if not weights:
        return []
    channels = _pulse_channels(sheet)
    if not channels:
        return [Problem(("pulse_weights",), f"{sheet.id} has no pulse input")]
    problems = []
    for channel, weight in weights.items():
        if channel not in channels:
            problems.append(
                Problem(
                    ("pulse_weights", channel),
                    f"{sheet.id} has pulse inputs {', '.join(channels)}, not {channel!r}",
                )
            )
        spec = METRICS.get(weight.metric)
        if spec is None or spec.kind is not Kind.COUNTER:
            problems.append(
                Problem(
                    ("pulse_weights", channel, "metric"),
                    f"{weight.metric!r} is not a counter metric of the vocabulary",
                )
            )
    return problems


def register_targets(
    sheet: ModelSheet, weights: Mapping[str, PulseWeightIn] | Mapping[str, object] | None
) -> set[tuple[str, str]]:
    """(metric, channel) pairs of the model's registers, pulse targets included."""
    targets = {(m.metric, ch) for m in sheet.metrics if m.kind is Kind.COUNTER for ch in m.channels}
    for channel, weight in (weights or {}).items():
        metric = weight.metric if isinstance(weight, PulseWeightIn) else None
        if metric is None and isinstance(weight, dict):
            metric = weight.get("metric")
        if isinstance(metric, str):
            targets.add((metric, channel))
    return targets


def check_register(
    reg: RegisterIn,
    sheet: ModelSheet,
    weights: Mapping[str, PulseWeightIn] | Mapping[str, object] | None,
    loc: tuple[str | int, ...],
) -> list[Problem]:
    targets = register_targets(sheet, weights)
    if (reg.metric, reg.channel) in targets:
        return []
    known = ", ".join(f"{m}[{c}]" for m, c in sorted(targets)) or "none"
    return [
        Problem(
            loc,
            f"{sheet.id} has no register {reg.metric}[{reg.channel}]; its registers: {known}",
        )
    ]


def check_registers(
    registers: Sequence[RegisterIn],
    sheet: ModelSheet,
    weights: Mapping[str, PulseWeightIn] | Mapping[str, object] | None,
) -> list[Problem]:
    return [
        p
        for i, reg in enumerate(registers)
        for p in check_register(reg, sheet, weights, ("registers", i))
    ]
