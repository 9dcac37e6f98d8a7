"""Commands: one-line errors with the documented exit codes, no traceback; commands share
the running demo's services; `python -m decoders` reads hex, 0x-hex and base64."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from icone import demo_link
from icone.embedded import free_port

ICONE = [sys.executable, "-m", "icone"]
DECODERS = [sys.executable, "-m", "decoders"]


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ICONE_")}
    return {**clean, **extra}


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=_env(**env), cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


def _one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_simulate_without_a_broker_is_one_line_exit_3(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    result = _run([*ICONE, "simulate", "--count", "5"], tmp_path, ICONE_MQTT_URL=url)
    assert "cannot reach MQTT broker" in _one_line_error(result, 3)


def test_argument_errors_exit_2(tmp_path: Path) -> None:
    result = _run([*ICONE, "deadletters", "list", "--limit", "-1"], tmp_path)
    assert result.returncode == 2
    assert "must be 1 or more" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "payload", ["01755c0367f800", "0x01755c0367f800", "01 75 5C 03 67 F8 00", "AXVcA2f4AA=="]
)
def test_decoders_reads_hex_and_base64(tmp_path: Path, payload: str) -> None:
    args = [*DECODERS, "milesight-em300-th", payload, "--received-at", "2026-01-01T00:00Z"]
    result = _run(args, tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = {m["metric"]: m["value"] for m in json.loads(result.stdout)["measurements"]}
    assert metrics == {"battery_level": 92.0, "temperature": 24.8}  # 0x5c %, 0x00f8 / 10 °C


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0175c"], "odd number of hexadecimal digits"),
        (["zz!"], "neither hexadecimal"),
        (["01755c", "--fport", "999"], "fPort is 0-255"),
        (["01755c", "--fport", "0"], "fPort 0 carries MAC commands"),
    ],
)
def test_decoders_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run([*DECODERS, "milesight-em300-th", *args], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_decoders_into_a_closed_pipe_has_no_traceback(tmp_path: Path) -> None:
    with subprocess.Popen(
        [*DECODERS, "milesight-em300-th", "01755c0367f800"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=tmp_path,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()  # the reader goes away before the first write, as `| head -0`
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0
    assert "BrokenPipeError" not in stderr
    assert "Traceback" not in stderr


def test_stale_demo_file_is_not_trusted(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])  # a pid that no longer runs
    dead.wait()
    port = free_port()
    demo_link.write(
        tmp_path,
        demo_link.DemoServices(dead.pid, "postgresql://x@127.0.0.1/x", "mqtt://x", port, port, ""),
    )
    assert (demo_link.path_in(tmp_path).stat().st_mode & 0o777) == 0o600
    assert demo_link.running(tmp_path) is None


def test_apikey_while_the_demo_runs_creates_a_key_its_api_accepts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    api_port = free_port()
    env = _env(ICONE_STATE_DIR=str(state), ICONE_API__PORT=str(api_port))
    log = tmp_path / "demo.log"
    with (
        log.open("w") as demo_log,
        subprocess.Popen(
            [*ICONE, "demo", "--devices", "6", "--duration", "300"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=demo_log,
        ) as demo,
    ):
        try:
            link = demo_link.path_in(state)
            deadline = time.monotonic() + 150
            while not link.exists():
                assert demo.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the demo never wrote its services file"
                time.sleep(0.2)
            assert (link.stat().st_mode & 0o777) == 0o600
            result = subprocess.run(
                [*ICONE, "apikey", "--name", "colleague", "--role", "technician"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, result.stderr[-2000:]
            assert "using the running demo's services" in result.stderr
            assert "postmaster.pid" not in result.stderr
            token = result.stdout.strip()
            response = httpx2.get(
                f"http://127.0.0.1:{api_port}/devices",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            # the 6 fleet devices and the datacenter's 5 (3 meters, 2 rack-inlet probes)
            assert response.json()["count"] == 6 + 5
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=120)
    assert demo.returncode == 0
    assert not demo_link.path_in(state).exists()  # removed at a clean stop
