"""The access-source interface of the user-space DAMON engine, plus shared /proc helpers.

A source answers one question for a batch of addresses: "was the page holding this
address accessed since I last reset it?". The engine drives it once per sampling
interval as ``check(prev_addrs)``, ``prepare(new_addrs)``, ``advance(sample_us)``
(or, for ``per_aggregation`` sources, once per aggregation: see below).
"""

from __future__ import annotations

import gzip
import os
from abc import ABC, abstractmethod
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ....procfs import pid_alive

if TYPE_CHECKING:
    from ..regionset import Regions


@dataclass(frozen=True)
class ProbeResult:
    """Whether a source can work here; ``reason`` names the missing file/config if not."""

    available: bool
    reason: str = ""


class TargetGone(Exception):
    """The monitored process exited; the message names the pid."""


class SourceError(Exception):
    """Any other access-source failure; the message names the file involved."""


class AccessSource(ABC):
    """One way of learning whether pages were accessed (see module docstring)."""

    name: ClassVar[str]
    granularity: ClassVar[str]  # "exact" | "vma" | "page"
    sees: ClassVar[str]  # "reads+writes" | "writes"
    description: ClassVar[str]

    @classmethod
    @abstractmethod
    def probe(cls, **kwargs: Any) -> ProbeResult:
        """Tell, by reading only, whether this source works with these path parameters."""

    @abstractmethod
    def target_ranges(self) -> list[tuple[int, int]]:
        """Address ranges (end exclusive) the engine should monitor now."""

    @abstractmethod
    def prepare(self, addrs: array) -> None:
        """Reset the accessed state of the pages holding ``addrs``."""

    @abstractmethod
    def check(self, addrs: array) -> bytearray:
        """Per address, 1 if its page was accessed since the last ``prepare``."""

    # Sources that can only tell, per area, how much of it was referenced since a reset
    # (smaps) are read once per aggregation instead: the engine calls
    # ``begin_aggregation()`` when an aggregation starts and ``aggregation_accesses()``
    # when it ends, and never ``prepare``/``check``.
    per_aggregation: ClassVar[bool] = False

    def begin_aggregation(self) -> None:  # noqa: B027 - only per-aggregation sources
        """Reset the accessed state of the whole target (per-aggregation sources)."""

    def aggregation_accesses(self, regions: Regions, max_nr_accesses: int) -> array:
        """Per region, nr_accesses (0..max_nr_accesses) since ``begin_aggregation``."""
        raise NotImplementedError(f"the {self.name} source is checked per sample")

    def advance(self, elapsed_us: int) -> None:  # noqa: B027 - real sources ignore time
        """Move a simulated clock; real sources follow wall time and do nothing."""

    @abstractmethod
    def describe(self) -> str:
        """One line naming the source, its granularity and its target."""

    def make_sampler(self, impl: Any) -> Any | None:
        """A page sampler (``impl.PageSampler``, see engine/sampler_py.py) over this
        source's open files, for the compiled sampling loop; None if it has none."""
        return None

    def mapped_ranges(self) -> list[tuple[int, int]] | None:
        """The target's mapped ranges now (merged VMAs) for its page sampler, or None
        when every address of its regions may hold a page (physical memory)."""
        return None

    def sampler_file(self, code: int) -> str:
        """The path behind a sampler file code (for error messages)."""
        return f"file {code}"

    def close(self) -> None:  # noqa: B027 - only sources holding fds override it
        """Release file descriptors."""

    def __enter__(self) -> AccessSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- helpers shared by the /proc based sources ---------------------------------------


def ensure_alive(proc_root: str, pid: int) -> None:
    """Raise TargetGone if ``pid`` exited."""
    if not pid_alive(pid, proc_root):
        raise TargetGone(f"pid {pid} exited")


def write_clear_refs(proc_root: str, pid: int, value: bytes) -> None:
    """Write ``value`` to /proc/PID/clear_refs, mapping errors to TargetGone/SourceError."""
    path = f"{proc_root}/{pid}/clear_refs"
    try:
        fd = os.open(path, os.O_WRONLY)
    except (FileNotFoundError, ProcessLookupError):
        raise TargetGone(f"pid {pid} exited ({path} gone)") from None
    except OSError as e:
        raise SourceError(f"cannot open {path}: {e.strerror}") from None
    try:
        os.write(fd, value)
    except ProcessLookupError:
        raise TargetGone(f"pid {pid} exited") from None
    except OSError as e:
        raise SourceError(f"cannot write {value!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def read_config_option(config_path: str, option: str) -> str | None:
    """Value of ``option`` ("y", "m", "n" for "is not set") in a kernel config, or None.

    None means the config could not be read (no /proc/config.gz, not gzip, ...).
    """
    try:
        if config_path.endswith(".gz"):
            with gzip.open(config_path, "rt", errors="replace") as f:
                text = f.read()
        else:
            with open(config_path, errors="replace") as f:
                text = f.read()
    except (OSError, EOFError):
        return None
    prefix = option + "="
    unset = f"# {option} is not set"
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
        if line.strip() == unset:
            return "n"
    return "n"  # absent from a full config means the option does not exist/isn't set
