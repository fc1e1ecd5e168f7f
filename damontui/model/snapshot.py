"""Immutable monitoring results handed from a backend thread to the UI."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import Enum

from .attrs import MonitoringAttrs
from .damon_stat import DamonStatSample
from .region import Region, RegionArrays
from .scheme import Scheme, SchemeStats

# The synthetic workloads the engine simulates (name: what it does). Plain data here
# so the UI and the CLI can offer them without importing the engine.
SYNTHETIC_PATTERNS: dict[str, str] = {
    "hotcold": "a few static hot blocks, the rest cold",
    "stairs": "a hot window stepping up through the space, wrapping around",
    "zigzag": "a hot window stepping up then down through the space",
    "phases": "a few hot blocks that move abruptly at each phase change",
}


class TargetKind(str, Enum):
    SYNTHETIC = "synthetic"  # the engine's simulated workload
    PID = "pid"  # a process' virtual address space (DAMON vaddr)
    PADDR = "paddr"  # physical memory


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    pid: int | None = None
    name: str = ""  # process name or synthetic pattern name
    ranges: tuple[tuple[int, int], ...] = ()  # fixed ranges (fvaddr/paddr), empty = automatic
    obsolete: bool = False  # 6.19 obsolete_target: drop this target at the next commit

    @property
    def label(self) -> str:
        if self.kind is TargetKind.PID:
            return f"pid {self.pid}" + (f" ({self.name})" if self.name else "")
        if self.kind is TargetKind.PADDR:
            return "physical memory"
        return f"synthetic:{self.name}" if self.name else "synthetic"


@dataclass(frozen=True)
class TargetSnapshot:
    """One target's regions as parallel arrays (cheap to copy, sort and render).

    The arrays belong to the snapshot: backends hand over copies and nobody
    mutates them afterwards.
    """

    target: Target
    starts: array = field(default_factory=lambda: array("Q"))
    ends: array = field(default_factory=lambda: array("Q"))
    nr_accesses: array = field(default_factory=lambda: array("I"))
    ages: array = field(default_factory=lambda: array("I"))
    sz_filter_passed: array | None = None  # per region, kernel 6.14+ tried regions
    probe_hits: tuple[array, ...] = ()  # per probe, per region (7.2 probes/P/hits)

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def from_regions(
        cls, target: Target, regions: list[Region] | tuple[Region, ...]
    ) -> TargetSnapshot:
        a = RegionArrays.from_regions(regions)
        return cls(target, a.starts, a.ends, a.nr_accesses, a.ages)

    @property
    def arrays(self) -> RegionArrays:
        """The same arrays as a RegionArrays (shared, not copied)."""
        return RegionArrays(
            self.starts,
            self.ends,
            self.nr_accesses,
            self.ages,
            self.sz_filter_passed,
            self.probe_hits,
        )

    def region(self, index: int) -> Region:
        return self.arrays.region(index)

    def regions(self) -> list[Region]:
        return self.arrays.regions()

    @property
    def total_size(self) -> int:
        return self.arrays.total_size


@dataclass(frozen=True)
class Snapshot:
    """Everything the UI shows for one aggregation interval."""

    seq: int
    timestamp: float  # wall clock seconds
    elapsed_us: int  # monitoring time since start (simulated for synthetic)
    attrs: MonitoringAttrs  # in force, i.e. tuned intervals when auto-tuning
    targets: tuple[TargetSnapshot, ...] = ()
    schemes: tuple[Scheme, ...] = ()
    scheme_stats: tuple[SchemeStats, ...] = ()
    cpu_percent: float = 0.0  # the monitor's own CPU use (engine thread or kdamond)
    messages: tuple[str, ...] = ()  # warnings worth showing (target exited, ...)
    damon_stat: DamonStatSample | None = None  # DAMON_STAT's outputs (its own backend)
    tuned: tuple[str, ...] = ()  # attrs fields whose value in force the kernel tuned

    @property
    def max_nr_accesses(self) -> int:
        return self.attrs.max_nr_accesses

    @property
    def nr_regions(self) -> int:
        return sum(len(t) for t in self.targets)


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """What the header shows about where the data comes from."""

    backend: str  # "engine" | "kernel"
    source: str  # access source description or kernel operations set
    kernel_version: str = ""
    features: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. why kernel DAMON was not used
    readonly: bool = False
