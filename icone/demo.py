"""`icone demo`: the whole chain on one machine, with a virtual fleet.

Embedded PostgreSQL + Mosquitto (unless URLs are configured) -> migrate -> register the
fleet's sites and devices -> a day of history, then live uplinks -> bridge -> API.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import psycopg

from gateway_bridge.config import BrokerAddress
from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.fleet import SITES, VirtualDevice, build_fleet
from icone import demo_link
from icone.runtime import (
    bridge_config,
    configured_bridge,
    running_api,
    running_maintenance,
    services,
)
from icone.settings import Settings
from storage import apikeys
from storage.migrate import migrate
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites

logger = logging.getLogger(__name__)


def register_fleet(database_url: str, fleet: list[VirtualDevice]) -> None:
    with psycopg.connect(database_url) as conn:
        upsert_sites(
            conn, [SiteSpec(id=i, name=n, kind=k, floor_area_m2=a) for i, n, k, a in SITES]
        )
        upsert_devices(
            conn,
            [
                DeviceSpec(
                    dev_eui=d.dev_eui,
                    model=d.model,
                    name=f"{d.model} #{d.dev_eui[-4:]}",
                    site_id=d.site_id,
                )
                for d in fleet
            ],
        )


def demo_api_key(database_url: str, state_dir: Path) -> str:
    """An admin key for the demo, kept in the state dir (0600) and reused while valid."""
    path = state_dir / "demo-api-key"
    with psycopg.connect(database_url, autocommit=True) as conn:
        if path.exists():
            token = path.read_text().strip()
            parts = apikeys.split_token(token)
            if parts is not None:
                row = conn.execute(apikeys.LOOKUP_SQL, (parts[0],)).fetchone()
                if apikeys.verify(row, parts[1]) is not None:
                    return token
        token = apikeys.create_key(conn, "demo admin", "admin")
    path.write_text(token)
    path.chmod(0o600)
    return token


def _print_banner(
    out: TextIO, api_url: str, key_file: Path, dev_eui: str, duration: float | None
) -> None:
    lines = [
        "",
        "ICONE demo is running.",
        f"  API:      {api_url}   (OpenAPI docs: {api_url}/docs)",
        f"  API key:  an admin key is in {key_file} (never printed); in another shell:",
        f"    export ICONE_KEY=$(cat {key_file.resolve()})",
        "",
        "Try:",
        f"  curl -s {api_url}/health",
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" {api_url}/devices',
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" "{api_url}/devices/{dev_eui}/measurements?limit=5"',
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" "{api_url}/devices/{dev_eui}/uplinks?limit=3"',
        "",
        f"Stopping after {duration:.0f} s." if duration else "Press Ctrl-C to stop.",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def run_demo(
    settings: Settings,
    stop: threading.Event,
    duration: float | None,
    devices: int = 24,
    rate: float = 4.0,
    history_hours: int = 24,
) -> int:
    catalogue = load_catalogue(settings.catalogue_dir)
    with services(settings, share_demo=False) as urls:
        report = migrate(urls.database_url)
        now = datetime.now(UTC)
        fleet = build_fleet(catalogue, devices, start=now - timedelta(hours=history_hours))
        register_fleet(urls.database_url, fleet)
        demo_api_key(urls.database_url, settings.state_dir)
        broker = BrokerAddress.from_url(urls.mqtt_url)
        password = broker.password.get_secret_value() if broker.password else None
        config = bridge_config(settings, urls.mqtt_url)
        with (
            configured_bridge(settings, config, urls.database_url),
            running_maintenance(urls.database_url, settings.retention.policy(), 60.0),
            running_api(urls.database_url, settings.api.host, settings.api.port),
        ):
            client = simulator.connect(broker.host, broker.port, broker.username, password)
            api_url = f"http://{settings.api.host}:{settings.api.port}"
            demo_link.write(
                settings.state_dir,
                demo_link.DemoServices(
                    pid=os.getpid(),
                    database_url=urls.database_url,
                    mqtt_url=urls.mqtt_url,
                    database_port=urlsplit(urls.database_url).port or 5432,
                    mqtt_port=broker.port,
                    api_url=api_url,
                ),
            )
            try:
                # A day of history first (hourly per device), so boards have something to show.
                step = timedelta(hours=1) / max(1, len(fleet))
                history = simulator.events(fleet, now - timedelta(hours=history_hours), step, False)
                simulator.publish_all(client, history, history_hours * len(fleet))
                sample = next(d for d in fleet if catalogue[d.model].category.value == "climate")
                logger.info(
                    "storage mode %s, %d devices, API on %s", report.mode, len(fleet), api_url
                )
                key_file = settings.state_dir / "demo-api-key"
                _print_banner(sys.stdout, api_url, key_file, sample.dev_eui, duration)
                timer = threading.Timer(duration, stop.set) if duration else None
                if timer:
                    timer.start()
                simulator.run_realtime(client, fleet, rate, stop)
                if timer:
                    timer.cancel()
            finally:
                demo_link.remove(settings.state_dir)
                client.disconnect()
                client.loop_stop()
    logger.info("demo stopped cleanly")
    return 0
