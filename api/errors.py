"""Errors of the API and the one JSON shape every error response has.

Routes raise `ApiError` subclasses; `install_error_handlers` maps them, FastAPI's request
validation errors, Starlette's 404/405 and anything unexpected to `ErrorBody`, so a client
sees the same shape for every status (and a request id to quote to an operator).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

logger = logging.getLogger("api")


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str, errors: Sequence[ParameterError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)


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
    """Field-level problems found after parsing (catalogue, database), answered like FastAPI's
    own body validation errors: `errors` names each field by its path in the body."""
    return RequestValidationError(
        [{"loc": ("body", *loc), "msg": msg, "type": "value_error"} for loc, msg in problems]
    )


class InvalidParameter(ApiError):
    """A parameter that passed its type check but not a rule across parameters or of the
    domain (an unknown metric, a reversed range): 422 naming the parameter."""

    status_code = 422

    def __init__(self, name: str, message: str, location: str = "query") -> None:
        super().__init__(
            f"{name}: {message}", [ParameterError(location=location, name=name, message=message)]
        )


class ParameterError(BaseModel):
    location: str  # query, path, header
    name: str
    message: str


class ErrorBody(BaseModel):
    """Every error response of the API."""

    status: int
    detail: str
    request_id: str
    errors: list[ParameterError] = []


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(
    request: Request,
    status: int,
    detail: str,
    errors: Sequence[ParameterError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        status=status, detail=detail, request_id=request_id_of(request), errors=list(errors)
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _parameter_errors(exc: RequestValidationError) -> list[ParameterError]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        location, name = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else ("request", "".join(loc))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(ParameterError(location=location, name=name, message=message))
    return errors


_BODY_NOT_PARSED = "There was an error parsing the body"  # FastAPI's 400 for such a body


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: the routes of one path can live in several
    routers (GET /sites and POST /sites), and Starlette's Allow names the first one's only."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(request, exc.status_code, exc.detail, exc.errors, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _parameter_errors(exc)
        detail = "; ".join(f"{e.name}: {e.message}" for e in errors) or "invalid request"
        return error_response(request, 422, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own: 404 for an unknown path, 405 (with its Allow header)
        if exc.status_code == 400 and exc.detail == _BODY_NOT_PARSED:
            # a body that is not JSON (or not UTF-8): the client's input, answered like any
            # other invalid body
            body_error = ParameterError(location="body", name="", message="not valid JSON")
            return error_response(request, 422, "the body is not valid JSON", [body_error])
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return error_response(request, exc.status_code, str(exc.detail), (), headers)

    @app.exception_handler(psycopg.DataError)
    async def _data_error(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # SQLSTATE class 22 (a value out of a column's range, a NUL in text): the input
        # passed the edge checks but not the database's; still the client's input, not ours.
        logger.warning(
            "database refused a parameter value: %s",
            exc.diag.message_primary or type(exc).__name__,
            extra={"request_id": request_id_of(request)},
        )
        return error_response(request, 422, "a parameter value is outside what can be stored")


def responses_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries in the shape above, for the given error statuses."""
    descriptions = {
        401: "No API key, or an invalid, expired or revoked one",
        403: "The key's role may not do this",
        404: "Unknown, or outside the key's site scope",
        405: "Method not allowed",
        409: "It exists already (in ICONE or in ChirpStack)",
        412: "If-Match names an older version: read it again",
        428: "An update needs If-Match (the ETag read before)",
        422: "A parameter is invalid (the `errors` list names it)",
        500: "Unexpected server error (quote the request id)",
        503: "A service ICONE depends on (ChirpStack) cannot do its part now",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions.get(status, "Error")}
        for status in statuses
    }
