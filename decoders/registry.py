"""The literal registry of decoders, keyed by model id. No discovery, no dynamic import.

Each vendor module exports its own `DECODERS` dict; this module merges them.
"""

from __future__ import annotations

from decoders import (
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
from decoders.model import Decoder

__all__ = ["DECODERS", "Decoder"]

DECODERS: dict[str, Decoder] = {
    **adeunis.DECODERS,
    **axioma.DECODERS,
    **cayenne.DECODERS,
    **decentlab.DECODERS,
    **dragino.DECODERS,
    **elsys.DECODERS,
    **enless.DECODERS,
    **kamstrup.DECODERS,
    **milesight.DECODERS,
    **senml.DECODERS,
}
