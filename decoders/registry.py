"""The literal registry of decoders, keyed by model id. No discovery, no dynamic import."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from decoders import milesight
from decoders.model import DecodeResult

Decoder = Callable[[bytes, int, datetime], DecodeResult]

DECODERS: dict[str, Decoder] = {
    "milesight-em300-th": milesight.decode_em300_th,
}
