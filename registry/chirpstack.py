"""ChirpStack provisioning through its gRPC API (the `chirpstack-api` stubs).

For a device: the tenant is checked once (TenantService.Get), the device profile of its model
is found by name in the tenant or created from the catalogue (region, MAC version, regional
parameters, class, codec none, tag `icone_model`), then the device is created with its tags,
then its OTAA keys (LoRaWAN 1.0.x: the AppKey goes in `nwk_key`; 1.1: in `app_key` too).
Retiring a device disables it there (`is_disabled`), so its history stays in both systems.

gRPC status codes become the errors of `registry.errors`: ALREADY_EXISTS -> ChirpStackConflict,
INVALID_ARGUMENT -> ChirpStackInvalid (naming the field when ChirpStack's message does),
UNAUTHENTICATED / PERMISSION_DENIED -> ChirpStackUnauthenticated (the operator's token),
anything else (UNAVAILABLE, DEADLINE_EXCEEDED, ...) -> ChirpStackUnavailable. Every call has a
timeout. The token is sent as `authorization: Bearer <token>` metadata and never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from chirpstack_api import api, common

from hardware.catalogue import ModelSheet
from registry.errors import (
    ChirpStackConflict,
    ChirpStackError,
    ChirpStackInvalid,
    ChirpStackUnauthenticated,
    ChirpStackUnavailable,
)
from registry.settings import ChirpStackSettings, ChirpStackTarget

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSpec:
    """What ChirpStack gets for one device (the AppKey separately, write-only)."""

    dev_eui: str
    join_eui: str | None
    name: str
    description: str
    model: str
    tags: Mapping[str, str]
    disabled: bool = False


_MAC_VERSIONS = {
    "1.0.2": common.MacVersion.LORAWAN_1_0_2,
    "1.0.3": common.MacVersion.LORAWAN_1_0_3,
    "1.0.4": common.MacVersion.LORAWAN_1_0_4,
    "1.1.0": common.MacVersion.LORAWAN_1_1_0,
}
_FIELDS = re.compile(
    r"\b(dev_eui|join_eui|nwk_key|app_key|name|description|application_id|device_profile_id|"
    r"tenant_id|region|mac_version|reg_params_revision|tags)\b"
)


def _reg_params(revision: str) -> int:
    return int(common.RegParamsRevision.Value(revision.replace("-", "_").replace(".", "_")))


def profile_for(sheet: ModelSheet, tenant_id: str) -> Any:
    """The device profile ICONE creates for a catalogue model (no codec: we decode)."""
    p = sheet.profile
    return api.DeviceProfile(
        tenant_id=tenant_id,
        name=sheet.id,
        description=f"{sheet.vendor} {sheet.model} (ICONE catalogue)",
        region=common.Region.Value(p.region),
        mac_version=_MAC_VERSIONS[p.mac_version],
        reg_params_revision=_reg_params(p.regional_parameters_revision),
        adr_algorithm_id="default",
        payload_codec_runtime=api.CodecRuntime.NONE,
        uplink_interval=p.uplink_interval_s,
        supports_otaa=p.supports_otaa,
        supports_class_b=p.device_class == "B",
        supports_class_c=p.device_class == "C",
        tags={"icone_model": sheet.id},
    )


def translate(exc: grpc.aio.AioRpcError, action: str) -> ChirpStackError:
    code, details = exc.code(), exc.details() or ""
    message = f"ChirpStack refused to {action}: {code.name} {details}".strip()
    if code is grpc.StatusCode.ALREADY_EXISTS:
        return ChirpStackConflict(message)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        match = _FIELDS.search(details)
        return ChirpStackInvalid(message, match.group(1) if match else None)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return ChirpStackUnauthenticated(
            f"ChirpStack refused ICONE's API token ({code.name}: {details}); an operator must "
            "set a valid tenant API key in ICONE_CHIRPSTACK__API_TOKEN"
        )
    return ChirpStackUnavailable(message)


class Provisioner:
    """One gRPC channel to ChirpStack; open it with `Provisioner.connect(settings)`."""

    def __init__(self, settings: ChirpStackSettings, channel: grpc.aio.Channel) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = settings.timeout_s
        self._tenants = api.TenantServiceStub(channel)
        self._profiles = api.DeviceProfileServiceStub(channel)
        self._devices = api.DeviceServiceStub(channel)
        self._checked_tenants: set[str] = set()
        self._profile_ids: dict[tuple[str, str], str] = {}

    @classmethod
    @asynccontextmanager
    async def connect(cls, settings: ChirpStackSettings) -> AsyncIterator[Provisioner]:
        if settings.url is None:
            raise ValueError("ChirpStack is not configured (ICONE_CHIRPSTACK__URL)")
        channel = (
            grpc.aio.secure_channel(settings.url, grpc.ssl_channel_credentials())
            if settings.tls
            else grpc.aio.insecure_channel(settings.url)
        )
        try:
            yield cls(settings, channel)
        finally:
            await channel.close()

    async def _call(self, method: Any, request: Any, action: str) -> Any:
        try:
            return await method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, action) from exc

    async def _tenant(self, tenant_id: str) -> None:
        if tenant_id in self._checked_tenants:
            return
        try:
            await self._call(
                self._tenants.Get, api.GetTenantRequest(id=tenant_id), "read the tenant"
            )
        except ChirpStackInvalid as exc:
            # The tenant comes from ICONE's configuration, not from the client's request.
            raise ChirpStackUnavailable(f"configured tenant {tenant_id!r}: {exc}") from exc
        self._checked_tenants.add(tenant_id)

    async def profile_id(self, tenant_id: str, sheet: ModelSheet) -> str:
        """The tenant's device profile named after the model; created when missing."""
        key = (tenant_id, sheet.id)
        if key in self._profile_ids:
            return self._profile_ids[key]
        await self._tenant(tenant_id)
        found = await self._call(
            self._profiles.List,
            api.ListDeviceProfilesRequest(
                tenant_id=tenant_id, search=sheet.id, limit=100, tenant_only=True
            ),
            "list device profiles",
        )
        ids = [item.id for item in found.result if item.name == sheet.id]
        if ids:
            profile_id = str(ids[0])
        else:
            created = await self._call(
                self._profiles.Create,
                api.CreateDeviceProfileRequest(device_profile=profile_for(sheet, tenant_id)),
                f"create the device profile {sheet.id}",
            )
            profile_id = str(created.id)
            logger.info("created ChirpStack device profile %s for %s", profile_id, sheet.id)
        self._profile_ids[key] = profile_id
        return profile_id

    async def existing(self, dev_eui: str) -> Any | None:
        """The device as ChirpStack has it, or None."""
        try:
            answer = await self._call(
                self._devices.Get, api.GetDeviceRequest(dev_eui=dev_eui), "read the device"
            )
        except ChirpStackUnavailable as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, grpc.aio.AioRpcError)
                and cause.code() is grpc.StatusCode.NOT_FOUND
            ):
                return None
            raise
        return answer.device

    async def put(
        self,
        device: DeviceSpec,
        sheet: ModelSheet,
        target: ChirpStackTarget,
        app_key: str | None,
        *,
        first: bool,
    ) -> None:
        """Create (or, when not `first`, create or update) the device, then its keys.

        `first`: the device was just registered in ICONE, so one that ChirpStack already has
        is someone else's (ChirpStackConflict). On a retry it is ours, from an attempt that
        stopped half-way, and is updated."""
        profile_id = await self.profile_id(target.tenant_id, sheet)
        request = api.Device(
            dev_eui=device.dev_eui,
            name=device.name,
            description=device.description,
            application_id=target.application_id,
            device_profile_id=profile_id,
            join_eui=device.join_eui or "",
            is_disabled=device.disabled,
            tags=dict(device.tags),
        )
        try:
            await self._call(
                self._devices.Create, api.CreateDeviceRequest(device=request), "create the device"
            )
        except ChirpStackConflict as exc:
            if first:
                there = await self.existing(device.dev_eui)
                where = (
                    f" (application {there.application_id}, name {there.name!r})" if there else ""
                )
                raise ChirpStackConflict(
                    f"ChirpStack already has device {device.dev_eui}{where}"
                ) from exc
            await self._call(
                self._devices.Update, api.UpdateDeviceRequest(device=request), "update the device"
            )
        if app_key is None:
            return
        try:
            await self._keys(device.dev_eui, sheet, app_key)
        except (ChirpStackConflict, ChirpStackInvalid):
            if first:  # undo our half: the caller answers with the error, nothing left behind
                await self._call(
                    self._devices.Delete,
                    api.DeleteDeviceRequest(dev_eui=device.dev_eui),
                    "delete the half-created device",
                )
            raise

    async def _keys(self, dev_eui: str, sheet: ModelSheet, app_key: str) -> None:
        # LoRaWAN 1.0.x: the root key is the AppKey, which ChirpStack reads from nwk_key.
        lorawan_11 = sheet.profile.mac_version == "1.1.0"
        keys = api.DeviceKeys(
            dev_eui=dev_eui, nwk_key=app_key, app_key=app_key if lorawan_11 else ""
        )
        try:
            await self._call(
                self._devices.CreateKeys,
                api.CreateDeviceKeysRequest(device_keys=keys),
                "store the device keys",
            )
        except ChirpStackConflict:
            await self._call(
                self._devices.UpdateKeys,
                api.UpdateDeviceKeysRequest(device_keys=keys),
                "update the device keys",
            )

    async def disable(
        self, device: DeviceSpec, sheet: ModelSheet, target: ChirpStackTarget
    ) -> None:
        """Retired here: disabled there (kept, with its history). Absent there: nothing to do."""
        if await self.existing(device.dev_eui) is None:
            return
        await self.put(
            dataclasses.replace(device, disabled=True),
            sheet,
            target,
            None,
            first=False,
        )
