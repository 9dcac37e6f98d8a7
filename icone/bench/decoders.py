"""Decoder throughput benchmark (`icone bench decoders`).

For every registered model that has an encoder, build realistic uplinks from varied physical
states with the virtual-fleet encoders, then time `decoders.decode()` on one core
(time.perf_counter, after a warm-up pass, garbage collector paused while timing). A baseline
row times the same call path into a decoder that returns an empty DecodeResult: the ceiling
no real decoder can beat, so a model's distance to it is its own cost.
"""

from __future__ import annotations

import gc
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import decoders
from decoders.model import DecodeResult
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState

FRAMES_PER_MODEL = 1000
SEED = 20260314
BASELINE = "baseline"
# uplinks/s on one core: OMS (long-header wM-Bus records) is allowed to be slower
TARGETS: dict[str, float] = {"kamstrup-flowiq2200": 20_000.0}
DEFAULT_TARGET = 100_000.0

Frame = tuple[int, bytes]  # (fPort, payload)
DecodeCall = Callable[[str, bytes, int, datetime], DecodeResult]


@dataclass(frozen=True, slots=True)
class Row:
    model: str
    payload_bytes: float  # mean payload size of the frames timed
    uplinks_per_s: float
    target: float | None  # None for the baseline
    frames_with_errors: int  # decode errors seen in the warm-up (should be 0)

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.uplinks_per_s >= self.target


def failures(rates: dict[str, float]) -> list[str]:
    """The models of `run`'s result below their target, as `model: rate < target`."""
    rows = [Row(m, 0.0, r, TARGETS.get(m, DEFAULT_TARGET), 0) for m, r in rates.items()]
    return [
        f"{r.model}: {r.uplinks_per_s:,.0f} < {r.target:,.0f} uplinks/s"
        for r in rows
        if r.model != BASELINE and r.passed is False and r.target is not None
    ]


def random_state(rng: random.Random, when: datetime) -> PhysicalState:
    """A physically plausible state (the ranges of tests/decoders/test_properties.py)."""
    u = rng.uniform
    index = u(0, 99_999)
    return PhysicalState(
        time=when,
        temperature=u(-30, 60),
        probe_temperature=u(-30, 60),
        relative_humidity=u(0, 100),
        co2=u(300, 5000),
        illuminance=u(0, 10_000),
        motion_count=rng.randrange(65_536),
        battery_level=u(0, 100),
        battery_voltage=u(2.0, 3.7),
        water_volume_index=index,
        water_hourly=[u(0, 0.5) for _ in range(24)],
        water_flow_min=u(0, 2),
        water_flow_max=u(2, 20),
        leak=rng.random() < 0.05,
        burst=rng.random() < 0.01,
        backflow=rng.random() < 0.02,
        energy_active_index=u(0, 99_999),
        energy_hc_index=u(0, 99_999),
        energy_hp_index=u(0, 99_999),
        energy_reactive_import_index=u(0, 99_999),
        energy_reactive_export_index=u(0, 99_999),
        energy_apparent_index=u(0, 99_999),
        apparent_power=u(0, 36_000),
        active_power=u(0, 36_000),
        current=u(0, 100),
        current_min=u(0, 10),
        current_max=u(10, 100),
        charge_index=u(0, 10_000_000),
        voltage=u(200, 250),
        pulses={name: rng.randrange(2**31) for name in ("A", "B", "1", "2", "oc")},
        low_battery=rng.random() < 0.05,
    )


def build_frames(model: str, count: int = FRAMES_PER_MODEL, seed: int = SEED) -> list[Frame]:
    """`count` uplinks of `model` from varied states, one per ten minutes."""
    rng = random.Random(f"{seed}:{model}")  # noqa: S311  # reproducible test data, not crypto
    start = datetime(2026, 3, 14, tzinfo=UTC)
    encode = ENCODERS[model].encode
    return [encode(random_state(rng, start + timedelta(minutes=10 * i))) for i in range(count)]


def _empty_decoder(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    return DecodeResult(received_at=received_at)


_BASELINE_REGISTRY = {BASELINE: _empty_decoder}


def _baseline_decode(
    model_id: str, payload: bytes, f_port: int, received_at: datetime
) -> DecodeResult:
    """Same call path as decoders.decode (registry lookup + call), empty decoder behind it."""
    return _BASELINE_REGISTRY[model_id](payload, f_port, received_at)


def measure(
    model: str, frames: list[Frame], seconds: float, decode: DecodeCall = decoders.decode
) -> tuple[float, int]:
    """(uplinks/s, frames with errors in the warm-up) for `frames`, timed for `seconds`."""
    received_at = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
    errors = sum(1 for port, payload in frames if decode(model, payload, port, received_at).errors)
    done = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for port, payload in frames:
                decode(model, payload, port, received_at)
            done += len(frames)
            now = time.perf_counter()
            if now >= deadline:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return done / (now - start), errors


def _write_table(rows: list[Row], skipped: list[str], out: TextIO) -> None:
    out.write(f"{'model':<32} {'bytes':>7} {'uplinks/s':>12} {'target':>10}  result\n")
    for row in rows:
        target = "-" if row.target is None else f"{row.target:,.0f}"
        verdict = {None: "ceiling", True: "pass", False: "FAIL"}[row.passed]
        if row.frames_with_errors:
            verdict += f" ({row.frames_with_errors} frames with decode errors)"
        out.write(
            f"{row.model:<32} {row.payload_bytes:>7.1f} {row.uplinks_per_s:>12,.0f} "
            f"{target:>10}  {verdict}\n"
        )
    for model in skipped:
        out.write(f"{model:<32} {'-':>7} {'-':>12} {'-':>10}  skipped (no encoder)\n")


def run(
    seconds_per_model: float = 1.0,
    json_path: Path | None = None,
    *,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> dict[str, float]:
    """Benchmark every model that has an encoder; print a table; optionally write JSON.

    Returns {model: uplinks/s}, plus the "baseline" key for the empty-decoder ceiling.
    """
    out = sys.stdout if out is None else out
    models = decoders.models()
    skipped = [m for m in models if m not in ENCODERS]
    rows: list[Row] = []
    baseline_frames = build_frames(models[0]) if models and models[0] in ENCODERS else []
    rate, _ = measure(BASELINE, baseline_frames or [(1, b"")], seconds_per_model, _baseline_decode)
    rows.append(Row(BASELINE, 0.0, rate, None, 0))
    measured = [m for m in models if m not in skipped]
    for i, model in enumerate(measured, 1):
        if progress is not None:
            progress.write(f"[{i}/{len(measured)}] {model}\n")
            progress.flush()
        frames = build_frames(model)
        rate, errors = measure(model, frames, seconds_per_model)
        size = sum(len(payload) for _, payload in frames) / len(frames)
        rows.append(Row(model, size, rate, TARGETS.get(model, DEFAULT_TARGET), errors))
    _write_table(rows, skipped, out)
    if json_path is not None:
        report = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "seconds_per_model": seconds_per_model,
            "frames_per_model": FRAMES_PER_MODEL,
            "results": [
                {
                    "model": row.model,
                    "payload_bytes": row.payload_bytes,
                    "uplinks_per_s": row.uplinks_per_s,
                    "target": row.target,
                    "pass": row.passed,
                    "frames_with_errors": row.frames_with_errors,
                }
                for row in rows
            ],
            "skipped": skipped,
        }
        json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return {row.model: row.uplinks_per_s for row in rows}
