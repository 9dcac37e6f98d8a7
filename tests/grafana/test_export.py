"""The generated boards: committed copy in sync with the code, lossless through the SDK's
typed models, and clean under our lint (whose checks are shown to fail on broken boards)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana import lint
from grafana.export import (
    CONTAINER_DASHBOARDS,
    PROVISIONING_DIR,
    DataSourceSettings,
    alert_rules,
    dashboards,
    provisioning_files,
    to_plain,
    write_provisioning,
)
from grafana.panels import DATASOURCE_UID

BOARDS = dashboards()


def test_committed_provisioning_matches_the_code() -> None:
    expected = provisioning_files(DataSourceSettings(), CONTAINER_DASHBOARDS)
    committed = {
        str(p.relative_to(PROVISIONING_DIR)): p.read_text(encoding="utf-8")
        for p in PROVISIONING_DIR.rglob("*")
        if p.is_file()
    }
    stale = sorted(k for k in expected if committed.get(k) != expected[k])
    extra = sorted(set(committed) - set(expected))
    hint = "regenerate: icone grafana export grafana/provisioning --mode timescale --dashboards-path /etc/grafana/provisioning/dashboards/icone"
    assert not stale, f"{hint}: changed {stale}"
    assert not extra, f"{hint}: unknown {extra}"


def test_export_is_deterministic(tmp_path: Path) -> None:
    write_provisioning(tmp_path / "a", DataSourceSettings())
    write_provisioning(tmp_path / "b", DataSourceSettings())
    for path in (tmp_path / "a").rglob("*.json"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def _contained(original: Any, decoded: Any, where: str = "") -> list[str]:
    """Paths where `decoded` lost or changed something of `original` (additions are fine:
    the models fill in defaults)."""
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [where]
        return [
            p for k, v in original.items() for p in _contained(v, decoded.get(k), f"{where}.{k}")
        ]
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [where]
        return [
            p
            for i, (a, b) in enumerate(zip(original, decoded, strict=True))
            for p in _contained(a, b, f"{where}[{i}]")
        ]
    return [] if original == decoded else [where]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_boards_load_back_through_the_sdk_without_loss(name: str) -> None:
    board = BOARDS[name]
    decoded = to_plain(Dashboard.from_json(copy.deepcopy(board)))
    assert _contained(board, decoded) == []
    # SQL targets decode as our SQL type, not the SDK's unknown-query bag
    model = Dashboard.from_json(copy.deepcopy(board))
    targets = [t for p in model.panels or [] for t in getattr(p, "targets", None) or []]
    assert targets
    assert {type(t).__name__ for t in targets} == {"SQLQuery"}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_boards_pass_the_lint(name: str) -> None:
    assert lint.lint(BOARDS[name]) == []


def _broken(mutate: Any) -> dict[str, Any]:
    board = copy.deepcopy(BOARDS["energy"])
    mutate(board)
    return board


def _first_panel(board: dict[str, Any]) -> dict[str, Any]:
    return lint.data_panels(board)[0]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: _first_panel(b).pop("description"), "no description"),
        (lambda b: _first_panel(b)["fieldConfig"]["defaults"].pop("unit"), "no unit"),
        (lambda b: _first_panel(b)["datasource"].update(uid="other"), "data source"),
        (lambda b: _first_panel(b).update(id=3), "duplicate panel ids"),
        (lambda b: _first_panel(b)["gridPos"].update(x=10), "overlap"),
        (lambda b: _first_panel(b)["gridPos"].update(w=30), "off the grid"),
        (lambda b: _first_panel(b)["targets"][0].update(rawSql="SELECT $nowhere"), "not defined"),
        (lambda b: b["templating"]["list"].reverse(), "not defined before"),
        (lambda b: b.update(refresh="5s"), "does not fit"),
        (lambda b: b["time"].update({"from": "now-2d"}), "fewer than 7 buckets"),
    ],
)
def test_the_lint_catches_broken_boards(mutate: Any, expected: str) -> None:
    problems = lint.lint(_broken(mutate))
    assert any(expected in p for p in problems), problems


def test_provisioning_files_reference_what_exists() -> None:
    files = provisioning_files(DataSourceSettings(timescaledb=False), "/x")
    ds = yaml.safe_load(files["datasources/icone.yaml"])["datasources"][0]
    assert ds["uid"] == DATASOURCE_UID
    assert ds["jsonData"]["timescaledb"] is False
    assert ds["user"] == "icone_grafana"
    assert ds["secureJsonData"]["password"] == "${ICONE_GRAFANA_DB_PASSWORD}"
    provider = yaml.safe_load(files["dashboards/icone.yaml"])["providers"][0]
    assert provider["options"]["path"] == "/x"
    rules = yaml.safe_load(files["alerting/icone.yaml"])["groups"][0]["rules"]
    assert {r["uid"] for r in rules} == {r["uid"] for r in alert_rules()}
    for rule in rules:
        refs = [d["refId"] for d in rule["data"]]
        assert rule["condition"] in refs
        assert all(d["refId"] == d["model"]["refId"] for d in rule["data"])
        assert all(d["datasourceUid"] in (DATASOURCE_UID, "__expr__") for d in rule["data"])
        assert len(rule["uid"]) <= 40
    uids = [json.loads(t)["uid"] for k, t in files.items() if k.endswith(".json")]
    assert len(uids) == len(set(uids)) == 4
