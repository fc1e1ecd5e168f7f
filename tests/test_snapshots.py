"""SVG snapshots of the main screens on the engine's synthetic workload.

Deterministic: fixed seed, the engine driven synchronously in simulated time
(no thread, so its CPU% is 0), no clock on screen. Regenerate with
`pytest tests/test_snapshots.py --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from damontui.backends.engine.backend import EngineBackend
from damontui.model import (
    AccessPattern,
    Action,
    BackendInfo,
    MonitoringAttrs,
    Range,
    Scheme,
    Target,
    TargetKind,
)
from damontui.model.units import U32_MAX
from damontui.tui.app import DamonApp
from damontui.tui.messages import PreviewPattern

SIZES = {"80x24": (80, 24), "160x50": (160, 50)}
ATTRS = MonitoringAttrs(min_nr_regions=10, max_nr_regions=200)


IDLE = AccessPattern(nr_accesses=Range(0, 0))
COLD_STAT = Scheme(Action.STAT, AccessPattern(nr_accesses=Range(0, 0), age=Range(10, U32_MAX)),
                   name="cold-stat")  # fmt: skip


class SteadyInfo(EngineBackend):
    """The engine with a header that does not depend on how it was built (the
    compiled kernels or their pure-Python twin)."""

    @property
    def info(self) -> BackendInfo:
        return replace(super().info, features=())


def make_app(pattern: str = "stairs", schemes: tuple[Scheme, ...] = ()) -> DamonApp:
    target = Target(TargetKind.SYNTHETIC, name=pattern)
    backend = SteadyInfo([target], attrs=ATTRS, schemes=schemes, seed=7, realtime=False)
    return DamonApp(
        backend,
        refresh_s=1.0,
        autostart=False,
        theme="damon-dark",
        notes=("no kernel DAMON usable: user-space engine on synthetic workload",),
    )


def feeding(snapshots: int, *keys: str, preview: AccessPattern | None = None
            ) -> Callable[..., Awaitable[None]]:  # fmt: skip
    """run_before: advance the engine `snapshots` aggregations, show them, press keys."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app: DamonApp = pilot.app
        backend = app.backend
        assert isinstance(backend, EngineBackend)
        for _ in range(snapshots):
            snap = backend.run_for(ATTRS.aggr_us)
            assert snap is not None
            app.ingest(snap)
        app.render_latest()  # the refresh timer would draw it a second later
        if preview is not None:
            app.post_message(PreviewPattern(preview))
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_regions_screen(snap_compare, size: str) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), run_before=feeding(60), terminal_size=SIZES[size])


@pytest.mark.parametrize("size", SIZES)
def test_heatmap_screen(snap_compare, size: str) -> None:  # type: ignore[no-untyped-def]
    run = feeding(160, "2", preview=IDLE)
    assert snap_compare(make_app(), run_before=run, terminal_size=SIZES[size])


@pytest.mark.parametrize("size", SIZES)
def test_heatmap_temperature_order(snap_compare, size: str) -> None:  # type: ignore[no-untyped-def]
    run = feeding(160, "2", "o")
    assert snap_compare(make_app("phases"), run_before=run, terminal_size=SIZES[size])


@pytest.mark.parametrize("size", SIZES)
def test_histograms_screen(snap_compare, size: str) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), run_before=feeding(120, "3"), terminal_size=SIZES[size])


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, size: str) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), run_before=feeding(5, "question_mark"),
                        terminal_size=SIZES[size])  # fmt: skip


@pytest.mark.parametrize("size", SIZES)
def test_schemes_with_preview(snap_compare, size: str) -> None:  # type: ignore[no-untyped-def]
    """Wide: the panel beside the regions; 80x24: the panel takes the body and the
    status line keeps the preview's matched regions and bytes."""
    app = make_app(schemes=(COLD_STAT,))
    run = feeding(40, "4", preview=COLD_STAT.access_pattern)
    assert snap_compare(app, run_before=run, terminal_size=SIZES[size])
