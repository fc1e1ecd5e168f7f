"""What both backends read from /proc, in one place: a process's comm, whether it is
alive (two meanings, see pid_alive and pid_exists), its stat fields, the System RAM
ranges of /proc/iomem and the memory controller's cgroup mounts.

Every reader takes the /proc root (or the file) as a parameter so tests can point
it at a fake tree. Errors: readers of one field return a default and say so in
their docstring; the iomem reader raises OSError/ValueError for the caller to word.
"""

from __future__ import annotations

import os

Range = tuple[int, int]

# /proc/PID/stat states of a process that has exited but was not reaped yet (Z), or
# is being torn down (X, x): no address space any more.
_DEAD_STATES = (b"Z", b"X", b"x")


def proc_comm(pid: int | None, proc_root: str = "/proc", missing: str = "") -> str:
    """The process name from /proc/PID/comm; `missing` if there is no pid, it
    cannot be read or it is empty (only ever used for display)."""
    if not pid:
        return missing
    try:
        with open(f"{proc_root}/{pid}/comm") as f:
            return f.read().strip() or missing
    except OSError:
        return missing


def pid_alive(pid: int, proc_root: str = "/proc") -> bool:
    """True while `pid` exists and is not a zombie: for code that is about to read
    or write the process's memory.

    A zombie keeps its /proc entry but has no address space any more: its smaps
    reads empty and clear_refs writes silently succeed, so the entry alone proves
    nothing. An entry that exists but is unreadable counts as alive: the real
    operation then reports why it fails."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    # The state follows the last ')' because comm may itself contain parentheses.
    tail = stat[stat.rfind(b")") + 1 :].split()
    return not (tail and tail[0] in _DEAD_STATES)


def pid_exists(pid: int | None, proc_root: str = "/proc") -> bool:
    """True while /proc/PID exists, zombies included: for ownership records, where a
    pid that is not reaped yet still cannot be reused by another process (its start
    time, compared by the caller, tells a reused pid apart)."""
    if not pid or pid <= 0:
        return False
    return os.path.exists(f"{proc_root}/{pid}")


def stat_fields(pid: int, proc_root: str = "/proc") -> list[str]:
    """/proc/PID/stat fields after the comm, i.e. from field 3 (state) on: index 0 is
    the state, 11/12 utime/stime, 19 the start time. The comm may hold parentheses,
    hence the split at the last ')'. Raises OSError/IndexError."""
    with open(f"{proc_root}/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def start_ticks(pid: int, proc_root: str = "/proc") -> int | None:
    """Start time of a process in clock ticks since boot (field 22 of stat), or None."""
    try:
        return int(stat_fields(pid, proc_root)[19])
    except (OSError, IndexError, ValueError):
        return None


def cpu_ticks(pid: int, proc_root: str = "/proc") -> int | None:
    """utime + stime of a process or thread in clock ticks, or None if unreadable."""
    try:
        fields = stat_fields(pid, proc_root)
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def uptime_s(proc_root: str = "/proc") -> float | None:
    """Seconds since boot from /proc/uptime, or None if unreadable."""
    try:
        with open(f"{proc_root}/uptime") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def system_ram_ranges(iomem_text: str) -> list[Range]:
    """Top-level "System RAM" ranges of a /proc/iomem text, end exclusive.

    iomem ends are inclusive, hence the +1. Without root the kernel prints every
    address as 0; that is reported as ValueError rather than returning empty RAM.
    """
    ranges: list[Range] = []
    for line in iomem_text.splitlines():
        if not line or line[0].isspace():
            continue  # nested entries (kernel code, ...) lie inside their parent
        span, sep, name = line.partition(" : ")
        if not sep or name.strip() != "System RAM":
            continue
        start_s, _, end_s = span.partition("-")
        try:
            start, end = int(start_s, 16), int(end_s, 16) + 1
        except ValueError:
            raise ValueError(f"malformed iomem line: {line!r}") from None
        ranges.append((start, end))
    if ranges and all(start == 0 and end == 1 for start, end in ranges):
        raise ValueError(
            "System RAM addresses read as 0: the kernel hides iomem addresses from "
            "processes without CAP_SYS_ADMIN (run as root)"
        )
    return ranges


def read_iomem(iomem_path: str = "/proc/iomem") -> str:
    """The text of /proc/iomem (raises OSError: each backend words its own error)."""
    with open(iomem_path) as f:
        return f.read()


def memcg_mounts(mounts_path: str = "/proc/mounts") -> list[str]:
    """Mount points of the memory controller: cgroup v1 'memory' mounts, else cgroup2
    ones; [] if the mounts file cannot be read."""
    v1: list[str] = []
    v2: list[str] = []
    try:
        with open(mounts_path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup" and "memory" in options:
            v1.append(mountpoint)
        elif fstype == "cgroup2":
            v2.append(mountpoint)
    return v1 or v2
