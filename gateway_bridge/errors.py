"""Errors of the gateway bridge. Translated to exit codes / dead letters at the boundaries."""


class BridgeError(Exception):
    """Base class for the gateway bridge."""


class BridgeConfigError(BridgeError):
    """The bridge configuration is invalid."""


class BrokerUnavailable(BridgeError):
    """The broker cannot be reached or refused the connection (credentials, TLS)."""


class EventParseError(BridgeError):
    """A ChirpStack event could not be parsed (not JSON/protobuf, missing field...)."""
