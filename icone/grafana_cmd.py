"""`icone grafana export DIR` and `icone grafana push --url --token`: the boards, data source
and alert rules as provisioning files, or through Grafana's HTTP API (docs/grafana.md)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from icone.exit_codes import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE
from icone.settings import Settings
from storage.errors import StorageError
from storage.migrate import storage_mode

EXIT_CONFLICT = EXIT_FAILED  # a dashboard changed in Grafana meanwhile; nothing overwritten
TOKEN_ENV = "ICONE_GRAFANA_TOKEN"  # noqa: S105 (a variable name)
PASSWORD_ENV = "ICONE_GRAFANA_DB_PASSWORD"  # noqa: S105 (a variable name)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "Grafana boards, data source and alert rules (export files or push by API)."
    parser = subparsers.add_parser("grafana", help=help_text, description=help_text)
    sub = parser.add_subparsers(dest="grafana", required=True, metavar="ACTION")

    p = sub.add_parser(
        "export",
        help="write the provisioning tree (datasources/, dashboards/, alerting/) into DIR",
        description="Write Grafana provisioning files into DIR, to mount as "
        "/etc/grafana/provisioning or to point GF_PATHS_PROVISIONING at.",
    )
    p.set_defaults(func=cmd_export)
    p.add_argument("directory", type=Path, metavar="DIR")
    _mode_argument(p)
    p.add_argument(
        "--dashboards-path",
        default=None,
        help="where Grafana sees the dashboards' JSON (default: DIR/dashboards/icone, "
        "absolute; /etc/grafana/provisioning/dashboards/icone in a container)",
    )

    p = sub.add_parser(
        "push",
        help="create or update folder, data source, dashboards and alert rules by API",
        description="Idempotent: objects are written only when they differ. The data "
        f"source password is read from ${PASSWORD_ENV}; the token may come from ${TOKEN_ENV}.",
    )
    p.set_defaults(func=cmd_push)
    p.add_argument("--url", required=True, help="Grafana's base URL, e.g. http://grafana:3000")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"service-account token (default ${TOKEN_ENV}; prefer it: arguments show in ps)",
    )
    _mode_argument(p)
    p.add_argument(
        "--db-host", help="database host as Grafana reaches it (default: ICONE_DATABASE_URL's)"
    )
    p.add_argument("--db-port", help="database port as Grafana reaches it")
    p.add_argument("--db-name", help="database name (default: ICONE_DATABASE_URL's)")
    p.add_argument(
        "--sslmode", default="require", help="disable | require | verify-ca | verify-full"
    )
    p.add_argument("--force", action="store_true", help="overwrite dashboards changed in Grafana")


def _mode_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=("auto", "timescale", "plain"),
        default="auto",
        help="the data source's timescaledb flag must match the database: auto reads the "
        "mode recorded by `icone migrate` (needs ICONE_DATABASE_URL)",
    )


def _timescaledb(settings: Settings, mode: str) -> bool | None:
    """True/False for the data source's flag; None (after a message) when it cannot be known."""
    if mode != "auto":
        return mode == "timescale"
    if settings.database_url is None:
        sys.stderr.write("--mode auto reads the database: set ICONE_DATABASE_URL or give --mode\n")
        return None
    try:
        with psycopg.connect(settings.database_url.get_secret_value(), connect_timeout=10) as conn:
            recorded = storage_mode(conn)
    except psycopg.Error as exc:
        raise StorageError(f"cannot read the storage mode: {exc}") from exc
    if recorded is None:
        sys.stderr.write("the database is not migrated yet: run `icone migrate` first\n")
        return None
    return str(recorded) == "timescale"


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from grafana.export import DataSourceSettings, write_provisioning

    timescaledb = _timescaledb(settings, args.mode)
    if timescaledb is None:
        return EXIT_USAGE
    written = write_provisioning(
        args.directory, DataSourceSettings(timescaledb=timescaledb), args.dashboards_path
    )
    sys.stdout.write(f"wrote {len(written)} files under {args.directory}\n")
    return 0


def cmd_push(settings: Settings, args: argparse.Namespace) -> int:
    from grafana.alerts import GROUP, GROUP_INTERVAL_S
    from grafana.errors import PushError, VersionConflict
    from grafana.export import DataSourceSettings, alert_rules, dashboards, datasource
    from grafana.push import connect, push

    if not args.token:
        sys.stderr.write(f"give --token or set {TOKEN_ENV}\n")
        return EXIT_USAGE
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        sys.stderr.write(f"set {PASSWORD_ENV} (the icone_grafana role's database password)\n")
        return EXIT_USAGE
    db = urlsplit(settings.database_url.get_secret_value()) if settings.database_url else None
    host = args.db_host or (db.hostname if db else None)
    port = args.db_port or (str(db.port or 5432) if db else "5432")
    name = args.db_name or (db.path.lstrip("/") if db else None)
    if not host or not name:
        sys.stderr.write("give --db-host and --db-name (or set ICONE_DATABASE_URL)\n")
        return EXIT_USAGE
    timescaledb = _timescaledb(settings, args.mode)
    if timescaledb is None:
        return EXIT_USAGE
    source = datasource(DataSourceSettings(host, port, name, args.sslmode, timescaledb=timescaledb))
    source["secureJsonData"] = {"password": password}
    try:
        report = push(
            connect(args.url, args.token),
            source,
            list(dashboards().values()),
            alert_rules(),
            GROUP,
            GROUP_INTERVAL_S,
            force=args.force,
        )
    except VersionConflict as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_CONFLICT
    except PushError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_UNAVAILABLE
    for label, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        sys.stdout.write(f"{label}: {len(names)}{' - ' + ', '.join(names) if names else ''}\n")
    return 0


def demo_provisioning(database_url: str, state_dir: Path, timescaledb: bool) -> list[str]:
    """For `icone demo`: give the read-only role a password of its own (kept 0600 in the state
    directory), write the provisioning tree for the demo database, and return the lines that
    tell how to start Grafana against it."""
    from grafana.export import READER_ROLE, DataSourceSettings, write_provisioning

    secret = state_dir / "grafana-db.password"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(24))
        secret.chmod(0o600)
    password = secret.read_text().strip()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(READER_ROLE), sql.Literal(password)
            )
        )
    db = urlsplit(database_url)
    directory = (state_dir / "grafana").resolve()
    write_provisioning(
        directory,
        DataSourceSettings(
            host=db.hostname or "127.0.0.1",
            port=str(db.port or 5432),
            database=db.path.lstrip("/"),
            sslmode="disable",
            timescaledb=timescaledb,
        ),
    )
    return [
        f"  Grafana:  provisioning files in {directory}; start Grafana 11 against them with",
        f"    {PASSWORD_ENV}=$(cat {secret.resolve()}) GF_PATHS_PROVISIONING={directory} \\",
        "      grafana server --homepath /usr/share/grafana",
        f"    or: docker run --network host -e {PASSWORD_ENV} -e GF_PATHS_PROVISIONING={directory} "
        f"-v {directory}:{directory}:ro grafana/grafana:11.6.0",
        "    then open http://127.0.0.1:3000 (admin / admin), folder ICONE",
    ]
