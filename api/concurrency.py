"""Optimistic concurrency: a resource's ETag is its version; updates must send If-Match."""

from __future__ import annotations

import re

from fastapi import Response

from api.errors import PreconditionFailed, PreconditionRequired

_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$')


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def expected_version(if_match: str | None) -> int:
    """The version an If-Match header names (428 without one, 412 for one we never issue)."""
    if if_match is None:
        raise PreconditionRequired(
            "send If-Match with the ETag of your last read (GET), so that you do not "
            "overwrite a change you have not seen"
        )
    match = _ETAG.fullmatch(if_match.strip())
    if match is None:
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag of this resource")
    return int(match.group(1))
