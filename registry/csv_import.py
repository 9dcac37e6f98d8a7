"""Bulk registration from CSV: one device per line, all or nothing per line, and a report
line by line (created, pending in ChirpStack, or rejected with each field and reason).

Columns (header line required, any order; empty cell = not given): dev_eui, model, app_key,
join_eui, name, site_id, location, latitude, longitude, role, data_class, installed_at,
pulse_weights (JSON, e.g. {"A": {"metric": "water_volume_index", "per_pulse": 0.001}}) and
registers (JSON list of {"metric", "channel", "register_digits", "index_at_commissioning",
...}). Lines are numbered as in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import ValidationError

from registry import service
from registry.errors import ChirpStackInvalid, InvalidInput, ProvisioningPending, RegistryError
from registry.models import DeviceCreate
from storage.errors import AlreadyExists, StorageError

COLUMNS = (
    "dev_eui",
    "model",
    "app_key",
    "join_eui",
    "name",
    "site_id",
    "location",
    "latitude",
    "longitude",
    "role",
    "data_class",
    "installed_at",
    "pulse_weights",
    "registers",
)
_JSON_COLUMNS = ("pulse_weights", "registers")
MAX_LINES = 5000


class CsvFileError(ValueError):
    """The file as a whole cannot be read (no header, unknown columns, too many lines)."""


@dataclass(frozen=True, slots=True)
class LineResult:
    line: int
    dev_eui: str | None
    outcome: Literal["created", "rejected", "pending"]
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"loc": [...], "msg": ...}


def _rejected(line: int, dev_eui: str | None, loc: Sequence[Any], msg: str) -> LineResult:
    return LineResult(line, dev_eui, "rejected", [{"loc": list(loc), "msg": msg}])


def read_lines(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames
    if not header:
        raise CsvFileError("the file has no header line")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise CsvFileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(COLUMNS)}"
        )
    for required in ("dev_eui", "model"):
        if required not in header:
            raise CsvFileError(f"column {required!r} is required")
    lines = []
    for row in reader:
        if reader.line_num - 1 > MAX_LINES:
            raise CsvFileError(f"more than {MAX_LINES} lines: split the file")
        if None in row:
            lines.append((reader.line_num, {"__extra__": "more cells than columns"}))
            continue
        lines.append((reader.line_num, {k: v.strip() for k, v in row.items() if v and v.strip()}))
    return lines


def _parse(line: int, cells: dict[str, str]) -> DeviceCreate | LineResult:
    dev_eui = cells.get("dev_eui")
    if "__extra__" in cells:
        return _rejected(line, dev_eui, [], cells["__extra__"])
    data: dict[str, Any] = dict(cells)
    for column in _JSON_COLUMNS:
        if column in data:
            try:
                data[column] = json.loads(data[column])
            except json.JSONDecodeError as exc:
                return _rejected(line, dev_eui, [column], f"not valid JSON: {exc.msg}")
    try:
        return DeviceCreate.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return LineResult(line, dev_eui, "rejected", errors)


async def import_devices(
    conn: AsyncConnection[Any], reg: service.Registry, text: str, *, actor: str
) -> list[LineResult]:
    """Register each line (raises CsvFileError before any write if the file is unreadable)."""
    return await import_lines(conn, reg, read_lines(text), actor=actor)


async def import_lines(
    conn: AsyncConnection[Any],
    reg: service.Registry,
    lines: Sequence[tuple[int, dict[str, str]]],
    *,
    actor: str,
) -> list[LineResult]:
    results = []
    for line, cells in lines:
        parsed = _parse(line, cells)
        if isinstance(parsed, LineResult):
            results.append(parsed)
            continue
        try:
            await service.register(conn, reg, parsed, actor=actor)
        except InvalidInput as exc:
            await conn.rollback()
            errors = [{"loc": list(p.loc), "msg": p.msg} for p in exc.problems]
            results.append(LineResult(line, parsed.dev_eui, "rejected", errors))
        except ProvisioningPending as exc:
            results.append(
                LineResult(line, parsed.dev_eui, "pending", [{"loc": [], "msg": str(exc)}])
            )
        except ChirpStackInvalid as exc:
            await conn.rollback()
            loc = [exc.field] if exc.field else ["chirpstack"]
            results.append(_rejected(line, parsed.dev_eui, loc, str(exc)))
        except AlreadyExists as exc:
            await conn.rollback()
            results.append(_rejected(line, parsed.dev_eui, ["dev_eui"], str(exc)))
        except (RegistryError, StorageError) as exc:
            await conn.rollback()
            results.append(_rejected(line, parsed.dev_eui, [], str(exc)))
        else:
            results.append(LineResult(line, parsed.dev_eui, "created"))
    return results
