"""damo's region temperature, the one definition every view and report uses.

The formula itself is `damontui.kernels.kernels_py.region_temperature` (the readable
reference that the compiled kernel reproduces bit for bit); this module applies it
to snapshots with the intervals that were in force when they were aggregated.
"""

from __future__ import annotations

from array import array

from .. import kernels
from ..kernels.kernels_py import region_temperature as _region_temperature
from ..model import DEFAULT_WEIGHTS, MonitoringAttrs, Region, RegionArrays, TemperatureWeights


def max_samples(attrs: MonitoringAttrs) -> float:
    """Sampling intervals per aggregation, as damo divides them (a float)."""
    return attrs.aggr_us / max(1, attrs.sample_us)


def access_percent(nr_accesses: int, attrs: MonitoringAttrs) -> int:
    """damo's access rate: whole percent of the samples of one aggregation, truncated."""
    return int(nr_accesses * 100.0 / max_samples(attrs))


def access_rate(nr_accesses: int, max_nr_accesses: int) -> float:
    """Percent of an aggregation's samples that found the region accessed, capped at
    100 (what the table and the report show; temperature uses access_percent)."""
    return min(100.0, 100.0 * nr_accesses / max(1, max_nr_accesses))


def region_temperature(
    region: Region, attrs: MonitoringAttrs, weights: TemperatureWeights = DEFAULT_WEIGHTS
) -> float:
    """damo's temperature of one region (see kernels_py.region_temperature)."""
    return _region_temperature(
        region.size,
        region.nr_accesses,
        region.age,
        max_samples(attrs),
        float(attrs.aggr_us),
        weights.size,
        weights.access_rate,
        weights.age,
    )


def temperatures(
    arrays: RegionArrays, attrs: MonitoringAttrs, weights: TemperatureWeights = DEFAULT_WEIGHTS
) -> array:
    """region_temperature of every region, in array order (array 'd')."""
    w = weights
    sample_us = max(1, attrs.sample_us)
    return kernels.temperatures(arrays, sample_us, attrs.aggr_us, w.size, w.access_rate, w.age)


def temperature_order(
    arrays: RegionArrays,
    attrs: MonitoringAttrs,
    weights: TemperatureWeights = DEFAULT_WEIGHTS,
    descending: bool = True,
) -> array:
    """Region indices hottest first (coldest first unless `descending`); ties go to
    the lower start address, then the lower index (array 'I')."""
    w = weights
    sample_us = max(1, attrs.sample_us)
    return kernels.temperature_order(
        arrays, sample_us, attrs.aggr_us, w.size, w.access_rate, w.age, descending
    )
