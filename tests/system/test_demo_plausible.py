"""The demo's figures are plausible: its fleet, registered and published as `icone demo`
does (a day of history, then live uplinks), through the real broker and bridge; every site's
day totals lie within the fleet's
ground truth.

Meters that timestamp their register at the hour (Axioma, Kamstrup) file a reading taken at
t under the hour before t, and a figure between readings is spread pro rata of time: a day's
figure may therefore take up to two hours of flow from each neighbouring day, and no more.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.fleet import build_fleet
from hardware.truth import COUNTER_REGISTERS, HOUR, hour_start
from icone.demo import DEMO_DEVICES, HISTORY_HOURS, publish_history, register_fleet
from icone.embedded import RunningService
from icone.simulate_cmd import attach_truth
from storage import apikeys
from tests.system.helpers import bridge, bridge_config, count, publisher, wait_for
from tests.system.truth import PARIS, register_truth

SHIFT = 2 * HOUR
LIVE_SECONDS = 12.0  # two rounds of the fleet at the demo's rate
LIVE_RATE = 4.0


def test_demo_site_day_totals_are_within_the_ground_truth(
    broker: RunningService, database: str
) -> None:
    start = datetime.now(UTC) - timedelta(hours=HISTORY_HOURS)
    fleet = build_fleet(load_catalogue(), DEMO_DEVICES, start=start)
    truth = attach_truth(fleet)
    register_fleet(database, fleet)
    client = publisher(broker.url)
    with bridge(bridge_config(broker.url), database):
        sent = publish_history(client, fleet, start, HISTORY_HOURS)
        stop = threading.Event()
        threading.Timer(LIVE_SECONDS, stop.set).start()
        sent += simulator.run_realtime(client, fleet, LIVE_RATE, stop)  # then live, as the demo
        wait_for(lambda: count(database, "SELECT count(*) FROM uplinks") == sent, what="uplinks")
    client.disconnect()
    with psycopg.connect(database) as conn:
        token = apikeys.create_key(conn, "demo check", "admin")

    # site, metric -> hourly truth summed over the site's registers, and their resolutions
    hourly: dict[tuple[str, str], dict[datetime, float]] = {}
    resolution: dict[tuple[str, str], float] = {}
    for device in fleet:
        for register in COUNTER_REGISTERS.get(device.model, ()):
            key = (device.site_id, register.metric)
            sums = hourly.setdefault(key, {})
            resolution[key] = resolution.get(key, 0.0) + 2 * register.resolution
            for hour, value in register_truth(truth, device, register).items():
                sums[hour] = sums.get(hour, 0.0) + value

    def flow(key: tuple[str, str], since: datetime, until: datetime) -> float:
        return sum(v for h, v in hourly[key].items() if since <= h < until)

    problems = []
    checked = 0
    with TestClient(create_app(database)) as http:
        for site, metric in sorted(hourly):
            response = http.get(
                f"/sites/{site}/consumption",
                params={
                    "metric": metric,
                    "from": hour_start(start).isoformat(),
                    "to": datetime.now(UTC).isoformat(),
                    "bucket": "day",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            for point in response.json()["data"]:
                day = datetime.fromisoformat(point["bucket"]).astimezone(PARIS)
                end = (day + timedelta(days=1, hours=2)).replace(hour=0)  # next local midnight
                low = flow((site, metric), day + SHIFT, end - SHIFT) - resolution[(site, metric)]
                high = flow((site, metric), day - SHIFT, end + SHIFT) + resolution[(site, metric)]
                checked += 1
                if not low <= point["value"] <= high:
                    problems.append(
                        f"{site} {metric} {day.date()}: {point['value']:.3f} not in "
                        f"[{low:.3f}, {high:.3f}] (truth of the day "
                        f"{flow((site, metric), day, end):.3f})"
                    )
    assert checked >= len(hourly)  # every site and metric had a figure
    assert not problems, "\n".join(problems)
