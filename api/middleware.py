"""Request id, access log and the last-resort error response, as one ASGI middleware.

Every request gets an id (the client's `X-Request-ID` when it is a short token, else a new
one), echoed in the `X-Request-ID` response header and in every error body. When the
response is complete one structured log line records method, path template, status,
duration and the API key's id (set by `api.deps.principal`; never the key itself).
An exception no handler took becomes a 500 in the API's error shape, logged once with the
request id; the client never sees a traceback.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

access_logger = logging.getLogger("api.access")
error_logger = logging.getLogger("api")

REQUEST_ID_HEADER = "X-Request-ID"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _CLIENT_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


def _path_template(scope: Scope) -> str:
    """The route's path (`/devices/{dev_eui}`), so the log holds no identifiers; `-` for an
    unknown path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "-"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_logger.exception(
                "unhandled error", extra={"request_id": request_id, "path": _path_template(scope)}
            )
            if response_started:
                raise  # headers are gone: the server closes the connection
            response = error_response(
                Request(scope), 500, f"internal error; request id {request_id}"
            )
            await response(scope, receive, send_with_id)
        finally:
            access_logger.info(
                "%s %s %d",
                scope["method"],
                _path_template(scope),
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": _path_template(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key_id": state.get("key_id"),
                },
            )
