"""The ICONE HTTP API: `create_app(database_url, ...)` builds the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from psycopg_pool import AsyncConnectionPool

from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.routes import catalogue as catalogue_routes
from api.routes import data_quality, devices, field_app, health, indicators, registry, sites
from api.routing import document_roles
from gateway_bridge.config import BridgeConfig, BrokerAddress
from hardware.catalogue import ModelSheet, load_catalogue
from registry.chirpstack import Provisioner
from registry.service import Registry
from registry.settings import ChirpStackSettings
from storage.appkey_cipher import AppKeyCipher


def create_app(
    database_url: str,
    pool_size: int = 10,
    *,
    chirpstack: ChirpStackSettings | None = None,
    catalogue: Mapping[str, ModelSheet] | None = None,
    bridge: BridgeConfig | None = None,
    appkey_cipher: AppKeyCipher | None = None,
) -> FastAPI:
    """`chirpstack`: provisioning settings (off when None or without a URL); `bridge`: the
    event format and model mapping used to replay a newly registered device's dead letters;
    `appkey_cipher`: encrypts AppKeys kept until ChirpStack holds them (None: none is kept)."""
    chirpstack = chirpstack or ChirpStackSettings()
    catalogue = catalogue if catalogue is not None else load_catalogue()
    # Replaying needs the event format and model mapping, not a broker connection.
    bridge = bridge or BridgeConfig(broker=BrokerAddress.from_url("mqtt://replay.invalid"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # prepare_threshold None: no server-side prepared statements. psycopg prepares a
        # query after its 5th run; for the indicator functions that made each call 10-25 ms
        # slower and less steady (icone_energy over a year at 1,000 devices: median 113-130
        # ms prepared, 103 ms not; docs/benchmarks.md), and the API's other queries are
        # cheap to plan.
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"prepare_threshold": None},
        )
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.database_url = database_url
        app.state.bridge_config = bridge
        async with AsyncExitStack() as stack:
            provisioner = None
            if chirpstack.enabled:
                provisioner = await stack.enter_async_context(Provisioner.connect(chirpstack))
            app.state.registry = Registry(catalogue, chirpstack, provisioner, appkey_cipher)
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
    app.include_router(registry.router)
    app.include_router(catalogue_routes.router)
    app.include_router(field_app.router)
    field_app.mount_field_app(app)
    app.include_router(data_quality.router)
    app.include_router(indicators.router)
    return app
