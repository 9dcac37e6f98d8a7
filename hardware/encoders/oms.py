"""OMS / wireless M-Bus record builders (inverse of decoders.oms), for the virtual fleet.

Only what the simulated meters send: plain frames (CI 0x78, no transport header), fixed-size
binary records, type F date/time, and the inverse compact profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

CI_NO_HEADER = 0x78

# DIF bits: storage number LSB (bit 6), function field (bits 5-4).
STORAGE_1 = 0x40
FUNCTION_MAX = 0x10
FUNCTION_MIN = 0x20
# Data field codings used here.
INT8, INT16, INT32, LVAR = 0x01, 0x02, 0x04, 0x0D
# VIFs / VIFEs.
VIF_DATE_TIME = 0x6D  # type F with a 4-byte data field
VIF_EXTENSION = 0x80
VIFE_INVERSE_COMPACT_PROFILE = 0x13
VIF_MANUFACTURER = 0xFF

# Inverse compact profile spacing control: bits 0-3 element size, 4-5 unit, 6-7 mode.
SPACING_HOURS = 2 << 4
DECREMENTS = 1 << 6
SIGNED_DIFFERENCES = 3 << 6


def record(dif: int, vib: bytes, data: bytes) -> bytes:
    """One data record: DIF, VIF (+ VIFEs) as given, data."""
    return bytes((dif,)) + vib + data


def int_le(value: int, size: int) -> bytes:
    """Signed little-endian binary (type B), saturated one short of the invalid value."""
    limit = 1 << (8 * size - 1)
    return max(-limit + 1, min(limit - 1, value)).to_bytes(size, "little", signed=True)


def date_f(when: datetime) -> bytes:
    """Type F date/time, 4 bytes: minute, hour + hundred-year, day + year low bits,
    month + year high bits (EN 13757-3 annex A)."""
    hundred, year = divmod(when.year - 1900, 100)
    return bytes(
        (
            when.minute,
            when.hour | (hundred << 5),
            when.day | ((year & 0x07) << 5),
            when.month | ((year >> 3) << 4),
        )
    )


def inverse_compact_profile(
    deltas: Sequence[int], element_size: int, control: int, spacing: int, signed: bool = False
) -> bytes:
    """LVAR data of an inverse compact profile: length, control, spacing, elements."""
    body = bytes((control | element_size, spacing)) + b"".join(
        d.to_bytes(element_size, "little", signed=signed) for d in deltas
    )
    return bytes((len(body),)) + body
