"""Errors of the ingest service (spool, drainer, workers).

Database failures are the storage layer's `storage.errors.StorageError`.
"""


class IngestError(Exception):
    """Base class for the ingest service."""
