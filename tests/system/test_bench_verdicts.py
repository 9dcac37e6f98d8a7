"""`icone bench *` exit non-zero naming each missed target: the verdict functions on
hand-written reports (no timing is measured here)."""

from __future__ import annotations

from icone.bench import decoders as bench_decoders
from icone.bench import ingest as bench_ingest
from icone.bench import storage as bench_storage
from icone.cli import _verdict


def test_decoders_verdict_names_models_below_their_target() -> None:
    model = "milesight-em300-th"
    target = bench_decoders.TARGETS.get(model, bench_decoders.DEFAULT_TARGET)
    rates = {bench_decoders.BASELINE: 1.0, model: target - 1, "adeunis-pulse": 10 * target}
    assert [f.split(":")[0] for f in bench_decoders.failures(rates)] == [model]
    assert bench_decoders.failures({model: target}) == []


def test_storage_verdict_names_slow_queries_and_large_chunks() -> None:
    report = {
        "results": [
            {"mode": "plain", "queries": {"fast": {"p95_ms": 12.0}, "slow": {"p95_ms": 100.0}}},
            {
                "mode": "timescale",
                "queries": {"fast": {"p95_ms": 3.0}},
                "measurements_bytes_per_reading_in_compressed_chunks": 17.5,
            },
        ]
    }
    failures = bench_storage.failures(report)
    assert len(failures) == 2
    assert failures[0].startswith("plain slow")
    assert failures[1].startswith("timescale: 17.5 bytes")


def test_ingest_verdict_checks_the_three_targets() -> None:
    good = {
        "ours_uplinks_per_s": 6000.0,
        "ceiling_uplinks_per_s": 10000.0,
        "baseline_uplinks_per_s": 2000.0,
        "peak_rss_mb": 250.0,
    }
    assert bench_ingest.failures(good) == []
    bad = {**good, "ours_uplinks_per_s": 5000.0, "peak_rss_mb": 300.0}
    # 50 % of the ceiling, 2.5x the baseline, 300 MB: all three missed
    assert len(bench_ingest.failures(bad)) == 3
    assert len(bench_ingest.failures({**bad, "baseline_uplinks_per_s": 1.0})) == 2


def test_verdict_exit_code() -> None:
    assert _verdict([]) == 0
    assert _verdict(["x: 1 < 2"]) == 1
