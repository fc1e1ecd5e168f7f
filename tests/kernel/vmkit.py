"""Helpers for the kernel tests that run INSIDE the VM guest (tests/kernel/).

Everything here that writes DAMON sysfs refuses to run unless ``in_guest()``:
the host's /sys/kernel/mm/damon belongs to the machine and is never written.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ADMIN = Path("/sys/kernel/mm/damon/admin")
# created by the guest's init (tests/vm/damontui_vm.py) in a tmpfs; tests/conftest.py's
# write guard checks the same file
GUEST_MARKER = Path("/run/damontui-vm/stage2")
KDAMONDS = ADMIN / "kdamonds"
HERE = Path(__file__).resolve().parent
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1

# Files whose values the kernel changes by itself while a kdamond runs (or that
# refresh on state commands): everything else must stay byte-identical.
VOLATILE = re.compile(
    r"(/stats/[^/]+$|/tried_regions/|/quotas/effective_bytes$|/goals/\d+/current_value$"
    r"|/intervals_goal/|/refresh_ms$)"
)


def guest_problem() -> str | None:
    """None inside the damontui VM guest, else why these tests must not run here."""
    if os.environ.get("DAMONTUI_IN_VM") != "1":
        return (
            "kernel tests run only inside the VM tier (DAMONTUI_IN_VM=1); "
            "on the host run tests/test_vm_tier.py or .ci/vm-tier"
        )
    # A second, independent check: the guest's stage2 lives in /run/damontui-vm
    # (a tmpfs the guest mounts).  An env var alone is too easy to set by mistake.
    if not GUEST_MARKER.exists():
        return (
            "DAMONTUI_IN_VM=1 but this is not the damontui VM guest "
            "(no /run/damontui-vm/stage2): refusing to touch this machine's DAMON"
        )
    if os.geteuid() != 0:
        return "kernel tests need root in the guest"
    if not KDAMONDS.is_dir():
        return f"{KDAMONDS} missing: guest kernel without DAMON_SYSFS"
    return None


def in_guest() -> bool:
    return guest_problem() is None


def _guard() -> None:
    problem = guest_problem()
    if problem:
        raise RuntimeError(f"refusing to write DAMON sysfs: {problem}")


# ------------------------------------------------------------------------- raw sysfs


def read(path: Path | str, timeout: float = 10) -> str:
    """A sysfs file's content.  DAMON's sysfs handlers take their global lock
    with mutex_trylock and return EBUSY while someone else holds it - e.g. a
    backend thread waiting in update_schemes_tried_regions - so retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def write(path: Path | str, value: object) -> None:
    """One write(2) of str(value), as `echo value > path` would do."""
    _guard()
    fd = os.open(str(path), os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def kdamond_dirs() -> list[Path]:
    n = int(read(KDAMONDS / "nr_kdamonds"))
    return [KDAMONDS / str(i) for i in range(n)]


def reset_all() -> None:
    """Turn every kdamond in the GUEST off and remove them (test isolation)."""
    _guard()
    for kd in kdamond_dirs():
        if read(kd / "state") == "on":
            write(kd / "state", "off")
    deadline = time.monotonic() + 20
    while any(read(kd / "state") == "on" for kd in kdamond_dirs()):
        if time.monotonic() > deadline:
            raise RuntimeError("kdamonds did not stop")
        time.sleep(0.05)
    write(KDAMONDS / "nr_kdamonds", 0)


def tree(root: Path) -> dict[str, str]:
    """Every readable file below root -> its content (reading has no side effect)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            try:
                out[str(p.relative_to(root))] = read(p)
            except OSError as e:
                out[str(p.relative_to(root))] = f"<{e.strerror}>"
    return out


def stable_part(files: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in files.items() if not VOLATILE.search("/" + k)}


def system_ram() -> tuple[int, int]:
    """The biggest 'System RAM' range in /proc/iomem (end exclusive)."""
    best = (0, 0)
    for line in Path("/proc/iomem").read_text().splitlines():
        m = re.match(r"\s*([0-9a-f]+)-([0-9a-f]+) : System RAM$", line)
        if m:
            start, end = int(m.group(1), 16), int(m.group(2), 16) + 1
            if end - start > best[1] - best[0]:
                best = (start, end)
    return best


def setup_kdamond(
    kd: Path,
    *,
    ops: str,
    pid: int | None = None,
    regions: Iterable[tuple[int, int]] = (),
    sample_us: int = 5000,
    aggr_us: int = 100_000,
    min_nr_regions: int = 10,
    max_nr_regions: int = 1000,
    schemes: Iterable[dict] = (),
) -> None:
    """Stage one context with one target via plain sysfs writes (no damontui)."""
    c = kd / "contexts/0"
    write(kd / "contexts/nr_contexts", 1)
    write(c / "operations", ops)
    write(c / "monitoring_attrs/intervals/sample_us", sample_us)
    write(c / "monitoring_attrs/intervals/aggr_us", aggr_us)
    write(c / "monitoring_attrs/nr_regions/min", min_nr_regions)
    write(c / "monitoring_attrs/nr_regions/max", max_nr_regions)
    write(c / "targets/nr_targets", 1)
    if pid is not None:
        write(c / "targets/0/pid_target", pid)
    regions = list(regions)
    write(c / "targets/0/regions/nr_regions", len(regions))
    for i, (start, end) in enumerate(regions):
        write(c / f"targets/0/regions/{i}/start", start)
        write(c / f"targets/0/regions/{i}/end", end)
    schemes = list(schemes)
    write(c / "schemes/nr_schemes", len(schemes))
    for i, s in enumerate(schemes):
        sd = c / f"schemes/{i}"
        write(sd / "action", s.get("action", "stat"))
        # a new scheme's ranges default to 0..0 and match nothing: write all six
        for key, (lo, hi) in (
            ("sz", (0, U64_MAX)),
            ("nr_accesses", (0, U32_MAX)),
            ("age", (0, U32_MAX)),
        ):
            lo, hi = s.get(key, (lo, hi))
            write(sd / f"access_pattern/{key}/min", lo)
            write(sd / f"access_pattern/{key}/max", hi)
        if "apply_interval_us" in s:
            write(sd / "apply_interval_us", s["apply_interval_us"])
        for i_f, flt in enumerate(s.get("filters", ())):
            write(sd / "filters/nr_filters", i_f + 1)
            for k, v in flt.items():
                write(sd / f"filters/{i_f}/{k}", v)


@dataclass
class RawRegion:
    start: int
    end: int
    nr_accesses: int
    age: int


def tried_regions(scheme_dir: Path, timeout: float = 20) -> list[RawRegion]:
    """Ask the kernel for the scheme's tried regions and read them."""
    kd = scheme_dir.parents[3]
    write(kd / "state", "update_schemes_tried_regions")  # returns when they are in
    out = []
    tr = scheme_dir / "tried_regions"
    deadline = time.monotonic() + timeout
    names: list[Path] = []
    while True:
        # the kernel can still be adding region directories after the command
        # returned: wait until the list is there and stable
        now = sorted((p for p in tr.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        if (now and len(now) == len(names)) or time.monotonic() > deadline:
            names = now
            break
        names = now
        time.sleep(0.1)
    for d in names:
        out.append(
            RawRegion(
                int(read(d / "start")),
                int(read(d / "end")),
                int(read(d / "nr_accesses")),
                int(read(d / "age")),
            )
        )
    return out


def mean_accesses(regions: Iterable, start: int, end: int) -> float:
    """Byte-weighted mean nr_accesses of the parts of regions inside [start, end).
    Works on anything with .start/.end/.nr_accesses (RawRegion, model Region)."""
    total = weighted = 0
    for r in regions:
        lo, hi = max(r.start, start), min(r.end, end)
        if hi > lo:
            total += hi - lo
            weighted += (hi - lo) * r.nr_accesses
    return weighted / total if total else float("nan")


def hot_bytes(regions: Iterable, threshold: int) -> list[tuple[int, int]]:
    return merge_ranges((r.start, r.end) for r in regions if r.nr_accesses >= threshold)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def size_of(ranges: Iterable[tuple[int, int]]) -> int:
    return sum(e - s for s, e in ranges)


def intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            lo, hi = max(s1, s2), min(e1, e2)
            if hi > lo:
                out.append((lo, hi))
    return merge_ranges(out)


def jaccard(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> float:
    inter = size_of(intersect(a, b))
    union = size_of(merge_ranges(a + b))
    return inter / union if union else 1.0


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of a process (a kdamond is a kernel thread: this works too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------- workload


@dataclass
class Workload:
    proc: subprocess.Popen
    pid: int
    hot: tuple[int, int]
    cold: tuple[int, int]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@contextmanager
def workload(hot_mib: int = 8, cold_mib: int = 64) -> Iterator[Workload]:
    """A child with a known hot and cold area (see workload.py)."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "workload.py"), str(hot_mib), str(cold_mib)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        yield Workload(proc, info["pid"], tuple(info["hot"]), tuple(info["cold"]))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_until(pred, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# ------------------------------------------------------------------------- kernels


def kernel_name() -> str:
    """The tier's descriptor name for this guest's kernel (tests/vm/kernels)."""
    return os.environ.get("DAMONTUI_VM_KERNEL_NAME", "")


def kernel_version() -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


EXCLUSIVE_MODULES = ("damon_stat", "damon_reclaim", "damon_lru_sort")


def module_param(mod: str, name: str) -> str | None:
    try:
        return read(f"/sys/module/{mod}/parameters/{name}")
    except OSError:
        return None


def module_enabled(mod: str) -> bool:
    return module_param(mod, "enabled") == "Y"


def set_module(mod: str, on: bool, timeout: float = 30) -> None:
    """Turn an in-kernel DAMON module on or off, as a user would
    (echo Y|N > /sys/module/MOD/parameters/enabled), and wait for its kdamond."""
    _guard()
    write(f"/sys/module/{mod}/parameters/enabled", "Y" if on else "N")

    def settled() -> bool:
        if module_enabled(mod) != on:
            return False
        pid = module_param(mod, "kdamond_pid")
        return pid is None or (pid not in ("-1", "0")) == on

    if not wait_until(settled, timeout):
        raise RuntimeError(f"{mod} did not turn {'on' if on else 'off'} within {timeout}s")


def exclusive_modules_off() -> list[str]:
    """Turn off every enabled exclusive DAMON module (what a user does before using
    DAMON sysfs); returns the ones that were on."""
    was_on = [m for m in EXCLUSIVE_MODULES if module_enabled(m)]
    for m in was_on:
        set_module(m, False)
    return was_on


# ------------------------------------------------------------------------- issue 8's workload


@dataclass
class AreasWorkload:
    proc: subprocess.Popen
    pid: int
    areas: list[tuple[int, int]]
    hot: list[int]
    counter: Path

    @property
    def cold(self) -> list[int]:
        return [i for i in range(len(self.areas)) if i not in self.hot]

    def sweeps(self) -> int:
        import struct

        return struct.unpack("<Q", self.counter.read_bytes()[:8])[0]

    def touch_rate(self, seconds: float) -> float:
        """Sweeps per second over the next `seconds` (each sweep touches every hot page)."""
        a, t0 = self.sweeps(), time.monotonic()
        time.sleep(seconds)
        return (self.sweeps() - a) / (time.monotonic() - t0)


@contextmanager
def areas_workload(
    tmpdir: Path, nr: int = 6, mib: int = 8, hot: Iterable[int] = (1, 4)
) -> Iterator[AreasWorkload]:
    """Six separate 8 MiB areas, two (1 and 4) touched constantly (workload_areas.py)."""
    counter = Path(tmpdir) / "sweeps"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "workload_areas.py"),
            str(counter),
            str(nr),
            str(mib),
            ",".join(str(i) for i in hot),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        yield AreasWorkload(
            proc, info["pid"], [tuple(a) for a in info["areas"]], list(info["hot"]), counter
        )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
