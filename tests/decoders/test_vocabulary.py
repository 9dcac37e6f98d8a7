"""The catalogue and decoders speak only the vocabulary of docs/measurements.md."""

from __future__ import annotations

from pathlib import Path

import pytest

import decoders
from decoders.vocabulary import METRICS, Kind
from hardware.catalogue import CatalogueError, load_catalogue, load_sheet
from tests.decoders.test_acceptance import FIELD_MODELS


def test_vocabulary_units_are_canonical() -> None:
    assert METRICS["temperature"].unit == "°C"
    assert METRICS["water_volume_index"].kind is Kind.COUNTER
    assert METRICS["water_volume"].kind is Kind.INTERVAL
    assert all(
        name.endswith("_index")
        for name, m in METRICS.items()
        if m.kind is Kind.COUNTER and name not in {"pulse_count", "motion_count"}
    )


def test_catalogue_covers_every_decoder_model() -> None:
    catalogue = load_catalogue()
    assert set(catalogue) == set(decoders.models())
    assert set(catalogue) <= FIELD_MODELS | decoders.GENERIC_FORMATS
    for sheet in catalogue.values():
        assert sheet.decoder == sheet.id


def test_invalid_sheet_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "broken-model.yaml"
    bad.write_text(
        "id: broken-model\nvendor: X\nmodel: Y\ncategory: water\ndecoder: nope\n"
        "f_ports: [0]\npower: battery\nmetrics: [{metric: temperature, kind: counter}]\n"
        "profile: {mac_version: '1.0.3', regional_parameters_revision: B, uplink_interval_s: 60}\n"
        "installation: here\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError) as info:
        load_sheet(bad)
    message = str(info.value)
    assert "broken-model.yaml" in message
    assert "field decoder" in message
    assert "field f_ports" in message
    assert "field metrics" in message
