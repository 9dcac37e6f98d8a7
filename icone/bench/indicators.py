"""Indicators benchmark: each /indicators endpoint's latency (p95) through the API, on the
storage benchmark's data set (icone.bench.storage: 15-minute readings for a year, 20 devices
per site: 8 electricity, 6 water, 6 temperature), in plain PostgreSQL and TimescaleDB.

The data set is given the registry facts the indicators read: catalogue models per category
(900 s uplink interval), floor areas, and a datacenter at site-000 (facility_total, it_load
and cooling meters, the other electricity meters there sub-meters, the temperature sensors
rack inlets). Three sets of timings in one run, on one API: the floor (GET /whoami: the cost
of any authenticated request), the baseline (0012's caches emptied: every figure computed
from the rollups and raw readings, as before 0012), then each endpoint as served (the caches
filled by the refresh the maintenance job runs). Targets (TimescaleDB, scale 1): each
endpoint p95 < 150 ms, the yearly summary < 1 s. Timing targets live here, never in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from icone import embedded
from icone.bench.storage import (
    ENERGY,
    TEMPERATURE,
    WATER,
    _bench_database,
    _compress,
    _fleet,
    _load,
    _stats,
    _timed,
    server_modes,
)
from icone.runtime import running_api
from storage import apikeys
from storage.indicators import DeviceModel, set_datacenter_metering, sync_device_models
from storage.migrate import StorageMode, migrate
from storage.rollups import refresh_figure_cache, refresh_rollups

logger = logging.getLogger(__name__)

RUNS = 20
BASELINE_RUNS = 3  # the uncached baseline takes seconds per call at scale 1
TARGETS = {"endpoint_p95_ms": 150, "summary_p95_ms": 1000}
_MODELS = {ENERGY: "bench-energy", WATER: "bench-water", TEMPERATURE: "bench-climate"}


def _registry(conn: psycopg.Connection[Any]) -> None:
    """Models, roles and floor areas on the storage bench's devices (which carry their metric
    in `role`, as that bench loads them)."""
    sync_device_models(
        conn,
        [
            DeviceModel("bench-energy", "energy", 900),
            DeviceModel("bench-water", "water", 900),
            DeviceModel("bench-climate", "climate", 900),
        ],
    )
    for metric, model in _MODELS.items():
        conn.execute("UPDATE devices SET model = %s WHERE role = %s", (model, metric))
    conn.execute("UPDATE devices SET role = NULL WHERE site_id <> 'site-000'")
    conn.execute(
        """
        WITH ranked AS (
            SELECT dev_eui, model, row_number() OVER (PARTITION BY model ORDER BY dev_eui) AS n
            FROM devices WHERE site_id = 'site-000'
        )
        UPDATE devices d SET role = CASE
            WHEN r.model = 'bench-climate' THEN 'rack_inlet'
            WHEN r.model = 'bench-energy' AND r.n = 1 THEN 'facility_total'
            WHEN r.model = 'bench-energy' AND r.n = 2 THEN 'it_load'
            WHEN r.model = 'bench-energy' AND r.n = 3 THEN 'cooling'
            WHEN r.model = 'bench-energy' THEN 'submeter'
        END
        FROM ranked r WHERE r.dev_eui = d.dev_eui
        """
    )
    conn.execute("UPDATE sites SET floor_area_m2 = 1000 + 10 * length(id) WHERE id <> 'site-000'")
    set_datacenter_metering(conn, "site-000", 1)
    conn.execute(
        "INSERT INTO emission_factors (energy, value, unit, valid_from, source, year) "
        "VALUES ('electricity', 0.06, 'kgCO2e/kWh', '2000-01-01', 'bench', 2024) "
        "ON CONFLICT DO NOTHING"
    )


def _endpoints(now: datetime) -> dict[str, tuple[str, dict[str, Any]]]:
    year_ago = now - timedelta(days=365)
    window = {"from": year_ago.isoformat(), "to": now.isoformat()}
    month = {"from": (now - timedelta(days=30)).isoformat(), "to": now.isoformat()}
    last_year = (now - timedelta(days=182)).year
    return {
        "energy_1y_monthly_per_site": ("/indicators/energy", {**window, "bucket": "month"}),
        "energy_1y_metropolis": ("/indicators/energy", {**window, "group": "metropolis"}),
        "energy_yoy": ("/indicators/energy/yoy", {"year": last_year, "group": "metropolis"}),
        "emissions_1y": ("/indicators/emissions", window),
        "datacenter_30d_daily": ("/indicators/datacenter", {**month, "bucket": "day"}),
        "datacenter_1y_monthly": ("/indicators/datacenter", {**window, "bucket": "month"}),
        "water_30d_daily_per_site": ("/indicators/water", {**month, "bucket": "day"}),
        "fleet_now": ("/indicators/fleet", {"at": now.isoformat()}),
        "summary_year": ("/indicators/summary", {"year": last_year}),
    }


_CACHES = (
    "figure_cache",
    "figure_cache_horizon",
    "thermal_cache",
    "thermal_cache_horizon",
    "site_day_cache",
    "site_day_horizon",
)


def _empty_caches(conn: psycopg.Connection[Any]) -> None:
    """The baseline: every figure computed from the rollups and raw readings (0012's and
    0018's caches emptied; nothing refills them until refresh_figure_cache). TRUNCATE, not
    DELETE: the refilled tables must not carry a table's worth of dead rows into "ours"."""
    conn.execute(
        sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t) for t in _CACHES))
    )


def _fill_caches(conn: psycopg.Connection[Any]) -> None:
    """What the maintenance job leaves: the caches refreshed, then analysed (autovacuum's job
    in production; done at once here so every run starts from the same statistics)."""
    refresh_figure_cache(conn)
    conn.execute(
        sql.SQL("VACUUM (ANALYZE) {}").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in _CACHES)
        )
    )


def _measure(
    url: str, now: datetime, runs: int, baseline_runs: int
) -> tuple[dict[str, float], dict[str, dict[str, dict[str, float]]]]:
    """One API, three sets of timings: the floor (GET /whoami: auth, routing, one query),
    each endpoint with the caches emptied (the baseline), then filled (ours, after the
    refresh the maintenance job runs)."""
    with psycopg.connect(url, autocommit=True) as conn:
        # a name of its own: a kept database keeps the keys of earlier runs
        token = apikeys.create_key(conn, f"bench-{time.time_ns()}", "reporting")
    headers = {"Authorization": f"Bearer {token}"}
    port = embedded.free_port()

    def get(path: str, params: dict[str, Any]) -> bytes:
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}?{query}", headers=headers)
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310
            body: bytes = response.read()
            return body

    def timed(path: str, params: dict[str, Any], n: int) -> dict[str, float]:
        return _timed(lambda: get(path, params), n)

    out: dict[str, dict[str, dict[str, float]]] = {}
    with running_api(url, "127.0.0.1", port), psycopg.connect(url, autocommit=True) as conn:
        floor = timed("/whoami", {}, runs)
        _empty_caches(conn)
        try:
            for name, (path, params) in _endpoints(now).items():
                logger.info("indicators baseline", extra={"endpoint": name})
                out[name] = {"uncached": timed(path, params, baseline_runs)}
        finally:
            _fill_caches(conn)
        # a running API's state: each of its pooled connections (two, with the answers
        # computed on two) has planned every endpoint's statements, and the writes of the
        # refill are behind us
        for _ in range(2):
            for path, params in _endpoints(now).values():
                get(path, params)
        for name, (path, params) in _endpoints(now).items():
            samples, probes = [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                get(path, params)
                samples.append((time.perf_counter() - t0) * 1000)
                probes.append(_cpu_probe_ms())
            out[name]["cached"] = _stats(samples)
            out[name]["cpu_probe"] = _stats(probes)
    return floor, out


def _cpu_probe_ms() -> float:
    """A fixed piece of CPU work (pure Python, ~5 ms at this machine's best), timed after
    each request: the machine's speed at that moment. On a shared virtual machine it varies
    (1.6x within minutes, measured), and a p95 over 20 requests moves with it."""
    t0 = time.perf_counter()
    total = 0
    for i in range(50_000):
        total += i * i
    return (time.perf_counter() - t0) * 1000


def _results(url: str, now: datetime, runs: int, baseline_runs: int) -> dict[str, Any]:
    floor, endpoints = _measure(url, now, runs, baseline_runs)
    return {"floor_whoami": floor, "endpoints": endpoints}


def _measure_loaded(
    url: str, mode: StorageMode, scale: float, runs: int, baseline_runs: int
) -> dict[str, Any]:
    """Endpoints only, on the database an earlier `keep` run loaded and gave its registry
    facts (after a migration that changed the indicator functions, say): its year ends where
    the load's did."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT max(time), count(*) FROM measurements").fetchone()
        models = conn.execute("SELECT count(*) FROM device_models").fetchone()
        if row is None or row[0] is None or not models or not models[0]:
            raise ValueError("the kept benchmark database is empty: run once with keep first")
        devices = conn.execute("SELECT count(*) FROM devices").fetchone()
        if devices is None or devices[0] != len(_fleet(scale)):
            raise ValueError(f"the kept benchmark database was loaded at another scale ({devices})")
        conn.execute("ANALYZE")
    now = row[0].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {
        "mode": str(mode),
        "devices": devices[0],
        "readings": row[1],
        "reused": True,
        **_results(url, now, runs, baseline_runs),
    }


def _bench_mode(
    url: str, mode: StorageMode, scale: float, runs: int, baseline_runs: int, reuse: bool
) -> dict[str, Any]:
    fleet = _fleet(scale)
    migrate(url, str(mode))
    if reuse:
        return _measure_loaded(url, mode, scale, runs, baseline_runs)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=365)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        if mode is StorageMode.PLAIN:
            for table in ("uplinks", "measurements"):
                conn.execute("SELECT icone_ensure_partitions(%s, %s, 14)", (table, start))
        readings = _load(conn, fleet, start)
        refresh_rollups(conn, start)
        if mode is StorageMode.TIMESCALE:
            _compress(conn, now)
        _registry(conn)
        conn.execute("ANALYZE")
    return {
        "mode": str(mode),
        "devices": len(fleet),
        "readings": readings,
        **_results(url, now, runs, baseline_runs),
    }


def run(
    scale: float = 1.0,
    json_path: Path | None = None,
    database_url: str | None = None,
    only: StorageMode | None = None,
    runs: int = RUNS,
    keep: bool = False,
    reuse: bool = False,
    baseline_runs: int = BASELINE_RUNS,
) -> dict[str, Any]:
    """On `database_url`'s server (plain, and TimescaleDB when preloaded; `only` one of them)
    or on an embedded plain PostgreSQL; databases icone_bench_indicators_<mode>, dropped
    unless `keep`; `reuse` measures again on the ones a `keep` run left (no load), and keeps
    them."""
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    if (keep or reuse) and database_url is None:
        raise ValueError("keep and reuse need a server (ICONE_DATABASE_URL), not an embedded one")
    results = []
    with contextlib.ExitStack() as stack:
        server_url = database_url
        if server_url is None:
            state = stack.enter_context(tempfile.TemporaryDirectory())
            server_url = stack.enter_context(embedded.postgres(Path(state))).url
        for mode in server_modes(server_url, only):
            name = f"icone_bench_indicators_{mode}"
            with _bench_database(server_url, name, keep=keep, reuse=reuse) as url:
                logger.info("indicators benchmark", extra={"mode": str(mode), "scale": scale})
                results.append(_bench_mode(url, mode, scale, runs, baseline_runs, reuse))
    report = {
        "scale": scale,
        "runs_per_endpoint": runs,
        "baseline_runs_per_endpoint": baseline_runs,
        "targets": TARGETS,
        "results": results,
    }
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def add_parser(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser(
        "indicators",
        help="p95 of each /indicators endpoint on the storage bench's data set",
        description=__doc__,
    )
    p.set_defaults(func=cmd_bench_indicators)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000 devices x 1 year")
    p.add_argument("--mode", choices=("both", "plain", "timescale"), default="both")
    p.add_argument("--runs", type=int, default=RUNS, help="requests per endpoint")
    p.add_argument(
        "--baseline-runs",
        type=int,
        default=BASELINE_RUNS,
        help="requests per endpoint with the caches emptied (the baseline)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write results to PATH")
    p.add_argument("--keep", action="store_true", help="leave the loaded databases on the server")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="measure again on the databases a --keep run left (kept again)",
    )


def cmd_bench_indicators(settings: Any, args: argparse.Namespace) -> int:
    url = settings.database_url.get_secret_value() if settings.database_url else None
    only = None if args.mode == "both" else StorageMode(args.mode)
    report = run(
        args.scale, args.json, url, only, args.runs, args.keep, args.reuse, args.baseline_runs
    )
    print(json.dumps(report, indent=2))  # noqa: T201 (a command's result)
    return 0
