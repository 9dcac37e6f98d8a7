"""How a route declares what it needs and what it may answer: `guarded(action, ...)`.

    @router.get("/{dev_eui}", operation_id="devices-get", **guarded("devices:read", 404))
    async def get_device(dev_eui: DevEui, who: DevicesReader, conn: ConnDep) -> DevicePublic:

gives the route's OpenAPI entry every error status it can answer (401 and 403 for a guarded
route, 422 always, plus those listed), all in the `ErrorBody` shape, and the roles allowed
(`x-roles`, also appended to the description by `document_roles`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.auth import PERMISSIONS
from api.errors import responses_for

ROLES_KEY = "x-roles"


def guarded(action: str | None, *statuses: int, parameters: bool = True) -> dict[str, Any]:
    """Keyword arguments for `router.get(...)`: `action` is a key of `api.auth.PERMISSIONS`
    (None: public route); `statuses` the other errors the route raises (404...);
    `parameters=False` for a route without any (no 422)."""
    errors = {*statuses} | ({422} if parameters else set()) | ({401, 403} if action else set())
    extra: dict[str, Any] = {ROLES_KEY: sorted(PERMISSIONS[action]) if action else ["public"]}
    return {"responses": responses_for(*sorted(errors)), "openapi_extra": extra}


def document_roles(app: FastAPI) -> None:
    """Build the OpenAPI document once with each operation's roles in its description."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    roles = operation.get(ROLES_KEY)
                    if roles:
                        note = f"Roles: {', '.join(roles)}."
                        text = operation.get("description", "")
                        operation["description"] = f"{text}\n\n{note}" if text else note
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
