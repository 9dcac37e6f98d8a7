"""Errors of the ingest service (schema, storage)."""


class IngestError(Exception):
    """Base class for the ingest service."""


class MigrationError(IngestError):
    """The schema could not be created or upgraded."""


class StorageError(IngestError):
    """A write or read against the database failed."""
