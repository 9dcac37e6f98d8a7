"""Whether a JSON document still holds everything of another (Grafana and the SDK's models
add defaults and bookkeeping fields; only what we sent matters)."""

from __future__ import annotations

from typing import Any


def missing(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Paths where `actual` lacks or changed a value of `expected`; extra keys are ignored."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [where or "."]
        return [
            path
            for key, value in expected.items()
            for path in missing(value, actual.get(key), f"{where}.{key}")
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [where or "."]
        return [
            path
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for path in missing(e, a, f"{where}[{i}]")
        ]
    return [] if expected == actual else [where or "."]
