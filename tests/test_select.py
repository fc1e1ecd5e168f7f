"""Backend selection: explicit choices, fallbacks and the notes that explain them."""

from __future__ import annotations

import pytest

from damontui.backends.base import BackendError
from damontui.backends.select import BackendRequest, open_backend
from damontui.model import BackendInfo, Target, TargetKind


class Stub:
    def __init__(self, kind: str, target: Target) -> None:
        self.kind, self.target = kind, target

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(backend=self.kind, source=self.target.label, notes=("own note",))


def factories(kernel_ok: bool, engine_ok: set[TargetKind]):
    calls: list[tuple[str, Target]] = []

    def kernel(request: BackendRequest, target: Target) -> Stub:
        calls.append(("kernel", target))
        if not kernel_ok:
            raise BackendError("kdamond.0 (pid 71, paddr) is running")
        return Stub("kernel", target)

    def engine(request: BackendRequest, target: Target) -> Stub:
        calls.append(("engine", target))
        if target.kind not in engine_ok:
            raise BackendError("page idle tracking unavailable")
        return Stub("engine", target)

    return calls, engine, kernel


ALL = {TargetKind.SYNTHETIC, TargetKind.PID, TargetKind.PADDR}


def test_auto_without_target_prefers_kernel_on_physical_memory() -> None:
    calls, engine, kernel = factories(True, ALL)
    backend = open_backend(BackendRequest(), engine, kernel)
    assert backend.info.backend == "kernel"
    assert calls == [("kernel", Target(TargetKind.PADDR))]


def test_auto_falls_back_to_synthetic_with_notes_when_nothing_works(tmp_path) -> None:
    calls, engine, kernel = factories(False, {TargetKind.SYNTHETIC})
    request = BackendRequest(synthetic_pattern="stairs", sysfs_root=str(tmp_path / "none"))
    backend = open_backend(request, engine, kernel)
    info = backend.info
    assert info.backend == "engine" and info.source == "synthetic:stairs"
    assert "kernel DAMON not used: kdamond.0 (pid 71, paddr) is running" in info.notes[0]
    assert "page idle tracking unavailable" in info.notes[1]
    assert "synthetic workload" in info.notes[2]
    assert info.notes[-1] == "own note"


def test_busy_kernel_note_names_the_running_kdamond(tmp_path) -> None:
    root = tmp_path / "admin"
    for index, state in (("0", "off"), ("1", "on")):
        kdamond = root / "kdamonds" / index
        kdamond.mkdir(parents=True)
        (kdamond / "state").write_text(state + "\n")
        (kdamond / "pid").write_text("71\n" if state == "on" else "-1\n")
    (root / "kdamonds" / "nr_kdamonds").write_text("2\n")
    calls, engine, kernel = factories(False, ALL)
    backend = open_backend(BackendRequest(sysfs_root=str(root)), engine, kernel)
    assert backend.info.notes[0] == (
        "kernel DAMON busy: kdamond.1 runs and is not damontui's "
        "(view it read-only: damontui --kdamond 1)"
    )


def test_auto_pid_uses_engine_when_kernel_busy() -> None:
    calls, engine, kernel = factories(False, ALL)
    pid = Target(TargetKind.PID, pid=1234)
    backend = open_backend(BackendRequest(target=pid), engine, kernel)
    assert backend.info.backend == "engine"
    assert calls == [("kernel", pid), ("engine", pid)]


def test_auto_pid_raises_when_neither_can_monitor_it() -> None:
    calls, engine, kernel = factories(False, {TargetKind.SYNTHETIC})
    with pytest.raises(BackendError, match="kdamond.0.*user-space engine: page idle"):
        open_backend(BackendRequest(target=Target(TargetKind.PADDR)), engine, kernel)


def test_explicit_choices() -> None:
    calls, engine, kernel = factories(True, ALL)
    assert open_backend(BackendRequest(backend="engine"), engine, kernel).info.source == (
        "synthetic:hotcold"
    )
    assert open_backend(BackendRequest(backend="kernel"), engine, kernel).info.backend == "kernel"
    with pytest.raises(BackendError, match="synthetic workload runs only"):
        open_backend(
            BackendRequest(backend="kernel", target=Target(TargetKind.SYNTHETIC)), engine, kernel
        )
    with pytest.raises(BackendError, match="--backend"):
        open_backend(BackendRequest(backend="gpu"), engine, kernel)


def test_real_selection_on_this_machine_never_fails() -> None:
    """Whatever this machine offers, auto mode opens something and says why."""
    backend = open_backend(BackendRequest())
    try:
        assert backend.info.backend in {"engine", "kernel"}
    finally:
        if hasattr(backend, "close"):
            backend.close()


def test_notes_are_dropped_once_the_user_picks_another_target(tmp_path) -> None:
    calls, engine, kernel = factories(False, {TargetKind.SYNTHETIC})

    class Switchable(Stub):
        def set_targets(self, targets: list[Target]) -> None:
            self.target = targets[0]

    backend = open_backend(
        BackendRequest(sysfs_root=str(tmp_path)),
        lambda request, target: (
            Switchable("engine", target)
            if target.kind is TargetKind.SYNTHETIC
            else engine(request, target)
        ),
        kernel,
    )
    assert len(backend.info.notes) == 4
    backend.set_targets([Target(TargetKind.PID, pid=1)])
    assert backend.info.notes == ("own note",)
    assert backend.info.source == "pid 1"


def test_smaps_source_gets_longer_default_intervals() -> None:
    """On a real process with default intervals, smaps sampling slows to 50 ms."""
    import os

    from damontui.backends.select import _engine, stepper
    from damontui.model import MonitoringAttrs

    me = Target(TargetKind.PID, pid=os.getpid(), name="pytest")
    backend = _engine(BackendRequest(source="smaps"), me)
    try:
        assert backend.info.notes[0].startswith("smaps source: sampling every 50 ms")
        # applied at the engine's next step; the pending value is what set_attrs queued
        step = stepper(backend)
        assert step is not None
        step(1)
        assert backend.attrs().sample_us == 50_000 and backend.attrs().aggr_us == 1_000_000
    finally:
        backend.close()
    explicit = _engine(
        BackendRequest(source="smaps", attrs=MonitoringAttrs(sample_us=10_000, aggr_us=100_000)), me
    )
    try:
        assert explicit.attrs().sample_us == 10_000
    finally:
        explicit.close()


def test_take_over_goes_to_the_kernel_backend_with_the_users_confirmation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from damontui.backends import kernel

    calls: list[tuple[int, str]] = []

    def take_over(index: int, confirm: str, **kw: object) -> str:
        calls.append((index, confirm))
        return "taken"

    monkeypatch.setattr(kernel.KernelBackend, "take_over", staticmethod(take_over))
    assert open_backend(BackendRequest(kdamond=0, take_over="kdamond.0")) == "taken"
    assert calls == [(0, "kdamond.0")]
    with pytest.raises(BackendError, match="--take-over needs --kdamond"):
        open_backend(BackendRequest(take_over="kdamond.0"))


def test_take_over_with_a_wrong_name_is_refused_before_any_write(tmp_path) -> None:
    """The real check: a name that is not the kdamond's is refused (read-only path)."""
    root = tmp_path / "admin"
    kdamond = root / "kdamonds" / "0"
    kdamond.mkdir(parents=True)
    (root / "kdamonds" / "nr_kdamonds").write_text("1\n")
    (kdamond / "state").write_text("on\n")
    (kdamond / "pid").write_text("4242\n")
    before = {p: p.read_text() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(BackendError, match="kdamond.0"):
        open_backend(BackendRequest(kdamond=0, take_over="kdamond.7", sysfs_root=str(root)))
    assert {p: p.read_text() for p in root.rglob("*") if p.is_file()} == before
