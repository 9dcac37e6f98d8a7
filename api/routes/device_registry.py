"""Registering devices: create, change, retire, provision; counter registers and meter swaps;
the technician's view; CSV import. Every change is audited (storage layer) and scoped: a
site-scoped key reaches only devices of its sites (404 otherwise, no existence leak)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Request, Response, status

from api.auth import Principal
from api.concurrency import expected_version, set_etag
from api.deps import ConnDep, DevicesReader, DevicesWriter, RegistryDep
from api.errors import ApiError, Conflict, NotFound, invalid_fields
from api.registry_errors import answered
from api.routing import guarded
from api.schemas import (
    DeviceCreate,
    DevicePublic,
    DeviceUpdate,
    ImportLineResult,
    ImportReport,
    MeterSwapCreate,
    MeterSwapPublic,
    MeterSwapsPublic,
    RegisterIn,
    RegisterPublic,
    RegistersPublic,
)
from hardware.catalogue import ModelSheet
from registry import csv_import, rules, service
from registry.service import Registry
from storage import devices
from storage.devices import DeviceRow, RegisterRow

router = APIRouter(prefix="/devices", tags=["registry"])

_MAX_CSV_BYTES = 2_000_000


async def device_in_scope(conn: ConnDep, dev_eui: str, who: Principal) -> DeviceRow:
    row = await devices.get(conn, dev_eui)
    if row is None or not who.sees_site(row.site_id):
        raise NotFound(f"device {dev_eui} not found")
    return row


def site_in_scope(site_id: str | None, who: Principal) -> None:
    """A scoped key registers devices only on its sites; for others the site does not exist."""
    if who.scoped and not who.sees_site(site_id):
        raise NotFound(
            f"site {site_id} not found" if site_id else "a site-scoped key must give site_id"
        )


def _sheet(reg: Registry, row: DeviceRow) -> ModelSheet:
    sheet = reg.catalogue.get(row.model)
    if sheet is None:  # registered before its sheet left the catalogue
        raise invalid_fields([(("model",), f"model {row.model!r} is not in the catalogue")])
    return sheet


def _public(row: DeviceRow, response: Response) -> DevicePublic:
    set_etag(response, row.version)
    return DevicePublic.model_validate(row)


@router.post(
    "",
    operation_id="devices-create",
    **guarded("devices:write", 404, 409, 503),
    status_code=status.HTTP_201_CREATED,
)
async def create_device(
    body: DeviceCreate, conn: ConnDep, who: DevicesWriter, reg: RegistryDep, response: Response
) -> DevicePublic:
    """Register a device (and, when configured, create it in ChirpStack). 409 if it exists;
    503 if ChirpStack cannot be reached: the device is then saved with provisioning
    `pending`, and a retry completes it."""
    site_in_scope(body.site_id, who)
    with answered():
        row = await service.register(conn, reg, body, actor=who.actor)
    response.headers["Location"] = f"/devices/{row.dev_eui}"
    return _public(row, response)


@router.patch(
    "/{dev_eui}", operation_id="devices-update", **guarded("devices:write", 404, 409, 412, 428, 503)
)
async def update_device(
    dev_eui: str,
    body: DeviceUpdate,
    conn: ConnDep,
    who: DevicesWriter,
    reg: RegistryDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DevicePublic:
    """Change the fields given. Needs If-Match (428 without, 412 if the device changed)."""
    current = await device_in_scope(conn, dev_eui, who)
    if "site_id" in body.model_fields_set:
        site_in_scope(body.site_id, who)
    version = expected_version(if_match)
    with answered():
        row = await service.update(
            conn, reg, current.dev_eui, body, expected_version=version, actor=who.actor
        )
    return _public(row, response)


@router.delete(
    "/{dev_eui}", operation_id="devices-retire", **guarded("devices:write", 404, 412, 428, 503)
)
async def retire_device(
    dev_eui: str,
    conn: ConnDep,
    who: DevicesWriter,
    reg: RegistryDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DevicePublic:
    """Decommission: status `retired`, history kept, disabled in ChirpStack."""
    current = await device_in_scope(conn, dev_eui, who)
    version = expected_version(if_match)
    with answered():
        row = await service.retire(
            conn, reg, current.dev_eui, expected_version=version, actor=who.actor
        )
    return _public(row, response)


@router.post(
    "/{dev_eui}/provision",
    operation_id="devices-provision",
    **guarded("devices:write", 404, 409, 503),
)
async def provision_device(
    dev_eui: str, conn: ConnDep, who: DevicesWriter, reg: RegistryDep, response: Response
) -> DevicePublic:
    """Retry a `pending` provisioning now."""
    current = await device_in_scope(conn, dev_eui, who)
    if not reg.provisioning_on:
        raise Conflict("ChirpStack provisioning is off (ICONE_CHIRPSTACK__URL is not set)")
    if current.provisioning != "pending":
        return _public(current, response)
    with answered():
        row = await service.provision(conn, reg, current.dev_eui, actor=who.actor)
    return _public(row, response)


@router.get(
    "/{dev_eui}/registers", operation_id="devices-registers", **guarded("devices:read", 404)
)
async def list_registers(dev_eui: str, conn: ConnDep, who: DevicesReader) -> RegistersPublic:
    row = await device_in_scope(conn, dev_eui, who)
    data = [RegisterPublic.model_validate(r) for r in await devices.registers(conn, row.dev_eui)]
    return RegistersPublic(dev_eui=row.dev_eui, data=data)


@router.put(
    "/{dev_eui}/registers", operation_id="devices-register-put", **guarded("devices:write", 404)
)
async def put_register(
    dev_eui: str, body: RegisterIn, conn: ConnDep, who: DevicesWriter, reg: RegistryDep
) -> RegisterPublic:
    """Record a counter register's width and its commissioning index (created or replaced)."""
    row = await device_in_scope(conn, dev_eui, who)
    problems = rules.check_register(body, _sheet(reg, row), row.pulse_weights, ())
    if problems:
        raise invalid_fields((p.loc, p.msg) for p in problems)
    saved = await devices.put_register(
        conn, RegisterRow(dev_eui=row.dev_eui, **body.model_dump()), actor=who.actor
    )
    return RegisterPublic.model_validate(saved)


@router.get(
    "/{dev_eui}/meter-swaps", operation_id="devices-meter-swaps", **guarded("devices:read", 404)
)
async def list_meter_swaps(dev_eui: str, conn: ConnDep, who: DevicesReader) -> MeterSwapsPublic:
    row = await device_in_scope(conn, dev_eui, who)
    data = [MeterSwapPublic.model_validate(s) for s in await devices.meter_swaps(conn, row.dev_eui)]
    return MeterSwapsPublic(dev_eui=row.dev_eui, data=data)


@router.post(
    "/{dev_eui}/meter-swaps",
    operation_id="devices-meter-swap",
    **guarded("devices:write", 404, 409),
    status_code=status.HTTP_201_CREATED,
)
async def record_meter_swap(
    dev_eui: str, body: MeterSwapCreate, conn: ConnDep, who: DevicesWriter, reg: RegistryDep
) -> MeterSwapPublic:
    """A replaced meter (old final index, new initial index, when): the consumption rule
    counts old-meter readings up to `swapped_at` and new-meter readings after it."""
    row = await device_in_scope(conn, dev_eui, who)
    problems = rules.check_register(
        RegisterIn(metric=body.metric, channel=body.channel),
        _sheet(reg, row),
        row.pulse_weights,
        ("metric",),
    )
    if problems:
        raise invalid_fields((p.loc, p.msg) for p in problems)
    with answered():
        swap = await devices.add_meter_swap(
            conn,
            dev_eui=row.dev_eui,
            metric=body.metric,
            channel=body.channel,
            swapped_at=body.swapped_at,
            old_final_index=body.old_final_index,
            new_initial_index=body.new_initial_index,
            note=body.note,
            actor=who.actor,
        )
    return MeterSwapPublic.model_validate(swap)


# Not under /devices: there, GET /devices/import would be GET /devices/{dev_eui}.
imports = APIRouter(prefix="/imports", tags=["registry"])


@imports.post("/devices", operation_id="devices-import", **guarded("devices:write"))
async def import_devices(
    request: Request,
    conn: ConnDep,
    who: DevicesWriter,
    reg: RegistryDep,
    body: Annotated[str, Body(media_type="text/csv", description="CSV, header line first")] = "",
) -> ImportReport:
    """Register one device per CSV line; each line is created whole or rejected whole, and
    the report says which and why (field and reason). Columns: see docs/registry.md."""
    raw = await request.body()
    if len(raw) > _MAX_CSV_BYTES:
        raise ApiError(f"the file exceeds {_MAX_CSV_BYTES} bytes: split it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid_fields([(("file",), f"not UTF-8 text: {exc.reason}")]) from exc
    try:
        lines = csv_import.read_lines(text)
    except csv_import.CsvFileError as exc:
        raise invalid_fields([(("file",), str(exc))]) from exc
    results: list[ImportLineResult] = []
    for number, cells in lines:
        if who.scoped and not who.sees_site(cells.get("site_id")):
            results.append(
                ImportLineResult(
                    line=number,
                    dev_eui=cells.get("dev_eui"),
                    outcome="rejected",
                    errors=[{"loc": ["site_id"], "msg": "site not found"}],
                )
            )
            continue
        for r in await csv_import.import_lines(conn, reg, [(number, cells)], actor=who.actor):
            results.append(
                ImportLineResult(line=r.line, dev_eui=r.dev_eui, outcome=r.outcome, errors=r.errors)
            )
    return ImportReport(
        created=sum(r.outcome == "created" for r in results),
        rejected=sum(r.outcome == "rejected" for r in results),
        pending=sum(r.outcome == "pending" for r in results),
        lines=results,
    )
