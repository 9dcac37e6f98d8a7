"""The ICONE HTTP API: `create_app(database_url)` builds the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from psycopg_pool import AsyncConnectionPool

from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.routes import devices, health, sites
from api.routing import document_roles


def create_app(database_url: str, pool_size: int = 10) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=1, max_size=pool_size, open=False
        )
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    # Swagger UI (/docs) and ReDoc (/redoc) with their assets served by us, from the
    # fastapi-offline package: the documentation works on a network without the internet.
    app = FastAPIOffline(
        title="ICONE API",
        summary="Telemetry of Tours Métropole's shared LoRaWAN network",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    document_roles(app)

    app.include_router(health.router)
    app.include_router(devices.router)
    app.include_router(sites.router)
    return app
