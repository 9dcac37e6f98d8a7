"""Kamstrup flowIQ2200 encoder (inverse of decoders.kamstrup): the meter's two OMS frames.

At midnight the meter sends its daily log (date, volume register, info code, min/max flow,
min/max water temperature); in the other hours, the volume register with an inverse compact
profile of its last 11 hourly values (as in Kamstrup's integration-guide example frame).
All records carry storage number 1 and the log time (on the hour), like the real frames.
"""

from __future__ import annotations

from datetime import datetime

from hardware.encoders import oms
from hardware.encoders.common import Expected, ModelEncoder, clamp, hourly_litres
from hardware.state import PhysicalState

F_PORT = 1
PROFILE_HOURS = 11

_VOLUME = bytes((0x13,))  # VIF 0x13: volume, 0.001 m³ (litres)
_VOLUME_PROFILE = bytes((0x13 | oms.VIF_EXTENSION, oms.VIFE_INVERSE_COMPACT_PROFILE))
_FLOW = bytes((0x3B,))  # VIF 0x3B: volume flow, 0.001 m³/h
_FLOW_TEMPERATURE = bytes((0x5B,))  # VIF 0x5B: flow temperature, 1 °C
_INFOCODE = bytes((oms.VIF_MANUFACTURER, 0x25))  # Kamstrup info code, 2-byte bit field
_DATE = bytes((oms.VIF_DATE_TIME,))

# Info code bits (water meters) the physical state drives.
_BACKFLOW, _LEAK, _BURST, _LOW_BATTERY = 1 << 1, 1 << 2, 1 << 3, 1 << 5
_MAX_LITRES = (1 << 31) - 2  # 4-byte signed register, one short of the invalid value
_MAX_DELTA = 0xFFFE  # 2-byte unsigned profile element; 0xFFFF means invalid
_MAX_SIGNED_DELTA = 0x7FFF  # 2-byte signed element; -0x8000 means invalid


def _log_time(state: PhysicalState) -> datetime:
    return state.time.replace(minute=0, second=0, microsecond=0)


def _litres(state: PhysicalState) -> int:
    return round(clamp(state.water_volume_index, 0, _MAX_LITRES / 1000) * 1000)


def _profile_deltas(state: PhysicalState, register: int) -> list[int]:
    """Consumption of the last hours, newest first, so that no past register is negative.
    An hour of net backflow is a negative element (the profile is then signed)."""
    deltas = []
    remaining = register
    for litres in reversed(hourly_litres(state, PROFILE_HOURS)):
        litres = min(int(clamp(litres, -_MAX_SIGNED_DELTA, _MAX_DELTA)), remaining)
        deltas.append(litres)
        remaining -= litres
    return deltas


def _profile(deltas: list[int]) -> bytes:
    """Decrements (unsigned) as the meter sends them; signed differences (EN 13757-3 annex
    F, mode 3) when an hour ran backwards."""
    if min(deltas, default=0) >= 0:
        return oms.inverse_compact_profile(deltas, 2, oms.SPACING_HOURS | oms.DECREMENTS, 1)
    signed = [int(clamp(d, -_MAX_SIGNED_DELTA, _MAX_SIGNED_DELTA)) for d in deltas]
    return oms.inverse_compact_profile(
        signed, 2, oms.SPACING_HOURS | oms.SIGNED_DIFFERENCES, 1, signed=True
    )


def _flow(value: float) -> bytes:
    return oms.int_le(round(clamp(value, 0, 32.766) * 1000), 2)


def _temperature(state: PhysicalState) -> bytes:
    # The fleet's probe temperature stands for the water temperature the meter measures.
    return oms.int_le(round(clamp(state.probe_temperature, -127, 127)), 1)


def encode_flowiq2200(state: PhysicalState) -> tuple[int, bytes]:
    register = _litres(state)
    head = (
        bytes((oms.CI_NO_HEADER,))
        + oms.record(oms.STORAGE_1 | oms.INT32, _DATE, oms.date_f(_log_time(state)))
        + oms.record(oms.STORAGE_1 | oms.INT32, _VOLUME, oms.int_le(register, 4))
    )
    if state.time.hour != 0:
        profile = _profile(_profile_deltas(state, register))
        return F_PORT, head + oms.record(oms.STORAGE_1 | oms.LVAR, _VOLUME_PROFILE, profile)
    info = (
        (_BACKFLOW if state.backflow else 0)
        | (_LEAK if state.leak else 0)
        | (_BURST if state.burst else 0)
        | (_LOW_BATTERY if state.low_battery else 0)
    )
    max_, min_ = oms.STORAGE_1 | oms.FUNCTION_MAX, oms.STORAGE_1 | oms.FUNCTION_MIN
    daily = (
        oms.record(max_ | oms.INT16, _INFOCODE, info.to_bytes(2, "little"))
        + oms.record(min_ | oms.INT16, _FLOW, _flow(state.water_flow_min))
        + oms.record(max_ | oms.INT16, _FLOW, _flow(state.water_flow_max))
        + oms.record(min_ | oms.INT8, _FLOW_TEMPERATURE, _temperature(state))
        + oms.record(max_ | oms.INT8, _FLOW_TEMPERATURE, _temperature(state))
    )
    return F_PORT, head + daily


def expected_flowiq2200(state: PhysicalState) -> list[Expected]:
    index = clamp(state.water_volume_index, 0, _MAX_LITRES / 1000)
    expected = [Expected("water_volume_index", index, 0.0005001)]
    if state.time.hour == 0:
        temperature = clamp(state.probe_temperature, -127, 127)
        expected += [
            Expected("water_flow", clamp(state.water_flow_min, 0, 32.766), 0.0005001, "min"),
            Expected("water_flow", clamp(state.water_flow_max, 0, 32.766), 0.0005001, "max"),
            Expected("water_temperature", temperature, 0.5001, "min"),
            Expected("water_temperature", temperature, 0.5001, "max"),
        ]
    return expected


FLOWIQ2200 = ModelEncoder(encode=encode_flowiq2200, expected=expected_flowiq2200)

ENCODERS: dict[str, ModelEncoder] = {
    "kamstrup-flowiq2200": FLOWIQ2200,
}
