"""process_madvise(2) actions on a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from damontui.backends.engine.actions import PidActions, parse_vmas
from damontui.backends.engine.engine import Engine
from damontui.backends.engine.sources.smaps import SmapsSource
from damontui.model import Action, MonitoringAttrs, Scheme, Target, TargetKind

SIZE = 32 << 20

CHILD = r"""
import mmap, sys
path = sys.argv[1]
f = open(path, "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
total = sum(m[off] for off in range(0, len(m), 4096))  # fault every page in
start = [l.split()[0] for l in open("/proc/self/maps").read().splitlines() if l.endswith(path)]
print(start[0], flush=True)
sys.stdin.readline()
"""


def rss_file_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    raise AssertionError("no RssFile in status")


@pytest.fixture
def child(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    """A process with a 32 MiB file mapping whose pages it has all touched."""
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(SIZE))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    start_s, end_s = proc.stdout.readline().strip().split("-")
    try:
        yield proc, int(start_s, 16), int(end_s, 16)
    finally:
        proc.kill()
        proc.wait()


def _skip_if_refused(error: str | None) -> None:
    if error and ("EPERM" in error or "ENOSYS" in error):
        print(f"skipping: the kernel refused process_madvise: {error}")
        pytest.skip(f"kernel refused process_madvise: {error}")


def test_pageout_drops_child_rss(child: tuple[subprocess.Popen[str], int, int]) -> None:
    proc, start, end = child
    before = rss_file_kb(proc.pid)
    assert before >= SIZE // 1024 * 0.9, "the child touched its mapping"
    actions = PidActions(proc.pid)
    try:
        applied, error = actions.apply(Action.PAGEOUT, [(start, end)])
    finally:
        actions.close()
    _skip_if_refused(error)
    assert error is None and applied == end - start
    after = rss_file_kb(proc.pid)
    assert after < before - SIZE // 1024 // 2, (before, after)


def test_failing_call_is_reported_with_errno(child: tuple[subprocess.Popen[str], int, int]) -> None:
    proc, start, end = child
    actions = PidActions(proc.pid)
    try:
        # Nothing is mapped at page 1: the kernel answers ENOMEM.
        applied, error = actions.apply(Action.COLD, [(4096, 8192)])
        _skip_if_refused(error)
        assert applied == 0
        assert error is not None
        assert f"cold on pid {proc.pid} failed: process_madvise [0x1000, 0x2000): ENOMEM" in error
        # The mapped range after it still goes through.
        applied, error = actions.apply(Action.COLD, [(4096, 8192), (start, end)])
        assert applied == end - start
    finally:
        actions.close()


def test_engine_pageout_scheme_on_child(child: tuple[subprocess.Popen[str], int, int]) -> None:
    proc, start, end = child
    before = rss_file_kb(proc.pid)
    target = Target(TargetKind.PID, pid=proc.pid, ranges=((start, end),))
    attrs = MonitoringAttrs(sample_us=1_000, aggr_us=10_000, update_us=100_000)
    errors: list[str] = []
    engine = Engine(
        [(target, SmapsSource(proc.pid))], attrs, [Scheme(Action.PAGEOUT)], on_error=errors.append
    )
    try:
        snap = engine.run_for(30_000)
    finally:
        engine.close()
    _skip_if_refused(errors[0] if errors else None)
    assert not errors
    stats = snap.scheme_stats[0]
    assert stats.sz_applied >= end - start  # every region of the mapping, each aggregation
    assert rss_file_kb(proc.pid) < before - SIZE // 1024 // 2


def test_parse_vmas_classifies_anonymous_mappings() -> None:
    text = (
        "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/prog\n"
        "00e03000-00e24000 rw-p 00000000 00:00 0 [heap]\n"
        "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n"
        "7f0000100000-7f0000200000 rw-p 00000000 00:00 0 [anon:cache]\n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
        "7ffd000fe000-7ffd00100000 r-xp 00000000 00:00 0 [vdso]\n"
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n"
    )
    assert [anon for _, _, anon in parse_vmas(text)] == [False, True, True, True, True, False]


def test_pid_pieces_split_at_vmas_and_gaps(child: tuple[subprocess.Popen[str], int, int]) -> None:
    proc, start, end = child
    actions = PidActions(proc.pid)
    pieces = actions.pieces(start - 4096 * 4, end)
    mapped = [p for p in pieces if p.mapped]
    assert any(p.start == start and p.end == end and not p.anon for p in mapped)
    assert sum(p.end - p.start for p in pieces) == end - start + 4096 * 4


def test_einval_names_the_range_and_is_not_retried(
    child: tuple[subprocess.Popen[str], int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from damontui.backends.engine import actions as actions_mod

    proc, start, end = child
    calls: list[list[tuple[int, int]]] = []

    def refuse(pidfd: int, ranges: list[tuple[int, int]], advice: int) -> int:
        calls.append(list(ranges))
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(actions_mod, "process_madvise", refuse)
    actions = PidActions(proc.pid)
    try:
        applied, error = actions.apply(Action.PAGEOUT, [(start, end)])
        assert applied == 0 and error is not None
        assert f"process_madvise [{start:#x}, {end:#x}) (not retried): EINVAL" in error
        assert actions.apply(Action.PAGEOUT, [(start, end)]) == (0, None)
        assert len(calls) == 1
        actions.apply(Action.COLD, [(start, end)])  # another action may still work
        assert len(calls) == 2
    finally:
        actions.close()
