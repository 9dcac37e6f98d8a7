"""Reference data the indicators read, kept in step with the repository on `icone migrate`,
`icone bridge` and the demo: the catalogue's device models (category, uplink interval) and
the shipped emission factors (storage/data/emission_factors.csv). Idempotent."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from hardware.catalogue import ModelSheet, load_catalogue
from storage.errors import StorageError
from storage.indicators import (
    EMISSION_FACTORS_FILE,
    DeviceModel,
    load_emission_factors,
    read_emission_factors,
    sync_device_models,
)

logger = logging.getLogger(__name__)


def device_models(catalogue: dict[str, ModelSheet]) -> list[DeviceModel]:
    return [
        DeviceModel(s.id, s.category.value, s.profile.uplink_interval_s) for s in catalogue.values()
    ]


def sync_reference_data(
    database_url: str, catalogue_dir: Path, factors_file: Path = EMISSION_FACTORS_FILE
) -> tuple[int, int]:
    """Returns (device models changed, emission factors changed)."""
    catalogue = load_catalogue(catalogue_dir)
    factors = read_emission_factors(factors_file)
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            models = sync_device_models(conn, device_models(catalogue))
            loaded = load_emission_factors(conn, factors)
    except psycopg.Error as exc:
        raise StorageError(f"reference data not loaded: {exc}") from exc
    logger.info(
        "reference data in step", extra={"device_models_changed": models, "factors_changed": loaded}
    )
    return models, loaded
