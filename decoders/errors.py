"""Errors of the decoders package. Bad payload bytes never raise: they go into DecodeResult.errors."""


class DecoderError(Exception):
    """Base class for the decoders package."""


class UnknownDeviceModel(DecoderError):
    """The model id is not in the registry (a configuration error, not a payload error)."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"unknown device model {model_id!r}")
        self.model_id = model_id
