"""Real process targets: monitoring a child with the smaps source, and its exit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from damontui.backends.engine.engine import Engine
from damontui.backends.engine.sources.smaps import SmapsSource
from damontui.backends.engine.sources.synthetic import SyntheticSource
from damontui.model import MonitoringAttrs, Snapshot, Target, TargetKind

# Keeps touching a 16 MiB buffer until told to exit.
CHILD = r"""
import sys, select
buf = bytearray(16 << 20)
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    for off in range(0, len(buf), 4096):
        buf[off] = (buf[off] + 1) & 0xFF
"""

ATTRS = MonitoringAttrs(sample_us=1_000, aggr_us=10_000, update_us=50_000)


def paced(engine: Engine, steps: int) -> None:
    """Step with real time passing (a real source needs it between prepare and check)."""
    for _ in range(steps):
        time.sleep(ATTRS.sample_us / 1e6)
        engine.sample_step()


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_child_exit_drops_target_and_reports(child: subprocess.Popen[str]) -> None:
    errors: list[str] = []
    snaps: list[Snapshot] = []
    synthetic = Target(TargetKind.SYNTHETIC, name="other")
    engine = Engine(
        [
            (Target(TargetKind.PID, pid=child.pid), SmapsSource(child.pid)),
            (synthetic, SyntheticSource("hotcold", size=16 << 20)),
        ],
        ATTRS,
        on_snapshot=snaps.append,
        on_error=errors.append,
    )
    paced(engine, 50)
    assert [t.target.kind for t in snaps[-1].targets] == [TargetKind.PID, TargetKind.SYNTHETIC]
    assert sum(snaps[-1].targets[0].nr_accesses) > 0, "the busy child is seen accessing"
    child.kill()
    child.wait()
    engine.run_for(50_000)  # must not raise
    expected = f"pid {child.pid} exited; monitoring stopped for it"
    assert errors == [expected]
    assert sum(expected in s.messages for s in snaps) == 1  # said once, in one snapshot
    assert [t.target for t in snaps[-1].targets] == [synthetic]  # the other target goes on
    assert snaps[-1].seq == 10


def test_engine_keeps_running_without_targets(
    child: subprocess.Popen[str],
) -> None:
    errors: list[str] = []
    engine = Engine(
        [(Target(TargetKind.PID, pid=child.pid), SmapsSource(child.pid))],
        ATTRS,
        on_error=errors.append,
    )
    engine.run_for(20_000)
    child.kill()
    child.wait()
    snap = engine.run_for(60_000)
    assert snap is not None and snap.targets == ()
    assert errors == [f"pid {child.pid} exited; monitoring stopped for it"]
    assert engine.targets == []
