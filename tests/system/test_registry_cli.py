"""`icone apikey create|list|revoke` (and the bare form) and `icone devices import`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from storage.registry import SiteSpec, upsert_sites
from tests.system.helpers import count


def _icone(args: list[str], database: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICONE_")}
    env["ICONE_DATABASE_URL"] = database
    return subprocess.run(
        [sys.executable, "-m", "icone", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_apikey_commands_and_csv_import(database: str, tmp_path: Path) -> None:
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec("dc", "Datacenter", "datacenter")])
    bare = _icone(["apikey", "--name", "ops", "--role", "admin"], database, tmp_path)
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.startswith("icone_")
    created = _icone(
        ["apikey", "create", "--name", "tech", "--role", "technician", "--site", "dc"],
        database,
        tmp_path,
    )
    assert created.returncode == 0, created.stderr
    duplicate = _icone(
        ["apikey", "create", "--name", "tech", "--role", "admin"], database, tmp_path
    )
    assert duplicate.returncode == 2
    assert "named 'tech' already" in duplicate.stderr
    unknown_site = _icone(
        ["apikey", "create", "--name", "x", "--role", "technician", "--site", "nope"],
        database,
        tmp_path,
    )
    assert (unknown_site.returncode, "unknown site(s): nope" in unknown_site.stderr) == (2, True)
    key_id = created.stdout.strip().split("_")[1]
    revoked = _icone(["apikey", "revoke", key_id], database, tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    listed = _icone(["apikey", "list", "--all"], database, tmp_path)
    assert "ops" in listed.stdout
    assert "tech [revoked]" in listed.stdout
    # the secret (after "icone_<id>_"; it may itself contain "_")
    assert created.stdout.strip().split("_", 2)[2] not in listed.stdout
    assert count(database, "SELECT count(*) FROM audit_log WHERE entity = 'api_key'") == 3

    csv = tmp_path / "devices.csv"
    weights = '"{""A"": {""metric"": ""water_volume_index"", ""per_pulse"": 0.001}}"'
    registers = (
        '"[{""metric"": ""water_volume_index"", ""channel"": ""A"", ""register_digits"": 8, '
        '""register_step"": 0.001, ""index_at_commissioning"": 1234.5, '
        '""commissioned_at"": ""2026-10-01T08:00:00Z""}]"'
    )
    csv.write_text(
        "dev_eui,model,site_id,role,pulse_weights,registers\n"
        "a84041000181c2d7,milesight-em300-th,dc,rack_inlet,,\n"
        "a84041000181c2d8,milesight-em300-th,elsewhere,rack_inlet,,\n"
        f"0018b20000000002,adeunis-pulse-4,dc,main_water,{weights},{registers}\n",
        encoding="utf-8",
    )
    imported = _icone(["devices", "import", str(csv)], database, tmp_path)
    assert imported.returncode == 1  # one line rejected
    assert "line 3: rejected a84041000181c2d8: site_id: site 'elsewhere' does not exist" in (
        imported.stdout
    )
    assert "2 created, 0 pending in ChirpStack, 1 rejected" in imported.stdout
    assert count(database, "SELECT count(*) FROM devices") == 2
    with psycopg.connect(database) as conn:
        register = conn.execute(
            "SELECT metric, channel, register_digits, modulus, index_at_commissioning "
            "FROM counter_registers"
        ).fetchall()
        weight = conn.execute(
            "SELECT pulse_weights FROM devices WHERE dev_eui = '0018b20000000002'"
        ).fetchone()
    assert register == [("water_volume_index", "A", 8, 100000.0, 1234.5)]  # 10^8 x 0.001
    assert weight == ({"A": {"metric": "water_volume_index", "per_pulse": 0.001}},)
