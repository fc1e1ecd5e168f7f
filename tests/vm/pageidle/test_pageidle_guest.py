"""The page-granular sources on a real page-idle kernel (runs only in that guest).

The workload (workload.py) has six 8 MiB areas; areas 1 and 4 are touched all the
time, the others were written once. At the default intervals (5 ms / 100 ms) the
engine must find the hot areas (>= 30 % access) and the cold ones (<= 5 %), and keep
up with wall time, with huge pages off and on (with THP only the head page of a huge
page is tracked: the sampler checks the head).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import guestkit
import pytest

from damontui.model import Target, TargetKind

SECONDS = float(os.environ.get("DAMONTUI_PAGEIDLE_SECONDS", "25"))
HOT_MIN, COLD_MAX = 30.0, 5.0


def _pid(w: guestkit.Workload) -> list[Target]:
    return [Target(TargetKind.PID, pid=w.pid)]


def _converged(w: guestkit.Workload):  # noqa: ANN202
    def done(run: guestkit.EngineRun) -> bool:
        if len(run.snapshots) < 60:  # at least 6 s of monitoring
            return False
        pct = run.area_percents(w.areas)
        return all(pct[i] >= HOT_MIN + 10 for i in w.hot) and all(
            pct[i] <= COLD_MAX / 2 for i in w.cold
        )

    return done


def _report(name: str, w: guestkit.Workload, run: guestkit.EngineRun) -> list[float]:
    pct = run.area_percents(w.areas)
    print(
        f"\n[pageidle] {name}: areas "
        + " ".join(f"{i}{'*' if i in w.hot else ''}={p:.0f}%" for i, p in enumerate(pct))
        + f"; {run.elapsed_s:.1f} s monitored in {run.wall_s:.1f} s wall"
        f" ({100 * run.keeps_up:.0f} %); engine thread CPU {run.cpu_s:.2f} s"
        f" ({100 * run.cpu_s / run.wall_s:.1f} % of a core); {run.info}; errors {run.errors}"
    )
    return pct


# "Keeps up": monitoring time over wall time. The guest is emulated (TCG) on a host
# shared with other work, so a little slack; 13 s in 30 s was the failure this guards.
KEEPS_UP = 0.8


def _check(
    w: guestkit.Workload, run: guestkit.EngineRun, pct: list[float], keep_up: bool = True
) -> None:
    for i in w.hot:
        assert pct[i] >= HOT_MIN, f"hot area {i} read {pct[i]:.1f} %"
    for i in w.cold:
        assert pct[i] <= COLD_MAX, f"cold area {i} read {pct[i]:.1f} %"
    if keep_up:
        assert run.keeps_up >= KEEPS_UP, f"fell behind: {run.elapsed_s:.1f} s in {run.wall_s:.1f} s"
    assert not _problems(run), run.errors


def _problems(run: guestkit.EngineRun) -> list[str]:
    """Messages other than the lag note (one late wake-up under emulation is enough
    for it; keeping up is checked from monitoring vs wall time instead)."""
    return [e for e in run.errors if "running behind" not in e]


# At the default intervals (5 ms sampling) and no budget: the engine takes ~12 % of a
# vCPU here (it took ~40 % and starved the workload before the sampler's windows and
# block cache; this was an expected failure until then).
@pytest.mark.parametrize("thp_mode", ["off", "on"])
def test_pageidle_finds_hot_areas(thp, thp_mode: str) -> None:  # noqa: ANN001
    thp("always" if thp_mode == "on" else "madvise")
    with guestkit.workload("--thp", thp_mode) as w:
        run = guestkit.run_engine(_pid(w), "pageidle", SECONDS, until=_converged(w))
        pct = _report(f"pageidle THP {thp_mode}", w, run)
    _check(w, run, pct)


def test_pageidle_finds_hot_areas_of_the_compiled_workload(thp) -> None:  # noqa: ANN001
    # workload.c: the same areas without an interpreter (bench_engine_vs_kernel's
    # default workload); at the default intervals, without a budget, like the bench
    thp("madvise")
    with guestkit.workload("--thp", "off", program="c") as w:
        assert len(w.areas) == 6 and w.hot == [1, 4]
        run = guestkit.run_engine(_pid(w), "pageidle", SECONDS, until=_converged(w))
        pct = _report("pageidle, compiled workload", w, run)
    _check(w, run, pct)


@pytest.mark.parametrize("thp_mode", ["off", "on"])
def test_softdirty_finds_written_areas(thp, thp_mode: str) -> None:  # noqa: ANN001
    thp("always" if thp_mode == "on" else "madvise")
    with guestkit.workload("--thp", thp_mode) as w:
        # clear_refs walks the whole process at every sampling interval: at 5 ms that
        # is most of a core under emulation, so this runs under the default budget
        # (adapted intervals reach ~1 s / 20 s: give the regions time to settle)
        run = guestkit.run_engine(
            _pid(w), "softdirty", SECONDS * 2.4, until=_converged(w), cpu_budget=2.0
        )
        pct = _report(f"softdirty THP {thp_mode}, default budget", w, run)
    _check(w, run, pct, keep_up=False)


def test_softdirty_misses_reads_pageidle_sees_them() -> None:
    with guestkit.workload("--access", "read") as w:
        # under the default budget (at 5 ms under TCG see the xfail above)
        idle = guestkit.run_engine(_pid(w), "pageidle", SECONDS * 2, cpu_budget=2.0)
        idle_pct = _report("pageidle, read-only workload", w, idle)
        dirty = guestkit.run_engine(_pid(w), "softdirty", 8, cpu_budget=2.0)
        dirty_pct = _report("softdirty, read-only workload", w, dirty)
    _check(w, idle, idle_pct, keep_up=False)
    assert max(dirty_pct) <= COLD_MAX, "soft-dirty saw reads"


def test_pageidle_under_the_default_cpu_budget() -> None:
    """At the default budget (2 % of a core) the engine adapts its intervals, stays
    under the budget once adapted (the last 15 s), and still tells hot from cold."""
    from damontui.backends.engine.budget import DEFAULT_CPU_BUDGET

    with guestkit.workload("--thp", "off") as w:
        run = guestkit.run_engine(_pid(w), "pageidle", 60, cpu_budget=DEFAULT_CPU_BUDGET)
    end = run.snapshots[-1].elapsed_us
    late = [s for s in run.snapshots if s.elapsed_us >= end - 15e6]
    wall = late[-1].timestamp - late[0].timestamp
    cpu = [s.cpu_percent for s in late[1:]]
    use = sum(cpu) / len(cpu) if cpu else float("inf")
    pct = run.area_percents(w.areas, last_s=15)
    print(
        f"\n[pageidle] default budget: {run.info}; last {wall:.0f} s: {use:.2f} % of a core; "
        f"areas " + " ".join(f"{i}{'*' if i in w.hot else ''}={p:.0f}%" for i, p in enumerate(pct))
    )
    assert "cpu budget 2 %" in run.info
    assert run.attrs.sample_us > 5000 or run.attrs.max_nr_regions < 1000, run.info
    assert use <= DEFAULT_CPU_BUDGET * 1.25, f"{use:.2f} % over the {DEFAULT_CPU_BUDGET} % budget"
    _check(w, run, pct, keep_up=False)


def test_huge_page_tails_resolve_to_heads(thp) -> None:  # noqa: ANN001
    """With THP on, the sampler reads kpageflags and checks heads instead of tails."""
    from damontui.backends.engine import sampler
    from damontui.backends.engine.regionset import Regions, make_rng
    from damontui.backends.engine.sources.pageidle import PageIdleSource

    thp("always")
    with guestkit.workload("--thp", "on") as w:
        src = PageIdleSource(pid=w.pid)
        s = src.make_sampler(sampler.impl)
        cold = w.areas[w.cold[0]]
        r = Regions.from_ranges([cold], 64, 4096)
        assert sampler.impl.prepare(s, r, make_rng(5))[0] == 0
        heads = {pfn for pfn, _ in s.prepared_pfns()}
        counters = s.counters()
        src.close()
    # 8 MiB in huge pages = 4 heads; 64 samples must all land on one of them
    assert counters["thp_heads"] > 0, counters
    assert len(heads) <= 4, heads
    assert all(p % 512 == 0 for p in heads), heads


def test_physical_memory_via_pageidle() -> None:
    """paddr: the PFNs behind the hot areas read accessed, those behind cold ones idle."""
    from damontui.backends.engine import sampler
    from damontui.backends.engine.regionset import Regions, make_rng
    from damontui.backends.engine.sources.pageidle import PageIdleSource
    from damontui.backends.engine.sources.softdirty import open_pagemap, read_entries

    with guestkit.workload("--thp", "off") as w:
        fd = open_pagemap("/proc", w.pid)
        pages = {}
        for i, (a, b) in enumerate(w.areas):
            from array import array

            addrs = array("Q", range(a, b, 64 * 4096))
            entries = read_entries(fd, "pagemap", addrs, 4096)
            pages[i] = sorted(e & ((1 << 55) - 1) for e in entries if e >> 63)
        os.close(fd)
        src = PageIdleSource(pid=None)
        assert src.target_ranges(), "no System RAM in /proc/iomem"
        s = src.make_sampler(sampler.impl)
        # one single-page region per sampled PFN: the sample is that PFN
        pfns = sorted({p for ps in pages.values() for p in ps})
        r = Regions.from_tuples([(p * 4096, p * 4096 + 4096) for p in pfns])
        rng = make_rng(1)
        sampler.impl.prepare(s, r, rng)
        done, st, *_ = sampler.impl.run(
            [s], [r], [rng], 20, 5_000_000, time.monotonic_ns(), sampler.impl.StopFlag()
        )
        src.close()
    assert done == 20 and st[0][0] == 0, st
    hit = dict(zip(pfns, r.nr_accesses, strict=True))

    def pct(i: int) -> float:
        return 100.0 * sum(hit[p] for p in pages[i]) / (20 * len(pages[i]))

    print("\n[pageidle] paddr per area: " + " ".join(f"{i}={pct(i):.0f}%" for i in pages))
    # a hot page is touched once per sweep of the two hot areas (tens of ms under
    # emulation), so it reads accessed in a good share of 5 ms intervals, a cold one never
    assert all(pct(i) >= 15 for i in w.hot)
    assert all(pct(i) <= COLD_MAX for i in w.cold)


def test_paddr_engine_runs_and_keeps_up() -> None:
    with guestkit.workload("--thp", "off"):
        run = guestkit.run_engine([Target(TargetKind.PADDR)], "pageidle", 8)
    print(f"\n[pageidle] paddr engine: {run.elapsed_s:.1f} s in {run.wall_s:.1f} s wall")
    assert not _problems(run), run.errors
    assert run.snapshots and run.snapshots[-1].nr_regions >= 10
    assert run.keeps_up >= 0.9


def test_target_exits_mid_check() -> None:
    """The workload dies while the compiled loop samples it: a message, no traceback."""
    with guestkit.workload("--thp", "off") as w:
        import threading

        threading.Timer(3.0, w.proc.kill).start()
        run = guestkit.run_engine(_pid(w), "pageidle", 6)
    assert any(f"pid {w.pid} exited" in e for e in run.errors), run.errors
    assert not any("failed" in e for e in run.errors), run.errors


def test_no_root_gets_a_clear_message() -> None:
    # The guest's / is an overlay whose writes vanish: let "nobody" reach the
    # interpreter and the checkout under /root (0700 on the host).
    if not os.stat("/root").st_mode & 0o001:
        os.chmod("/root", 0o711)
    with guestkit.workload("--thp", "off") as w:
        code = (
            "import sys\n"
            "from damontui.backends.base import BackendError\n"
            "from damontui.backends.engine.backend import EngineBackend\n"
            "from damontui.model import Target, TargetKind\n"
            "for src in ('pageidle', None):\n"
            "    try:\n"
            f"        b = EngineBackend([Target(TargetKind.PID, pid={w.pid})], source=src)\n"
            "        print('OK', src, b.info.source, b.info.notes)\n"
            "    except BackendError as e:\n"
            "        print('ERR', src, e)\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            user=65534,
            group=65534,
            env={**os.environ, "HOME": "/tmp"},
        )
    print(f"\n[pageidle] as nobody: {res.stdout.strip()} {res.stderr.strip()[-500:]}")
    assert res.returncode == 0 and "Traceback" not in res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("ERR pageidle") and "root" in lines[0]
