"""Enless encoders (inverse of decoders.enless): TX PULSE LED 600-038."""

from __future__ import annotations

import struct

from hardware.encoders.common import Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 1  # the port of the vendor's examples
_TRANSMITTER_ID = 0x0000AA  # u24, printed on the device label
_TYPE_600_038 = 0x0A
_FW_VERSION = 1
_U32_MAX = 0xFFFFFFFF
_DEBOUNCE_CH1 = 0x0100  # state bit: debounce enabled on input 1 (LED reader default)
_SEQ_PERIOD_S = 900  # the simulated device reports every 15 minutes
_FRAME = struct.Struct(">BHBBBIIIHH")  # id (u8 + u16 = u24), type, seq, fw, 3 counters, 2 words


def _battery_code(level: float) -> int:
    """Battery level in 25 % steps, as the device reports it: 0 = 100 %, ..., 3 = 25 %."""
    return 3 - min(3, max(0, round((clamp(level, 0, 100) - 25) / 25)))


def encode_tx_pulse_led(state: PhysicalState) -> tuple[int, bytes]:
    seq = int(state.time.timestamp()) // _SEQ_PERIOD_S & 0xFF
    states = _DEBOUNCE_CH1 | _battery_code(state.battery_level) << 2
    payload = _FRAME.pack(
        _TRANSMITTER_ID >> 16,
        _TRANSMITTER_ID & 0xFFFF,
        _TYPE_600_038,
        seq,
        _FW_VERSION,
        state.pulses.get("1", 0) & _U32_MAX,
        state.pulses.get("2", 0) & _U32_MAX,
        state.pulses.get("oc", 0) & _U32_MAX,
        0,  # no flow / leak alarm configured on an electricity meter reader
        states,
    )
    return F_PORT, payload


def expected_tx_pulse_led(state: PhysicalState) -> list[Expected]:
    return [
        Expected("pulse_count", state.pulses.get("1", 0) & _U32_MAX, 0, "1"),
        Expected("pulse_count", state.pulses.get("2", 0) & _U32_MAX, 0, "2"),
        Expected("pulse_count", state.pulses.get("oc", 0) & _U32_MAX, 0, "oc"),
        # 25 % steps; 0-25 % reads 25 %
        Expected("battery_level", clamp(state.battery_level, 0, 100), 25),
    ]


ENCODERS: dict[str, ModelEncoder] = {
    "enless-tx-pulse-led-600-038": ModelEncoder(
        encode=encode_tx_pulse_led, expected=expected_tx_pulse_led
    ),
}
