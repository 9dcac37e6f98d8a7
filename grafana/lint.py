"""Checks every generated board must pass before Grafana sees it (pure functions over the
dashboard JSON; each returns the problems found, empty when the board is fine)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from grafana.macros import parse_interval
from grafana.panels import DATASOURCE_UID

GRID_COLUMNS = 24
_VARIABLE_USE = re.compile(r"\$(\w+)|\[\[(\w+)|\$\{(\w+)")
# The smallest time bucket a board reads, by the markers its SQL carries.
_BUCKETS = (
    ("'hour'", timedelta(hours=1)),
    ("measurements_hourly", timedelta(hours=1)),
    ("'day'", timedelta(days=1)),
    ("'month'", timedelta(days=28)),
)
MIN_BUCKETS_SHOWN = 7  # a board's default range shows at least this many of its buckets
MIN_REFRESH = timedelta(minutes=1)  # uplinks are minutes apart: faster refreshes show nothing
MIN_REFRESHES_PER_RANGE = 20


def all_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def data_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(board) if p.get("type") != "row"]


def check_panels(board: dict[str, Any]) -> list[str]:
    problems = []
    for p in data_panels(board):
        name = f"panel {p.get('id')} {p.get('title')!r}"
        for field in ("title", "description"):
            if not str(p.get(field) or "").strip():
                problems.append(f"{name}: no {field}")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{name}: no unit")
        if p.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{name}: data source is not {DATASOURCE_UID}")
        if not p.get("targets"):
            problems.append(f"{name}: no query")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != DATASOURCE_UID:
                problems.append(f"{name} target {t.get('refId')}: data source")
    return problems


def check_grid(board: dict[str, Any]) -> list[str]:
    problems = []
    ids = [int(p.get("id") or 0) for p in all_panels(board)]
    if any(not i for i in ids):
        problems.append("a panel has no id")
    if len(set(ids)) != len(ids):
        problems.append(f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}")
    boxes = []
    for p in all_panels(board):
        g = p.get("gridPos") or {}
        x, y, w, h = (int(g.get(k, 0)) for k in ("x", "y", "w", "h"))
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > GRID_COLUMNS:
            problems.append(f"panel {p.get('id')}: off the grid {g}")
        boxes.append((p.get("id"), x, y, w, h))
    for i, (a, ax, ay, aw, ah) in enumerate(boxes):
        for b, bx, by, bw, bh in boxes[i + 1 :]:
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                problems.append(f"panels {a} and {b} overlap")
    return problems


def _used_variables(text: str) -> set[str]:
    return {
        name
        for groups in _VARIABLE_USE.findall(text)
        for name in groups
        if name and not name.startswith("__")
    }


def check_variables(board: dict[str, Any]) -> list[str]:
    """Every variable used is defined, and defined before the variables that use it."""
    problems = []
    defined: list[str] = []
    for var in board.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query if isinstance(query, str) else ""
        for name in sorted(_used_variables(text) - set(defined)):
            problems.append(f"variable ${var['name']} uses ${name}, not defined before it")
        defined.append(var["name"])
    for p in data_panels(board):
        for t in p.get("targets", []):
            for name in sorted(_used_variables(t.get("rawSql", "")) - set(defined)):
                problems.append(f"panel {p.get('id')}: ${name} is not defined")
    return problems


def _range(board: dict[str, Any]) -> timedelta | None:
    time = board.get("time") or {}
    if time.get("to") != "now" or not str(time.get("from", "")).startswith("now-"):
        return None
    return parse_interval(time["from"].removeprefix("now-"))


def check_time(board: dict[str, Any]) -> list[str]:
    """The default range shows enough of the board's smallest bucket, and the refresh is
    neither faster than data arrives nor so slow the range barely moves."""
    span = _range(board)
    if span is None:
        return [f"time range {board.get('time')} is not now-N .. now"]
    problems = []
    sql = " ".join(t.get("rawSql", "") for p in data_panels(board) for t in p.get("targets", []))
    buckets = [size for marker, size in _BUCKETS if marker in sql]
    if buckets and span < MIN_BUCKETS_SHOWN * min(buckets):
        problems.append(f"range {span} shows fewer than {MIN_BUCKETS_SHOWN} buckets")
    refresh = board.get("refresh")
    if not refresh:
        problems.append("no refresh")
    else:
        every = parse_interval(str(refresh))
        if every < MIN_REFRESH or every * MIN_REFRESHES_PER_RANGE > span:
            problems.append(f"refresh {refresh} does not fit range {span}")
    return problems


def lint(board: dict[str, Any]) -> list[str]:
    return check_panels(board) + check_grid(board) + check_variables(board) + check_time(board)
