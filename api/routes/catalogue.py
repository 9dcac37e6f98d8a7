"""The device catalogue as technicians need it: models, installation notes, what to enter.

The catalogue the API was started with (`hardware/catalogue/` or ICONE_CATALOGUE_DIR); the
roles a model may play come from the registry's rules, the ones registration checks.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import DevicesReader, RegistryDep
from api.routing import guarded
from decoders import METRICS
from decoders.vocabulary import Kind
from hardware.catalogue import ModelSheet
from registry import rules

router = APIRouter(prefix="/catalogue", tags=["catalogue"])


class CounterRegister(BaseModel):
    metric: str
    channel: str
    unit: str


class ModelPublic(BaseModel):
    id: str
    vendor: str
    model: str
    category: str
    power: str
    uplink_interval_s: int
    installation: str
    test_uplink: str | None  # how to make it transmit now; None: wait for the next interval
    roles: list[str]  # the device roles registration accepts for this model
    pulse_inputs: list[str]  # channels counting pulses: each needs a pulse weight
    counter_registers: list[CounterRegister]  # registers whose index at installation counts
    documents: list[str]


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int


def _public(sheet: ModelSheet) -> ModelPublic:
    pulse = [c for m in sheet.metrics if m.metric == "pulse_count" for c in m.channels]
    registers = [
        CounterRegister(metric=m.metric, channel=c, unit=METRICS[m.metric].unit)
        for m in sheet.metrics
        if m.kind is Kind.COUNTER and m.metric != "pulse_count"
        for c in m.channels
    ]
    return ModelPublic(
        id=sheet.id,
        vendor=sheet.vendor,
        model=sheet.model,
        category=sheet.category.value,
        power=sheet.power,
        uplink_interval_s=sheet.profile.uplink_interval_s,
        installation=sheet.installation,
        test_uplink=sheet.test_uplink,
        roles=[r for r in sorted(rules.ROLES) if not rules.check_role(r, sheet)],
        pulse_inputs=pulse,
        counter_registers=registers,
        documents=sheet.documents,
    )


@router.get("/models", operation_id="catalogue-models", **guarded("devices:read", parameters=False))
async def list_models(_who: DevicesReader, reg: RegistryDep) -> ModelsPublic:
    """Every supported model with its installation notes and the inputs it needs."""
    data = sorted((_public(s) for s in reg.catalogue.values()), key=lambda m: m.id)
    return ModelsPublic(data=data, count=len(data))
