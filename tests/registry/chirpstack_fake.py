"""An in-process ChirpStack gRPC server (ChirpStack itself cannot run here): the generated
servicers of chirpstack-api for TenantService, DeviceProfileService and DeviceService, with
ChirpStack's documented behaviour (Bearer token, ALREADY_EXISTS on a second Create or
CreateKeys, INVALID_ARGUMENT on bad hex, NOT_FOUND). Every request is recorded so that tests
compare it field by field; `fail` makes the next call of a method answer a given status."""

# ruff: noqa: N802  (the servicer methods carry gRPC's method names)
from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from chirpstack_api import api
from google.protobuf import empty_pb2

TOKEN = "test-token"
TENANT = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
APPLICATION = "0c6f8d5e-7f1a-4bd4-8b3a-6e7d1c2f3a4b"
HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass
class State:
    tenants: set[str] = field(default_factory=lambda: {TENANT})
    profiles: dict[str, Any] = field(default_factory=dict)  # id -> DeviceProfile
    devices: dict[str, Any] = field(default_factory=dict)  # dev_eui -> Device
    keys: dict[str, Any] = field(default_factory=dict)  # dev_eui -> DeviceKeys
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (method, request)
    metadata: list[dict[str, str]] = field(default_factory=list)
    failures: dict[str, tuple[grpc.StatusCode, str]] = field(default_factory=dict)
    hold: dict[str, threading.Event] = field(default_factory=dict)  # method -> released when set
    entered: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, code: grpc.StatusCode, details: str = "") -> None:
        self.failures[method] = (code, details)

    def requests(self, method: str) -> list[Any]:
        return [r for m, r in self.calls if m == method]


def _enter(state: State, method: str, request: Any, context: grpc.ServicerContext) -> None:
    md = dict(context.invocation_metadata())
    with state.lock:
        state.calls.append((method, request))
        state.metadata.append(md)
        failure = state.failures.pop(method, None)
    if method in state.entered:
        state.entered[method].set()
    if method in state.hold:
        state.hold[method].wait(timeout=30)
    if md.get("authorization") != f"Bearer {TOKEN}":
        context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "authorization metadata must be in format 'Bearer <TOKEN>'",
        )
    if failure is not None:
        context.abort(*failure)


class Tenants(api.TenantServiceServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "TenantService.Get", request, context)
        if request.id not in self.state.tenants:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        return api.GetTenantResponse(tenant=api.Tenant(id=request.id, name="Tours Métropole"))


class Profiles(api.DeviceProfileServiceServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state

    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceProfileService.List", request, context)
        items = [
            api.DeviceProfileListItem(id=pid, name=p.name, region=p.region)
            for pid, p in self.state.profiles.items()
            if p.tenant_id == request.tenant_id and request.search.lower() in p.name.lower()
        ]
        return api.ListDeviceProfilesResponse(total_count=len(items), result=items)

    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceProfileService.Create", request, context)
        if request.device_profile.tenant_id not in self.state.tenants:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid tenant_id")
        pid = str(uuid.uuid4())
        self.state.profiles[pid] = request.device_profile
        return api.CreateDeviceProfileResponse(id=pid)


class Devices(api.DeviceServiceServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state

    def _check(self, device: Any, context: grpc.ServicerContext) -> None:
        if not HEX16.fullmatch(device.dev_eui):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid dev_eui {device.dev_eui!r}")
        if device.join_eui and not HEX16.fullmatch(device.join_eui):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid join_eui")
        if device.device_profile_id not in self.state.profiles:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid device_profile_id")

    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceService.Create", request, context)
        self._check(request.device, context)
        eui = request.device.dev_eui.lower()
        if eui in self.state.devices:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "object already exists")
        self.state.devices[eui] = request.device
        return empty_pb2.Empty()

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceService.Get", request, context)
        device = self.state.devices.get(request.dev_eui.lower())
        if device is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        return api.GetDeviceResponse(device=device)

    def Update(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceService.Update", request, context)
        self._check(request.device, context)
        eui = request.device.dev_eui.lower()
        if eui not in self.state.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        self.state.devices[eui] = request.device
        return empty_pb2.Empty()

    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceService.Delete", request, context)
        if self.state.devices.pop(request.dev_eui.lower(), None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        self.state.keys.pop(request.dev_eui.lower(), None)
        return empty_pb2.Empty()

    def CreateKeys(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceService.CreateKeys", request, context)
        keys = request.device_keys
        eui = keys.dev_eui.lower()
        if eui not in self.state.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        if not HEX32.fullmatch(keys.nwk_key):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid nwk_key")
        if eui in self.state.keys:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "object already exists")
        self.state.keys[eui] = keys
        return empty_pb2.Empty()

    def UpdateKeys(self, request: Any, context: grpc.ServicerContext) -> Any:
        _enter(self.state, "DeviceService.UpdateKeys", request, context)
        eui = request.device_keys.dev_eui.lower()
        if eui not in self.state.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, "object does not exist")
        self.state.keys[eui] = request.device_keys
        return empty_pb2.Empty()


@contextmanager
def chirpstack_server() -> Iterator[tuple[str, State]]:
    """A running fake: yields its host:port and its state."""
    state = State()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api.add_TenantServiceServicer_to_server(Tenants(state), server)
    api.add_DeviceProfileServiceServicer_to_server(Profiles(state), server)
    api.add_DeviceServiceServicer_to_server(Devices(state), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", state
    finally:
        for event in state.hold.values():
            event.set()
        server.stop(grace=None)
