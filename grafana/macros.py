"""Grafana's PostgreSQL query expansion, reproduced so every panel's SQL can run in tests.

What Grafana does to a query's text before PostgreSQL sees it (Grafana 10-12, data source
`grafana-postgresql-datasource`; docs/grafana.md names the source files):

1. the front end replaces dashboard variables (`$v`, `${v}`, `${v:format}`, `[[v]]`): a value
   of a multi-value or include-All variable is quoted as an SQL literal, a list of values
   becomes `'a','b'`, the single value of a plain variable is inserted with `'` doubled only;
   "All" is the list of every option's value;
2. `$__interval_ms` and `$__interval` become the query's interval (`1h`, largest unit,
   truncated);
3. the back end expands the macros `$__time`, `$__timeEpoch`, `$__timeFilter`, `$__timeFrom`,
   `$__timeTo`, `$__timeGroup`, `$__timeGroupAlias`, `$__unixEpochFilter`,
   `$__unixEpochFrom`, `$__unixEpochTo`, `$__unixEpochGroup(Alias)`; an unknown macro is an
   error, as in Grafana.

Pure functions: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal


class ExpansionError(ValueError):
    """A query Grafana would reject (unknown macro, bad arguments, undefined variable)."""


@dataclass(frozen=True, slots=True)
class VariableValue:
    """The current value of a dashboard variable as Grafana holds it."""

    value: str | tuple[str, ...]
    multi_or_all: bool = False  # the variable is multi-value or includes "All"


_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")
_MACRO = re.compile(r"\$(__\w+)\(([^)]*)\)")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)$")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "M": 30 * 86400,  # Grafana counts calendar months from now; 30 days is close enough here
    "y": 365 * 86400,
}


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(value: str | tuple[str, ...], multi_or_all: bool, fmt: str | None) -> str:
    values = (value,) if isinstance(value, str) else value
    if fmt == "sqlstring":
        return ",".join(quote_literal(v) for v in values)
    if fmt in ("raw", "csv"):
        return ",".join(values)
    if fmt is not None:
        raise ExpansionError(f"variable format {fmt!r} is not used by ICONE's boards")
    if isinstance(value, tuple):
        return ",".join(quote_literal(v) for v in value)
    return quote_literal(value) if multi_or_all else value.replace("'", "''")


def interpolate(sql: str, variables: Mapping[str, VariableValue]) -> str:
    """Step 1: dashboard variables. Grafana's globals (`$__...`) are left for later steps;
    an undefined variable is an error (Grafana would send it as is and PostgreSQL fail)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(5)
        if name.startswith("__"):
            return match.group(0)
        if name not in variables:
            raise ExpansionError(f"undefined variable ${name}")
        var = variables[name]
        return _format(var.value, var.multi_or_all, fmt)

    return _VARIABLE.sub(replace, sql)


def format_interval(interval: timedelta) -> str:
    """gtime.FormatInterval: the largest whole unit, truncated (90 min -> `1h`)."""
    ms = interval // timedelta(milliseconds=1)
    for unit, size in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
                       ("m", 60_000), ("s", 1000), ("ms", 1)):  # fmt: skip
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def parse_interval(text: str) -> timedelta:
    match = _DURATION.match(text.strip().strip("'\""))
    if match is None:
        raise ExpansionError(f"invalid interval {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def go_float(x: float) -> str:
    """Go's `%v` for a float64 (shortest digits, exponent form from 1e6 on: `2.592e+06`)."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        raise ExpansionError(f"non-finite interval {x}")
    dec = Decimal(repr(x)).normalize()
    sign, digits, _ = dec.as_tuple()
    exp = dec.adjusted()
    text = "".join(str(d) for d in digits)
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return prefix + format(dec, "f")


def rfc3339nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: `Z`, fraction without trailing zeros."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += ("." + f"{utc.microsecond:06d}").rstrip("0")
    return text + "Z"


@dataclass(frozen=True, slots=True)
class QueryContext:
    time_from: datetime
    time_to: datetime
    interval: timedelta
    timescaledb: bool


def _time_group(args: Sequence[str], ctx: QueryContext) -> str:
    if len(args) < 2:
        raise ExpansionError(f"$__timeGroup needs a column and an interval, got {list(args)}")
    seconds = parse_interval(args[1]).total_seconds()
    if seconds <= 0:
        raise ExpansionError("$__timeGroup interval must be positive")
    if ctx.timescaledb:
        return f"time_bucket('{seconds:.3f}s',{args[0]})"
    return f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"


def _macro(name: str, args: list[str], ctx: QueryContext) -> str:
    frm, to = ctx.time_from.astimezone(UTC), ctx.time_to.astimezone(UTC)
    need_column = {
        "__time",
        "__timeEpoch",
        "__timeFilter",
        "__unixEpochFilter",
        "__unixEpochNanoFilter",
    }
    if name in need_column and (len(args) != 1 or not args[0]):
        raise ExpansionError(f"${name} needs exactly one column, got {args}")
    match name:
        case "__time":
            return f'{args[0]} AS "time"'
        case "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        case "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339nano(frm)}' AND '{rfc3339nano(to)}'"
        case "__timeFrom":
            return f"'{rfc3339nano(frm)}'"
        case "__timeTo":
            return f"'{rfc3339nano(to)}'"
        case "__timeGroup":
            return _time_group(args, ctx)
        case "__timeGroupAlias":
            return _time_group(args, ctx) + ' AS "time"'
        case "__unixEpochFilter":
            return f"{args[0]} >= {int(frm.timestamp())} AND {args[0]} <= {int(to.timestamp())}"
        case "__unixEpochNanoFilter":
            f_ns, t_ns = int(frm.timestamp()) * 10**9, int(to.timestamp()) * 10**9
            return f"{args[0]} >= {f_ns} AND {args[0]} <= {t_ns}"
        case "__unixEpochFrom":
            return str(int(frm.timestamp()))
        case "__unixEpochTo":
            return str(int(to.timestamp()))
        case "__unixEpochGroup" | "__unixEpochGroupAlias":
            if len(args) < 2:
                raise ExpansionError(f"${name} needs a column and an interval")
            s = go_float(parse_interval(args[1]).total_seconds())
            alias = ' AS "time"' if name.endswith("Alias") else ""
            return f"floor(({args[0]})/{s})*{s}{alias}"
    raise ExpansionError(f"unknown macro ${name}")


def expand(
    sql: str,
    ctx: QueryContext,
    variables: Mapping[str, VariableValue] | None = None,
) -> str:
    """The SQL PostgreSQL receives from Grafana for this query, range and variables."""
    text = interpolate(sql, variables or {})
    text = text.replace("$__interval_ms", str(ctx.interval // timedelta(milliseconds=1)))
    text = text.replace("$__interval", format_interval(ctx.interval))
    text = text.replace("$__unixEpochFrom()", str(int(ctx.time_from.timestamp())))
    text = text.replace("$__unixEpochTo()", str(int(ctx.time_to.timestamp())))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
        # a bare $__timeGroup directly followed by a comma is aliased (Grafana < 5.3 compat)
        if name == "__timeGroup" and match.string[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"
        return _macro(name, args, ctx)

    expanded = _MACRO.sub(replace, text)
    leftover = re.search(r"\$__\w+", expanded)
    if leftover:
        raise ExpansionError(f"unknown macro or global {leftover.group(0)}")
    return expanded
