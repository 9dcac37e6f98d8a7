"""Prometheus metrics of the bridge, on a registry of its own (passed down, not global)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# (sample name, sorted labels) -> value
MetricTotals = Mapping[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class BridgeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter(
            "icone_bridge_messages_received",
            "MQTT messages received, by event type",
            ["event"],
            registry=r,
        )
        self.processed = Counter(
            "icone_bridge_messages_processed",
            "Messages turned into rows, by event type, model and outcome "
            "(decoded, warnings, failed, unknown_device, no_payload, parse_error, recorded)",
            ["event", "model", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "icone_bridge_dead_letters",
            "Dead letters written, by stage (validate: stored without its unusable fields)",
            ["stage"],
            registry=r,
        )
        self.invalid_fields = Counter(
            "icone_bridge_invalid_fields",
            "Fields of ChirpStack events sent with a wrong type or out of range (not stored)",
            ["event", "field"],
            registry=r,
        )
        self.measurements = Counter(
            "icone_bridge_measurements", "Measurements produced by decoding", registry=r
        )
        self.batch_size = Histogram(
            "icone_bridge_batch_messages",
            "Messages per acknowledged batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=r,
        )
        self.lag = Gauge(
            "icone_bridge_lag_seconds",
            "Receive time minus the uplink's time, for the last uplink processed",
            registry=r,
        )
        self.reconnects = Counter(
            "icone_bridge_reconnects", "Broker connections lost (then re-established)", registry=r
        )
        self.queue_depth = Gauge(
            "icone_bridge_queue_depth", "Messages received and not yet made durable", registry=r
        )

    # --- worker processes ------------------------------------------------------------
    # A Processor in an ingest worker process counts into that process's own BridgeMetrics;
    # the worker sends its totals with every batch and the bridge adds what changed to the
    # registry it serves (prometheus_client's multiprocess mode would need a global registry
    # and a shared directory for four counters).
    def processor_totals(self) -> MetricTotals:
        """Totals of the metrics a Processor updates, by (sample name, labels)."""
        totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for metric in (
            self.processed,
            self.dead_letters,
            self.invalid_fields,
            self.measurements,
            self.lag,
        ):
            for family in metric.collect():
                for sample in family.samples:
                    if sample.name.endswith(("_total", "_seconds")):
                        totals[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
        return totals

    def add_processor_totals(self, before: MetricTotals, after: MetricTotals) -> None:
        """Apply a worker's progress from `before` to `after` (its totals) to these metrics."""
        counters = {
            "icone_bridge_messages_processed_total": self.processed,
            "icone_bridge_dead_letters_total": self.dead_letters,
            "icone_bridge_invalid_fields_total": self.invalid_fields,
            "icone_bridge_measurements_total": self.measurements,
        }
        for (name, labels), value in after.items():
            if name == "icone_bridge_lag_seconds":
                self.lag.set(value)
                continue
            delta = value - before.get((name, labels), 0.0)
            counter = counters.get(name)
            if counter is None or delta <= 0:
                continue
            (counter.labels(**dict(labels)) if labels else counter).inc(delta)

    def serve(self, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
        """Expose /metrics over HTTP (a daemon thread); returns the function that stops it."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop
