"""`icone grafana export` and `icone grafana push` as a user runs them (subprocess)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.grafana.fake_grafana import TOKEN, fake_grafana
from tests.system.test_cli import _run as run_icone


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_icone(["grafana", *args], env, cwd)


def _flag(directory: Path) -> bool:
    data = yaml.safe_load((directory / "datasources" / "icone.yaml").read_text())
    return bool(data["datasources"][0]["jsonData"]["timescaledb"])


def test_export_follows_the_mode_the_database_recorded(tmp_path: Path, database: str) -> None:
    result = _run(["export", str(tmp_path / "auto")], {"ICONE_DATABASE_URL": database}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert _flag(tmp_path / "auto") is False  # the test database is in plain mode
    assert len(list((tmp_path / "auto" / "dashboards" / "icone").glob("*.json"))) == 4
    provider = yaml.safe_load((tmp_path / "auto" / "dashboards" / "icone.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == str(
        (tmp_path / "auto" / "dashboards" / "icone").resolve()
    )
    result = _run(["export", str(tmp_path / "ts"), "--mode", "timescale"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert _flag(tmp_path / "ts") is True


def test_export_without_a_mode_or_a_database_is_a_usage_error(tmp_path: Path) -> None:
    result = _run(["export", str(tmp_path / "x")], {}, tmp_path)
    assert result.returncode == 2
    assert "give --mode" in result.stderr
    assert not (tmp_path / "x").exists()


def test_push_twice_then_nothing_changes(tmp_path: Path) -> None:
    env = {"ICONE_GRAFANA_TOKEN": TOKEN, "ICONE_GRAFANA_DB_PASSWORD": "pw"}
    args = ["--mode", "plain", "--db-host", "db", "--db-name", "icone"]
    with fake_grafana() as (url, state):
        first = _run(["push", "--url", url, *args], env, tmp_path)
        assert first.returncode == 0, first.stderr
        assert "created: 11" in first.stdout
        second = _run(["push", "--url", url, *args], env, tmp_path)
        assert second.returncode == 0, second.stderr
        assert "created: 0" in second.stdout
        assert "updated: 0" in second.stdout
        assert state.datasources["icone-postgres"]["jsonData"]["timescaledb"] is False
        missing = _run(["push", "--url", url, *args], {"ICONE_GRAFANA_TOKEN": TOKEN}, tmp_path)
        assert missing.returncode == 2
        assert "ICONE_GRAFANA_DB_PASSWORD" in missing.stderr
