"""deploy/compose.yaml against what ICONE reads and provides: the icone services' variables
are settings ICONE accepts, the URLs name the compose services and ports, Grafana gets every
variable its provisioning files use, and the provisioning mount holds the dashboards path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from grafana.export import CONTAINER_DASHBOARDS, PROVISIONING_DIR
from icone.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
ICONE_SERVICES = ("migrate", "bridge", "api")
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")


def _env(service: str) -> dict[str, str]:
    """The service's environment with compose's ${VAR} placeholders filled with a sample."""
    env = SERVICES[service].get("environment", {})
    return {k: _INTERPOLATION.sub("sample", str(v)) for k, v in env.items()}


def _port(service: str, inside: int) -> int:
    for mapping in SERVICES[service].get("ports", []):
        host, container = str(mapping).split(":")
        if int(container) == inside:
            return int(host)
    raise AssertionError(f"{service} does not publish port {inside}")


@pytest.mark.parametrize("service", ICONE_SERVICES)
def test_icone_services_set_only_settings_icone_reads(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(service)
    fields = {f"ICONE_{name.upper()}" for name in Settings.model_fields}
    for name in env:
        top = name.split("__")[0]
        assert top in fields, f"{service}: {name} is not an ICONE setting"
    for name in list(os.environ):
        if name.startswith("ICONE_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url is not None
    url = urlsplit(settings.database_url.get_secret_value())
    assert (url.hostname, url.port) == ("timescaledb", 5432)
    assert url.path == "/" + SERVICES["timescaledb"]["environment"]["POSTGRES_DB"]
    if settings.mqtt_url is not None:
        mqtt = urlsplit(settings.mqtt_url.get_secret_value())
        assert mqtt.hostname == "mosquitto"
        assert _port("mosquitto", int(mqtt.port or 1883)) == mqtt.port
    if service == "api":
        assert settings.api.host == "0.0.0.0"  # reachable through the published port
        assert _port("api", settings.api.port) == settings.api.port


def test_grafana_gets_the_provisioning_and_every_variable_it_uses() -> None:
    grafana = SERVICES["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    source = (DEPLOY / mounts["/etc/grafana/provisioning"]).resolve()
    assert source == PROVISIONING_DIR.resolve()
    assert CONTAINER_DASHBOARDS.startswith("/etc/grafana/provisioning/")
    inside = CONTAINER_DASHBOARDS.removeprefix("/etc/grafana/provisioning/")
    assert list((source / inside).glob("*.json")), "no dashboard where the provider looks"
    used = set()
    for path in source.rglob("*.yaml"):
        used |= set(_INTERPOLATION.findall(path.read_text()))
    env = grafana["environment"]
    assert used <= set(env), f"not given to Grafana: {sorted(used - set(env))}"
    db = SERVICES["timescaledb"]["environment"]
    assert env["ICONE_GRAFANA_DB_HOST"] == "timescaledb"
    assert env["ICONE_GRAFANA_DB_NAME"] == db["POSTGRES_DB"]
    assert _port("grafana", 3000) == 3000


def test_the_datasource_flag_matches_the_compose_database() -> None:
    datasource = yaml.safe_load((PROVISIONING_DIR / "datasources" / "icone.yaml").read_text())
    flag = datasource["datasources"][0]["jsonData"]["timescaledb"]
    assert flag is SERVICES["timescaledb"]["image"].startswith("timescale/timescaledb")


def test_the_reader_password_reaches_both_the_role_and_grafana() -> None:
    role = SERVICES["grafana-role"]
    assert "ALTER ROLE icone_grafana PASSWORD" in " ".join(role["entrypoint"])
    assert role["environment"]["ICONE_GRAFANA_DB_PASSWORD"].startswith(
        "${ICONE_GRAFANA_DB_PASSWORD"
    )
    assert SERVICES["grafana"]["environment"]["ICONE_GRAFANA_DB_PASSWORD"].startswith(
        "${ICONE_GRAFANA_DB_PASSWORD"
    )
    example = (DEPLOY / "env.example").read_text()
    needed = {
        m
        for s in SERVICES.values()
        for v in (s.get("environment") or {}).values()
        for m in re.findall(r"\$\{(\w+):\?", str(v))
    }
    assert needed <= {line.split("=")[0] for line in example.splitlines() if "=" in line}
