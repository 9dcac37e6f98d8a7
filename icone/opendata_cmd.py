"""`icone opendata export --year Y`: the yearly open-data files (CSV and JSON, each with its
data dictionary). Cells under the delivery-point threshold (10, décret 2020-196) are merged or
suppressed by SQL `icone_opendata`, and the files say which."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path

import psycopg

from icone.exit_codes import EXIT_USAGE
from icone.settings import Settings
from storage.errors import StorageError
from storage.opendata import DICTIONARY, METRICS, OpenDataCell, opendata_cells


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "Open-data export (aggregates only, at least 10 delivery points per cell)."
    parser = subparsers.add_parser("opendata", help=help_text, description=help_text)
    sub = parser.add_subparsers(dest="opendata", required=True, metavar="ACTION")
    p = sub.add_parser(
        "export",
        help="write the year's CSV, JSON and data dictionary",
        description="Monthly consumption per site kind for a calendar year, in OUT_DIR: "
        "icone-opendata-WHAT-YEAR.csv, .json (data + dictionary) and -dictionary.csv.",
    )
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--what", choices=sorted(METRICS), default="energy")
    p.add_argument("--out-dir", type=Path, default=Path())
    p.add_argument("--min-points", type=int, default=10, help="threshold (never below 10)")
    p.set_defaults(func=cmd_export)


def write_files(
    cells: list[OpenDataCell], out_dir: Path, what: str, year: int, min_points: int
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"icone-opendata-{what}-{year}"
    rows = [
        {**asdict(c), "month": c.month.isoformat(), "site_kinds": ";".join(c.site_kinds)}
        for c in cells
    ]
    columns = [d["column"] for d in DICTIONARY]
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".json")]
    with paths[0].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    dictionary = Path(f"{stem}-dictionary.csv")
    with dictionary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["column", "type", "description"])
        writer.writeheader()
        writer.writerows(DICTIONARY)
    document = {
        "dataset": f"ICONE monthly {what} consumption per site kind, {year}",
        "threshold": {
            "min_delivery_points": min_points,
            "rule": "a cell with fewer delivery points is merged with the other small kinds of "
            "its month; if still below, its figure is suppressed (décret 2020-196, CNIL)",
            "merged_cells": sum(1 for c in cells if c.status == "merged"),
            "suppressed_cells": sum(1 for c in cells if c.status == "suppressed"),
        },
        "dictionary": DICTIONARY,
        "data": rows,
    }
    paths[1].write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return [*paths, dictionary]


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from icone.runtime import services

    if args.min_points < 10:
        sys.stderr.write("--min-points cannot be below 10 (décret 2020-196)\n")
        return EXIT_USAGE
    with services(settings, need_broker=False) as urls:
        try:
            with psycopg.connect(urls.database_url) as conn:
                cells = opendata_cells(conn, args.year, args.what, args.min_points)
        except psycopg.Error as exc:
            raise StorageError(f"cannot read the open-data figures: {exc}") from exc
    paths = write_files(cells, args.out_dir, args.what, args.year, args.min_points)
    suppressed = sum(1 for c in cells if c.status == "suppressed")
    merged = sum(1 for c in cells if c.status == "merged")
    sys.stdout.write(
        f"{len(cells)} cell(s): {merged} merged, {suppressed} suppressed; wrote "
        + ", ".join(str(p) for p in paths)
        + "\n"
    )
    return 0
