"""Everything Grafana is given, as files (provisioning) or API payloads (push): the boards'
JSON, the data source, the dashboard provider and the alert rules. Deterministic: sorted
keys, fixed uids and ids, so the committed copy under grafana/provisioning/ can be diffed
against the code (tests/grafana/test_export.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana import sqlquery
from grafana.alerts import GROUP, GROUP_INTERVAL_S, RULES, build_rule
from grafana.boards import ALL
from grafana.panels import DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID
from grafana.sqlquery import PG_PLUGIN_ID

PROVISIONING_DIR = Path(__file__).parent / "provisioning"
READER_ROLE = "icone_grafana"  # created by storage/migrations/0009_grafana_reader.sql
CONTAINER_DASHBOARDS = "/etc/grafana/provisioning/dashboards/icone"
DATASOURCE_NAME = "ICONE PostgreSQL"


@dataclass(frozen=True, slots=True)
class DataSourceSettings:
    """Where Grafana finds the database. The password is never written: the file refers to
    the environment variable Grafana expands at start-up."""

    host: str = "${ICONE_GRAFANA_DB_HOST}"
    port: str = "${ICONE_GRAFANA_DB_PORT}"
    database: str = "${ICONE_GRAFANA_DB_NAME}"
    sslmode: str = "${ICONE_GRAFANA_DB_SSLMODE}"
    password_variable: str = "ICONE_GRAFANA_DB_PASSWORD"  # noqa: S105 (a variable name)
    timescaledb: bool = True


def to_plain(obj: object) -> Any:
    """An SDK object as plain JSON data (dicts, lists, scalars)."""
    return json.loads(json.dumps(obj, cls=JSONEncoder))


def render_json(data: object) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_yaml(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=100)


def dashboards() -> dict[str, dict[str, Any]]:
    """{file stem: dashboard JSON} for every board."""
    sqlquery.register()
    out = {}
    for name, build in ALL:
        board: Dashboard = build()
        out[name] = to_plain(board)
    return out


def datasource(settings: DataSourceSettings) -> dict[str, Any]:
    return {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": PG_PLUGIN_ID,
        "access": "proxy",
        "url": f"{settings.host}:{settings.port}",
        "user": READER_ROLE,
        "isDefault": True,
        "editable": False,
        "jsonData": {
            "database": settings.database,
            "sslmode": settings.sslmode,
            "postgresVersion": 1500,
            "timescaledb": settings.timescaledb,
            "timeInterval": "1m",
            "maxOpenConns": 10,
        },
        "secureJsonData": {"password": "${" + settings.password_variable + "}"},
    }


def datasource_file(settings: DataSourceSettings) -> dict[str, Any]:
    return {"apiVersion": 1, "prune": True, "datasources": [datasource(settings)]}


def dashboards_provider(path: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "icone",
                "orgId": 1,
                "folder": FOLDER_TITLE,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }


def alert_rules() -> list[dict[str, Any]]:
    """The rules in the alert-provisioning API's shape (POST /api/v1/provisioning/alert-rules)."""
    sqlquery.register()
    rules: list[dict[str, Any]] = [to_plain(build_rule(rule)) for rule in RULES]
    return rules


_FILE_RULE_KEYS = (
    "uid",
    "title",
    "condition",
    "data",
    "for",
    "noDataState",
    "execErrState",
    "labels",
    "annotations",
)


def alerting_file() -> dict[str, Any]:
    """The same rules in the file-provisioning shape (groups, folder by title)."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": FOLDER_TITLE,
                "interval": f"{GROUP_INTERVAL_S // 60}m",
                "rules": [{k: r[k] for k in _FILE_RULE_KEYS if k in r} for r in alert_rules()],
            }
        ],
    }


def provisioning_files(
    settings: DataSourceSettings, dashboards_path: str = CONTAINER_DASHBOARDS
) -> dict[str, str]:
    """{relative path: text} of a provisioning directory."""
    files = {
        "datasources/icone.yaml": render_yaml(datasource_file(settings)),
        "dashboards/icone.yaml": render_yaml(dashboards_provider(dashboards_path)),
        "alerting/icone.yaml": render_yaml(alerting_file()),
    }
    for name, board in dashboards().items():
        files[f"dashboards/icone/{name}.json"] = render_json(board)
    return files


def write_provisioning(
    directory: Path,
    settings: DataSourceSettings,
    dashboards_path: str | None = None,
) -> list[Path]:
    """Write the provisioning tree under `directory` (created); returns the files written.
    `dashboards_path` is where Grafana will see the JSON (default: `directory`'s own)."""
    path = dashboards_path or str((directory / "dashboards" / "icone").resolve())
    written = []
    for relative, text in provisioning_files(settings, path).items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
