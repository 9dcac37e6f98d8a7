"""`icone demo`: the whole chain on one machine, with a virtual fleet.

Embedded PostgreSQL + Mosquitto (unless URLs are configured) -> migrate -> register the
fleet's sites and devices -> a day of history, then live uplinks -> bridge -> API.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg

from gateway_bridge.config import BrokerAddress
from hardware import simulator
from hardware.catalogue import Category, load_catalogue
from hardware.fleet import (
    DATACENTER_SITE,
    SITE_POSITIONS,
    SITES,
    VirtualDevice,
    build_fleet,
    datacenter_devices,
)
from icone import demo_link, embedded
from icone.embedded import EmbeddedError
from icone.grafana_cmd import demo_provisioning
from icone.reference import sync_reference_data
from icone.runtime import (
    bridge_config,
    configured_bridge,
    running_api,
    running_demo,
    running_maintenance,
    services,
)
from icone.settings import Settings
from storage import apikeys
from storage.appkey_cipher import AppKeyCipher, generate_key, parse_key
from storage.indicators import set_datacenter_metering
from storage.migrate import StorageMode, migrate
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites

logger = logging.getLogger(__name__)

DEMO_DEVICES = 24
HISTORY_HOURS = 24


def _role(device: VirtualDevice) -> str | None:
    """The fleet's other electricity meters at the datacenter meter circuits inside it (the
    facility meter already counts them): sub-meters, never added to the site's energy."""
    if (
        device.role is None
        and device.site_id == DATACENTER_SITE
        and device.category is Category.ENERGY
    ):
        return "submeter"
    return device.role


def register_fleet(database_url: str, fleet: list[VirtualDevice]) -> None:
    with psycopg.connect(database_url) as conn:
        upsert_sites(
            conn,
            [
                SiteSpec(
                    id=i,
                    name=n,
                    kind=k,
                    floor_area_m2=a,
                    latitude=SITE_POSITIONS[i][0],
                    longitude=SITE_POSITIONS[i][1],
                )
                for i, n, k, a in SITES
            ],
        )
        upsert_devices(
            conn,
            [
                DeviceSpec(
                    dev_eui=d.dev_eui,
                    model=d.model,
                    name=f"{d.model} #{d.dev_eui[-4:]}",
                    site_id=d.site_id,
                    location=d.location,
                    role=_role(d),
                )
                for d in fleet
            ],
        )
        # IT energy at the UPS output: The Green Grid category 1
        set_datacenter_metering(conn, DATACENTER_SITE, 1, "IT energy metered at the UPS output")


def publish_history(
    client: mqtt.Client, fleet: list[VirtualDevice], start: datetime, hours: int
) -> int:
    """`hours` of history from `start`, every device once an hour, so boards have something
    to show."""
    step = timedelta(hours=1) / max(1, len(fleet))
    history = simulator.events(fleet, start, step, False)
    return simulator.publish_all(client, history, hours * len(fleet))


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
        # Key names are unique among live keys: the lost demo key makes way for the new one.
        conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL",
            ("demo admin",),
        )
        token = apikeys.create_key(conn, "demo admin", "admin")
    path.write_text(token)
    path.chmod(0o600)
    return token


def demo_appkey_cipher(settings: Settings) -> AppKeyCipher:
    """The configured AppKey cipher, else one from a key kept in the state dir (0600)."""
    configured = settings.registry.cipher()
    if configured is not None:
        return configured
    path = settings.state_dir / "registry-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)  # 0600 before the key is written
        path.write_text(generate_key())
    return AppKeyCipher(parse_key(path.read_text()))


def _today(days: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def _print_banner(
    out: TextIO,
    api_url: str,
    key_file: Path,
    dev_eui: str,
    duration: float | None,
    grafana: list[str],
) -> None:
    year = datetime.now(UTC).year
    lines = [
        "",
        "ICONE demo is running.",
        f"  API:      {api_url}   (OpenAPI docs: {api_url}/docs)",
        f"  Field app (technicians, on a phone or a narrow window): {api_url}/app/",
        f"  API key:  an admin key is in {key_file} (never printed); in another shell:",
        f"    export ICONE_KEY=$(cat {key_file.resolve()})",
        "",
        "Try:",
        f"  curl -s {api_url}/health",
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" {api_url}/devices',
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" "{api_url}/devices/{dev_eui}/measurements?limit=5"',
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" "{api_url}/devices/{dev_eui}/uplinks?limit=3"',
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" "{api_url}/indicators/datacenter'
        f'?bucket=day&from={_today()}T00:00:00%2B00:00&to={_today(1)}T00:00:00%2B00:00"',
        f'  curl -s -H "Authorization: Bearer $ICONE_KEY" "{api_url}/indicators/summary?year={year}"',
        "",
        *grafana,
        "",
        f"Stopping after {duration:.0f} s." if duration else "Press Ctrl-C to stop.",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _forget_previous_demo(state_dir: Path) -> None:
    """Each demo on embedded services starts afresh. The virtual fleet is rebuilt with the same
    devices and registers, so a previous run's readings (in the database, in the broker's queue
    for the bridge's session, in the bridge's spool) would interleave with the new ones as
    registers going back and forth. Never done with ICONE_DATABASE_URL or ICONE_MQTT_URL set."""
    for stale in (state_dir / "spool", state_dir / "mosquitto" / "mosquitto.db"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    logger.info("demo starts afresh: the previous demo's readings, queue and spool are cleared")


def run_demo(
    settings: Settings,
    stop: threading.Event,
    duration: float | None,
    devices: int = DEMO_DEVICES,
    rate: float = 4.0,
    history_hours: int = HISTORY_HOURS,
) -> int:
    catalogue = load_catalogue(settings.catalogue_dir)
    if running_demo(settings) is not None:
        raise EmbeddedError(f"a demo is already running on {settings.state_dir}: stop it first")
    if settings.database_url is None and settings.mqtt_url is None:
        _forget_previous_demo(settings.state_dir)
    with services(settings, share_demo=False) as urls:
        if urls.embedded_database:
            embedded.recreate_database(urls.database_url)
        cipher = demo_appkey_cipher(settings)
        report = migrate(urls.database_url, appkey_cipher=cipher)
        now = datetime.now(UTC)
        start = now - timedelta(hours=history_hours)
        fleet = build_fleet(catalogue, devices, start=start)
        fleet += datacenter_devices(catalogue, len(fleet), start)
        sync_reference_data(urls.database_url, settings.catalogue_dir)
        register_fleet(urls.database_url, fleet)
        demo_api_key(urls.database_url, settings.state_dir)
        grafana = demo_provisioning(
            urls.database_url, settings.state_dir, report.mode == StorageMode.TIMESCALE
        )
        broker = BrokerAddress.from_url(urls.mqtt_url)
        password = broker.password.get_secret_value() if broker.password else None
        config = bridge_config(settings, urls.mqtt_url)
        with (
            configured_bridge(settings, config, urls.database_url),
            running_maintenance(urls.database_url, settings.retention.policy(), 60.0),
            running_api(
                urls.database_url, settings.api.host, settings.api.port, appkey_cipher=cipher
            ),
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
                publish_history(client, fleet, now - timedelta(hours=history_hours), history_hours)
                sample = next(d for d in fleet if catalogue[d.model].category.value == "climate")
                logger.info(
                    "storage mode %s, %d devices, API on %s", report.mode, len(fleet), api_url
                )
                key_file = settings.state_dir / "demo-api-key"
                _print_banner(sys.stdout, api_url, key_file, sample.dev_eui, duration, grafana)
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
