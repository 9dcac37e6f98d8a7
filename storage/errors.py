"""Errors of the storage layer (schema, reads and writes against PostgreSQL)."""


class StorageError(Exception):
    """A write or read against the database failed."""


class MigrationError(StorageError):
    """The schema could not be created or upgraded."""


class AlreadyExists(StorageError):
    """A row with this key (or unique name) exists already."""


class NotFoundError(StorageError):
    """The row to change does not exist."""


class StaleVersion(StorageError):
    """The row changed since the version the caller read (optimistic concurrency)."""

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message)
        self.current = current
