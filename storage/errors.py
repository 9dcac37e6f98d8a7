"""Errors of the storage layer (schema, reads and writes against PostgreSQL)."""


class StorageError(Exception):
    """A write or read against the database failed."""


class MigrationError(StorageError):
    """The schema could not be created or upgraded."""
