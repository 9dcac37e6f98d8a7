"""The collector settings of the ingest path (icone.gc_tuning)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from icone import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_passes_rarer() -> None:
    gc.unfreeze()
    survivor = [object() for _ in range(10)]  # alive at tuning time: frozen with the rest
    gc_tuning.tune_for_throughput()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.get_freeze_count() > len(survivor)
    # cyclic garbage made afterwards is still collected (only rarer)
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
