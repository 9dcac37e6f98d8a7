"""Errors of the grafana package (translated to exit codes by icone/grafana_cmd.py)."""

from __future__ import annotations


class GrafanaError(Exception):
    """Base of the package's errors."""


class PushError(GrafanaError):
    """Grafana refused or could not be reached; the message says which object and why."""


class VersionConflict(PushError):
    """A dashboard changed in Grafana since it was read (HTTP 412): nothing was overwritten."""
