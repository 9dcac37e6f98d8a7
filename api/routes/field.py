"""What a technician uses in the field: the device's check-up, reading a TR005 QR label, and
the devices heard on the network but not registered (register one, and its stored uplinks
are decoded)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import psycopg
from fastapi import APIRouter, Path, Request, Response, status

from api.concurrency import set_etag
from api.deps import ConnDep, DevicesReader, DevicesWriter, RegistryDep
from api.errors import ServiceUnavailable, invalid_fields
from api.registry_errors import answered
from api.routes.device_registry import device_in_scope, site_in_scope
from api.routing import guarded
from api.schemas import (
    DecodedValue,
    DeviceCreate,
    DevicePublic,
    GatewayLink,
    HeardDevice,
    HeardDevices,
    LinkQuality,
    QrCodeIn,
    QrCodePublic,
    RecentProblem,
    RegisteredAndReplayed,
    TechnicianView,
)
from decoders import METRICS
from registry import service, tr005
from registry.errors import ProvisioningPending
from registry.replay import replay_with_registry
from storage import devices, technician
from storage.errors import StorageError
from storage.readings import Reading

router = APIRouter(tags=["field"])

_VERDICT_TEXT = {
    "good": "the link is good",
    "marginal": "the link works with little margin: move the antenna or device if you can",
    "poor": "the link is poor: uplinks will be lost; move the device or add a gateway",
    "unknown": "no uplink with radio figures yet",
}


def _value(v: Reading) -> DecodedValue:
    spec = METRICS.get(v.metric)
    return DecodedValue(
        metric=v.metric, channel=v.channel, value=v.value, unit=spec.unit if spec else ""
    )


def _summary(view: TechnicianView) -> str:
    if view.status == "retired":
        return "This device is retired."
    if view.provisioning == "pending":
        return "Saved in ICONE but not yet in ChirpStack: retry provisioning before testing."
    if view.last_uplink is None:
        if view.join_seen is None:
            return (
                "No join seen yet: check the AppKey and JoinEUI, power the device and wait "
                "for its join."
            )
        return "Joined, no uplink yet: wait for the first uplink (or trigger one)."
    if not view.last_values:
        return "Uplinks arrive but nothing was decoded: see the problems below."
    return f"Working: {_VERDICT_TEXT[view.link.verdict]}."


@router.get(
    "/devices/{dev_eui}/technician",
    operation_id="devices-technician",
    **guarded("devices:read", 404),
)
async def technician_view(dev_eui: str, conn: ConnDep, who: DevicesReader) -> TechnicianView:
    """Join, first and last uplink, last decoded values, link verdict, battery, problems."""
    row = await device_in_scope(conn, dev_eui, who)
    steps = await technician.milestones(conn, row.dev_eui)
    link = await technician.link(conn, row.dev_eui)
    last = await technician.last_values(conn, row.dev_eui)
    battery = await technician.battery(conn, row.dev_eui)
    view = TechnicianView(
        dev_eui=row.dev_eui,
        model=row.model,
        name=row.name,
        site_id=row.site_id,
        status=row.status,
        provisioning=row.provisioning,
        provisioning_error=row.provisioning_error,
        join_seen=steps.join_seen,
        first_uplink=steps.first_uplink,
        last_uplink=steps.last_uplink,
        last_values_at=last[0].time if last else None,
        last_values=[_value(v) for v in last],
        battery=_value(battery) if battery else None,
        link=LinkQuality(
            uplinks=link.uplinks,
            rssi=None if link.rssi is None else round(link.rssi),
            snr=link.snr,
            spreading_factor=link.spreading_factor,
            snr_margin=link.snr_margin,
            verdict=link.verdict,  # type: ignore[arg-type]  # the SQL function's four values
            explanation=_VERDICT_TEXT[link.verdict],
            gateways=[
                GatewayLink(gateway_id=g.gateway_id, uplinks=g.uplinks, last_heard=g.last_heard)
                for g in await technician.gateways(conn, row.dev_eui)
            ],
        ),
        problems=[
            RecentProblem(time=p.time, kind=p.kind, code=p.code, detail=p.detail)  # type: ignore[arg-type]
            for p in await technician.problems(conn, row.dev_eui)
        ],
        summary="",
    )
    view.summary = _summary(view)
    return view


@router.post("/onboarding/qr", operation_id="onboarding-qr", **guarded("devices:write"))
async def read_qr_code(body: QrCodeIn, conn: ConnDep, who: DevicesWriter) -> QrCodePublic:
    """Parse a LoRa Alliance TR005 label (`LW:D0:...`, drafts, or a bare DevEUI) into the
    fields of a registration form. 422 names the part that is wrong."""
    try:
        ident = tr005.parse(body.code)
    except tr005.QrCodeError as exc:
        raise invalid_fields([(("code", exc.field), exc.reason)]) from exc
    existing = await devices.get(conn, ident.dev_eui)
    return QrCodePublic(
        schema=ident.schema,
        dev_eui=ident.dev_eui,
        join_eui=ident.join_eui,
        vendor_id=ident.vendor_id,
        vendor_profile_id=ident.vendor_profile_id,
        serial_number=ident.serial_number,
        has_owner_token=ident.owner_token is not None,
        checksum_ok=ident.checksum_ok,
        warnings=list(ident.warnings),
        registered=existing is not None and who.sees_site(existing.site_id),
    )


@router.get(
    "/unregistered", operation_id="unregistered-list", **guarded("devices:write", parameters=False)
)
async def heard_unregistered(conn: ConnDep, who: DevicesWriter) -> HeardDevices:
    """Devices heard on the network (stored uplinks of unknown devices, dead letters) that
    the registry does not have. They belong to no site yet, so only unscoped keys see them."""
    if who.scoped:
        return HeardDevices(data=[], count=0)
    data = [
        HeardDevice(
            dev_eui=h.dev_eui,
            first_heard=h.first_heard,
            last_heard=h.last_heard,
            uplinks=h.uplinks,
            dead_letters=h.dead_letters,
            best_rssi=h.best_rssi,
            last_reason=h.last_reason,
        )
        for h in await technician.heard_unregistered(conn)
    ]
    return HeardDevices(data=data, count=len(data))


@router.post(
    "/unregistered/{dev_eui}/register",
    operation_id="unregistered-register",
    **guarded("devices:write", 404, 409, 503),
    status_code=status.HTTP_201_CREATED,
)
async def register_heard(
    dev_eui: Annotated[str, Path(pattern=r"^[0-9A-Fa-f]{16}$")],
    body: DeviceCreate,
    request: Request,
    response: Response,
    conn: ConnDep,
    who: DevicesWriter,
    reg: RegistryDep,
) -> RegisteredAndReplayed:
    """Register a device heard on the network, then replay its dead letters through the live
    path (idempotent): its stored uplinks are decoded as if it had been known all along."""
    if body.dev_eui != dev_eui.lower():
        raise invalid_fields([(("dev_eui",), f"must be {dev_eui.lower()}, as in the path")])
    site_in_scope(body.site_id, who)
    pending: ProvisioningPending | None = None
    with answered():
        try:
            row = await service.register(conn, reg, body, actor=who.actor)
        except ProvisioningPending as exc:
            # Saved here, not yet in ChirpStack: decoding needs only our registry, so the
            # stored uplinks are replayed all the same; the answer is then the 503.
            pending = exc
            row = await service.existing(conn, body.dev_eui)
    ids = await technician.dead_letter_ids(conn, row.dev_eui)
    await conn.commit()
    replayed = failed = measurements = 0
    if ids:
        try:
            report = await asyncio.to_thread(
                replay_with_registry,
                request.app.state.database_url,
                request.app.state.bridge_config,
                ids=ids,
            )
        except (StorageError, psycopg.Error) as exc:
            raise ServiceUnavailable(
                f"device {row.dev_eui} is registered, but its stored uplinks could not be "
                f"replayed now ({exc}); run `icone deadletters replay --id ...` later"
            ) from exc
        replayed, failed, measurements = report.replayed, report.failed, report.rows.measurements
    if pending is not None:
        raise ServiceUnavailable(
            f"{pending} (its {replayed} stored uplink(s) were replayed: {measurements} "
            "measurement(s) decoded)"
        )
    set_etag(response, row.version)
    return RegisteredAndReplayed(
        device=DevicePublic.model_validate(row),
        replayed=replayed,
        failed=failed,
        measurements=measurements,
    )
