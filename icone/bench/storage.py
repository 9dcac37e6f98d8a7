"""Storage benchmark: one year of 15-minute readings for a fleet, then load time, bytes per
reading and query latency, in plain PostgreSQL and (when the server has it) TimescaleDB.

`icone bench storage [--scale S] [--json PATH]` calls `run`. Scale 1 = 1,000 devices x 35,040
readings (35 M uplinks and as many measurements); readings are generated server-side with
generate_series, one INSERT per device. Targets (TimescaleDB): each query p95 < 100 ms and
<= 16 bytes per measurement after compression. Timing targets live here, never in tests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from icone import embedded
from storage.migrate import StorageMode, detect_timescale, migrate
from storage.rollups import refresh_rollups

logger = logging.getLogger(__name__)

READINGS_PER_DEVICE = 365 * 96
PARIS = ZoneInfo("Europe/Paris")
RUNS = 50

# Device mix of every site (DEVICES_PER_SITE = 20): 8 electricity meters, 6 water meters, 6
# temperature sensors, so that per-site figures are the same at every scale and the server
# room (site-000) has temperature sensors. (metric, SQL expression of the value at step i)
# Registers are closed-form and monotonic (a daily cycle on top of a steady rate), so no
# window function is needed to generate them; values are rounded to what the decoders emit
# (Wh and litre registers, 0.01 °C), which is what compression sees in production.
_ENERGY = "round((1000 * d + k * (i + 3 * (1 - cos(2 * pi() * i / 96))))::numeric, 3)"
_WATER = "round((10 * d + k / 50.0 * (i + 12 * (1 - cos(2 * pi() * i / 96))))::numeric, 3)"
_TEMPERATURE = "round((21 + 3 * sin(2 * pi() * i / 96) + mod(d::int, 5))::numeric, 2)"
ENERGY, WATER, TEMPERATURE = "energy_active_import_index", "water_volume_index", "temperature"
SITE_MIX = ((8, ENERGY, _ENERGY), (6, WATER, _WATER), (6, TEMPERATURE, _TEMPERATURE))
DEVICES_PER_SITE = sum(n for n, _, _ in SITE_MIX)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stats(samples: list[float]) -> dict[str, float]:
    """Median and p95 of timings in ms."""
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(_percentile(samples, 0.95), 2),
    }


def _timed(fn: Callable[[], object], runs: int = RUNS) -> dict[str, float]:
    fn()  # warm the caches and the plan
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return _stats(samples)


def _fleet(scale: float) -> list[tuple[str, str, str, str]]:
    """(dev_eui, site_id, metric, value expression) for the scaled fleet."""
    kinds = [(metric, expr) for n, metric, expr in SITE_MIX for _ in range(n)]
    n = max(DEVICES_PER_SITE, round(1000 * scale))
    fleet = []
    for d in range(n):
        metric, expr = kinds[d % DEVICES_PER_SITE]
        fleet.append((f"{d:016x}", f"site-{d // DEVICES_PER_SITE:03d}", metric, expr))
    return fleet


def _load(
    conn: psycopg.Connection[Any], fleet: list[tuple[str, str, str, str]], start: datetime
) -> int:
    sites = sorted({s for _, s, _, _ in fleet})
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sites (id, name, kind) VALUES (%s, %s, %s)",
            [(s, s, "server_room" if i == 0 else "building") for i, s in enumerate(sites)],
        )
        cur.executemany(
            "INSERT INTO devices (dev_eui, model, site_id, role) VALUES (%s, 'bench', %s, %s)",
            [(dev, site, metric) for dev, site, metric, _ in fleet],
        )
    total = 0
    for number, (dev, _, metric, expr) in enumerate(fleet):
        statement = sql.SQL(
            """
            WITH u AS (
                INSERT INTO uplinks (time, deduplication_id, dev_eui, f_cnt, f_port, payload,
                                     time_source, received_at, rssi, snr, gateway_count,
                                     decode_status)
                SELECT %(start)s::timestamptz + i * interval '15 minutes', gen_random_uuid(),
                       %(dev)s, i, 2, int8send(i), 'event',
                       %(start)s::timestamptz + i * interval '15 minutes' + interval '1 second',
                       -100 + mod(i, 17), 7.5, 1 + mod(i, 3), 'ok'
                FROM generate_series(0, %(n)s - 1) AS i
                RETURNING time, deduplication_id, dev_eui, f_cnt AS i
            )
            INSERT INTO measurements (time, dev_eui, metric, channel, value)
            SELECT time, dev_eui, %(metric)s, '', ({expr})::double precision
            FROM u, (SELECT %(d)s::double precision AS d, 1 + mod(%(d)s, 7) AS k) AS p
            """
        ).format(expr=sql.SQL(expr))  # expressions are constants of this module
        with conn.transaction():
            cur = conn.execute(
                statement,
                {
                    "start": start,
                    "dev": dev,
                    "n": READINGS_PER_DEVICE,
                    "metric": metric,
                    "d": number,
                },
            )
            total += cur.rowcount
        if (number + 1) % 100 == 0 or number + 1 == len(fleet):  # progress of a long load
            logger.info("loaded %d of %d devices", number + 1, len(fleet))
    return total


def _size(conn: psycopg.Connection[Any], table: str, mode: StorageMode) -> int:
    """Heap, TOAST and indexes of a table with all its chunks/partitions (for a continuous
    aggregate, its materialization hypertable; for a plain rollup view, its `_mat` table)."""
    if mode is StorageMode.TIMESCALE:
        row = conn.execute(
            "SELECT hypertable_size(icone_storage_table(%s)::regclass)", (table,)
        ).fetchone()
    else:
        # a rollup table is not partitioned: pg_partition_tree gives nothing for it
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(relid)), "
            "pg_total_relation_size(icone_storage_table(%s))) "
            "FROM pg_partition_tree(icone_storage_table(%s))",
            (table, table),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _compressed_chunks(conn: psycopg.Connection[Any], table: str) -> tuple[int, int]:
    """(bytes after compression, rows) of the compressed chunks of a hypertable."""
    row = conn.execute(
        """
        SELECT sum(s.after_compression_total_bytes),
               (SELECT count(*) FROM measurements m
                WHERE m.time < (SELECT max(range_end) FROM timescaledb_information.chunks c
                                WHERE c.hypertable_name = %s AND c.is_compressed))
        FROM chunk_compression_stats(%s::regclass) s
        WHERE s.compression_status = 'Compressed'
        """,
        (table, table),
    ).fetchone()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


def _compress(conn: psycopg.Connection[Any], now: datetime) -> None:
    """What the compression policies of 0002 do, at once: chunks of the raw tables older
    than 7 days, of the hourly aggregate older than 30 days, of the daily older than 60."""
    for table, after in (
        ("measurements", 7),
        ("uplinks", 7),
        ("measurements_hourly", 30),
        ("measurements_daily", 60),
    ):
        conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true) "
            "FROM show_chunks(%s::regclass, older_than => %s) c",
            (table, now - timedelta(days=after)),
        )


def _queries(
    conn: psycopg.Connection[Any], now: datetime, fleet: list[tuple[str, str, str, str]]
) -> dict[str, dict[str, float]]:
    building = fleet[-1][1]  # every site has the full mix; site-000 is the server room
    room = [dev for dev, s, m, _ in fleet if s == "site-000" and m == TEMPERATURE]

    def monthly_energy() -> object:
        return conn.execute(
            "SELECT bucket, site_id, sum(consumption) FROM icone_consumption(%s, %s, 'month', %s, "
            "'energy_active_import_index') GROUP BY 1, 2",
            (now - timedelta(days=365), now, building),
        ).fetchall()

    def daily_water() -> object:
        return conn.execute(
            "SELECT bucket, site_id, sum(consumption) FROM icone_consumption(%s, %s, 'day', %s, "
            "'water_volume_index') GROUP BY 1, 2",
            (now - timedelta(days=90), now, building),
        ).fetchall()

    def room_temperature() -> object:
        return conn.execute(
            "SELECT bucket, dev_eui, avg_v, min_v, max_v FROM measurements_hourly "
            "WHERE dev_eui = ANY(%s) AND metric = 'temperature' AND bucket >= %s ORDER BY 1",
            (room, now - timedelta(days=30)),
        ).fetchall()

    # the last night whose 01:00-05:00 Paris window has ended by `now`
    local_now = now.astimezone(PARIS)
    last_night = local_now.date() - timedelta(days=0 if local_now.hour >= 5 else 1)

    def night_flow() -> object:
        # docs/domain.md §4.2 rule 2: lowest hourly flow between 01:00 and 05:00 local time above a
        # threshold on 2 consecutive nights (icone_night_flow, migration 0003)
        return conn.execute(
            "SELECT dev_eui FROM icone_night_flow_high(%s, 0.001, 2, NULL, %s)",
            (last_night, WATER),
        ).fetchall()

    return {
        "monthly_energy_per_site_1y": _timed(monthly_energy),
        "daily_water_per_site_90d": _timed(daily_water),
        "server_room_hourly_temperature_30d": _timed(room_temperature),
        "night_flow_all_water_meters": _timed(night_flow),
    }


def _measure_loaded(
    conn: psycopg.Connection[Any], mode: StorageMode, fleet: list[tuple[str, str, str, str]]
) -> dict[str, Any]:
    """Queries only, on a database an earlier `keep` run loaded (after a migration that
    changed the query functions, say): its year ends where the load's did."""
    row = conn.execute("SELECT min(time), count(*) FROM measurements").fetchone()
    if row is None or row[0] is None:
        raise ValueError("the kept benchmark database is empty: run once with keep first")
    devices = conn.execute("SELECT count(*) FROM devices").fetchone()
    if devices is None or devices[0] != len(fleet):
        raise ValueError(f"the kept benchmark database was loaded at another scale ({devices})")
    conn.execute("ANALYZE")
    return {
        "mode": str(mode),
        "devices": len(fleet),
        "readings": row[1],
        "reused": True,
        "queries": _queries(conn, row[0] + timedelta(days=365), fleet),
    }


def _bench_mode(url: str, mode: StorageMode, scale: float, reuse: bool) -> dict[str, Any]:
    fleet = _fleet(scale)
    migrate(url, str(mode))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        if reuse:
            return _measure_loaded(conn, mode, fleet)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=365)
        if mode is StorageMode.PLAIN:
            for table in ("uplinks", "measurements"):
                conn.execute("SELECT icone_ensure_partitions(%s, %s, 14)", (table, start))
        t0 = time.perf_counter()
        readings = _load(conn, fleet, start)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        logger.info("refreshing rollups")
        refresh_rollups(conn, start)
        refresh_s = time.perf_counter() - t0
        raw_bytes = _size(conn, "measurements", mode)
        uplink_bytes = _size(conn, "uplinks", mode)
        compress_s = 0.0
        if mode is StorageMode.TIMESCALE:
            t0 = time.perf_counter()
            _compress(conn, now)
            compress_s = time.perf_counter() - t0
        conn.execute("ANALYZE")
        stored = {t: _size(conn, t, mode) for t in ("measurements", "uplinks")}
        rollups = sum(_size(conn, t, mode) for t in ("measurements_hourly", "measurements_daily"))
        in_compressed = (
            _compressed_chunks(conn, "measurements") if mode is StorageMode.TIMESCALE else (0, 0)
        )
        logger.info("timing the queries")
        queries = _queries(conn, now, fleet)
    return {
        "mode": str(mode),
        "devices": len(fleet),
        "readings": readings,
        "load_s": round(load_s, 1),
        "load_readings_per_s": round(readings / load_s),
        "rollup_refresh_s": round(refresh_s, 1),
        "compress_s": round(compress_s, 1),
        # whole table (partitions or chunks, heap + TOAST + indexes) per reading, before
        # compression and as stored: compressed chunks plus the recent uncompressed ones
        "measurements_bytes_per_reading_raw": round(raw_bytes / readings, 1),
        "measurements_bytes_per_reading_stored": round(stored["measurements"] / readings, 1),
        # compressed chunks only (what older data costs)
        "measurements_bytes_per_reading_in_compressed_chunks": (
            round(in_compressed[0] / in_compressed[1], 1) if in_compressed[1] else None
        ),
        "aggregates_bytes_per_reading_stored": round(rollups / readings, 1),
        "uplinks_bytes_per_reading_raw": round(uplink_bytes / readings, 1),
        "uplinks_bytes_per_reading_stored": round(stored["uplinks"] / readings, 1),
        "queries": queries,
    }


@contextlib.contextmanager
def _bench_database(server_url: str, name: str, keep: bool, reuse: bool) -> Iterator[str]:
    """A fresh database, dropped after the run unless `keep`; or, with `reuse`, the one a
    `keep` run left, kept again (reuse measures a kept load: dropping it would cost the next
    run the whole load, ~40 min at scale 1)."""
    admin = make_conninfo(server_url, dbname="postgres")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    if not reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        if not (keep or reuse):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(drop)


def server_modes(server_url: str, only: StorageMode | None) -> list[StorageMode]:
    """The storage modes the server can run (TimescaleDB when preloaded), or `only` if it can."""
    with psycopg.connect(server_url) as conn:
        status = detect_timescale(conn)
    modes = [StorageMode.PLAIN]
    if status.installed is not None or status.can_install:
        modes.append(StorageMode.TIMESCALE)
    if only is not None:
        if only not in modes:
            raise ValueError(f"{only} mode is not available on this server")
        modes = [only]
    return modes


def _bench_server(
    server_url: str, scale: float, only: StorageMode | None, keep: bool, reuse: bool
) -> list[dict[str, Any]]:
    results = []
    for mode in server_modes(server_url, only):
        with _bench_database(server_url, f"icone_bench_{mode}", keep, reuse) as url:
            logger.info("storage benchmark", extra={"mode": str(mode), "scale": scale})
            results.append(_bench_mode(url, mode, scale, reuse))
    return results


QUERY_P95_TARGET_MS = 100.0
TIMESCALE_BYTES_TARGET = 16.0


def failures(report: dict[str, Any]) -> list[str]:
    """The rows of `run`'s report that miss their target (module docstring)."""
    failed = []
    for result in report["results"]:
        for name, timing in result.get("queries", {}).items():
            if timing["p95_ms"] >= QUERY_P95_TARGET_MS:
                failed.append(f"{result['mode']} {name}: p95 {timing['p95_ms']} ms")
        compressed = result.get("measurements_bytes_per_reading_in_compressed_chunks")
        if result["mode"] == "timescale" and compressed and compressed > TIMESCALE_BYTES_TARGET:
            failed.append(f"timescale: {compressed} bytes per reading compressed")
    return failed


def run(
    scale: float = 1.0,
    json_path: Path | None = None,
    database_url: str | None = None,
    only: StorageMode | None = None,
    keep: bool = False,
    reuse: bool = False,
) -> dict[str, Any]:
    """Run the benchmark on `database_url`'s server (plain mode, and TimescaleDB mode when the
    server has it preloaded; `only` one of them), or on an embedded plain PostgreSQL.

    `keep` leaves the loaded databases (`icone_bench_plain`, `icone_bench_timescale`) on the
    server; `reuse` skips the load and measures the queries on them again (a 35 M-reading
    load takes half an hour; a query change should not)."""
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    if database_url is not None:
        results = _bench_server(database_url, scale, only, keep, reuse)
    elif keep or reuse:
        raise ValueError("keep and reuse need a server (ICONE_DATABASE_URL), not an embedded one")
    else:
        with tempfile.TemporaryDirectory() as state, embedded.postgres(Path(state)) as pg:
            results = _bench_server(pg.url, scale, only, False, False)
    report = {
        "scale": scale,
        "readings_per_device": READINGS_PER_DEVICE,
        "runs_per_query": RUNS,
        "targets": {
            "query_p95_ms": QUERY_P95_TARGET_MS,
            "timescale_bytes_per_reading": TIMESCALE_BYTES_TARGET,
        },
        "results": results,
    }
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
