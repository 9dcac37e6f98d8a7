"""Encoders: the inverse of each decoder, from a PhysicalState to the model's real bytes.

`ENCODERS[model_id]` is a ModelEncoder: `encode(state) -> (f_port, payload)`, and
`expected(state)`, the readings that decoding that payload must give back (with the field's
resolution as tolerance). The round-trip property test holds every model to it.
"""

from __future__ import annotations

from hardware.encoders import milesight
from hardware.encoders.common import Expected, ModelEncoder

__all__ = ["ENCODERS", "Expected", "ModelEncoder"]

ENCODERS: dict[str, ModelEncoder] = {
    "milesight-em300-th": milesight.EM300_TH,
}
