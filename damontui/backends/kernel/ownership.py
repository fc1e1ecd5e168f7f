"""Which kdamonds damontui owns: runtime records written when it starts one.

A kdamond is OURS only if a record under the runtime directory names it (sysfs
root + index) and the recorded kdamond pid (and its start time, when /proc
shows it) still matches the live kdamond.  Everything else is FOREIGN and
strictly read-only.  `take_over()` makes a foreign kdamond ours, but only with
the exact confirmation (its "kdamond.N" name or its pid).

Records live in /run/damontui/ (root) or $XDG_RUNTIME_DIR/damontui/; one JSON
file per kdamond, replaced atomically.  The runtime directory is not sysfs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ...procfs import pid_exists, start_ticks
from ..base import BackendError


class Ownership(str, Enum):
    OURS = "ours"  # started (or taken over) by damontui: this process or a dead one
    OTHER_DAMONTUI = "damontui"  # ours, but another live damontui process controls it
    FOREIGN = "foreign"  # not started by damontui: read-only


def default_runtime_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/run/damontui")
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "damontui"
    return Path(tempfile.gettempdir()) / f"damontui-{os.getuid()}"


@dataclass
class OwnershipRecord:
    sysfs_root: str
    index: int
    kdamond_pid: int
    owner_pid: int
    start_time: float  # wall clock when damontui started (or took over) it
    kdamond_start_ticks: int | None = None
    owner_start_ticks: int | None = None
    taken_over: bool = False
    user_schemes: int = 0  # the user's schemes come first in the context ...
    snapshot_schemes: list[int] = field(default_factory=list)  # ... then ours
    parked: bool = False  # a stopped kdamond dir of ours that may be reused
    fingerprint: str | None = None  # of a parked dir's staged config (reuse check)

    @property
    def name(self) -> str:
        return f"kdamond.{self.index}"


def _key(sysfs_root: str, index: int) -> str:
    digest = hashlib.sha1(os.path.realpath(sysfs_root).encode()).hexdigest()[:12]
    return f"kdamond-{digest}-{index}.json"


class OwnershipStore:
    """Reads and writes ownership records in one runtime directory."""

    def __init__(
        self, runtime_dir: str | os.PathLike[str] | None = None, proc_root: str = "/proc"
    ) -> None:
        self.dir = Path(runtime_dir) if runtime_dir is not None else default_runtime_dir()
        self.proc_root = proc_root

    def path(self, sysfs_root: str, index: int) -> Path:
        return self.dir / _key(sysfs_root, index)

    def get(self, sysfs_root: str, index: int) -> OwnershipRecord | None:
        try:
            data = json.loads(self.path(sysfs_root, index).read_text())
            record = OwnershipRecord(**data)
        except (OSError, ValueError, TypeError):
            return None
        if os.path.realpath(record.sysfs_root) != os.path.realpath(sysfs_root):
            return None
        return record

    def put(self, record: OwnershipRecord) -> None:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = self.path(record.sysfs_root, record.index)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(record), f, indent=1)
            os.replace(tmp, target)
        except OSError as e:
            raise BackendError(
                f"cannot record ownership of kdamond.{record.index} in {self.dir}: {e.strerror}"
            ) from None

    def remove(self, sysfs_root: str, index: int) -> None:
        try:
            self.path(sysfs_root, index).unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass

    def records(self, sysfs_root: str) -> list[OwnershipRecord]:
        out: list[OwnershipRecord] = []
        try:
            names = sorted(p.name for p in self.dir.glob("kdamond-*.json"))
        except OSError:
            return out
        for name in names:
            try:
                data = json.loads((self.dir / name).read_text())
                record = OwnershipRecord(**data)
            except (OSError, ValueError, TypeError):
                continue
            if os.path.realpath(record.sysfs_root) == os.path.realpath(sysfs_root):
                out.append(record)
        return out

    def new_record(
        self, sysfs_root: str, index: int, kdamond_pid: int, **kw: Any
    ) -> OwnershipRecord:
        return OwnershipRecord(
            sysfs_root=sysfs_root,
            index=index,
            kdamond_pid=kdamond_pid,
            owner_pid=os.getpid(),
            start_time=time.time(),
            kdamond_start_ticks=start_ticks(kdamond_pid, self.proc_root),
            owner_start_ticks=start_ticks(os.getpid(), self.proc_root),
            **kw,
        )

    # --- classification ---------------------------------------------------------------

    def classify(
        self, sysfs_root: str, index: int, state: str, pid: int | None
    ) -> tuple[Ownership, OwnershipRecord | None, str]:
        """(ownership, the record if it matches, why) for a live kdamond."""
        record = self.get(sysfs_root, index)
        if record is None or record.parked:
            return Ownership.FOREIGN, None, "not started by damontui"
        if state != "on" or pid is None or pid != record.kdamond_pid:
            return (
                Ownership.FOREIGN,
                None,
                f"stale damontui record (recorded kdamond pid {record.kdamond_pid}, "
                f"live pid {pid if pid is not None else '-'}, state {state})",
            )
        ticks = start_ticks(pid, self.proc_root)
        if (
            record.kdamond_start_ticks is not None
            and ticks is not None
            and ticks != record.kdamond_start_ticks
        ):
            return (
                Ownership.FOREIGN,
                None,
                f"stale damontui record (kdamond pid {pid} was reused)",
            )
        if record.owner_pid != os.getpid() and self._owner_alive(record):
            return (
                Ownership.OTHER_DAMONTUI,
                record,
                f"controlled by another damontui (pid {record.owner_pid})",
            )
        return Ownership.OURS, record, "started by damontui"

    def _owner_alive(self, record: OwnershipRecord) -> bool:
        if not pid_exists(record.owner_pid, self.proc_root):
            return False
        ticks = start_ticks(record.owner_pid, self.proc_root)
        return (
            record.owner_start_ticks is None or ticks is None or (ticks == record.owner_start_ticks)
        )


def confirmation_matches(index: int, pid: int | None, confirm_name: str) -> bool:
    """The exact confirmation take_over() accepts: 'kdamond.N' or the kdamond's pid."""
    text = (confirm_name or "").strip()
    if text == f"kdamond.{index}":
        return True
    return pid is not None and pid > 0 and text == str(pid)
