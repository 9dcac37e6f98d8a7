"""Assembles the running system from settings: services, bridge + ingest, API server."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg_pool import ConnectionPool

from gateway_bridge.config import BridgeConfig, BrokerAddress, TlsFiles
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Processor
from gateway_bridge.subscriber import Bridge
from icone import demo_link, embedded
from icone import ingest_workers as ingest_workers_module
from icone.settings import Settings
from ingest_service.enrich import Enricher
from ingest_service.errors import IngestError
from ingest_service.service import IngestService
from ingest_service.spool import Spool
from ingest_service.workers import WorkerPool
from storage.errors import StorageError
from storage.maintenance import run_maintenance
from storage.registry import DeviceModels
from storage.retention import RetentionPolicy

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceUrls:
    database_url: str
    mqtt_url: str
    embedded_database: bool
    embedded_broker: bool


def running_demo(settings: Settings) -> demo_link.DemoServices | None:
    """The demo running on this state dir, when a URL it could supply is unset."""
    if settings.database_url is not None and settings.mqtt_url is not None:
        return None
    return demo_link.running(settings.state_dir)


@contextlib.contextmanager
def services(
    settings: Settings,
    need_broker: bool = True,
    share_demo: bool = True,
    need_database: bool = True,
) -> Iterator[ServiceUrls]:
    """The configured PostgreSQL and broker; else those of the demo running on the same
    state dir (`icone.demo_link`, said in one line on stderr); else embedded ones started
    for the duration (each only when the command needs it; its URL is "" otherwise)."""
    demo = running_demo(settings) if share_demo else None
    if demo is not None:
        logger.info(
            "using the running demo's services (pid %d, %s)",
            demo.pid,
            demo_link.path_in(settings.state_dir),
        )
    with contextlib.ExitStack() as stack:
        if settings.database_url is not None:
            database_url = settings.database_url.get_secret_value()
        elif demo is not None:
            database_url = demo.database_url
        elif not need_database:
            database_url = ""
        else:
            database_url = stack.enter_context(embedded.postgres(settings.state_dir)).url
        if settings.mqtt_url is not None:
            mqtt_url = settings.mqtt_url.get_secret_value()
        elif demo is not None:
            mqtt_url = demo.mqtt_url
        elif need_broker:
            mqtt_url = stack.enter_context(embedded.mosquitto(settings.state_dir)).url
        else:
            mqtt_url = ""
        yield ServiceUrls(
            database_url=database_url,
            mqtt_url=mqtt_url,
            embedded_database=bool(database_url) and settings.database_url is None and not demo,
            embedded_broker=settings.mqtt_url is None and need_broker and demo is None,
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


@contextlib.contextmanager
def running_bridge(
    config: BridgeConfig,
    database_url: str,
    state_dir: Path,
    spool_max_bytes: int = 512 * 2**20,
    ingest_workers: int = 0,
    log_setup: tuple[str, bool] = ("INFO", False),
) -> Iterator[Bridge]:
    """A started bridge feeding the ingest service; both stopped (drained) on exit.

    Messages go MQTT -> spool (fsync) -> acknowledgement; the ingest service drains the spool
    into PostgreSQL. Each bridge (client id) has its own spool under the state directory.
    `ingest_workers` > 0: the spool is drained by that many worker processes (parse, decode
    and COPY off this process's GIL), logging with `log_setup` (level, JSON).
    """
    pool: ConnectionPool[Any] = ConnectionPool(
        database_url, min_size=1, max_size=4, open=True, check=ConnectionPool.check_connection
    )
    stop_metrics = None
    try:
        pool.wait(timeout=30)
        metrics = BridgeMetrics()
        stop_metrics = metrics.serve(config.metrics_port) if config.metrics_port else None
        models = DeviceModels(pool)
        processor = Processor(config, models.lookup, metrics)
        spool = Spool(state_dir / "spool" / config.client_id, max_bytes=spool_max_bytes)
        workers = None
        if ingest_workers > 0:
            factory = partial(ingest_workers_module.build, config, database_url, *log_setup)
            workers = WorkerPool(factory, ingest_workers, metrics.add_processor_totals)
            pids = workers.start()
            logger.info("ingest workers started", extra={"pids": pids})
        service = IngestService(pool, spool, processor, enrich=Enricher(pool), workers=workers)
        service.start()
        try:
            bridge = Bridge(config, service, metrics)
            bridge.start()
            try:
                yield bridge
            finally:
                bridge.stop()
        finally:
            service.stop()
            if workers is not None:
                workers.close()
            spool.close()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        pool.close()


def configured_bridge(
    settings: Settings, config: BridgeConfig, database_url: str
) -> contextlib.AbstractContextManager[Bridge]:
    """`running_bridge` with the spool bound, ingest workers and logging of `settings`."""
    return running_bridge(
        config,
        database_url,
        settings.state_dir,
        settings.bridge.spool_max_mb * 2**20,
        settings.bridge.ingest_workers,
        (settings.log_level, settings.log_json),
    )


@contextlib.contextmanager
def running_maintenance(
    database_url: str, policy: RetentionPolicy, interval_s: float
) -> Iterator[threading.Event]:
    """Storage maintenance every `interval_s` (first pass at once) in a thread: partitions
    ahead (plain mode), rollup refresh, retention by data class. Failures are logged and
    retried at the next pass; they never stop ingest."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                run_maintenance(database_url, policy, datetime.now(UTC))
            except (IngestError, StorageError) as exc:
                logger.warning("storage maintenance failed, retrying later: %s", exc)
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, name="maintenance", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=60)


@contextlib.contextmanager
def running_api(
    database_url: str, host: str, port: int, **app_options: Any
) -> Iterator[uvicorn.Server]:
    """The API served by uvicorn in a thread (it installs no signal handlers there);
    `app_options` go to `api.main.create_app` (ChirpStack settings, catalogue, bridge)."""
    # Imported here: a bridge-only process does not load the web stack (~18 MB of RSS).
    import uvicorn

    from api.main import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(database_url, **app_options),
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,  # open live streams must not hold a stop
            access_log=False,  # api.middleware logs each request (api.access)
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
