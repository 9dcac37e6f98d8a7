"""End to end: the demo datacenter's meters (hardware.fleet.datacenter_devices) publish two
days of hourly uplinks through the real broker and bridge into the database; the PUE and
site energy the API serves equal the fleet's ground truth (hardware.truth: the energy that
flowed through each register, per hour) within the TIC registers' resolution (1 Wh)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from hardware import simulator
from hardware.catalogue import CATALOGUE_DIR, load_catalogue
from hardware.fleet import DATACENTER_SITE, datacenter_devices
from hardware.truth import GroundTruth
from icone.demo import register_fleet
from icone.embedded import RunningService
from icone.reference import sync_reference_data
from storage import apikeys
from storage.rollups import refresh_rollups
from tests.system.helpers import bridge, bridge_config, count, publisher, wait_for

# 2025-07-14 00:00 to 2025-07-16 00:00 in Paris (UTC+2): warm days, so the cooling runs hard
START = datetime(2025, 7, 13, 22, 0, tzinfo=UTC)
HOURS = 48
RESOLUTION_KWH = 0.001  # the PME-PMI EA_s register counts Wh


def test_datacenter_pue_and_site_energy_equal_the_fleets_truth(
    broker: RunningService, database: str
) -> None:
    catalogue = load_catalogue()
    devices = datacenter_devices(catalogue, 0, START - timedelta(hours=1))
    truth = GroundTruth()
    for device in devices:
        device.truth = truth
    meters = {d.role: d.dev_eui for d in devices if d.role != "rack_inlet"}
    sync_reference_data(database, CATALOGUE_DIR)
    register_fleet(database, devices)

    messages = []
    rng = random.Random(3)
    for h in range(HOURS + 1):
        at = START + timedelta(hours=h)
        messages += [simulator.uplink_message(d, at, rng, protobuf=False) for d in devices]
    client = publisher(broker.url)
    with bridge(bridge_config(broker.url), database):
        simulator.publish_all(client, iter(messages), len(messages))
        wait_for(
            lambda: count(database, "SELECT count(*) FROM uplinks") == len(messages),
            what=f"{len(messages)} uplinks",
        )
    client.disconnect()
    with psycopg.connect(database, autocommit=True) as conn:
        refresh_rollups(conn, START - timedelta(days=1))
        key = apikeys.create_key(conn, "dashboard", "reporting")

    params = {"from": START.isoformat(), "to": (START + timedelta(hours=HOURS)).isoformat()}
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(database)) as http:
        days = http.get(
            "/indicators/datacenter", params={**params, "bucket": "day"}, headers=headers
        ).json()["energy"]
        site = http.get(
            "/indicators/energy",
            params={**params, "bucket": "day", "site": DATACENTER_SITE},
            headers=headers,
        ).json()["data"]

    assert len(days) == 2
    for i, day in enumerate(days):
        day_start = START + timedelta(days=i)
        used = {
            role: sum(
                kwh
                for hour, kwh in truth.hourly(dev_eui, "energy_active_index").items()
                if day_start <= hour < day_start + timedelta(days=1)
            )
            for role, dev_eui in meters.items()
        }
        assert day["e_it"] == pytest.approx(used["it_load"], abs=RESOLUTION_KWH)
        assert day["e_facility"] == pytest.approx(used["facility_total"], abs=RESOLUTION_KWH)
        assert day["e_cooling"] == pytest.approx(used["cooling"], abs=RESOLUTION_KWH)
        pue = used["facility_total"] / used["it_load"]
        # two Wh of rounding on ~1.5 MWh: far below 1e-5 relative
        assert day["pue"] == pytest.approx(pue, rel=1e-5)
        assert 1.5 <= day["pue"] <= 2.0
        assert day["pue_status"] == "ok"
        assert day["metering_category"].startswith("category 1")
    # the site's energy is its facility meter's: the IT and cooling sub-meters are inside it
    totals = [r for r in site if r["register_name"] == "total"]
    assert [r["figure"] for r in totals] == pytest.approx([d["e_facility"] for d in days], abs=1e-9)
    assert all(r["devices_contributing"] == r["devices_expected"] == 1 for r in totals)
