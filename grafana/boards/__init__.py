"""ICONE's boards, one module per audience; `ALL` lists them in export order."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.boards import datacenter, energy, fleet, water

ALL: tuple[tuple[str, Callable[[], Dashboard]], ...] = (
    ("energy", energy.build),
    ("datacenter", datacenter.build),
    ("water", water.build),
    ("fleet", fleet.build),
)
