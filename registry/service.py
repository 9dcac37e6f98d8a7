"""Registering, changing and retiring devices: the registry in PostgreSQL and, when
configured, ChirpStack, kept consistent.

Order of writes (so that a crash at any point leaves an explicit state, never a device in one
system only without a trace): (1) the ICONE row is committed with provisioning `pending`;
(2) ChirpStack is written (profile, device, keys); (3) the row becomes `done` and the stored
AppKey is dropped. The AppKey is kept (step 1 to 3) only encrypted, and only with
ICONE_REGISTRY__SECRET_KEY set; without it, it goes straight to ChirpStack or is refused (see
docs/registry.md). If (2) fails because ChirpStack refuses the request on a first
registration (ALREADY_EXISTS, INVALID_ARGUMENT), the ICONE row is deleted again (audited) and
the error goes back to the caller; if ChirpStack is unreachable or refuses our token, the row
stays `pending` with the reason, and a retry (`retry_pending`, or the device's next update)
completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from hardware.catalogue import ModelSheet
from registry import rules
from registry.chirpstack import DeviceSpec, Provisioner
from registry.errors import (
    AppKeyNotKept,
    AppKeyUnreadable,
    ChirpStackConflict,
    ChirpStackError,
    ChirpStackInvalid,
    ChirpStackUnavailable,
    InvalidInput,
    Problem,
    ProvisioningPending,
    RegistryError,
)
from registry.models import DeviceCreate, DeviceUpdate, PulseWeightIn, RegisterIn, db_values
from registry.settings import ChirpStackSettings
from storage import audit, devices, sites
from storage.appkey_cipher import AppKeyCipher, AppKeyCipherError, Sealed
from storage.devices import DeviceRow, RegisterRow
from storage.errors import NotFoundError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Registry:
    """What registry operations need besides a connection."""

    catalogue: Mapping[str, ModelSheet]
    chirpstack: ChirpStackSettings
    provisioner: Provisioner | None = None  # None: ChirpStack not configured
    cipher: AppKeyCipher | None = None  # None: no AppKey is ever stored

    @property
    def provisioning_on(self) -> bool:
        return self.provisioner is not None

    def seal(self, dev_eui: str, app_key: str | None) -> Sealed | None:
        """The AppKey to store, or None when it goes to ChirpStack in memory only."""
        if app_key is None or self.cipher is None:
            return None
        return self.cipher.seal(dev_eui, app_key)


def _no_keeping(reg: Registry) -> InvalidInput:
    return InvalidInput(
        [
            Problem(
                ("app_key",),
                "this AppKey would have to be stored in ICONE (ChirpStack provisioning is off "
                "for this device), and ICONE stores AppKeys only encrypted: an operator must "
                "set ICONE_REGISTRY__SECRET_KEY"
                + ("" if reg.provisioning_on else " (or ICONE_CHIRPSTACK__URL)")
                + "; or send the device without app_key and set the key in ChirpStack",
            )
        ]
    )


async def _site_problems(conn: AsyncConnection[Any], site_id: str | None) -> list[Problem]:
    if site_id is None:
        return []
    site = await sites.get(conn, site_id)
    if site is None:
        return [Problem(("site_id",), f"site {site_id!r} does not exist")]
    if site.status == "retired":
        return [Problem(("site_id",), f"site {site_id!r} is retired")]
    return []


def _check(
    reg: Registry,
    model: str,
    role: str | None,
    weights: Mapping[str, Any] | None,
    registers: list[RegisterIn],
) -> list[Problem]:
    problems = rules.check_model(model, reg.catalogue)
    if problems:
        return problems
    sheet = reg.catalogue[model]
    typed = None
    if weights:
        typed = {
            ch: w if isinstance(w, PulseWeightIn) else PulseWeightIn.model_validate(w)
            for ch, w in weights.items()
        }
    return [
        *rules.check_role(role, sheet),
        *rules.check_pulse_weights(typed, sheet),
        *rules.check_registers(registers, sheet, typed),
    ]


async def existing(conn: AsyncConnection[Any], dev_eui: str) -> DeviceRow:
    row = await devices.get(conn, dev_eui)
    if row is None:
        raise NotFoundError(f"device {dev_eui} not found")
    return row


def _register_row(dev_eui: str, reg: RegisterIn) -> RegisterRow:
    return RegisterRow(dev_eui=dev_eui, **reg.model_dump())


async def register(
    conn: AsyncConnection[Any], reg: Registry, data: DeviceCreate, *, actor: str
) -> DeviceRow:
    """Register a new device (raises InvalidInput, storage AlreadyExists, ChirpStack errors,
    ProvisioningPending)."""
    problems = _check(reg, data.model, data.role, data.pulse_weights, data.registers)
    problems += await _site_problems(conn, data.site_id)
    if problems:
        raise InvalidInput(problems)
    if data.app_key is not None and reg.cipher is None and not reg.provisioning_on:
        raise _no_keeping(reg)
    row = await devices.create(
        conn,
        db_values(data, exclude={"dev_eui", "app_key", "registers"}),
        dev_eui=data.dev_eui,
        app_key=reg.seal(data.dev_eui, data.app_key),
        provisioning="pending" if reg.provisioning_on else "off",
        actor=actor,
    )
    for register_in in data.registers:
        await devices.put_register(conn, _register_row(row.dev_eui, register_in), actor=actor)
    await conn.commit()  # (1): from here on the device exists in ICONE, pending
    if reg.provisioner is None:
        return row
    in_memory = data.app_key if reg.cipher is None else None
    return await provision(conn, reg, row.dev_eui, actor=actor, first=True, app_key=in_memory)


async def update(
    conn: AsyncConnection[Any],
    reg: Registry,
    dev_eui: str,
    data: DeviceUpdate,
    *,
    expected_version: int,
    actor: str,
) -> DeviceRow:
    current = await existing(conn, dev_eui)
    given = data.model_fields_set
    model = data.model if "model" in given and data.model is not None else current.model
    role = data.role if "role" in given else current.role
    weights = data.pulse_weights if "pulse_weights" in given else current.pulse_weights
    problems = _check(reg, model, role, weights, [])
    if "site_id" in given and data.site_id != current.site_id:
        problems += await _site_problems(conn, data.site_id)
    if problems:
        raise InvalidInput(problems)
    values = db_values(data, exclude={"app_key"})
    if "model" in values and values["model"] is None:
        raise InvalidInput([Problem(("model",), "a device always has a model")])
    if values.get("pulse_weights") is None and "pulse_weights" in values:
        values["pulse_weights"] = {}
    resync = reg.provisioning_on and current.provisioning in ("pending", "done")
    if data.app_key is not None and reg.cipher is None and not resync:
        raise _no_keeping(reg)
    _, row = await devices.update(
        conn,
        dev_eui,
        values,
        expected_version=expected_version,
        actor=actor,
        state={"provisioning": "pending"} if resync else None,
    )
    sealed = reg.seal(dev_eui, data.app_key)
    if sealed is not None:
        await devices.set_app_key(conn, dev_eui, sealed)
    await conn.commit()
    if not resync:
        return row
    in_memory = data.app_key if reg.cipher is None else None
    return await provision(conn, reg, dev_eui, actor=actor, first=False, app_key=in_memory)


async def retire(
    conn: AsyncConnection[Any],
    reg: Registry,
    dev_eui: str,
    *,
    expected_version: int,
    actor: str,
) -> DeviceRow:
    """Status `retired` (history kept, uplinks no longer decoded); disabled in ChirpStack."""
    current = await existing(conn, dev_eui)
    resync = reg.provisioning_on and current.provisioning in ("pending", "done")
    _, row = await devices.update(
        conn,
        dev_eui,
        {},
        expected_version=expected_version,
        actor=actor,
        action="retire",
        state={
            "status": "retired",
            "retired_at": datetime.now(UTC),
            **({"provisioning": "pending"} if resync else {}),
        },
    )
    await conn.commit()
    if not resync:
        return row
    return await provision(conn, reg, dev_eui, actor=actor, first=False)


def _spec(row: DeviceRow) -> DeviceSpec:
    tags = {"icone_model": row.model}
    if row.site_id:
        tags["icone_site"] = row.site_id
    if row.role:
        tags["icone_role"] = row.role
    return DeviceSpec(
        dev_eui=row.dev_eui,
        join_eui=row.join_eui,
        name=row.name or f"{row.model}-{row.dev_eui}",
        description=row.location,
        model=row.model,
        tags=tags,
        disabled=row.status == "retired",
    )


async def _kept_key(conn: AsyncConnection[Any], reg: Registry, dev_eui: str) -> str | None:
    sealed = await devices.app_key(conn, dev_eui)
    if sealed is None:
        return None
    if reg.cipher is None:
        raise AppKeyUnreadable(
            f"device {dev_eui} has an encrypted AppKey (key id {sealed.key_id}) but "
            "ICONE_REGISTRY__SECRET_KEY is not set"
        )
    try:
        return reg.cipher.open(dev_eui, sealed)
    except AppKeyCipherError as exc:
        raise AppKeyUnreadable(str(exc)) from exc


async def provision(
    conn: AsyncConnection[Any],
    reg: Registry,
    dev_eui: str,
    *,
    actor: str,
    first: bool = False,
    app_key: str | None = None,
) -> DeviceRow:
    """Bring ChirpStack in line with the ICONE row of a `pending` device (steps 2 and 3).

    `app_key`: a key given now and not stored (no ICONE_REGISTRY__SECRET_KEY)."""
    assert reg.provisioner is not None  # callers check provisioning_on
    row = await existing(conn, dev_eui)
    await conn.commit()  # no transaction (and no lock) held during the gRPC calls
    problems = rules.check_model(row.model, reg.catalogue)
    if problems:
        raise InvalidInput(problems)
    sheet = reg.catalogue[row.model]
    site = await sites.get(conn, row.site_id) if row.site_id else None
    target = reg.chirpstack.target(row.site_id, site.kind if site else None)
    try:
        if target is None:
            raise ChirpStackUnavailable(
                f"no ChirpStack tenant/application configured for site {row.site_id!r} "
                "(ICONE_CHIRPSTACK__TENANT_ID / APPLICATION_ID, BY_SITE or BY_SITE_KIND)"
            )
        if row.status == "retired":
            await reg.provisioner.disable(_spec(row), sheet, target)
        else:
            key = app_key if app_key is not None else await _kept_key(conn, reg, dev_eui)
            await reg.provisioner.put(_spec(row), sheet, target, key, first=first)
    except (ChirpStackConflict, ChirpStackInvalid) as exc:
        if first:
            await _undo_registration(conn, row, exc, actor=actor)
        else:
            await _mark_pending(conn, dev_eui, exc, actor=actor)
        raise
    except ChirpStackError as exc:
        if app_key is not None and first:
            await _undo_registration(conn, row, exc, actor=actor)
            raise AppKeyNotKept(dev_eui, exc, registered=False) from exc
        await _mark_pending(conn, dev_eui, exc, actor=actor)
        if app_key is not None:
            raise AppKeyNotKept(dev_eui, exc, registered=True) from exc
        raise ProvisioningPending(dev_eui, exc) from exc
    except AppKeyUnreadable as exc:
        await _mark_pending(conn, dev_eui, exc, actor=actor)
        raise ProvisioningPending(dev_eui, exc) from exc
    _, done = await devices.update(
        conn,
        dev_eui,
        {},
        expected_version=None,
        actor=actor,
        action="provision",
        state={
            "provisioning": "disabled" if row.status == "retired" else "done",
            "provisioning_error": None,
            "provisioned_at": datetime.now(UTC),
        },
    )
    await devices.forget_app_key(conn, dev_eui)
    await conn.commit()
    return done


async def _mark_pending(
    conn: AsyncConnection[Any], dev_eui: str, exc: RegistryError, *, actor: str
) -> None:
    await conn.rollback()
    logger.warning("device %s provisioning pending: %s", dev_eui, exc, extra={"dev_eui": dev_eui})
    await devices.update(
        conn,
        dev_eui,
        {},
        expected_version=None,
        actor=actor,
        action="provision_failed",
        state={"provisioning": "pending", "provisioning_error": str(exc)},
    )
    await conn.commit()


async def _undo_registration(
    conn: AsyncConnection[Any], row: DeviceRow, exc: ChirpStackError, *, actor: str
) -> None:
    """ChirpStack refused a new device: it is removed from ICONE too (both audited)."""
    await conn.rollback()
    await conn.execute("DELETE FROM devices WHERE dev_eui = %s", (row.dev_eui,))
    await audit.record(
        conn,
        actor=actor,
        entity="device",
        entity_id=row.dev_eui,
        action="delete",
        old=row.public(),
        new={"reason": str(exc)},
    )
    await conn.commit()


async def retry_pending(
    conn: AsyncConnection[Any], reg: Registry, *, actor: str
) -> tuple[list[DeviceRow], list[tuple[str, str]]]:
    """Provision every `pending` device; returns (completed, [(dev_eui, why not)])."""
    pending = await devices.list_devices(conn, scope=None, provisioning="pending", limit=10_000)
    done: list[DeviceRow] = []
    failed: list[tuple[str, str]] = []
    for row in pending:
        try:
            done.append(await provision(conn, reg, row.dev_eui, actor=actor))
        except (ChirpStackError, ProvisioningPending) as exc:
            failed.append((row.dev_eui, str(exc)))
    return done, failed
