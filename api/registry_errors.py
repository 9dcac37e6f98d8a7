"""Registry and storage errors as HTTP answers: one translation for every registry route."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    invalid_fields,
)
from registry.errors import (
    AppKeyNotKept,
    ChirpStackConflict,
    ChirpStackError,
    ChirpStackInvalid,
    InvalidInput,
    ProvisioningPending,
)
from storage.errors import AlreadyExists, NotFoundError, StaleVersion

# ChirpStack's request fields -> ours, so a 422 names what the client can change.
_OUR_FIELDS = {
    "dev_eui": "dev_eui",
    "join_eui": "join_eui",
    "nwk_key": "app_key",
    "app_key": "app_key",
    "name": "name",
    "description": "location",
}


@contextmanager
def answered() -> Iterator[None]:
    try:
        yield
    except InvalidInput as exc:
        raise invalid_fields((p.loc, p.msg) for p in exc.problems) from exc
    except (AlreadyExists, ChirpStackConflict) as exc:
        raise Conflict(str(exc)) from exc
    except NotFoundError as exc:
        raise NotFound(str(exc)) from exc
    except StaleVersion as exc:
        raise PreconditionFailed(
            f"{exc}: someone changed it since you read it; read it again (its ETag is now "
            f'"{exc.current}") and retry'
        ) from exc
    except ChirpStackInvalid as exc:
        loc = (_OUR_FIELDS[exc.field],) if exc.field in _OUR_FIELDS else ("chirpstack",)
        raise invalid_fields([(loc, str(exc))]) from exc
    except (ProvisioningPending, ChirpStackError, AppKeyNotKept) as exc:
        raise ServiceUnavailable(str(exc)) from exc
