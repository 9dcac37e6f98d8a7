"""Axioma Qalcosonic W1 encoder (inverse of decoders.axioma): the 51-byte enhanced 24h frame.

The last 23 hours of the state's hourly consumption become the 14-bit deltas (litres, oldest
first); the log volume is the register minus their sum, so that log volume + deltas gives
back the current register, as the meter's own arithmetic does.
"""

from __future__ import annotations

import struct

from hardware.encoders.common import Expected, ModelEncoder, clamp, hourly_litres
from hardware.state import PhysicalState

F_PORT = 100
DELTAS = 23
_MAX_DELTA = (1 << 14) - 1  # 14-bit litres
_MAX_LITRES = 0xFFFFFFFE  # u32 litres; 0xFFFFFFFF means invalid
# version u8, meter time u32 LE (UNIX s), status u8, log volume u32 LE (litres)
_HEADER = struct.Struct("<BIBI")

# Status byte: bits 5-7 carry one code at a time (burst wins over backflow over leak).
_LOW_BATTERY, _LEAK, _BACKFLOW, _BURST = 0x04, 0x20, 0x60, 0xA0


def _deltas(state: PhysicalState, register: int) -> list[int]:
    """Litres per hour, oldest first, never more in total than the register holds. The
    frame's 14-bit fields cannot carry an hour of net backflow: such an hour reads 0."""
    hours = [int(clamp(litres, 0, _MAX_DELTA)) for litres in hourly_litres(state, DELTAS)]
    hours = [0] * (DELTAS - len(hours)) + hours
    remaining = register
    for i in range(DELTAS - 1, -1, -1):
        hours[i] = min(hours[i], remaining)
        remaining -= hours[i]
    return hours


def _register(state: PhysicalState) -> int:
    return round(clamp(state.water_volume_index, 0, _MAX_LITRES / 1000) * 1000)


def encode_qalcosonic_w1(state: PhysicalState) -> tuple[int, bytes]:
    register = _register(state)
    deltas = _deltas(state, register)
    status = _BURST if state.burst else _BACKFLOW if state.backflow else _LEAK if state.leak else 0
    if state.low_battery:
        status |= _LOW_BATTERY
    packed = 0
    for i, litres in enumerate(deltas):
        packed |= litres << (14 * i)
    header = _HEADER.pack(1, int(state.time.timestamp()), status, register - sum(deltas))
    return F_PORT, header + packed.to_bytes(41, "little")  # 23 x 14 bits + 6-bit multiplier 0


def expected_qalcosonic_w1(state: PhysicalState) -> list[Expected]:
    register = _register(state)
    deltas = _deltas(state, register)
    return [
        Expected(
            "water_volume_index", clamp(state.water_volume_index, 0, _MAX_LITRES / 1000), 0.0005001
        ),
        Expected("water_volume", deltas[-1] / 1000, 1e-9),
    ]


QALCOSONIC_W1 = ModelEncoder(encode=encode_qalcosonic_w1, expected=expected_qalcosonic_w1)

ENCODERS: dict[str, ModelEncoder] = {
    "axioma-qalcosonic-w1": QALCOSONIC_W1,
}
