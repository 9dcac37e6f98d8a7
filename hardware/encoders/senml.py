"""SenML/CBOR encoder (inverse of decoders.senml): a CoAP/LwM2M-style climate node.

The pack carries an absolute base time (the state's time) in its first record, then one
record per quantity with CBOR integer labels and short names, values as single-precision
floats (shortest form, as compact SenML-CBOR encoders such as Zephyr's write them): about
70 bytes, so it needs EU868 DR3 or faster. Values are rounded as such firmware rounds them.
"""

from __future__ import annotations

import struct

import cbor2

from hardware.encoders.common import Expected, ModelEncoder, clamp
from hardware.state import PhysicalState

F_PORT = 10  # application-defined; the decoder does not check it

# RFC 8428 CBOR labels
BT, N, U, V = -3, 0, 1, 2

_F32 = struct.Struct(">f")


def _f32(value: float) -> float:
    """The single-precision value the firmware holds (canonical CBOR then encodes 4 bytes)."""
    return float(_F32.unpack(_F32.pack(value))[0])


def encode_senml_cbor(state: PhysicalState) -> tuple[int, bytes]:
    pack = [
        {
            BT: int(state.time.timestamp()),
            N: "temp",
            U: "Cel",
            V: _f32(round(clamp(state.temperature, -273.15, 1000.0), 2)),  # 0.01 °C
        },
        {N: "hum", U: "%RH", V: _f32(round(clamp(state.relative_humidity, 0, 100), 1))},
        {N: "co2", U: "ppm", V: round(clamp(state.co2, 0, 100_000))},  # 1 ppm, integer
        {N: "bat", U: "V", V: _f32(round(clamp(state.battery_voltage, 0, 10), 3))},  # 1 mV
    ]
    return F_PORT, cbor2.dumps(pack, canonical=True)


def expected_senml_cbor(state: PhysicalState) -> list[Expected]:
    return [
        Expected("temperature", state.temperature, 0.005 + 1e-4),
        Expected("relative_humidity", state.relative_humidity, 0.05 + 1e-4),
        Expected("co2", state.co2, 0.5 + 1e-9),
        Expected("battery_voltage", state.battery_voltage, 0.0005 + 1e-6),
    ]


SENML_CBOR = ModelEncoder(encode=encode_senml_cbor, expected=expected_senml_cbor)

ENCODERS: dict[str, ModelEncoder] = {
    "senml-cbor": SENML_CBOR,
}
