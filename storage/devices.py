"""Devices of the registry, their counter registers, meter swaps and provisioning state: one
async repository shared by the API and the command line.

Writers take the caller's transaction and append the audit row in it. The AppKey lives in
`device_keys` only until ChirpStack holds it, sealed (storage/appkey_cipher.py); no row type
here carries it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors, sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from storage import audit, changes
from storage.appkey_cipher import AppKeyCipher, Sealed
from storage.errors import AlreadyExists, NotFoundError, StaleVersion

WRITABLE = (
    "join_eui",
    "model",
    "name",
    "site_id",
    "location",
    "latitude",
    "longitude",
    "role",
    "data_class",
    "pulse_weights",
    "installed_at",
)
PROVISIONING_STATES = ("off", "pending", "done", "disabled")


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


@dataclass(frozen=True, slots=True)
class DeviceRow:
    dev_eui: str
    join_eui: str | None
    model: str
    name: str
    site_id: str | None
    location: str
    latitude: float | None
    longitude: float | None
    role: str | None
    data_class: str
    pulse_weights: dict[str, Any]
    installed_at: datetime | None
    status: str
    provisioning: str
    provisioning_error: str | None
    provisioned_at: datetime | None
    retired_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    last_seen: datetime | None

    def public(self) -> dict[str, Any]:
        """The values the audit log keeps (JSON-ready; never the AppKey, which is not here)."""
        values = dataclasses.asdict(self)
        del values["last_seen"]
        return _json_ready(values)


@dataclass(frozen=True, slots=True)
class RegisterRow:
    dev_eui: str
    metric: str
    channel: str
    register_digits: int | None
    register_step: float
    commissioned_at: datetime | None
    index_at_commissioning: float | None


@dataclass(frozen=True, slots=True)
class MeterSwapRow:
    id: int
    dev_eui: str
    metric: str
    channel: str
    swapped_at: datetime
    old_final_index: float | None
    new_initial_index: float
    recorded_by: str
    recorded_at: datetime
    note: str


_SELECT = sql.SQL(
    """
    SELECT d.dev_eui, d.join_eui, d.model, d.name, d.site_id, d.location, d.latitude,
           d.longitude, d.role, d.data_class, d.pulse_weights, d.installed_at, d.status,
           d.provisioning, d.provisioning_error, d.provisioned_at, d.retired_at, d.version,
           d.created_at, d.updated_at,
           (SELECT max(u.time) FROM uplinks u WHERE u.dev_eui = d.dev_eui) AS last_seen
    FROM devices d
    """
)


async def get(conn: AsyncConnection[Any], dev_eui: str, *, lock: bool = False) -> DeviceRow | None:
    query = _SELECT + sql.SQL(" WHERE d.dev_eui = %s")
    if lock:
        query += sql.SQL(" FOR UPDATE OF d")
    async with conn.cursor(row_factory=class_row(DeviceRow)) as cur:
        await cur.execute(query, (dev_eui.lower(),))
        return await cur.fetchone()


# The filter of list_devices and count_devices (one definition of "the devices listed").
_LIST_FILTER = sql.SQL(
    """ WHERE (%(scope)s::text[] IS NULL OR d.site_id = ANY(%(scope)s::text[]))
          AND (%(site)s::text IS NULL OR d.site_id = %(site)s::text)
          AND (%(prov)s::text IS NULL OR d.provisioning = %(prov)s::text)
          AND (%(retired)s OR d.status <> 'retired')"""
)


def _list_params(
    scope: list[str] | None, site_id: str | None, provisioning: str | None, include_retired: bool
) -> dict[str, Any]:
    return {"scope": scope, "site": site_id, "prov": provisioning, "retired": include_retired}


async def list_devices(
    conn: AsyncConnection[Any],
    *,
    scope: list[str] | None,
    site_id: str | None = None,
    provisioning: str | None = None,
    include_retired: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> list[DeviceRow]:
    query = (
        _SELECT + _LIST_FILTER + sql.SQL(" ORDER BY d.dev_eui LIMIT %(limit)s OFFSET %(offset)s")
    )
    params = _list_params(scope, site_id, provisioning, include_retired)
    params |= {"limit": limit, "offset": offset}
    async with conn.cursor(row_factory=class_row(DeviceRow)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def count_devices(
    conn: AsyncConnection[Any],
    *,
    scope: list[str] | None,
    site_id: str | None = None,
    provisioning: str | None = None,
    include_retired: bool = True,
) -> int:
    """How many devices list_devices would give without its page bounds."""
    query = sql.SQL("SELECT count(*) FROM devices d") + _LIST_FILTER
    cur = await conn.execute(query, _list_params(scope, site_id, provisioning, include_retired))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def _db_values(values: Mapping[str, Any]) -> dict[str, Any]:
    row = changes.checked(values, WRITABLE)
    if "pulse_weights" in row:
        row["pulse_weights"] = Jsonb(row["pulse_weights"])
    return row


async def create(
    conn: AsyncConnection[Any],
    values: Mapping[str, Any],
    *,
    dev_eui: str,
    app_key: Sealed | None,
    provisioning: str,
    actor: str,
) -> DeviceRow:
    row = {"dev_eui": dev_eui, **_db_values(values), "provisioning": provisioning}
    try:
        async with conn.transaction():
            await conn.execute(changes.insert("devices", row, sql.SQL("dev_eui")), row)
    except errors.UniqueViolation as exc:
        raise AlreadyExists(f"device {dev_eui} is registered already") from exc
    if app_key is not None:
        await set_app_key(conn, dev_eui, app_key)
    created = await get(conn, dev_eui)
    assert created is not None  # inserted in this transaction
    await audit.record(
        conn,
        actor=actor,
        entity="device",
        entity_id=dev_eui,
        action="create",
        new={**created.public(), "app_key_given": app_key is not None},
    )
    return created


async def update(
    conn: AsyncConnection[Any],
    dev_eui: str,
    values: Mapping[str, Any],
    *,
    expected_version: int | None,
    actor: str,
    action: str = "update",
    state: Mapping[str, Any] | None = None,
) -> tuple[DeviceRow, DeviceRow]:
    """Apply registry `values` and lifecycle `state` (status, retired_at, provisioning...);
    `expected_version` None skips the version check (system transitions, not user edits).
    Returns (old, new)."""
    row = _db_values(values)
    row.update(
        changes.checked(
            state or {},
            ("status", "retired_at", "provisioning", "provisioning_error", "provisioned_at"),
        )
    )
    old = await get(conn, dev_eui, lock=True)
    if old is None:
        raise NotFoundError(f"device {dev_eui} not found")
    if expected_version is not None and old.version != expected_version:
        raise StaleVersion(f"device {dev_eui} is at version {old.version}", old.version)
    await conn.execute(changes.update("devices", "dev_eui", row), {**row, "_key": dev_eui})
    new = await get(conn, dev_eui)
    assert new is not None  # locked above
    await audit.record(
        conn,
        actor=actor,
        entity="device",
        entity_id=dev_eui,
        action=action,
        old=old.public(),
        new=new.public(),
    )
    return old, new


async def set_app_key(conn: AsyncConnection[Any], dev_eui: str, app_key: Sealed) -> None:
    await conn.execute(
        "INSERT INTO device_keys (dev_eui, key_id, ciphertext) VALUES (%s, %s, %s) "
        "ON CONFLICT (dev_eui) DO UPDATE "
        "SET key_id = excluded.key_id, ciphertext = excluded.ciphertext",
        (dev_eui, app_key.key_id, app_key.ciphertext),
    )


async def app_key(conn: AsyncConnection[Any], dev_eui: str) -> Sealed | None:
    cur = await conn.execute(
        "SELECT key_id, ciphertext FROM device_keys WHERE dev_eui = %s", (dev_eui,)
    )
    row = await cur.fetchone()
    return None if row is None else Sealed(str(row[0]), bytes(row[1]))


async def rekey_app_keys(conn: AsyncConnection[Any], cipher: AppKeyCipher, *, actor: str) -> int:
    """Re-encrypt with the current key every kept AppKey sealed by an older one (audited by
    key id, never the key); returns how many. Raises AppKeyCipherError if one is unreadable,
    and then the caller's transaction must be rolled back."""
    cur = await conn.execute(
        "SELECT dev_eui, key_id, ciphertext FROM device_keys WHERE key_id <> %s "
        "ORDER BY dev_eui FOR UPDATE",
        (cipher.current_id,),
    )
    rows = await cur.fetchall()
    for dev_eui, old_id, ciphertext in rows:
        clear = cipher.open(str(dev_eui), Sealed(str(old_id), bytes(ciphertext)))
        await set_app_key(conn, str(dev_eui), cipher.seal(str(dev_eui), clear))
        await audit.record(
            conn,
            actor=actor,
            entity="device",
            entity_id=str(dev_eui),
            action="rekey",
            old={"app_key_id": old_id},
            new={"app_key_id": cipher.current_id},
        )
    return len(rows)


async def forget_app_key(conn: AsyncConnection[Any], dev_eui: str) -> None:
    """Once ChirpStack holds the key, we keep no copy."""
    await conn.execute("DELETE FROM device_keys WHERE dev_eui = %s", (dev_eui,))


async def registers(conn: AsyncConnection[Any], dev_eui: str) -> list[RegisterRow]:
    async with conn.cursor(row_factory=class_row(RegisterRow)) as cur:
        await cur.execute(
            "SELECT dev_eui, metric, channel, register_digits, register_step, commissioned_at, "
            "index_at_commissioning FROM counter_registers WHERE dev_eui = %s "
            "ORDER BY metric, channel",
            (dev_eui,),
        )
        return await cur.fetchall()


async def put_register(
    conn: AsyncConnection[Any], register: RegisterRow, *, actor: str
) -> RegisterRow:
    """Create or replace the register's width and commissioning record (audited)."""
    old = [
        r
        for r in await registers(conn, register.dev_eui)
        if (r.metric, r.channel) == (register.metric, register.channel)
    ]
    values = dataclasses.asdict(register)
    await conn.execute(
        """
        INSERT INTO counter_registers (dev_eui, metric, channel, register_digits, register_step,
                                       commissioned_at, index_at_commissioning)
        VALUES (%(dev_eui)s, %(metric)s, %(channel)s, %(register_digits)s, %(register_step)s,
                %(commissioned_at)s, %(index_at_commissioning)s)
        ON CONFLICT (dev_eui, metric, channel) DO UPDATE SET
            register_digits = excluded.register_digits,
            register_step = excluded.register_step,
            commissioned_at = excluded.commissioned_at,
            index_at_commissioning = excluded.index_at_commissioning
        """,
        values,
    )
    await audit.record(
        conn,
        actor=actor,
        entity="counter_register",
        entity_id=f"{register.dev_eui}/{register.metric}/{register.channel}",
        action="update" if old else "create",
        old=_json_ready(dataclasses.asdict(old[0])) if old else None,
        new=_json_ready(values),
    )
    return register


async def meter_swaps(conn: AsyncConnection[Any], dev_eui: str) -> list[MeterSwapRow]:
    async with conn.cursor(row_factory=class_row(MeterSwapRow)) as cur:
        await cur.execute(
            "SELECT id, dev_eui, metric, channel, swapped_at, old_final_index, "
            "new_initial_index, recorded_by, recorded_at, note FROM meter_swaps "
            "WHERE dev_eui = %s ORDER BY swapped_at, id",
            (dev_eui,),
        )
        return await cur.fetchall()


async def add_meter_swap(
    conn: AsyncConnection[Any],
    *,
    dev_eui: str,
    metric: str,
    channel: str,
    swapped_at: datetime,
    old_final_index: float | None,
    new_initial_index: float,
    note: str,
    actor: str,
) -> MeterSwapRow:
    try:
        async with conn.transaction(), conn.cursor(row_factory=class_row(MeterSwapRow)) as cur:
            await cur.execute(
                """
                INSERT INTO meter_swaps (dev_eui, metric, channel, swapped_at, old_final_index,
                                         new_initial_index, recorded_by, note)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING id, dev_eui, metric, channel, swapped_at, old_final_index,
                          new_initial_index, recorded_by, recorded_at, note
                """,
                (
                    dev_eui,
                    metric,
                    channel,
                    swapped_at,
                    old_final_index,
                    new_initial_index,
                    actor,
                    note,
                ),
            )
            swap = await cur.fetchone()
    except errors.UniqueViolation as exc:
        raise AlreadyExists(
            f"a swap of {dev_eui} {metric} {channel!r} at {swapped_at.isoformat()} exists"
        ) from exc
    assert swap is not None  # RETURNING of a successful insert
    await audit.record(
        conn,
        actor=actor,
        entity="meter_swap",
        entity_id=str(swap.id),
        action="create",
        new=_json_ready(dataclasses.asdict(swap)),
    )
    return swap
