"""Errors of the registry domain; the API maps each to one HTTP answer (api/errors.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One field at fault: `loc` as in FastAPI's 422 answers, `msg` says why."""

    loc: tuple[str | int, ...]
    msg: str


class RegistryError(Exception):
    """A registry operation could not be done."""


class InvalidInput(RegistryError):
    """Field-level problems (what FastAPI answers with 422)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems))
        self.problems = list(problems)


class ChirpStackError(RegistryError):
    """ChirpStack answered with an error, or could not be reached."""


class ChirpStackConflict(ChirpStackError):
    """ALREADY_EXISTS: the object exists in ChirpStack (and we did not create it)."""


class ChirpStackInvalid(ChirpStackError):
    """INVALID_ARGUMENT: ChirpStack refused a field of the request."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


class ChirpStackUnavailable(ChirpStackError):
    """UNAVAILABLE, a timeout or any other failure not caused by the request itself."""


class ChirpStackUnauthenticated(ChirpStackUnavailable):
    """ICONE's API token was refused: an operator must fix the configuration."""


class AppKeyUnreadable(RegistryError):
    """The kept AppKey cannot be decrypted with the configured keys (an operator must act)."""


class AppKeyNotKept(RegistryError):
    """ChirpStack could not take the AppKey now, and ICONE has no key to keep it encrypted
    until a retry (ICONE_REGISTRY__SECRET_KEY unset): the client must send it again."""

    def __init__(self, dev_eui: str, cause: ChirpStackError, *, registered: bool) -> None:
        state = (
            "its other changes are saved and it is 'pending'"
            if registered
            else "the device was not registered"
        )
        super().__init__(
            f"ChirpStack could not take the AppKey of device {dev_eui} ({cause}) and ICONE keeps "
            f"no AppKey without ICONE_REGISTRY__SECRET_KEY: {state}; send the AppKey again once "
            "ChirpStack answers, or have an operator set ICONE_REGISTRY__SECRET_KEY"
        )
        self.dev_eui = dev_eui
        self.cause = cause


class ProvisioningPending(RegistryError):
    """The change is saved in ICONE; ChirpStack has not got it yet (state `pending`)."""

    def __init__(self, dev_eui: str, cause: RegistryError) -> None:
        super().__init__(
            f"device {dev_eui} is saved in ICONE but not yet in ChirpStack ({cause}); it stays "
            "'pending' until `icone devices provision --retry`, POST /devices/{dev_eui}/provision "
            "or its next update completes it"
        )
        self.dev_eui = dev_eui
        self.cause = cause
