"""The technicians' field app: its static files under /app and the calls only it makes.

The app (api/field_app/) is plain HTML, CSS and ES modules: nothing to build. It is served
gzip-compressed (a first load of a few tens of kB over a basement's 4G).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import RedirectResponse

from api.auth import Principal
from api.deps import principal

APP_DIR = Path(__file__).resolve().parent.parent / "field_app"

router = APIRouter(tags=["field"])


class WhoAmI(BaseModel):
    key_id: str
    name: str
    role: str
    site_ids: list[str] | None  # None: every site


@router.get("/whoami", operation_id="whoami")
async def whoami(who: Annotated[Principal, Depends(principal)]) -> WhoAmI:
    """The calling key's name, role and site scope (the field app checks a key with it)."""
    key = who.key
    return WhoAmI(
        key_id=key.id,
        name=key.name,
        role=key.role,
        site_ids=list(key.site_ids) if key.site_ids is not None else None,
    )


def mount_field_app(app: FastAPI) -> None:
    """Serve the app at /app/ (gzip for text assets; the API's own JSON is not compressed)."""
    static = StaticFiles(directory=APP_DIR, html=True)
    app.mount("/app", GZipMiddleware(static, minimum_size=256), name="field-app")

    @app.get("/app", include_in_schema=False)
    async def _app_slash() -> RedirectResponse:
        # relative asset URLs in index.html need the trailing slash
        return RedirectResponse("/app/", status_code=308)
