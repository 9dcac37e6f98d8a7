"""The figure and thermal caches (migration 0012) change no figure: every indicator gives the
same rows with the caches filled as with them empty (every figure then computed from the
rollups and raw readings), after a refresh, after late rows, a technician's record, a
change of envelope and changes to the registry, in both storage modes.

The fleet (2025, so that every row written is a late row): an hourly electricity meter
with a gap, a step back and a reset; a TIC meter with two tariff registers, then a third
one that only arrives late; a meter that died on 20 January; one installed on 10 February
that reported from the 5th; an hourly water meter; a rack-inlet sensor every 10 minutes
with humidity on some readings; and a meter reporting until two hours ago (its last hour
arrives later, partly as live rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from storage.indicators import DeviceModel, sync_device_models
from tests.storage.helpers import add_site, refresh, utc
from tests.storage.helpers import put_series as put

ENERGY = "energy_active_import_index"
WATER = "water_volume_index"
HOUR = timedelta(hours=1)
START = utc("2024-12-31 23:00")  # 1 January 2025, local midnight
END = utc("2025-03-31 22:00")  # 1 April 2025, local midnight (after the DST change)
NOW = datetime.now(UTC).replace(microsecond=0)
MODELS = [
    DeviceModel("c-energy", "energy", 3_600),
    DeviceModel("c-water", "water", 3_600),
    DeviceModel("c-climate", "climate", 600),
]
WINDOWS = [
    (START, END),  # the whole history
    (utc("2025-01-15 07:30"), utc("2025-03-10 16:00")),  # ends inside cached days
]
# (function, buckets, groups): icone_<function>(from, to, bucket[, group])
QUERIES = [
    ("energy", ("day", "month", "year"), ("site",)),
    ("energy", ("day",), ("site_kind", "metropolis")),
    ("energy", ("month",), ("metropolis",)),
    ("water", ("day", "month"), ("site",)),
    ("datacenter", ("day",), (None,)),
]


def _device(
    conn: psycopg.Connection[Any],
    dev_eui: str,
    model: str,
    site: str = "c-site",
    role: str | None = None,
    installed_at: datetime | None = None,
) -> None:
    add_site(conn, site, "datacenter" if site == "c-dc" else "building")
    conn.execute(
        "INSERT INTO devices (dev_eui, model, site_id, role, installed_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (dev_eui, model, site, role, installed_at),
    )


def _hourly(start: datetime, end: datetime, rate: float, base: float = 1000.0) -> list[Any]:
    n = int((end - start) / HOUR)
    return [(start + i * HOUR, round(base + rate * i + 0.3 * math.sin(i / 5), 3)) for i in range(n)]


def _fleet(conn: psycopg.Connection[Any]) -> None:
    sync_device_models(conn, MODELS)
    conn.execute(
        "INSERT INTO emission_factors (energy, value, unit, valid_from, valid_to, source) VALUES "
        "('electricity', 0.05, 'kgCO2e/kWh', '2024-01-01', '2025-02-14', 't'), "
        "('electricity', 0.07, 'kgCO2e/kWh', '2025-02-14', NULL, 't')"
    )
    # E1: hourly; no reading 5-10 Feb; a step back on 20 Jan; a reset on 1 March
    e1 = [
        (t, v - (2.0 if t == utc("2025-01-20 12:00") else 0.0))
        for t, v in _hourly(START, END, 1.5)
        if not utc("2025-02-05 00:00") <= t < utc("2025-02-10 00:00")
    ]
    e1 = [(t, v - 3000 if t >= utc("2025-03-01 09:00") else v) for t, v in e1]
    _device(conn, "ce00000000000001", "c-energy")
    put(conn, "ce00000000000001", ENERGY, e1)
    # E2: TIC, two tariff registers read every 6 h
    _device(conn, "ce00000000000002", "c-energy", "c-site-2")
    six = [(t, v) for t, v in _hourly(START, END, 0.8) if t.hour % 6 == 5]
    put(conn, "ce00000000000002", ENERGY, six, "HCHC")
    put(conn, "ce00000000000002", ENERGY, [(t, v * 2) for t, v in six], "HCHP")
    # E3: died on 20 January; E4: installed on 10 February, reporting from the 5th
    _device(conn, "ce00000000000003", "c-energy")
    put(conn, "ce00000000000003", ENERGY, _hourly(START, utc("2025-01-20 10:00"), 2.0))
    _device(conn, "ce00000000000004", "c-energy", installed_at=utc("2025-02-10 09:00"))
    put(conn, "ce00000000000004", ENERGY, _hourly(utc("2025-02-05 00:00"), END, 0.5))
    # W1: water, hourly
    _device(conn, "cf00000000000001", "c-water")
    put(conn, "cf00000000000001", WATER, _hourly(START, END, 0.01, 50.0))
    # the datacenter: facility and IT meters, a rack-inlet sensor every 10 minutes over
    # 28-31 January (local), humidity every 4th reading, silent 30 Jan 10:00-14:00
    _device(conn, "cd00000000000001", "c-energy", "c-dc", "facility_total")
    _device(conn, "cd00000000000002", "c-energy", "c-dc", "it_load")
    put(conn, "cd00000000000001", ENERGY, _hourly(START, END, 3.0))
    put(conn, "cd00000000000002", ENERGY, _hourly(START, END, 2.0))
    _device(conn, "cc00000000000001", "c-climate", "c-dc", "rack_inlet")
    t0 = utc("2025-01-27 23:00")
    temps = [
        (t0 + i * timedelta(minutes=10), round(22 + 6 * math.sin(i / 20), 2))
        for i in range(4 * 144)
        if not utc("2025-01-30 09:00") <= t0 + i * timedelta(minutes=10) < utc("2025-01-30 13:00")
    ]
    put(conn, "cc00000000000001", "temperature", temps)
    put(conn, "cc00000000000001", "relative_humidity", [(t, 40.0) for t, _ in temps[::4]])
    # R1: every 15 minutes for the last three days, until two hours ago
    _device(conn, "ce00000000000005", "c-energy")
    recent = NOW - timedelta(hours=74)
    put(
        conn,
        "ce00000000000005",
        ENERGY,
        [(recent + i * timedelta(minutes=15), 10.0 + 0.25 * i) for i in range(72 * 4 + 1)],
    )


def _normal(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [
        tuple(round(v, 6) if isinstance(v, float) else v for v in row)
        for row in sorted(rows, key=str)
    ]


def _answers(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    recent = (NOW - timedelta(days=4), NOW + HOUR)
    for lo, hi in [*WINDOWS, recent]:
        tag = "recent " if (lo, hi) == recent else ""
        for function, buckets, groups in QUERIES:
            for bucket in buckets:
                for group in groups:
                    params = (lo, hi, bucket) if group is None else (lo, hi, bucket, group)
                    marks = ", ".join(["%s"] * len(params))
                    sql = f"SELECT * FROM icone_{function}({marks})"
                    out[f"{tag}{sql} {params}"] = _normal(conn.execute(sql, params).fetchall())
        for sql in (
            "SELECT * FROM icone_emissions(%s, %s)",
            "SELECT * FROM icone_ashrae(%s, %s)",
        ):
            out[f"{tag}{sql} {lo} {hi}"] = _normal(conn.execute(sql, (lo, hi)).fetchall())
    return out


def _check(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The answers with the caches as they are, then with them emptied (every figure from the
    rollups and raw readings; rolled back), in one transaction: one now() for both."""
    with conn.transaction():
        cached = _answers(conn)
        with conn.transaction(force_rollback=True):
            conn.execute("DELETE FROM figure_cache; DELETE FROM figure_cache_horizon")
            conn.execute("DELETE FROM thermal_cache; DELETE FROM thermal_cache_horizon")
            conn.execute("DELETE FROM site_day_cache; DELETE FROM site_day_horizon")
            computed = _answers(conn)
    assert cached.keys() == computed.keys()
    for key, rows in computed.items():
        assert cached[key] == rows, key
    return cached


def _settled(answers: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The answers that cannot change with time alone (the recent window's coverage does)."""
    return {k: v for k, v in answers.items() if not k.startswith("recent ")}


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # a constant of this module
    return int(row[0]) if row else 0


@pytest.fixture
def conn(store: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(store, autocommit=True) as c:
        _fleet(c)
        yield c


def test_cached_and_computed_figures_agree(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        before = _answers(conn)  # nothing cached yet
    assert _count(conn, "figure_cache") == 0
    refresh(conn)
    # guards: the caches hold the settled history, horizons where the readings end
    assert _count(conn, "figure_cache") > 500
    assert _count(conn, "thermal_cache") >= 4  # 28-31 January (and 1 Feb: the last hold)
    horizons = dict(
        conn.execute(
            "SELECT dev_eui || '/' || channel, horizon FROM figure_cache_horizon"
        ).fetchall()
    )
    assert horizons["ce00000000000003/"] == utc("2025-01-19 23:00")  # its last reading's day
    assert horizons["ce00000000000001/"] == utc("2025-03-30 22:00")
    assert horizons["ce00000000000005/"] > NOW - timedelta(days=1)
    # the sites' settled days (0018): c-site's up to its lowest register horizon (the dead
    # meter's), the others' up to where their meters' readings end
    sites = dict(
        conn.execute(
            "SELECT site_id, horizon FROM site_day_horizon WHERE metric = %s", (ENERGY,)
        ).fetchall()
    )
    assert sites == {
        "c-site": utc("2025-01-19 23:00"),
        "c-site-2": utc("2025-03-30 22:00"),
        "c-dc": utc("2025-03-30 22:00"),
    }
    assert _count(conn, "site_day_cache") > 100
    refreshed = _check(conn)
    assert _settled(refreshed) == _settled(before)

    # late rows: E1's gap filled, a third TIC register, the dead meter's next reading, the
    # sensor's silence filled, a reset of the facility meter; the last hours of R1 (older
    # than the margin: late; newer: live)
    put(
        conn,
        "ce00000000000001",
        ENERGY,
        _hourly(utc("2025-02-06 00:00"), utc("2025-02-08 00:00"), 1.5, 2000.0),
    )
    put(
        conn,
        "ce00000000000002",
        ENERGY,
        [(utc("2025-02-01 05:00"), 1.0), (utc("2025-03-01 05:00"), 9.0)],
        "EASF03",
    )
    put(conn, "ce00000000000003", ENERGY, [(utc("2025-02-20 10:00"), 1900.0)])
    put(conn, "cc00000000000001", "temperature", [(utc("2025-01-30 10:00"), 31.0)])
    # the facility meter reads 0 once (a reset, by the counter rule) on a day its site's
    # settled days hold (0018: the site's horizon goes back with the register's)
    put(conn, "cd00000000000001", ENERGY, [(utc("2025-02-10 11:30"), 0.0)])
    last = NOW - timedelta(hours=2)
    put(
        conn,
        "ce00000000000005",
        ENERGY,
        [(last + i * timedelta(minutes=15), 82.25 + 0.25 * i) for i in range(1, 8)],
    )
    assert conn.execute("SELECT count(*) FROM rollup_invalidations").fetchone() != (0,)
    late = _check(conn)
    assert _settled(late) != _settled(refreshed)  # the late rows changed figures

    # a technician's record: E1's meter swapped on 15 March
    conn.execute(
        "INSERT INTO meter_swaps (dev_eui, metric, channel, swapped_at, old_final_index, "
        "new_initial_index, recorded_by) VALUES (%s, %s, '', %s, 2700, 0, 'test')",
        ("ce00000000000001", ENERGY, utc("2025-03-15 10:30")),
    )
    swapped = _check(conn)
    assert _settled(swapped) != _settled(late)

    refresh(conn)
    assert _settled(_check(conn)) == _settled(swapped)

    # an envelope changes: the sensor's thermal time is judged again
    conn.execute("UPDATE ashrae_envelopes SET t_max = 25 WHERE name = 'recommended'")
    assert _count(conn, "thermal_cache") == 0
    judged = _check(conn)
    assert _settled(judged) != _settled(swapped)
    refresh(conn)
    assert _settled(_check(conn)) == _settled(judged)


def test_the_day_in_progress_is_the_counter_rules(conn: psycopg.Connection[Any]) -> None:
    """The live part from the cache's horizon on (migration 0016: the daily rows read once,
    handed to icone_consumption) gives icone_consumption's own figures and the raw readings'
    count, for yesterday and today; and so does a long live span (the cache emptied: the
    rows read where they are)."""
    refresh(conn)
    r1 = "ce00000000000005"
    lo, hi = conn.execute(
        "SELECT icone_bucket_start('day', now()) - interval '1 day', "
        "icone_bucket_next('day', icone_bucket_start('day', now()))"
    ).fetchone() or (None, None)
    parts = (
        "SELECT bucket, consumption, readings FROM icone_register_figures(%s, %s, %s, 'day', "
        "%s) ORDER BY 1"
    )
    own = (
        "SELECT d.bucket, c.consumption, d.n FROM (SELECT icone_bucket_start('day', m.time) "
        "AS bucket, count(*) AS n FROM measurements m WHERE m.dev_eui = %s AND m.metric = %s "
        "AND m.time >= %s AND m.time < %s GROUP BY 1) d LEFT JOIN icone_consumption(%s, %s, "
        "'day', NULL, %s, %s) c ON c.bucket = d.bucket ORDER BY 1"
    )
    expected = conn.execute(own, (r1, ENERGY, lo, hi, lo, hi, ENERGY, r1)).fetchall()
    with conn.transaction(force_rollback=True):
        cached = conn.execute(parts, (ENERGY, lo, hi, [r1])).fetchall()
        conn.execute("DELETE FROM figure_cache; DELETE FROM figure_cache_horizon")
        month_ago = lo - timedelta(days=40)
        long_span = conn.execute(parts, (ENERGY, month_ago, hi, [r1])).fetchall()
    assert expected
    assert all(n > 0 for _, _, n in expected)
    assert _normal(cached) == _normal(expected)
    assert _normal([r for r in long_span if r[0] >= lo]) == _normal(expected)


def test_a_reading_before_the_window_holds_into_it(conn: psycopg.Connection[Any]) -> None:
    # readings at 23:50 (27 °C) and 00:10 local (35 °C); the window starts at 00:00. A
    # reading holds until the next one, at most 20 minutes (twice the 10-minute interval):
    # the first holds 10 minutes of the window (00:00-00:10, recommended), the second 20
    # (00:10-00:30, not). Observed 30 minutes, a third of them recommended, one reading.
    day = utc("2025-06-01 22:00")
    minute = timedelta(minutes=1)
    _device(conn, "cc00000000000002", "c-climate", "c-dc", "rack_inlet")
    put(
        conn,
        "cc00000000000002",
        "temperature",
        [(day - 10 * minute, 27.0), (day + 10 * minute, 35.0)],
    )
    row = conn.execute(
        "SELECT observed_hours, recommended_share, readings FROM icone_ashrae(%s, %s) "
        "WHERE dev_eui = %s",
        (day, day + HOUR, "cc00000000000002"),
    ).fetchone()
    assert row is not None
    observed, recommended, readings = row
    assert observed == pytest.approx(0.5)
    assert recommended == pytest.approx(1 / 3)
    assert readings == 1


def test_registry_changes_reach_the_sites_days(conn: psycopg.Connection[Any]) -> None:
    """The sites' settled days (migration 0018) follow the registry: a meter that moves to
    another site, is retired, gets another installation date or role, or whose model's uplink
    interval changes, changes the answers at once (cached = computed), and the next refresh
    caches the sites again."""
    refresh(conn)
    before = _check(conn)
    dev = "cf00000000000001"  # the water meter
    changes = [
        ("UPDATE devices SET site_id = 'c-dc' WHERE dev_eui = %s", (dev,)),
        ("UPDATE devices SET installed_at = %s WHERE dev_eui = %s", (utc("2025-02-01 09:00"), dev)),
        ("UPDATE devices SET status = 'retired' WHERE dev_eui = %s", ("ce00000000000002",)),
        ("UPDATE devices SET role = 'submeter' WHERE dev_eui = %s", ("ce00000000000001",)),
        ("UPDATE device_models SET uplink_interval_s = 1800 WHERE model = 'c-water'", ()),
    ]
    for statement, params in changes:
        assert conn.execute("SELECT count(*) FROM site_day_horizon").fetchone() != (0,)
        conn.execute(statement, params)
        changed = _check(conn)
        assert _settled(changed) != _settled(before), statement
        refresh(conn)
        assert _settled(_check(conn)) == _settled(changed), statement
        before = changed
