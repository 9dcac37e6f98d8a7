"""`icone factors load [FILE]`: load versioned emission factors (idempotent upsert on
energy, perimeter and validity start). Without FILE, the shipped
storage/data/emission_factors.csv, which `icone migrate` also loads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

from icone.settings import Settings
from storage.errors import StorageError
from storage.indicators import EMISSION_FACTORS_FILE, load_emission_factors, read_emission_factors


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "Emission factors (ADEME Base Empreinte electricity mix, versioned)."
    parser = subparsers.add_parser("factors", help=help_text, description=help_text)
    sub = parser.add_subparsers(dest="factors", required=True, metavar="ACTION")
    p = sub.add_parser(
        "load",
        help="load a factors CSV (idempotent)",
        description="Load a factors CSV with the columns of the shipped file: energy, "
        "perimeter, value, unit, valid_from, valid_to, year, source, source_id, source_url.",
    )
    p.add_argument("file", nargs="?", type=Path, default=EMISSION_FACTORS_FILE)
    p.set_defaults(func=cmd_load)


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from icone.runtime import services

    factors = read_emission_factors(args.file)  # a bad row stops here, naming its line
    with services(settings, need_broker=False) as urls:
        try:
            with psycopg.connect(urls.database_url, autocommit=True) as conn:
                changed = load_emission_factors(conn, factors)
        except psycopg.Error as exc:
            raise StorageError(f"cannot load emission factors: {exc}") from exc
    sys.stdout.write(f"{len(factors)} factor(s) read from {args.file}, {changed} new or changed\n")
    return 0
