"""Ground truth of a scenario run, summed the way the API buckets consumption."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from hardware.fleet import VirtualDevice
from hardware.truth import COUNTER_REGISTERS, GroundTruth, Register

PARIS = ZoneInfo("Europe/Paris")

Figures = dict[datetime, float]


def bucket_of(hour: datetime, bucket: str) -> datetime:
    """Start of the Europe/Paris hour, day or month holding this UTC hour."""
    local = hour.astimezone(PARIS)
    if bucket == "day":
        local = local.replace(hour=0)
    elif bucket == "month":
        local = local.replace(day=1, hour=0)
    # replace() keeps the hour's UTC offset: re-localise the bucket start
    naive = local.replace(tzinfo=None)
    return naive.replace(tzinfo=PARIS)


def bucketed(hourly: dict[datetime, float], bucket: str) -> Figures:
    sums: Figures = defaultdict(float)
    for hour, value in hourly.items():
        sums[bucket_of(hour, bucket)] += value
    return dict(sums)


def registers(device: VirtualDevice) -> tuple[Register, ...]:
    return COUNTER_REGISTERS.get(device.model, ())


def register_truth(
    truth: GroundTruth, device: VirtualDevice, register: Register
) -> dict[datetime, float]:
    return truth.register_hourly(device.dev_eui, register)


def site_truth(
    truth: GroundTruth, fleet: Iterable[VirtualDevice], site: str, metric: str, bucket: str
) -> tuple[Figures, float]:
    """True consumption of a site's registers of `metric` per bucket, and the tolerance:
    each register's figure may be off by its resolution at either end of a bucket."""
    sums: Figures = defaultdict(float)
    tolerance = 0.0
    for device in fleet:
        if device.site_id != site:
            continue
        for register in registers(device):
            if register.metric != metric:
                continue
            tolerance += 2 * register.resolution
            for when, value in bucketed(register_truth(truth, device, register), bucket).items():
                sums[when] += value
    return dict(sums), tolerance


def mismatches(actual: Figures, expected: Figures, tolerance: float) -> list[str]:
    """Buckets where |actual - expected| > tolerance (a bucket absent on one side is 0)."""
    out = []
    for when in sorted(set(actual) | set(expected)):
        got, want = actual.get(when, 0.0), expected.get(when, 0.0)
        if abs(got - want) > tolerance + 1e-9 * max(1.0, abs(want)):
            out.append(f"{when.isoformat()}: {got:.6f} != truth {want:.6f} (± {tolerance:g})")
    return out
