"""Indicator functions of migration 0008 against hand-computed figures, in both storage modes.

Times are UTC in the fixtures; Paris is UTC+1 in winter (local midnight = 23:00Z) and UTC+2
in summer (22:00Z). Every expected value is worked out in the comment next to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from storage.indicators import (
    EMISSION_FACTORS_FILE,
    DeviceModel,
    load_emission_factors,
    read_emission_factors,
    sync_device_models,
)
from tests.storage.helpers import add_site, put, refresh, utc

ENERGY = "energy_active_import_index"
WATER = "water_volume_index"
MODELS = [
    DeviceModel("t-energy-6h", "energy", 21_600),
    DeviceModel("t-energy-1h", "energy", 3_600),
    DeviceModel("t-water-1h", "water", 3_600),
    DeviceModel("t-climate", "climate", 600),
    DeviceModel("t-daily", "water", 86_400),
]


def _conn(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    conn = psycopg.connect(url, autocommit=True)
    sync_device_models(conn, MODELS)
    return conn


def _device(
    conn: psycopg.Connection[Any],
    dev_eui: str,
    model: str,
    site: str = "site-a",
    kind: str = "building",
    role: str | None = None,
) -> None:
    add_site(conn, site, kind)
    conn.execute(
        "INSERT INTO devices (dev_eui, model, site_id, role) VALUES (%s, %s, %s, %s)",
        (dev_eui, model, site, role),
    )


def _series(
    start: datetime, step: timedelta, values: Iterable[float]
) -> list[tuple[datetime, float]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def _rows(conn: psycopg.Connection[Any], query: str, *params: object) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# November 2025 in Paris: [2025-10-31 23:00Z, 2025-11-30 23:00Z), 30 days, no DST change.
NOV = (utc("2025-10-31 23:00"), utc("2025-11-30 23:00"))
SIX_H = timedelta(hours=6)


def _datacenter(
    conn: psycopg.Connection[Any], it_per_step: list[float], fac_per_step: list[float]
) -> None:
    """Facility and IT meters read every 6 h over November (121 readings each, the first at
    local midnight on Nov 1, the last at local midnight on Dec 1), cooling at 1/4 of facility."""
    _device(conn, "dc00000000000001", "t-energy-6h", "dc", "datacenter", "facility_total")
    _device(conn, "dc00000000000002", "t-energy-6h", "dc", "datacenter", "it_load")
    _device(conn, "dc00000000000003", "t-energy-6h", "dc", "datacenter", "cooling")
    conn.execute("INSERT INTO datacenter_metering (site_id, category) VALUES ('dc', 1)")

    def index(start: float, steps: list[float]) -> list[float]:
        out = [start]
        for i in range(120):
            out.append(out[-1] + steps[i % len(steps)])
        return out

    put(
        conn, "dc00000000000001", ENERGY, _series(NOV[0], SIX_H, index(5_000, fac_per_step)), "EA_s"
    )
    put(conn, "dc00000000000002", ENERGY, _series(NOV[0], SIX_H, index(800, it_per_step)), "EA_s")
    put(
        conn,
        "dc00000000000003",
        ENERGY,
        _series(NOV[0], SIX_H, index(10, [s / 4 for s in fac_per_step])),
        "EA_s",
    )
    refresh(conn)


def test_pue_over_a_month_from_meter_readings(store: str) -> None:
    # IT: 10, 12, 14, 12 kWh per 6 h -> 48 kWh/day x 30 = 1440 kWh.
    # Facility: 16, 20, 24, 20 -> 80 kWh/day x 30 = 2400 kWh. PUE = 2400 / 1440 = 1.6666...
    # Cooling: a quarter of facility = 600 kWh, share 600 / 2400 = 0.25.
    with _conn(store) as conn:
        _datacenter(conn, [10, 12, 14, 12], [16, 20, 24, 20])
        (row,) = _rows(conn, "SELECT * FROM icone_datacenter(%s, %s, 'month')", *NOV)
    assert row["site_id"] == "dc"
    assert row["e_it"] == pytest.approx(1440)
    assert row["e_facility"] == pytest.approx(2400)
    assert row["e_cooling"] == pytest.approx(600)
    assert row["pue"] == pytest.approx(2400 / 1440)
    assert row["pue_status"] == "ok"
    assert row["cooling_share"] == pytest.approx(0.25)
    assert row["metering_category"].startswith("category 1")
    assert (row["facility_meters"], row["it_meters"]) == ("1/1", "1/1")
    # 4 readings a day for 30 days inside the month = 120 per meter, 6-hourly models: 1.0
    assert row["coverage"] == pytest.approx(1.0)
    assert row["gap_days"] == 0


def test_pue_below_one_is_a_data_error(store: str) -> None:
    # IT 30 kWh per 6 h, facility 20: the "PUE" would be 2/3, impossible.
    with _conn(store) as conn:
        _datacenter(conn, [30], [20])
        (row,) = _rows(conn, "SELECT * FROM icone_datacenter(%s, %s, 'month')", *NOV)
    assert row["pue"] is None
    assert row["pue_status"].startswith("data error")
    assert "0.667" in row["pue_status"]


# October 2025 in Paris: [2025-09-30 22:00Z, 2025-10-31 23:00Z); DST ends on Oct 26
# (03:00 CEST -> 02:00 CET), so the local day Oct 26 lasts 25 h.
def test_kwh_by_month_across_the_october_dst_change(store: str) -> None:
    start = utc("2025-10-20 00:00")
    hours = 16 * 24 + 1  # hourly readings up to 2025-11-05 00:00Z
    with _conn(store) as conn:
        _device(conn, "e000000000000001", "t-energy-1h")  # BASE: +1 kWh/h
        _device(conn, "e000000000000002", "t-energy-1h")  # HCHC +1, HCHP +3 per hour
        _device(conn, "e000000000000003", "t-energy-1h")  # EA_s +2 and billing-period EAP_s
        hour = timedelta(hours=1)
        put(conn, "e000000000000001", ENERGY, _series(start, hour, range(hours)), "BASE")
        put(conn, "e000000000000002", ENERGY, _series(start, hour, range(hours)), "HCHC")
        put(
            conn,
            "e000000000000002",
            ENERGY,
            _series(start, hour, [3 * h for h in range(hours)]),
            "HCHP",
        )
        put(
            conn,
            "e000000000000003",
            ENERGY,
            _series(start, hour, [2 * h for h in range(hours)]),
            "EA_s",
        )
        put(
            conn,
            "e000000000000003",
            ENERGY,
            _series(start, hour, [2 * h for h in range(hours)]),
            "EAP_s",
        )
        refresh(conn)
        months = _rows(
            conn,
            "SELECT to_char(bucket AT TIME ZONE 'Europe/Paris', 'YYYY-MM') AS m, register_name, figure "
            "FROM icone_energy(%s, %s, 'month', 'site')",
            utc("2025-09-30 22:00"),
            utc("2025-11-30 23:00"),
        )
        days = _rows(
            conn,
            "SELECT to_char(bucket AT TIME ZONE 'Europe/Paris', 'MM-DD') AS d, figure "
            "FROM icone_energy(%s, %s, 'day', 'site') WHERE register_name = 'total'",
            utc("2025-10-25 22:00"),
            utc("2025-10-27 23:00"),
        )
    got = {(r["m"], r["register_name"]): r["figure"] for r in months}
    # October holds the hours from 10-20 00:00Z to 10-31 23:00Z: 11 x 24 + 23 = 287 hours.
    # Per hour: BASE 1 + HCHC 1 + HCHP 3 + EA_s 2 (EAP_s is a billing-period register: never)
    # = 7 kWh -> 2009 kWh; November has the remaining 16 x 24 - 287 = 97 hours -> 679 kWh.
    assert got[("2025-10", "total")] == pytest.approx(287 * 7)
    assert got[("2025-11", "total")] == pytest.approx(97 * 7)
    assert got[("2025-10", "BASE")] == pytest.approx(287)
    assert got[("2025-10", "HCHC")] == pytest.approx(287)
    assert got[("2025-10", "HCHP")] == pytest.approx(861)
    assert ("2025-10", "EAP_s") not in got
    # Oct 26 lasts 25 hours, Oct 27 24: 175 and 168 kWh.
    assert {r["d"]: r["figure"] for r in days} == pytest.approx({"10-26": 175, "10-27": 168})


def test_a_tic_reader_switched_to_standard_counts_both_modes(store: str) -> None:
    """A meter counts its total register in a bucket where it has one, else its tariff
    registers' sum (migration 0018: per bucket, not per window). A TIC reader in "historique"
    mode (BASE, +1 kWh/h) until 2025-11-03 00:00 local, then in "standard" mode (EAST, +2
    kWh/h, and its tariff register EASF01, which is EAST here). Nov 1-2: 24 kWh a day from
    BASE; Nov 3-4: 48 a day from EAST; the first two days counted nothing before 0018 (the
    window had a total register). The same figures from the sites' cached days and computed."""
    switch = utc("2025-11-02 23:00")
    hour = timedelta(hours=1)
    with _conn(store) as conn:
        _device(conn, "e000000000000009", "t-energy-1h")
        before = _series(NOV[0], hour, range(48 + 1))  # ends at the switch (its last hour)
        put(conn, "e000000000000009", ENERGY, before, "BASE")
        after = _series(switch, hour, [2 * h for h in range(48 + 2)])
        put(conn, "e000000000000009", ENERGY, after, "EAST")
        put(conn, "e000000000000009", ENERGY, after, "EASF01")
        refresh(conn)
        assert conn.execute("SELECT count(*) FROM site_day_horizon").fetchone() == (1,)
        query = (
            "SELECT to_char(bucket AT TIME ZONE 'Europe/Paris', 'MM-DD') AS d, register_name, "
            "figure FROM icone_energy(%s, %s, 'day', 'site')"
        )
        window = (NOV[0], NOV[0] + 4 * timedelta(days=1))
        cached = _rows(conn, query, *window)
        with conn.transaction(force_rollback=True):
            conn.execute("DELETE FROM site_day_cache; DELETE FROM site_day_horizon")
            computed = _rows(conn, query, *window)
    got = {(r["d"], r["register_name"]): r["figure"] for r in cached}
    assert got == pytest.approx(
        {
            ("11-01", "total"): 24,
            ("11-02", "total"): 24,
            ("11-03", "total"): 48,
            ("11-04", "total"): 48,
            ("11-01", "BASE"): 24,
            ("11-02", "BASE"): 24,
            ("11-03", "EASF01"): 48,
            ("11-04", "EASF01"): 48,
        }
    )
    assert computed == cached


def test_coverage_of_a_series_with_a_known_gap(store: str) -> None:
    # February 2025 in Paris: [2025-01-31 23:00Z, 2025-02-28 23:00Z), 28 days. Hourly
    # readings (+2 kWh) except the local days Feb 10 and 11 (48 readings missing).
    feb = (utc("2025-01-31 23:00"), utc("2025-02-28 23:00"))
    gap = (utc("2025-02-09 23:00"), utc("2025-02-11 23:00"))
    readings = [
        (t, 2.0 * i)
        for i, t in enumerate(feb[0] + timedelta(hours=h) for h in range(28 * 24 + 1))
        if not gap[0] <= t < gap[1]
    ]
    with _conn(store) as conn:
        _device(conn, "e000000000000009", "t-energy-1h", "school-a", "school")
        conn.execute("UPDATE sites SET floor_area_m2 = 1000 WHERE id = 'school-a'")
        put(conn, "e000000000000009", ENERGY, readings)
        refresh(conn)
        (row,) = _rows(conn, "SELECT * FROM icone_energy(%s, %s, 'month', 'site')", *feb)
    # the register still spans the gap: 672 hours x 2 kWh = 1344 kWh
    assert row["figure"] == pytest.approx(1344)
    assert row["figure_per_m2"] == pytest.approx(1.344)
    # 26 days x 24 readings present of 28 x 24 expected
    assert row["readings"] == 624
    assert row["readings_expected"] == pytest.approx(672)
    assert row["coverage"] == pytest.approx(624 / 672)
    assert row["gap_days"] == 2
    assert (row["devices_contributing"], row["devices_expected"]) == (1, 1)


def test_co2e_with_a_factor_that_changes_mid_period(store: str) -> None:
    # 24 kWh per local day from 2025-03-01 to 2025-03-10 (hourly +1 kWh). Factor A 0.05 from
    # 03-03 to 03-06 (exclusive), factor B 0.1 from 03-06: days 03-01 and 03-02 (48 kWh) have
    # no factor; A: 3 days x 24 x 0.05 = 3.6 kg; B: 5 days x 24 x 0.1 = 12 kg.
    start = utc("2025-02-28 23:00")
    with _conn(store) as conn:
        _device(conn, "e00000000000000a", "t-energy-1h")
        put(
            conn, "e00000000000000a", ENERGY, _series(start, timedelta(hours=1), range(10 * 24 + 1))
        )
        conn.execute(
            "INSERT INTO emission_factors (energy, value, unit, valid_from, valid_to, source, "
            "source_id, year) VALUES ('electricity', 0.05, 'kgCO2e/kWh', '2025-03-03', "
            "'2025-03-06', 'test A', 'A-1', 2023), ('electricity', 0.1, 'kgCO2e/kWh', "
            "'2025-03-06', NULL, 'test B', 'B-1', 2024)"
        )
        refresh(conn)
        rows = _rows(
            conn,
            "SELECT to_char(period_start AT TIME ZONE 'Europe/Paris', 'MM-DD') AS since, "
            "to_char(period_end AT TIME ZONE 'Europe/Paris', 'MM-DD') AS until, kwh, kgco2e, "
            "factor, factor_source_id, method FROM icone_emissions(%s, %s)",
            start,
            start + timedelta(days=10),
        )
    assert [(r["since"], r["until"], r["factor_source_id"]) for r in rows] == [
        ("03-01", "03-03", None),
        ("03-03", "03-06", "A-1"),
        ("03-06", "03-11", "B-1"),
    ]
    assert [r["kwh"] for r in rows] == pytest.approx([48, 72, 120])
    assert rows[0]["kgco2e"] is None
    assert "not computed" in rows[0]["method"]
    assert [r["kgco2e"] for r in rows[1:]] == pytest.approx([3.6, 12.0])


def test_co2e_of_a_window_inside_months(store: str) -> None:
    # Hourly +1 kWh from 2025-01-20 to 2025-03-10 local, no reading on local day Feb 10; one
    # factor (0.1) all along. The window [Jan 25, Mar 5) local cuts January and March: its
    # partial months are month buckets cut at the window (0016), not widened to whole months.
    # Jan 25-31 (7 days) + Feb (28) + Mar 1-4 (4) = 39 days x 24 kWh = 936 kWh, 93.6 kg; the
    # gap is spanned by the register. Readings: 168/168 + 648/672 + 96/96 = 912 of 936.
    start = utc("2025-01-19 23:00")
    gap = (utc("2025-02-09 23:00"), utc("2025-02-10 23:00"))
    hourly = _series(start, timedelta(hours=1), range(49 * 24 + 1))
    with _conn(store) as conn:
        _device(conn, "e00000000000000b", "t-energy-1h")
        put(conn, "e00000000000000b", ENERGY, [r for r in hourly if not gap[0] <= r[0] < gap[1]])
        conn.execute(
            "INSERT INTO emission_factors (energy, value, unit, valid_from, valid_to, source, "
            "source_id, year) VALUES ('electricity', 0.1, 'kgCO2e/kWh', '2024-01-01', NULL, "
            "'test C', 'C-1', 2024)"
        )
        refresh(conn)
        query = (
            "SELECT to_char(period_start AT TIME ZONE 'Europe/Paris', 'MM-DD') AS since, "
            "to_char(period_end AT TIME ZONE 'Europe/Paris', 'MM-DD') AS until, kwh, kgco2e, "
            "coverage FROM icone_emissions(%s, %s)"
        )
        window = (utc("2025-01-24 23:00"), utc("2025-03-04 23:00"))
        with conn.transaction(force_rollback=True):
            cached = _rows(conn, query, *window)
            conn.execute("DELETE FROM figure_cache; DELETE FROM figure_cache_horizon")
            computed = _rows(conn, query, *window)
        # the months themselves: partial ones cut where the window starts and ends
        months = _rows(
            conn,
            "SELECT to_char(bucket AT TIME ZONE 'Europe/Paris', 'MM-DD') AS since, "
            "to_char(bucket_end AT TIME ZONE 'Europe/Paris', 'MM-DD') AS until, figure, "
            "readings, readings_expected FROM icone_metered('energy_active_import_index', "
            "%s, %s, 'month', 'metropolis', NULL, true) ORDER BY bucket",
            *window,
        )
        widened = _rows(
            conn,
            "SELECT to_char(bucket AT TIME ZONE 'Europe/Paris', 'MM-DD') AS since "
            "FROM icone_metered('energy_active_import_index', %s, %s, 'month', 'metropolis') "
            "ORDER BY bucket",
            *window,
        )
    assert cached == computed
    (row,) = cached
    assert (row["since"], row["until"]) == ("01-25", "03-05")
    assert row["kwh"] == pytest.approx(936)
    assert row["kgco2e"] == pytest.approx(93.6)
    assert row["coverage"] == pytest.approx(912 / 936)
    assert [(m["since"], m["until"]) for m in months] == [
        ("01-25", "02-01"),
        ("02-01", "03-01"),
        ("03-01", "03-05"),
    ]
    assert [m["figure"] for m in months] == pytest.approx([168, 672, 96])
    assert [(m["readings"], m["readings_expected"]) for m in months] == [
        (168, 168),
        (648, 672),
        (96, 96),
    ]
    # without p_partial the window is whole months, as before
    assert [m["since"] for m in widened] == ["01-01", "02-01", "03-01"]


def test_ashrae_share_of_a_known_temperature_series(store: str) -> None:
    # One reading every 10 min over [t, t + 60 min); each holds until the next one:
    #   0' 20 °C 45 % RH (dew point 7.7 °C) recommended + A1
    #  10' 28 °C               A1 only
    #  20' 33 °C               neither
    #  30' 22 °C 85 % RH       neither (RH above 80 %, dew point 19.4 °C)
    #  40' 16 °C               A1 only
    #  50' 22 °C               recommended + A1
    # recommended 20/60, A1 40/60, humidity known 20/60.
    t = utc("2025-07-01 10:00")
    minute = timedelta(minutes=1)
    with _conn(store) as conn:
        _device(conn, "c000000000000001", "t-climate", "dc", "datacenter", "rack_inlet")
        put(
            conn,
            "c000000000000001",
            "temperature",
            _series(t, 10 * minute, [20, 28, 33, 22, 16, 22]),
        )
        put(conn, "c000000000000001", "relative_humidity", [(t, 45), (t + 30 * minute, 85)])
        (row,) = _rows(conn, "SELECT * FROM icone_ashrae(%s, %s)", t, t + 60 * minute)
    assert row["recommended_share"] == pytest.approx(1 / 3)
    assert row["a1_share"] == pytest.approx(2 / 3)
    assert row["humidity_known_share"] == pytest.approx(1 / 3)
    assert row["observed_hours"] == pytest.approx(1.0)
    assert row["readings"] == 6


def test_opendata_threshold_merges_or_suppresses_small_cells(store: str) -> None:
    # One month (Jan 2025) of 100 kWh per meter: schools have 10 meters (published),
    # offices 9 (below 10). Alone, the offices' merged cell has 9 points: suppressed; with
    # one sports meter added, the merged cell has 10: published as 'merged' (1000 kWh).
    jan = [(utc("2024-12-31 23:00"), 0.0), (utc("2025-01-31 23:00"), 100.0)]
    with _conn(store) as conn:
        for i in range(10):
            _device(conn, f"5c{i:014x}", "t-energy-1h", f"school-{i}", "school")
            put(conn, f"5c{i:014x}", ENERGY, jan)
        for i in range(9):
            _device(conn, f"0f{i:014x}", "t-energy-1h", f"office-{i}", "office")
            put(conn, f"0f{i:014x}", ENERGY, jan)
        refresh(conn)
        query = "SELECT cell, figure, delivery_points, status FROM icone_opendata(2025) WHERE month = '2025-01-01'"
        before = _rows(conn, query)
        _device(conn, "5b00000000000001", "t-energy-1h", "pool", "sports")
        put(conn, "5b00000000000001", ENERGY, jan)
        refresh(conn)
        after = _rows(conn, query)
    assert before == [
        {
            "cell": "school",
            "figure": pytest.approx(1000),
            "delivery_points": 10,
            "status": "published",
        },
        {"cell": "other kinds", "figure": None, "delivery_points": 9, "status": "suppressed"},
    ]
    assert after[1] == {
        "cell": "other kinds",
        "figure": pytest.approx(1000),
        "delivery_points": 10,
        "status": "merged",
    }


def test_fleet_reporting_relative_to_each_uplink_interval(store: str) -> None:
    at = utc("2025-05-10 12:00")
    with _conn(store) as conn:
        _device(conn, "f000000000000001", "t-energy-1h")  # uplink 2 h ago: reporting
        _device(conn, "f000000000000002", "t-daily")  # daily model, 30 h ago: reporting
        _device(conn, "f000000000000003", "t-climate")  # 10-min model, 25 h ago: silent
        _device(conn, "f000000000000004", "t-climate")  # never heard: silent
        for dev, ago in (
            ("f000000000000001", 2),
            ("f000000000000002", 30),
            ("f000000000000003", 25),
        ):
            conn.execute(
                "INSERT INTO uplinks (time, deduplication_id, dev_eui, time_source, received_at,"
                " decode_status) VALUES (%s, gen_random_uuid(), %s, 'event', %s, 'ok')",
                (at - timedelta(hours=ago), dev, at - timedelta(hours=ago)),
            )
        put(conn, "f000000000000001", "battery_level", [(at - timedelta(hours=2), 7.0)])
        rows = _rows(conn, "SELECT * FROM icone_fleet(%s)", at)
    got = {
        r["category"]: (r["registered"], r["reporting"], r["silent"], r["low_battery"])
        for r in rows
    }
    assert got == {"energy": (1, 1, 0, 1), "water": (1, 1, 0, 0), "climate": (2, 0, 2, 0)}
    energy = next(r for r in rows if r["category"] == "energy")
    # 1 uplink in 24 h of 24 expected
    assert energy["coverage"] == pytest.approx(1 / 24)


def test_water_alerts_keep_only_active_alarms(store: str) -> None:
    at = utc("2025-05-10 12:00")
    with _conn(store) as conn:
        _device(conn, "a000000000000001", "t-water-1h")
        conn.execute(
            "INSERT INTO device_events (time, dev_eui, code, active) VALUES "
            "(%s, 'a000000000000001', 'leak', true), (%s, 'a000000000000001', 'leak', false), "
            "(%s, 'a000000000000001', 'burst', true)",
            (at - timedelta(hours=5), at - timedelta(hours=1), at - timedelta(hours=3)),
        )
        rows = _rows(conn, "SELECT alert, since FROM icone_water_alerts(%s)", at)
    assert rows == [{"alert": "burst", "since": at - timedelta(hours=3)}]


def test_emission_factor_file_loads_idempotently(database: str) -> None:
    factors = read_emission_factors(EMISSION_FACTORS_FILE)
    assert factors, "the shipped file has factors"
    assert all(f.source and f.year for f in factors)
    # ADEME's elements, identified: one per calendar year, back to back, the last open-ended
    assert all(f.source_id and f.source_id.isdigit() for f in factors)
    ordered = sorted(factors, key=lambda f: f.valid_from)
    assert all(a.valid_to == b.valid_from for a, b in itertools.pairwise(ordered))
    assert ordered[-1].valid_to is None
    with psycopg.connect(database, autocommit=True) as conn:
        assert load_emission_factors(conn, factors) == len(factors)
        assert load_emission_factors(conn, factors) == 0
        count = conn.execute("SELECT count(*) FROM emission_factors").fetchone()
    assert count == (len(factors),)


def test_indicators_refuse_bad_arguments(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        for query in (
            "SELECT * FROM icone_energy(now() - interval '1 day', now(), 'week')",
            "SELECT * FROM icone_energy(now() - interval '1 day', now(), 'day', 'street')",
            "SELECT * FROM icone_energy(now(), now() - interval '1 day')",
        ):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute(query)


def test_coverage_counts_late_readings_before_the_next_refresh(store: str) -> None:
    # Local day 2025-03-10 (UTC+1): readings at 00:00-11:00 are refreshed into the daily
    # aggregate, then 12:00-23:00 arrive late; both halves count at once (24 of 24).
    day = utc("2025-03-09 23:00")
    hour = timedelta(hours=1)
    with _conn(store) as conn:
        _device(conn, "e00000000000000b", "t-energy-1h")
        put(conn, "e00000000000000b", ENERGY, _series(day, hour, range(12)))
        refresh(conn)
        put(conn, "e00000000000000b", ENERGY, _series(day + 12 * hour, hour, range(12, 25)))
        (row,) = _rows(
            conn, "SELECT * FROM icone_energy(%s, %s, 'day', 'site')", day, day + 24 * hour
        )
    assert row["readings"] == 24
    assert row["coverage"] == pytest.approx(1.0)
    assert row["figure"] == pytest.approx(24)
