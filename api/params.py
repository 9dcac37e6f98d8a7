"""Validated parameter types shared by every route: use these, not bare `str` / `int`.

Each refuses at the edge, with a 422 naming the parameter, what the database would refuse
later with an error (a NUL byte in text, an integer beyond its column) and states its rule
in the OpenAPI schema, so clients and schemathesis see it. Rules across parameters
(`since` before `until`) are `check_range`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator

from api.errors import InvalidParameter

INT4_MAX = 2**31 - 1  # PostgreSQL integer; OFFSET and LIMIT are bigint, our columns int4

# No C0 control character (NUL included: PostgreSQL text cannot hold it) and no DEL.
# (\x00-\x1f written via \u escapes so the schema's pattern is plain JSON.)
SAFE_TEXT_PATTERN = r"^[^\u0000-\u001f\u007f]*$"
DEV_EUI_PATTERN = r"^[0-9A-Fa-f]{16}$"  # LoRaWAN DevEUI: 8 bytes in hexadecimal
ID_MAX_LENGTH = 64  # site ids, metric and channel names

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: object) -> object:
    """Dates and times as ISO 8601 text only: pydantic would also read `0` as 1970-01-01."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD, then THH:MM:SS+offset)")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_text)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]

DevEui = Annotated[str, Path(pattern=DEV_EUI_PATTERN, description="DevEUI, 16 hexadecimal digits")]
SiteIdPath = Annotated[
    str,
    Path(min_length=1, description="Site id", pattern=SAFE_TEXT_PATTERN, max_length=ID_MAX_LENGTH),
]
SiteIdQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        description="Only this site",
        pattern=SAFE_TEXT_PATTERN,
        max_length=ID_MAX_LENGTH,
    ),
]
ChannelQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        description="Only this channel",
        pattern=SAFE_TEXT_PATTERN,
        max_length=ID_MAX_LENGTH,
    ),
]
Offset = Annotated[int, Query(ge=0, le=INT4_MAX, description="Rows to skip")]
Since = Annotated[
    IsoDateTime | None, Query(description="From this time (inclusive), with a UTC offset")
]
Until = Annotated[
    IsoDateTime | None, Query(description="Up to this time (exclusive), with a UTC offset")
]


def page_size(maximum: int) -> Any:
    """`Annotated[int, page_size(1000)] = 100`: a page size from 1 to `maximum`."""
    return Query(ge=1, le=maximum, description=f"At most this many rows (1-{maximum})")


def finite(low: float, high: float) -> Any:
    """`Annotated[float, finite(0, 1e6)]`: a number in [low, high], never NaN or infinite."""
    return Query(ge=low, le=high, allow_inf_nan=False)


def metric_query(allowed: Iterable[str], description: str) -> Any:
    """A metric name parameter whose schema lists the names `allowed` (checked by
    `metric_of`, so that a wrong one is a 422 naming the parameter)."""
    return Query(
        description=description,
        json_schema_extra={"enum": sorted(allowed)},
        pattern=SAFE_TEXT_PATTERN,
        max_length=ID_MAX_LENGTH,
    )


def check_range(
    start: datetime | None, end: datetime | None, start_name: str, end_name: str
) -> None:
    """One rule for every time range: `start` strictly before `end` (an empty or reversed
    range is a client error, 422, everywhere)."""
    if start is not None and end is not None and not start < end:
        raise InvalidParameter(end_name, f"must be after {start_name}")


def metric_of(name: str, metric: str, allowed: Iterable[str]) -> str:
    """One rule for every metric parameter: a name outside `allowed` is 422 (a parameter
    value error, never a 404: the resource asked for exists)."""
    if metric not in allowed:
        raise InvalidParameter(name, f"unknown or unsuitable metric {metric!r}")
    return metric
