"""Encoders: the inverse of each decoder, from a PhysicalState to the model's real bytes.

`ENCODERS[model_id]` is a ModelEncoder: `encode(state) -> (f_port, payload)`, and
`expected(state)`, the readings that decoding that payload must give back (with the field's
resolution as tolerance). The round-trip property test holds every model to it.
Each vendor module exports its own `ENCODERS` dict; this module merges them.
"""

from __future__ import annotations

from hardware.encoders import (
    adeunis,
    axioma,
    cayenne,
    decentlab,
    dragino,
    elsys,
    enless,
    kamstrup,
    milesight,
    senml,
)
from hardware.encoders.common import Expected, ModelEncoder

__all__ = ["ENCODERS", "Expected", "ModelEncoder"]

ENCODERS: dict[str, ModelEncoder] = {
    **adeunis.ENCODERS,
    **axioma.ENCODERS,
    **cayenne.ENCODERS,
    **decentlab.ENCODERS,
    **dragino.ENCODERS,
    **elsys.ENCODERS,
    **enless.ENCODERS,
    **kamstrup.ENCODERS,
    **milesight.ENCODERS,
    **senml.ENCODERS,
}
