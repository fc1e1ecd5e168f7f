"""Helpers for the tests that run in the page-idle guest (tests/vm/pageidle/).

Those tests run only inside the guest booted with the kernel of build.sh: on the host,
or in a stock-kernel guest, ``guest_problem()`` names why they skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RELEASE_SUFFIX = "-damontui-pageidle"
BITMAP = Path("/sys/kernel/mm/page_idle/bitmap")
THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def guest_problem() -> str | None:
    """Why this is not the page-idle guest, or None if it is."""
    if os.environ.get("DAMONTUI_IN_VM") != "1":
        return "runs only inside the page-idle VM guest (tests/test_vm_pageidle.py boots it)"
    release = os.uname().release
    if not release.endswith(RELEASE_SUFFIX):
        return f"runs only in the page-idle guest kernel (*{RELEASE_SUFFIX}), not {release}"
    if not BITMAP.exists():
        return f"{BITMAP} missing although the kernel is {release}"
    return None


def thread_cpu_seconds(tid: int) -> float:
    """utime+stime of one thread of this process (or of any pid, e.g. a kdamond)."""
    path = Path(f"/proc/self/task/{tid}/stat")
    if not path.exists():
        path = Path(f"/proc/{tid}/stat")
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Workload:
    proc: subprocess.Popen[str]
    pid: int
    areas: list[tuple[int, int]]
    hot: list[int]

    @property
    def cold(self) -> list[int]:
        return [i for i in range(len(self.areas)) if i not in self.hot]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def workload_c_program() -> Path:
    """workload.c compiled with gcc (once per source: the binary is keyed by its hash)."""
    import hashlib
    import shutil
    import tempfile

    src = HERE / "workload.c"
    key = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    exe = Path(tempfile.gettempdir()) / f"damontui-workload-{key}"
    if not exe.exists():
        gcc = shutil.which("gcc") or shutil.which("cc")
        if gcc is None:
            raise RuntimeError("workload.c needs gcc (or cc) on PATH")
        tmp = exe.with_suffix(f".{os.getpid()}")
        subprocess.run([gcc, "-O2", "-o", str(tmp), str(src)], check=True)
        tmp.replace(exe)
    return exe


@contextmanager
def workload(*args: str, program: str = "python") -> Iterator[Workload]:
    """Start workload.py (``program="c"``: workload.c) with ``args``; kill it afterwards."""
    cmd = (
        [str(workload_c_program())]
        if program == "c"
        else [sys.executable, str(HERE / "workload.py")]
    )
    proc = subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"workload.py {' '.join(args)} exited ({proc.wait()})")
        info = json.loads(line)
        w = Workload(proc, info["pid"], [tuple(a) for a in info["areas"]], info["hot"])
        yield w
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def set_thp(mode: str) -> str:
    """Write the THP mode ("always"/"madvise"/"never"); return the previous one."""
    old = THP_ENABLED.read_text().split("[", 1)[1].split("]", 1)[0]
    THP_ENABLED.write_text(mode)
    return old


def area_percent(snapshot, start: int, end: int) -> float:  # noqa: ANN001 - model Snapshot
    """Size-weighted mean access (% of max_nr_accesses) of [start, end) in a snapshot."""
    total = weighted = 0
    for t in snapshot.targets:
        for s, e, nr in zip(t.starts, t.ends, t.nr_accesses, strict=True):
            lo, hi = max(s, start), min(e, end)
            if lo < hi:
                total += hi - lo
                weighted += (hi - lo) * nr
    if not total:
        return 0.0
    return 100.0 * weighted / total / snapshot.max_nr_accesses


@dataclass
class EngineRun:
    snapshots: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    elapsed_s: float = 0.0
    info: str = ""
    attrs: object = None  # the MonitoringAttrs in force at the end

    def area_percents(self, areas: Sequence[tuple[int, int]], last_s: float = 3.0) -> list[float]:
        """Per area, its mean access over the snapshots of the last ``last_s`` seconds."""
        if not self.snapshots:
            return [0.0] * len(areas)
        end = self.snapshots[-1].elapsed_us
        recent = [s for s in self.snapshots if s.elapsed_us >= end - last_s * 1e6]
        return [sum(area_percent(s, a, b) for s in recent) / len(recent) for a, b in areas]

    @property
    def keeps_up(self) -> float:
        """Monitoring time over wall time (1.0: no sampling interval lost)."""
        return self.elapsed_s / self.wall_s if self.wall_s else 0.0


def run_engine(
    targets: Sequence,
    source: str,
    seconds: float,
    attrs=None,  # noqa: ANN001
    schemes=(),  # noqa: ANN001
    until=None,  # noqa: ANN001
    cpu_budget: float | None = None,
) -> EngineRun:
    """Run damontui's engine (its own thread, real time) for ``seconds``; no CPU budget
    unless one is given (tests at the default intervals must keep those intervals)."""
    from damontui.backends.engine.backend import EngineBackend

    backend = EngineBackend(
        list(targets), source=source, attrs=attrs, schemes=schemes, cpu_budget=cpu_budget
    )
    run = EngineRun(info=backend.info.source)
    lock = threading.Lock()

    def on_snapshot(s) -> None:  # noqa: ANN001
        with lock:
            run.snapshots.append(s)

    backend.start(on_snapshot, run.errors.append)
    thread = backend._thread
    assert thread is not None and thread.native_id is not None
    tid = thread.native_id
    cpu0, t0 = thread_cpu_seconds(tid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(0.2)
        if until is not None and until(run):
            break
    cpu1 = thread_cpu_seconds(tid)
    run.wall_s = time.monotonic() - t0
    run.info = backend.info.source + "; " + "; ".join(backend.info.features)
    run.attrs = backend._engine.attrs
    backend.close()
    run.cpu_s = cpu1 - cpu0
    run.elapsed_s = backend._engine.elapsed_us / 1e6
    return run


def unidle_shared_files(pid: int) -> tuple[int, int]:
    """Clear PG_idle on the resident pages of the files ``pid`` maps; (pages, were idle).

    A page set idle stays idle until an rmap walk finds it young (with MGLRU, reading
    the file does not clear it), and every monitor sets the pages it samples idle
    (kernel DAMON too: damon_ptep_mkold). File pages (Python, libc) are shared by the
    workloads of successive runs, so without this a run would pay for the previous
    runs' leftovers: reading a bitmap word walks the rmap of every idle page in it.
    Here each resident page is mapped and touched by this process (a young PTE), then
    its word is read: the walk finds the young PTE and clears the flag."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    paths: list[str] = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/") and parts[5] not in paths:
            paths.append(parts[5])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    )
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    total = idle = 0
    with (
        open("/proc/self/pagemap", "rb", buffering=0) as pm,
        open("/proc/kpageflags", "rb", buffering=0) as kpf,
        open(BITMAP, "rb", buffering=0) as bm,
    ):
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue  # deleted or unreadable: nothing shared to reset
            try:
                size = os.fstat(fd).st_size
                start = (
                    libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0) if size else None
                )
            finally:
                os.close(fd)
            if not start or start == ctypes.c_void_p(-1).value:
                continue
            try:
                n = (size + page - 1) // page
                vec = ctypes.create_string_buffer(n)
                if libc.mincore(start, size, vec) != 0:
                    continue
                pfns = set()
                for i, resident in enumerate(vec.raw):
                    if resident & 1:  # touch only what is cached: never read from disk
                        ctypes.string_at(start + i * page, 1)
                        pm.seek((start // page + i) * 8)
                        e = int.from_bytes(pm.read(8), "little")
                        if e >> 63:
                            pfns.add(e & ((1 << 55) - 1))
                for pfn in sorted(pfns):
                    kpf.seek(pfn * 8)
                    idle += (int.from_bytes(kpf.read(8), "little") >> 25) & 1  # KPF_IDLE
                for word in sorted({p // 64 for p in pfns}):
                    bm.seek(word * 8)
                    bm.read(8)  # walks each idle page: our PTE is young, so it is cleared
                total += len(pfns)
            finally:
                libc.munmap(start, size)
    return total, idle
