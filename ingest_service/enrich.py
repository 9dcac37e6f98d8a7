"""Ingest-time enrichment from the device registry: pulse counts -> physical quantities.

A pulse input (Adeunis Pulse, Enless TX Pulse, Elsys pulseAbs, ...) counts pulses of the
meter it is wired to; `devices.pulse_weights` says, per input channel, which metric of the
vocabulary one pulse adds to and by how much, in that metric's canonical unit:
``{"A": {"metric": "water_volume_index", "per_pulse": 0.001}}``. For every `pulse_count`
row with a weight, the enricher adds a row of the target metric at the same time and
channel, value = count x per_pulse. The pulse count itself is kept (re-weighting later is
then a recomputation, not a loss).

Site and data class are not copied into the time series: they are read through the
`devices` table at query time, so a corrected registry entry corrects every figure.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from decoders.vocabulary import METRICS, Kind
from storage.records import Batch, MeasurementRow

logger = logging.getLogger(__name__)

PULSE_METRIC = "pulse_count"


@dataclass(frozen=True, slots=True)
class PulseWeight:
    metric: str  # a COUNTER of the vocabulary
    per_pulse: float  # in the metric's canonical unit


def _parse_weight(entry: object) -> PulseWeight | str:
    """One channel's weight, or why it is invalid."""
    if not isinstance(entry, dict):
        return "not an object"
    metric, per_pulse = entry.get("metric"), entry.get("per_pulse")
    if not isinstance(metric, str) or metric not in METRICS:
        return f"unknown metric {metric!r}"
    if METRICS[metric].kind is not Kind.COUNTER:
        # A pulse count is a register; only a register metric can carry its scaled value.
        return f"metric {metric!r} is a {METRICS[metric].kind}, not a counter"
    if (
        isinstance(per_pulse, bool)
        or not isinstance(per_pulse, int | float)
        or not math.isfinite(per_pulse)
        or per_pulse <= 0
    ):
        return f"per_pulse {per_pulse!r} is not a positive number"
    return PulseWeight(metric, float(per_pulse))


def parse_pulse_weights(dev_eui: str, raw: object) -> dict[str, PulseWeight]:
    """Valid weights of one device by channel; invalid entries are logged and skipped."""
    if not isinstance(raw, dict):
        logger.warning("pulse_weights of %s is not an object; ignored", dev_eui)
        return {}
    weights: dict[str, PulseWeight] = {}
    for channel, entry in raw.items():
        parsed = _parse_weight(entry)
        if isinstance(parsed, str):
            logger.warning(
                "pulse weight of %s channel %r ignored: %s",
                dev_eui,
                channel,
                parsed,
                extra={"dev_eui": dev_eui, "channel": channel},
            )
        else:
            weights[str(channel)] = parsed
    return weights


class Enricher:
    """Caches the registry's pulse weights (reloaded every `ttl_s`) and applies them."""

    def __init__(self, pool: ConnectionPool[Any], ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._weights: dict[str, dict[str, PulseWeight]] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Reload from the database; raises psycopg.OperationalError when it is down."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT dev_eui, pulse_weights FROM devices WHERE pulse_weights <> '{}'::jsonb"
            ).fetchall()
        weights = {str(dev_eui): parse_pulse_weights(str(dev_eui), raw) for dev_eui, raw in rows}
        with self._lock:
            self._weights = weights
            self._loaded_at = time.monotonic()

    def _current(self) -> dict[str, dict[str, PulseWeight]]:
        loaded_at = self._loaded_at
        if loaded_at is None or time.monotonic() - loaded_at > self._ttl_s:
            try:
                self.refresh()
            except psycopg.Error:  # PoolTimeout included
                if loaded_at is None:
                    raise  # nothing to enrich with: the caller retries, no row goes unweighted
                logger.warning("registry reload failed; using pulse weights from the last load")
                with self._lock:
                    self._loaded_at = time.monotonic()  # next attempt after another ttl
        return self._weights

    def enrich(self, batch: Batch) -> Batch:
        """Add the weighted rows to `batch` (in place) and return it."""
        pulses = [m for m in batch.measurements if m.metric == PULSE_METRIC]
        if not pulses:
            return batch
        weights = self._current()
        for row in pulses:
            weight = weights.get(row.dev_eui, {}).get(row.channel)
            if weight is not None:
                batch.measurements.append(
                    MeasurementRow(
                        row.time,
                        row.dev_eui,
                        weight.metric,
                        row.channel,
                        row.value * weight.per_pulse,
                    )
                )
        return batch
