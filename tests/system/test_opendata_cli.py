"""`icone migrate` loads the reference data, `icone factors load` is idempotent and
`icone opendata export` writes CSV + JSON + dictionary with the threshold applied."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest

from icone.cli import main
from tests.storage.helpers import add_site, put, refresh, utc

JAN = [(utc("2024-12-31 23:00"), 0.0), (utc("2025-01-31 23:00"), 100.0)]
MODEL = "adeunis-tic-cbe-linky-mono"  # a catalogued energy model (synced by icone migrate)


def test_migrate_factors_and_opendata_export(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICONE_DATABASE_URL", empty_database)
    assert main(["migrate"]) == 0
    assert main(["factors", "load"]) == 0  # already loaded by migrate: nothing changes
    with psycopg.connect(empty_database, autocommit=True) as conn:
        models = conn.execute(
            "SELECT category, uplink_interval_s FROM device_models WHERE model = %s", (MODEL,)
        ).fetchone()
        factors = conn.execute("SELECT count(*) FROM emission_factors").fetchone()
        # 10 schools (published) and 9 offices (below the threshold: suppressed)
        for kind, prefix, n in (("school", "5c", 10), ("office", "0f", 9)):
            for i in range(n):
                dev_eui = f"{prefix}{i:014x}"
                add_site(conn, f"{kind}-{i}", kind)
                conn.execute(
                    "INSERT INTO devices (dev_eui, model, site_id) VALUES (%s, %s, %s)",
                    (dev_eui, MODEL, f"{kind}-{i}"),
                )
                put(conn, dev_eui, "energy_active_import_index", JAN, "BASE")
        refresh(conn)
    assert models == ("energy", 3600)
    assert factors is not None
    assert factors[0] > 0
    assert main(["opendata", "export", "--year", "2025", "--out-dir", str(tmp_path)]) == 0
    with (tmp_path / "icone-opendata-energy-2025.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["cell"], r["figure"], r["delivery_points"], r["status"]) for r in rows] == [
        ("school", "1000.0", "10", "published"),
        ("other kinds", "", "9", "suppressed"),
    ]
    document = json.loads((tmp_path / "icone-opendata-energy-2025.json").read_text("utf-8"))
    assert document["threshold"]["suppressed_cells"] == 1
    assert {d["column"] for d in document["dictionary"]} == set(rows[0])
    assert (tmp_path / "icone-opendata-energy-2025-dictionary.csv").exists()
    assert main(["opendata", "export", "--year", "2025", "--min-points", "5"]) == 2
