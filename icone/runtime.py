"""Assembles the running system from settings: services, bridge + ingest, API server."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from psycopg_pool import ConnectionPool

from api.main import create_app
from gateway_bridge.config import BridgeConfig, BrokerAddress, TlsFiles
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Processor
from gateway_bridge.subscriber import Bridge
from icone import embedded
from icone.settings import Settings
from ingest_service.records import Batch, InboundMessage
from ingest_service.registry import DeviceModels
from ingest_service.service import Ingestor

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceUrls:
    database_url: str
    mqtt_url: str
    embedded_database: bool
    embedded_broker: bool


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[ServiceUrls]:
    """The configured PostgreSQL and broker, or embedded ones started for the duration."""
    with contextlib.ExitStack() as stack:
        if settings.database_url is not None:
            database_url = settings.database_url.get_secret_value()
        else:
            database_url = stack.enter_context(embedded.postgres(settings.state_dir)).url
        if settings.mqtt_url is not None:
            mqtt_url = settings.mqtt_url.get_secret_value()
        else:
            mqtt_url = stack.enter_context(embedded.mosquitto(settings.state_dir)).url
        yield ServiceUrls(
            database_url=database_url,
            mqtt_url=mqtt_url,
            embedded_database=settings.database_url is None,
            embedded_broker=settings.mqtt_url is None,
        )


def bridge_config(
    settings: Settings, mqtt_url: str, share_group: str | None = None
) -> BridgeConfig:
    b = settings.bridge
    return BridgeConfig(
        broker=BrokerAddress.from_url(mqtt_url),
        client_id=b.client_id,
        topic=b.topic,
        share_group=share_group or b.share_group,
        event_format=b.event_format,
        mqtt_version=b.mqtt_version,
        session_expiry_s=b.session_expiry_s,
        receive_maximum=b.receive_maximum,
        batch_size=b.batch_size,
        flush_interval_s=b.flush_interval_s,
        queue_size=b.queue_size,
        tls=TlsFiles(b.tls_ca_file, b.tls_cert_file, b.tls_key_file),
        model_by_profile=dict(b.model_by_profile),
        use_chirpstack_object=b.use_chirpstack_object,
        metrics_port=b.metrics_port,
    )


class DirectSink:
    """Processes and commits messages synchronously (no spool): durable on return."""

    def __init__(self, pool: ConnectionPool[Any], processor: Processor) -> None:
        self._ingestor = Ingestor(pool, max_retry_s=float("inf"))
        self._processor = processor

    def accept(self, messages: Sequence[InboundMessage]) -> None:
        batch = Batch()
        for message in messages:
            batch.extend(self._processor(message))
        self._ingestor.store(batch)


@contextlib.contextmanager
def running_bridge(config: BridgeConfig, database_url: str) -> Iterator[Bridge]:
    """A started bridge writing through the ingest service; stopped (drained) on exit."""
    pool: ConnectionPool[Any] = ConnectionPool(database_url, min_size=1, max_size=4, open=True)
    try:
        pool.wait(timeout=30)
        metrics = BridgeMetrics()
        stop_metrics = metrics.serve(config.metrics_port) if config.metrics_port else None
        models = DeviceModels(pool)
        processor = Processor(config, models.lookup, metrics)
        bridge = Bridge(config, DirectSink(pool, processor), metrics)
        bridge.start()
        try:
            yield bridge
        finally:
            bridge.stop()
            if stop_metrics is not None:
                stop_metrics()
    finally:
        pool.close()


@contextlib.contextmanager
def running_api(database_url: str, host: str, port: int) -> Iterator[uvicorn.Server]:
    """The API served by uvicorn in a thread (it installs no signal handlers there)."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(database_url), host=host, port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the API could not start on {host}:{port}")
            threading.Event().wait(0.05)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
