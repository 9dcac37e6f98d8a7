"""Argument types shared by the command-line modules."""

from __future__ import annotations

import argparse
from datetime import datetime


def iso_datetime(text: str) -> datetime:
    """An ISO 8601 date/time with its time zone (a naive one is ambiguous)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}+00:00 or {text}Z)")
    return moment


def positive_int(text: str) -> int:
    """An integer of 1 or more (a count, a limit, an id)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value
