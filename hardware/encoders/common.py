"""Types and helpers shared by the encoders."""

from __future__ import annotations

import itertools
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


def hourly_litres(state: PhysicalState, hours: int) -> list[int]:
    """The water register's movement over each of the last `hours` hours, in litres, oldest
    first, as the meter's own hourly log holds it: differences of the register rounded to
    the litre at each hour, so that the register minus the last k of them is exactly the
    register k hours ago. A negative element is an hour of net backflow."""
    index = state.water_volume_index
    registers = [round(index * 1000)]
    for consumed in reversed(state.water_hourly[-hours:]):
        index -= consumed
        registers.append(round(index * 1000))
    newest_first = [later - earlier for later, earlier in itertools.pairwise(registers)]
    return newest_first[::-1]
