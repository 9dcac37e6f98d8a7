"""Small writers for storage tests: registry rows and readings, written straight in SQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from storage.consumption import ConsumptionRow, consumption
from storage.rollups import refresh_rollups

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    """'2025-06-10 08:00' -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """An empty database of its own on `server_url`'s server, dropped afterwards: tests never
    touch the database the URL names (it may be someone's)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_conninfo(server_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def add_site(conn: psycopg.Connection[Any], site_id: str, kind: str = "building") -> None:
    conn.execute(
        "INSERT INTO sites (id, name, kind) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (site_id, site_id, kind),
    )


def add_device(
    conn: psycopg.Connection[Any],
    dev_eui: str,
    site_id: str = "site-a",
    data_class: str = "non_personal",
) -> None:
    add_site(conn, site_id)
    conn.execute(
        "INSERT INTO devices (dev_eui, model, site_id, data_class) VALUES (%s, 'test', %s, %s)",
        (dev_eui, site_id, data_class),
    )


def put(
    conn: psycopg.Connection[Any],
    dev_eui: str,
    metric: str,
    readings: Iterable[tuple[datetime, float]],
    channel: str = "",
) -> int:
    """Insert readings idempotently (like the writer); returns the rows actually inserted."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO measurements (time, dev_eui, metric, channel, value) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(t, dev_eui, metric, channel, v) for t, v in readings],
            returning=False,
        )
        return cur.rowcount


def put_series(
    conn: psycopg.Connection[Any],
    dev_eui: str,
    metric: str,
    readings: list[tuple[datetime, float]],
    channel: str = "",
) -> None:
    """`put` in one INSERT (the writer's batches are one statement too): the statement
    triggers on `measurements` run once for the series, not once per row."""
    conn.execute(
        "INSERT INTO measurements (time, dev_eui, metric, channel, value) "
        "SELECT t, %s, %s, %s, v FROM unnest(%s::timestamptz[], %s::float8[]) AS r (t, v) "
        "ON CONFLICT DO NOTHING",
        (dev_eui, metric, channel, [t for t, _ in readings], [v for _, v in readings]),
    )


def refresh(conn: psycopg.Connection[Any], since: datetime = EPOCH) -> None:
    refresh_rollups(conn, since)


def figures(
    conn: psycopg.Connection[Any], start: str, end: str, bucket: str, **kw: Any
) -> dict[tuple[str, str], float]:
    """{(local bucket start 'YYYY-MM-DD HH', dev_eui): consumption rounded to 1e-9}."""
    rows: list[ConsumptionRow] = consumption(conn, utc(start), utc(end), bucket, **kw)  # type: ignore[arg-type]
    out: dict[tuple[str, str], float] = {}
    for r in rows:
        local = conn.execute(
            "SELECT to_char(%s::timestamptz AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD HH24')",
            (r.bucket,),
        ).fetchone()
        assert local is not None
        out[(str(local[0]), r.dev_eui)] = round(r.consumption, 9)
    return out
