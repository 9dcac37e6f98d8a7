"""Domain errors of the API, mapped to HTTP responses in one handler (api/main.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi.exceptions import RequestValidationError


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    status_code = 404


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class Conflict(ApiError):
    status_code = 409


class PreconditionFailed(ApiError):
    """If-Match names a version the resource is no longer at."""

    status_code = 412


class PreconditionRequired(ApiError):
    """An update without If-Match (it could overwrite a change it never saw)."""

    status_code = 428


class ServiceUnavailable(ApiError):
    """A service we depend on (ChirpStack) cannot do its part now; not the client's fault."""

    status_code = 503


def invalid_fields(problems: Iterable[tuple[Sequence[str | int], str]]) -> RequestValidationError:
    """Field-level problems found after parsing (catalogue, database), answered exactly like
    FastAPI's own 422s: {"detail": [{"loc": [...], "msg": ..., "type": ...}]}."""
    return RequestValidationError(
        [{"loc": ("body", *loc), "msg": msg, "type": "value_error"} for loc, msg in problems]
    )
