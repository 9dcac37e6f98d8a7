"""Types and helpers shared by the encoders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hardware.state import PhysicalState


@dataclass(frozen=True, slots=True)
class Expected:
    """A reading that decoding must give back, within `tolerance` (the field's resolution)."""

    metric: str
    value: float
    tolerance: float
    channel: str = ""


@dataclass(frozen=True, slots=True)
class ModelEncoder:
    encode: Callable[[PhysicalState], tuple[int, bytes]]
    expected: Callable[[PhysicalState], list[Expected]]


# Added to a field's resolution in `Expected` tolerances: value * scale is rounded in binary
# floating point, so a reading exactly half a step away can land a hair past it.
SLACK = 1e-9


def clamp(value: float, low: float, high: float) -> float:
    """Keep a simulated value inside what the device's field can carry."""
    return min(max(value, low), high)
