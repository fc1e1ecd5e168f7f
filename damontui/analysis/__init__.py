"""The analysis layer: pure functions over snapshots, no I/O and no Textual.

The TUI's views and batch mode's report both go through it, so a region has one
temperature (damo's), one order per sort key, one match per scheme pattern, and
the heatmap bins the same way on screen and in text.

- temperature: damo's region temperature, access percent
- order: the sort vocabulary (SORT_KEYS) and sorted region indices
- filters: RegionFilter (address range, size, temperature, hot/cold)
- matches: a scheme pattern's per-region flags and preview totals
- snapshot: SnapshotAnalysis, the per-snapshot cache of all of the above
- heat: value -> ramp bucket (colours and ramp characters)
- heatmap: address/temperature binning, HeatmapModel
- history: SnapshotHistory, working set, idle-time and temperature histograms
"""

from ..model import RegionArrays
from .filters import HeatOnly, RegionFilter, filter_order
from .heat import RAMP, bucket, heat_fraction, ramp_char
from .heatmap import (
    MODES,
    NO_DATA,
    OVERLAYS,
    AddressLayout,
    HeatmapModel,
    HeatmapSettings,
    PrefixSums,
    filter_passed_missing,
    mean_columns,
    passed_shares,
    row_bins,
    temperature_sums,
)
from .history import (
    HistoryFrame,
    SnapshotHistory,
    WssPoint,
    recency_histogram,
    temperature_histogram,
    working_set,
)
from .matches import match_flags, matched_totals
from .order import SORT_KEYS, SORTS, SortKey, sort_key, sorted_order
from .snapshot import SnapshotAnalysis
from .temperature import (
    access_percent,
    access_rate,
    max_samples,
    region_temperature,
    temperature_order,
    temperatures,
)

__all__ = [
    "MODES",
    "NO_DATA",
    "OVERLAYS",
    "RAMP",
    "SORTS",
    "SORT_KEYS",
    "AddressLayout",
    "HeatOnly",
    "HeatmapModel",
    "HeatmapSettings",
    "HistoryFrame",
    "PrefixSums",
    "RegionArrays",
    "RegionFilter",
    "SnapshotAnalysis",
    "SnapshotHistory",
    "SortKey",
    "WssPoint",
    "access_percent",
    "access_rate",
    "bucket",
    "filter_order",
    "filter_passed_missing",
    "heat_fraction",
    "match_flags",
    "matched_totals",
    "max_samples",
    "mean_columns",
    "passed_shares",
    "ramp_char",
    "recency_histogram",
    "region_temperature",
    "row_bins",
    "sort_key",
    "sorted_order",
    "temperature_histogram",
    "temperature_order",
    "temperature_sums",
    "temperatures",
    "working_set",
]
