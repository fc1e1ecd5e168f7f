"""Pick the backend and target to open: explicit choices first, then the best
that works here, falling back to the user-space engine and finally to its
synthetic workload. Every fallback leaves a note saying why, for the header.

The only module that knows both backends: everything else opens one here and
uses it through the Backend protocol (backends/base.py). The engine and the
kernel backend are imported when first needed, so opening one never imports
the other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target, TargetKind
from .base import Backend, BackendError, ErrorCallback, SnapshotCallback, Stepper

DEFAULT_ROOT = "/sys/kernel/mm/damon/admin"


@dataclass(frozen=True)
class BackendRequest:
    """What the user asked for (cli flags merged over the config file)."""

    backend: str = "auto"  # auto | engine | kernel
    target: Target | None = None  # None: a sensible default
    source: str | None = None  # engine access source
    synthetic_pattern: str = "hotcold"
    seed: int = 0
    attrs: MonitoringAttrs = field(default_factory=MonitoringAttrs)
    schemes: Sequence[Scheme] = ()
    kdamond: int | None = None  # view (or re-attach to) this existing kdamond
    take_over: str | None = None  # confirmation (kdamond.N or pid) to take `kdamond` over
    reset_stopped: tuple[str, ...] = ()  # consent to reset these stopped kdamonds' configs
    keep_running: bool = False
    sysfs_root: str = DEFAULT_ROOT
    cpu_budget: float | None = 2.0  # engine: percent of one core (None: no budget)
    turn_off: tuple[str, ...] = ()  # consent to turn these exclusive DAMON modules off
    module_root: str = "/sys/module"  # where DAMON_STAT & co. publish their parameters


class NotedBackend:
    """Wraps a backend to add selection notes to its BackendInfo; every other call
    goes to the wrapped backend unchanged (only the Backend protocol: nothing else
    is reachable through the wrapper)."""

    def __init__(self, inner: Backend, notes: Sequence[str]) -> None:
        self._inner = inner
        self._notes = tuple(notes)

    @property
    def info(self) -> BackendInfo:
        info = self._inner.info
        return replace(info, notes=self._notes + tuple(info.notes))

    @property
    def inner(self) -> Backend:
        return self._inner

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        self._inner.start(on_snapshot, on_error)

    def stop(self) -> None:
        self._inner.stop()

    def close(self) -> None:
        self._inner.close()

    def latest(self) -> Snapshot | None:
        return self._inner.latest()

    def attrs(self) -> MonitoringAttrs:
        return self._inner.attrs()

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        self._inner.set_attrs(attrs)

    def schemes(self) -> tuple[Scheme, ...]:
        return self._inner.schemes()

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        self._inner.set_schemes(schemes)

    def targets(self) -> tuple[Target, ...]:
        return self._inner.targets()

    def set_targets(self, targets: Sequence[Target]) -> None:
        self._inner.set_targets(targets)
        self._notes = ()  # they explained the first choice of target, not this one


def engine_sources() -> tuple[str, ...]:
    """Names of the engine's access sources (for --source, config and the UI)."""
    from .engine.sources import SOURCES

    return tuple(SOURCES)


def synthetic_patterns() -> dict[str, str]:
    """The synthetic workload's patterns: name -> one-line description."""
    from .engine.sources.synthetic import PATTERNS

    return dict(PATTERNS)


def _synthetic(request: BackendRequest) -> Target:
    return Target(TargetKind.SYNTHETIC, name=request.synthetic_pattern)


# smaps is read whole once per aggregation (about 20 ms for a 1 GiB process), so
# DAMON's 100 ms default would cost 20 % of a core; used when the user set no intervals.
SMAPS_DEFAULT_ATTRS = MonitoringAttrs(sample_us=50_000, aggr_us=1_000_000)


def _engine(request: BackendRequest, target: Target) -> Backend:
    from .engine.backend import EngineBackend

    backend = EngineBackend(
        [target],
        source=request.source,
        attrs=request.attrs,
        schemes=request.schemes,
        seed=request.seed,
        synthetic_pattern=request.synthetic_pattern,
        cpu_budget=request.cpu_budget,
    )
    if backend.info.source.startswith("smaps") and request.attrs == MonitoringAttrs():
        attrs = replace(request.attrs, sample_us=SMAPS_DEFAULT_ATTRS.sample_us,
                        aggr_us=SMAPS_DEFAULT_ATTRS.aggr_us)  # fmt: skip
        backend.set_default_attrs(attrs)
        return NotedBackend(backend, ["smaps source: sampling every 50 ms, aggregating every "
                                      "1 s (it reads the whole smaps once per aggregation; "
                                      "--sample and --aggr override)"])  # fmt: skip
    return backend


def _kernel(request: BackendRequest, target: Target) -> Backend:
    from .kernel import KernelBackend

    return KernelBackend(
        [target],
        request.attrs,
        request.schemes,
        root=request.sysfs_root,
        keep_running=request.keep_running,
        reset_stopped_foreign=request.reset_stopped,
        turn_off_modules=request.turn_off,
        module_root=request.module_root,
    )


def _damon_stat(request: BackendRequest, notes: Sequence[str] = ()) -> Backend:
    from .damon_stat import DamonStatBackend

    return DamonStatBackend(module_root=request.module_root, notes=notes)


DAMON_STAT_NOTE = (
    "DAMON_STAT runs and holds DAMON exclusively: showing its results "
    "read-only (--pid N or --paddr to monitor with the engine, or "
    "--turn-off damon_stat to use kernel DAMON)"
)


def _existing_kdamond(request: BackendRequest) -> Backend:
    from .kernel import KernelBackend, KernelObserver, Ownership, list_kdamonds

    index = request.kdamond
    assert index is not None
    if request.take_over is not None:  # the user named it: the kernel backend checks the name
        return KernelBackend.take_over(index, request.take_over, root=request.sysfs_root)
    infos = {k.index: k for k in list_kdamonds(root=request.sysfs_root, deep=False)}
    if index not in infos:
        known = ", ".join(str(i) for i in sorted(infos)) or "none"
        raise BackendError(f"--kdamond {index}: no such kdamond (existing: {known})")
    if infos[index].ownership is Ownership.OURS:
        return KernelBackend.attach(
            index, root=request.sysfs_root, keep_running=request.keep_running
        )
    return KernelObserver(index, root=request.sysfs_root)


def open_engine_once(request: BackendRequest) -> tuple[Backend, Stepper | None]:
    """The engine for `damontui engine --once`: a synthetic target (the default) runs
    in simulated time, driven by the returned Stepper in the caller's thread; a real
    target runs in wall time from start() (the Stepper is None)."""
    from .engine.backend import EngineBackend

    target = request.target or _synthetic(request)
    synthetic = target.kind is TargetKind.SYNTHETIC
    backend = EngineBackend([target], source=None if synthetic else request.source,
                            attrs=request.attrs, schemes=request.schemes, seed=request.seed,
                            realtime=not synthetic)  # fmt: skip
    return backend, backend.run_for if synthetic else None


def stepper(backend: Backend) -> Stepper | None:
    """The simulated-time step of an engine backend opened here (None for a kernel
    backend, which only runs in wall time)."""
    from .engine.backend import EngineBackend

    inner = backend.inner if isinstance(backend, NotedBackend) else backend
    return inner.run_for if isinstance(inner, EngineBackend) else None


def open_backend(
    request: BackendRequest,
    engine_factory: Callable[[BackendRequest, Target], Backend] = _engine,
    kernel_factory: Callable[[BackendRequest, Target], Backend] = _kernel,
) -> Backend:
    """Open the requested backend, or the best available one (see module doc).

    Raises BackendError when an explicit choice can't be honoured; `auto` only
    raises when not even the engine can monitor the requested target.
    """
    if request.take_over is not None and request.kdamond is None:
        raise BackendError("--take-over needs --kdamond N: which kdamond to take over")
    if request.kdamond is not None:
        return _existing_kdamond(request)
    if request.backend == "engine":
        return engine_factory(request, request.target or _synthetic(request))
    if request.backend == "damon_stat":
        if request.target is not None:
            raise BackendError(
                "--backend damon_stat shows DAMON_STAT's own results (the whole "
                "physical memory): it takes no --pid, --paddr or --synthetic"
            )
        return _damon_stat(request)
    if request.backend == "kernel":
        if request.target is None or request.target.kind is TargetKind.SYNTHETIC:
            target = request.target or Target(TargetKind.PADDR)
            if target.kind is TargetKind.SYNTHETIC:
                raise BackendError(
                    "the synthetic workload runs only on the user-space engine (--backend engine)"
                )
        else:
            target = request.target
        return kernel_factory(request, target)
    if request.backend != "auto":
        raise BackendError(
            f"--backend: {request.backend!r} is invalid; use auto, engine, kernel or damon_stat"
        )
    return _auto(request, engine_factory, kernel_factory)


def _kernel_note(request: BackendRequest, exc: Exception) -> str:
    """One line on why kernel DAMON was not used: name a running kdamond that
    blocks it (and how to view it), else the error's first sentence."""
    short_note = getattr(exc, "short_note", None)  # an exclusive in-kernel DAMON user
    if callable(short_note):
        return str(short_note())
    try:
        from .kernel import RealSysfs, kdamond_states

        running = [
            i for i, state, _ in kdamond_states(RealSysfs(), request.sysfs_root) if state == "on"
        ]
    except Exception:  # no DAMON sysfs at all, or unreadable: fall back to the error
        running = []
    if running:
        names = ", ".join(f"kdamond.{i}" for i in running)
        return (
            f"kernel DAMON busy: {names} runs and is not damontui's "
            f"(view it read-only: damontui --kdamond {running[0]})"
        )
    return f"kernel DAMON not used: {_first_sentence(exc)}"


def _engine_reason(exc: Exception) -> str:
    """The innermost cause: 'a: b: c (d)' -> 'c (d)'."""
    return _first_sentence(Exception(str(exc).rsplit(": ", 1)[-1]))


def _first_sentence(exc: Exception, limit: int = 120) -> str:
    text = str(exc).split(". ")[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _auto(
    request: BackendRequest,
    engine_factory: Callable[[BackendRequest, Target], Backend],
    kernel_factory: Callable[[BackendRequest, Target], Backend],
) -> Backend:
    notes: list[str] = []
    target = request.target
    if target is not None and target.kind is TargetKind.SYNTHETIC:
        return engine_factory(request, target)
    if target is None and not request.turn_off:
        from .damon_stat import damon_stat_running

        if damon_stat_running(request.module_root):  # read only: the default view there
            return _damon_stat(request, [DAMON_STAT_NOTE])
    # Real targets (or none: physical memory is the sensible default) try the
    # kernel first, then the engine's page-granular sources.
    candidates = [target] if target is not None else [Target(TargetKind.PADDR)]
    for candidate in candidates:
        try:
            return NotedBackend(kernel_factory(request, candidate), notes)
        except (BackendError, OSError) as exc:
            notes.append(_kernel_note(request, exc))
        try:
            return NotedBackend(engine_factory(request, candidate), notes)
        except (BackendError, OSError) as exc:
            if target is not None:
                raise BackendError("; ".join([*notes, f"user-space engine: {exc}"])) from exc
            notes.append(f"engine cannot monitor {candidate.label}: {_engine_reason(exc)}")
    notes.append("showing the built-in synthetic workload instead")
    return NotedBackend(engine_factory(request, _synthetic(request)), notes)
