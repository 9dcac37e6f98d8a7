"""Placeholder: encoders for this family are being written (nothing registered yet)."""

from __future__ import annotations

from hardware.encoders.common import ModelEncoder

ENCODERS: dict[str, ModelEncoder] = {}
