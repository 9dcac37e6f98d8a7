"""Placeholder: decoders for this family are being written (nothing registered yet)."""

from __future__ import annotations

from decoders.model import Decoder

DECODERS: dict[str, Decoder] = {}
