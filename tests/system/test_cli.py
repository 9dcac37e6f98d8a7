"""The `icone` command: clear configuration errors, clean demo runs, clear broker errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from icone.embedded import RunningService, free_port, service_home
from storage.registry import DeviceSpec, upsert_devices

ICONE = [sys.executable, "-m", "icone"]


def _run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ICONE_")}
    return subprocess.run(
        [*ICONE, *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ICONE_MQTT_URL", "http://broker:1883", "ICONE_MQTT_URL: must be mqtt://"),
        ("ICONE_MQTT_URL", "mqtt://broker:notaport", "ICONE_MQTT_URL: has an invalid port"),
        ("ICONE_DATABASE_URL", "mysql://db/icone", "ICONE_DATABASE_URL: must be a PostgreSQL URL"),
        ("ICONE_LOG_LEVEL", "LOUD", "ICONE_LOG_LEVEL"),
        ("ICONE_RETENTION__RAW_PERSONAL_DAYS", "5", "ICONE_RETENTION: raw personal retention"),
        ("ICONE_REGISTRY__SECRET_KEY", "s3cr3t-short", "ICONE_REGISTRY__SECRET_KEY: must be 32"),
    ],
)
def test_bad_settings_exit_2_without_traceback(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = _run(["migrate"], {variable: value}, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout


def test_secret_is_not_echoed_in_errors(tmp_path: Path) -> None:
    result = _run(["migrate"], {"ICONE_DATABASE_URL": "mysql://u:s3cr3t-pw@db/icone"}, tmp_path)
    assert result.returncode == 2
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_unreachable_broker_is_a_clear_error(tmp_path: Path, database: str) -> None:
    port = free_port()  # nothing listens there
    result = _run(
        ["bridge"],
        {"ICONE_DATABASE_URL": database, "ICONE_MQTT_URL": f"mqtt://u:pw@127.0.0.1:{port}"},
        tmp_path,
    )
    assert result.returncode == 3
    assert "cannot reach MQTT broker" in result.stderr
    assert "Traceback" not in result.stderr
    assert ":pw@" not in result.stderr


def test_wrong_password_is_a_clear_error(
    tmp_path: Path, database: str, broker: RunningService
) -> None:
    wrong = f"mqtt://icone:wrong-password@127.0.0.1:{broker.port}"
    result = _run(["bridge"], {"ICONE_DATABASE_URL": database, "ICONE_MQTT_URL": wrong}, tmp_path)
    assert result.returncode == 3
    assert "broker refused the connection" in result.stderr
    assert "wrong-password" not in result.stderr
    assert "Traceback" not in result.stderr


def _servers_of(state_dir: Path) -> list[str]:
    """PostgreSQL and Mosquitto processes started for this state directory."""
    homes = [str(service_home(state_dir / name)) for name in ("postgres", "mosquitto")]
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("postgres", "mosquitto") and any(h in cmdline for h in homes):
            found.append(cmdline)
    return found


def test_demo_runs_for_a_duration_and_leaves_nothing_running(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    result = _run(
        ["demo", "--duration", "8", "--devices", "12"],
        {"ICONE_API__PORT": str(port), "ICONE_STATE_DIR": str(tmp_path / "state")},
        tmp_path,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ICONE demo is running" in result.stdout
    assert f"http://127.0.0.1:{port}" in result.stdout
    assert "demo stopped cleanly" in result.stderr
    assert time.monotonic() - started < 120
    # no postgres / mosquitto left behind
    assert _servers_of(tmp_path / "state") == []
    # and the key was never printed
    key = (tmp_path / "state" / "demo-api-key").read_text().strip()
    assert key not in result.stdout + result.stderr
    # Grafana provisioning for the demo database, and how to start Grafana with it
    assert "GF_PATHS_PROVISIONING=" in result.stdout
    assert (tmp_path / "state" / "grafana" / "datasources" / "icone.yaml").is_file()
    db_password = (tmp_path / "state" / "grafana-db.password").read_text().strip()
    assert db_password not in result.stdout + result.stderr


def test_process_check_sees_running_servers(tmp_path: Path) -> None:
    """The check used above does find servers while they run (so it can fail)."""
    from icone import embedded

    with embedded.mosquitto(tmp_path / "state"):
        assert _servers_of(tmp_path / "state")
    assert _servers_of(tmp_path / "state") == []


def test_invalid_catalogue_stops_start_up_naming_file_and_field(tmp_path: Path) -> None:
    from hardware.catalogue import CATALOGUE_DIR

    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    for sheet in CATALOGUE_DIR.glob("*.yaml"):
        (catalogue / sheet.name).write_text(sheet.read_text(encoding="utf-8"), encoding="utf-8")
    broken = catalogue / "milesight-em300-th.yaml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("category: climate", "category: weather"),
        encoding="utf-8",
    )
    result = _run(
        ["migrate"],
        {
            "ICONE_CATALOGUE_DIR": str(catalogue),
            "ICONE_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x",
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "milesight-em300-th.yaml" in result.stderr
    assert "field category" in result.stderr
    assert "Traceback" not in result.stderr


def test_bridge_with_two_processes_stores_each_uplink_once(
    tmp_path: Path, database: str, broker: RunningService
) -> None:
    import signal
    import uuid

    from hardware.chirpstack_events import encode_event, topic_for
    from tests.bridge import fixtures
    from tests.system.helpers import count, publisher, wait_for

    with psycopg.connect(database) as conn:
        upsert_devices(conn, [DeviceSpec(fixtures.DEV_EUI, fixtures.MODEL)])
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ICONE_")}
    env = {
        **clean,
        "ICONE_DATABASE_URL": database,
        "ICONE_MQTT_URL": broker.url,
        "ICONE_STATE_DIR": str(tmp_path / "state"),
        "ICONE_BRIDGE__CLIENT_ID": f"cli-{uuid.uuid4().hex[:6]}",
    }
    proc = subprocess.Popen(
        [*ICONE, "bridge", "--processes", "2", "--share-group", f"g{uuid.uuid4().hex[:6]}"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: len(_bridge_children(proc.pid)) == 2, timeout=60, what="two bridge processes"
        )
        # A share group queues nothing before a member subscribes: probe (f_cnt >= 1000) until
        # one is stored, so no counted uplink is published into the void on a slow start.
        client = publisher(broker.url)
        probes = iter(range(1000, 1200))

        def probe_stored() -> bool:
            i = next(probes)
            doc = fixtures.up(f_cnt=i, seed=i, time="2026-03-14T08:00:00+00:00")
            doc["deduplicationId"] = str(uuid.UUID(int=i + 1, version=4))
            client.publish(topic_for(fixtures.DEV_EUI), encode_event(doc, False), qos=1)
            time.sleep(0.5)
            return count(database, "SELECT count(*) FROM uplinks WHERE f_cnt >= 1000") > 0

        wait_for(probe_stored, timeout=90, what="a bridge subscribed")
        for i in range(300):
            doc = fixtures.up(
                f_cnt=i, seed=i, time=f"2026-03-14T09:{i // 60:02d}:{i % 60:02d}+00:00"
            )
            doc["deduplicationId"] = str(uuid.UUID(int=i + 1, version=4))
            client.publish(topic_for(fixtures.DEV_EUI), encode_event(doc, False), qos=1)
        wait_for(
            lambda: count(database, "SELECT count(*) FROM uplinks WHERE f_cnt < 1000") == 300,
            timeout=60,
            what="300 uplinks",
        )
        client.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert (
        count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks WHERE f_cnt < 1000")
        == 300
    )
    assert "Traceback" not in stderr


def _bridge_children(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children() if "bridge" in " ".join(c.cmdline())]
    except psutil.NoSuchProcess:
        return []


def test_devices_genkey_and_rekey(database: str, tmp_path: Path) -> None:
    from storage.appkey_cipher import AppKeyCipher, Sealed, parse_key

    generated = _run(["devices", "genkey"], {}, tmp_path)
    assert generated.returncode == 0
    old_key, new_key = generated.stdout.strip(), _run(["devices", "genkey"], {}, tmp_path).stdout
    old = AppKeyCipher(parse_key(old_key))
    sealed = old.seal("a84041000181c2d7", "2b7e151628aed2a6abf7158809cf4f3c")
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO devices (dev_eui, model) VALUES ('a84041000181c2d7', 'x')")
        conn.execute(
            "INSERT INTO device_keys VALUES ('a84041000181c2d7', %s, %s)",
            (sealed.key_id, sealed.ciphertext),
        )
    env = {"ICONE_DATABASE_URL": database, "ICONE_REGISTRY__SECRET_KEY": new_key.strip()}
    refused = _run(["devices", "rekey"], env, tmp_path)
    assert refused.returncode == 1
    assert (
        f"nothing re-encrypted: the AppKey of device a84041000181c2d7 was encrypted with key id {old.current_id}"
        in refused.stderr
    )
    rotated = _run(
        ["devices", "rekey"], {**env, "ICONE_REGISTRY__OLD_SECRET_KEYS": f'["{old_key}"]'}, tmp_path
    )
    assert rotated.returncode == 0, rotated.stderr
    new = AppKeyCipher(parse_key(new_key))
    assert f"1 AppKey(s) re-encrypted with key id {new.current_id}" in rotated.stdout
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT key_id, ciphertext FROM device_keys").fetchone()
    assert row is not None
    assert new.open("a84041000181c2d7", Sealed(row[0], bytes(row[1]))) == (
        "2b7e151628aed2a6abf7158809cf4f3c"
    )
    output = refused.stderr + rotated.stdout + rotated.stderr
    assert old_key not in output
    assert new_key.strip() not in output
