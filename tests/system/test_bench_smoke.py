"""The ingest benchmark's machinery on a tiny N (its numbers are not checked: timing targets
live in docs/benchmarks.md, never in tests): every consumer stores or receives exactly N,
ingest workers included, and the report has the documented keys."""

from __future__ import annotations

import io
import json
from pathlib import Path

from icone import embedded
from icone.bench import ingest as bench_ingest
from tests.faults.helpers import count


def test_bench_ingest_runs_the_three_consumers_on_exactly_n(
    database: str, broker: embedded.RunningService, tmp_path: Path
) -> None:
    out = io.StringIO()
    report = bench_ingest.run(
        tmp_path,
        database,
        broker.url,
        n=400,
        devices=40,
        json_path=tmp_path / "r.json",
        out=out,
        baseline_n=50,
        ingest_workers=1,
    )
    text = out.getvalue()
    assert "| ours (icone bridge, 1 ingest workers) | 400 |" in text
    assert "| ceiling (bare paho receive + ack) | 400 |" in text
    assert "| baseline (INSERT + COMMIT per event) | 50 |" in text
    written = json.loads((tmp_path / "r.json").read_text())
    for key in (
        "n",
        "ours_uplinks_per_s",
        "ours_measurements_per_s",
        "baseline_uplinks_per_s",
        "ceiling_uplinks_per_s",
        "peak_rss_mb",
    ):
        assert written[key] == report[key], key
        assert report[key] > 0, key
    # The CPU accounting found the consumer's processes: the bridge child, and apart from it
    # its ingest worker (which parses, decodes and writes every uplink).
    assert report["ours_cpu_us_per_uplink_consumer"] > 0
    assert report["ours_cpu_us_per_uplink_workers"] > 0
    # The baseline ran last: its 50 events are what the tables hold now.
    assert count(database, "SELECT count(*) FROM uplinks") == 50
