"""Runs every test vector in tests/decoders/vectors/*.yaml against its decoder, exactly.

A vector file: `model`, then `examples`, each with `description`, `f_port`, `hex`, optional
`received_at`, and the expected `measurements` ({metric, value, channel?, time?}), `events`
({code, active, time?}), and substrings expected in `errors` / `warnings` (absent = none).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

import decoders

VECTORS = Path(__file__).parent / "vectors"
DEFAULT_RECEIVED_AT = "2026-03-14T09:26:53+00:00"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(VECTORS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for example in doc["examples"]:
            cases.append(
                pytest.param(doc["model"], example, id=f"{doc['model']}: {example['description']}")
            )
    return cases


def _time(value: str | None, default: datetime) -> datetime:
    return default if value is None else datetime.fromisoformat(value).astimezone(UTC)


@pytest.mark.parametrize(("model", "example"), _cases())
def test_vector(model: str, example: dict[str, Any]) -> None:
    received_at = datetime.fromisoformat(example.get("received_at", DEFAULT_RECEIVED_AT))
    result = decoders.decode(model, bytes.fromhex(example["hex"]), example["f_port"], received_at)

    want = sorted(
        (
            m["metric"],
            str(m.get("channel", "")),
            _time(m.get("time"), received_at),
            float(m["value"]),
        )
        for m in example.get("measurements", [])
    )
    got = sorted((m.metric, m.channel, m.time, m.value) for m in result.measurements)
    assert [w[:3] for w in want] == [g[:3] for g in got], result.to_dict()
    for w, g in zip(want, got, strict=True):
        assert math.isclose(w[3], g[3], rel_tol=1e-9, abs_tol=1e-9), (w, g)

    want_events = sorted(
        (e["code"], bool(e["active"]), _time(e.get("time"), received_at))
        for e in example.get("events", [])
    )
    assert want_events == sorted((e.code, e.active, e.time) for e in result.events)

    for key, got_messages in (("errors", result.errors), ("warnings", result.warnings)):
        expected = example.get(key, [])
        if not expected:
            assert got_messages == [], f"unexpected {key}: {got_messages}"
        for fragment in expected:
            assert any(fragment in msg for msg in got_messages), (fragment, got_messages)


def test_every_model_has_vectors() -> None:
    covered = {
        yaml.safe_load(p.read_text(encoding="utf-8"))["model"] for p in VECTORS.glob("*.yaml")
    }
    assert set(decoders.models()) <= covered
