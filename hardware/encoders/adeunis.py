"""Adeunis encoders (inverse of decoders.adeunis): Pulse 4, TIC CBE/Linky mono, TIC PME-PMI.

Each encoder builds the frame the device sends by default: Pulse 4 periodic counters (0x46,
no timestamp: the factory configuration) and TIC 0x49 data frames, all on fPort 1.
"""

from __future__ import annotations

import struct
from datetime import UTC
from zoneinfo import ZoneInfo

from hardware.encoders.common import Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 1  # Adeunis devices send every frame on port 1
_LOW_BATTERY = 0x02
_CONFIG_DONE = 0x01
_U32_MAX = 0xFFFFFFFF
_TIC_ABSENT = 0x80000000
_TIC_INDEX_MAX = 999_999_999  # TIC indexes are 9 decimal digits (Wh)
_PARIS = ZoneInfo("Europe/Paris")  # TIC meters keep French legal time


def _status(state: PhysicalState) -> int:
    """Status byte: frame counter 0, configuration done, low battery from the state."""
    return _CONFIG_DONE | (_LOW_BATTERY if state.low_battery else 0)


def _wh(kwh: float) -> int:
    return round(clamp(kwh * 1000, 0, _TIC_INDEX_MAX))


# --------------------------------------------------------------------------- Pulse 4


def encode_pulse4(state: PhysicalState) -> tuple[int, bytes]:
    counter_a = state.pulses.get("A", 0) & _U32_MAX
    counter_b = state.pulses.get("B", 0) & _U32_MAX
    return F_PORT, struct.pack(">BBII", 0x46, _status(state), counter_a, counter_b)


def expected_pulse4(state: PhysicalState) -> list[Expected]:
    return [
        Expected("pulse_count", state.pulses.get("A", 0) & _U32_MAX, 0, "A"),
        Expected("pulse_count", state.pulses.get("B", 0) & _U32_MAX, 0, "B"),
    ]


# --------------------------------------------------------------------------- TIC mono

_ADCO = b"021728031819"  # meter address (12 ASCII digits)
_OPTARIF_HC = b"HC.."  # "heures creuses" tariff option: BASE absent, HCHC/HCHP present


def _off_peak(hour: int) -> bool:
    """Simulated off-peak window (22:00-06:00 local), for the current-period text labels."""
    return hour >= 22 or hour < 6


def encode_tic_mono(state: PhysicalState) -> tuple[int, bytes]:
    paris = state.time.astimezone(_PARIS)
    ptec = b"HC.." if _off_peak(paris.hour) else b"HP.."
    payload = (
        bytes((0x49, _status(state)))
        + _ADCO
        + _OPTARIF_HC
        + struct.pack(
            ">7I",
            _TIC_ABSENT,  # BASE: not in the HC option
            45,  # ISOUSC: subscribed current, A
            round(clamp(state.current, 0, 999)),  # IINST, A
            round(clamp(state.current_max, 0, 999)),  # IMAX, A
            round(clamp(state.apparent_power, 0, 99_999)),  # PAPP, VA
            _wh(state.energy_hc_index),  # HCHC, Wh
            _wh(state.energy_hp_index),  # HCHP, Wh
        )
        + ptec
    )
    return F_PORT, payload


def expected_tic_mono(state: PhysicalState) -> list[Expected]:
    return [
        Expected("current", clamp(state.current, 0, 999), 1),
        Expected("current", clamp(state.current_max, 0, 999), 1, "max"),
        Expected("apparent_power", clamp(state.apparent_power, 0, 99_999), 1),
        Expected("energy_active_import_index", state.energy_hc_index, 0.001, "HCHC"),
        Expected("energy_active_import_index", state.energy_hp_index, 0.001, "HCHP"),
    ]


# --------------------------------------------------------------------------- TIC PME-PMI


def encode_tic_pme(state: PhysicalState) -> tuple[int, bytes]:
    local = state.time.astimezone(UTC).astimezone(_PARIS)
    date = bytes(
        (local.day, local.month, local.year - 2000, local.hour, local.minute, local.second)
    )
    ptcour = b"HCE" if _off_peak(local.hour) else b"HPE"
    current = struct.pack(
        ">4I",
        _wh(state.energy_active_index),  # EA_s, Wh
        _wh(state.energy_reactive_import_index),  # ER+_s, varh
        _wh(state.energy_reactive_export_index),  # ER-_s, varh
        _wh(state.energy_apparent_index),  # EAPP_s, VAh
    )
    # Billing-period registers in kWh / kvarh. The fleet models no billing-period rollover,
    # so the previous period (P-1) registers read 0, as on a meter in its first period.
    period = struct.pack(
        ">6I",
        round(clamp(state.energy_active_index, 0, _TIC_INDEX_MAX)),  # EAP_s
        round(clamp(state.energy_reactive_import_index, 0, _TIC_INDEX_MAX)),  # ER+P_s
        round(clamp(state.energy_reactive_export_index, 0, _TIC_INDEX_MAX)),  # ER-P_s
        0,  # EaP-1_s
        0,  # ER+P-1_s
        0,  # ER-P-1_s
    )
    return F_PORT, bytes((0x49, _status(state))) + date + current + ptcour + period


def expected_tic_pme(state: PhysicalState) -> list[Expected]:
    return [
        Expected("energy_active_import_index", state.energy_active_index, 0.001, "EA_s"),
        Expected(
            "energy_reactive_import_index", state.energy_reactive_import_index, 0.001, "ER+_s"
        ),
        Expected(
            "energy_reactive_export_index", state.energy_reactive_export_index, 0.001, "ER-_s"
        ),
        Expected("energy_apparent_index", state.energy_apparent_index, 0.001, "EAPP_s"),
        Expected("energy_active_import_index", state.energy_active_index, 1, "EAP_s"),
        Expected("energy_reactive_import_index", state.energy_reactive_import_index, 1, "ER+P_s"),
        Expected("energy_reactive_export_index", state.energy_reactive_export_index, 1, "ER-P_s"),
    ]


ENCODERS: dict[str, ModelEncoder] = {
    "adeunis-pulse-4": ModelEncoder(encode=encode_pulse4, expected=expected_pulse4),
    "adeunis-tic-cbe-linky-mono": ModelEncoder(encode=encode_tic_mono, expected=expected_tic_mono),
    "adeunis-tic-pme-pmi": ModelEncoder(encode=encode_tic_pme, expected=expected_tic_pme),
}
