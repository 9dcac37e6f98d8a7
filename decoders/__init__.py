"""Pure payload decoders: bytes + fPort -> DecodeResult in the ICONE measurement vocabulary.

Decoders do no I/O and never raise on bad bytes: problems go into `DecodeResult.errors` or
`.warnings`, and only valid values come out.
"""

from __future__ import annotations

from datetime import datetime

from decoders.errors import DecoderError, UnknownDeviceModel
from decoders.model import DecodeResult, DeviceEvent, Measurement
from decoders.registry import DECODERS
from decoders.vocabulary import EVENT_CODES, METRICS, Kind, Metric

__all__ = [
    "EVENT_CODES",
    "GENERIC_FORMATS",
    "METRICS",
    "DecodeResult",
    "DecoderError",
    "DeviceEvent",
    "Kind",
    "Measurement",
    "Metric",
    "UnknownDeviceModel",
    "decode",
    "is_supported",
    "models",
]


# Model ids of generic formats (not a vendor's model): DIY and in-house devices use them.
GENERIC_FORMATS: frozenset[str] = frozenset({"cayenne-lpp", "senml-cbor"})


def decode(model_id: str, payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Decode one uplink of `model_id`. Raises only UnknownDeviceModel."""
    try:
        decoder = DECODERS[model_id]
    except KeyError:
        raise UnknownDeviceModel(model_id) from None
    return decoder(payload, f_port, received_at)


def models() -> list[str]:
    """The supported model ids, sorted."""
    return sorted(DECODERS)


def is_supported(model_id: str) -> bool:
    return model_id in DECODERS
