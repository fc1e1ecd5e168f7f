"""In-kernel DAMON users that hold DAMON exclusively: DAMON_STAT, DAMON_RECLAIM,
DAMON_LRU_SORT.

These modules start their kdamond with ``damon_start(..., exclusive=true)``;
while one runs, the kernel refuses every other start (a sysfs ``state`` ``on``
fails with EBUSY).  Debian's 7.2 kernels start DAMON_STAT at boot.  damontui
detects them by READING ``/sys/module/<name>/parameters/{enabled,kdamond_pid}``
before it writes anything, and refuses a start with a message that says what
the user can do.  It never turns such a module off by itself: only when the
user names the module (``--turn-off damon_stat``), and then it turns it back on
when it stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..base import BackendError
from .sysfs import Sysfs, SysfsError, errno_name, join, read_opt

MODULE_ROOT = "/sys/module"

# module name -> the kernel's name for it (Kconfig / documentation)
EXCLUSIVE_MODULES: dict[str, str] = {
    "damon_stat": "DAMON_STAT",
    "damon_reclaim": "DAMON_RECLAIM",
    "damon_lru_sort": "DAMON_LRU_SORT",
}
OFF_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class ExclusiveModule:
    name: str  # damon_stat
    enabled: bool
    kdamond_pid: int | None  # None: not exposed (or not running)
    module_root: str = MODULE_ROOT

    @property
    def title(self) -> str:
        return EXCLUSIVE_MODULES.get(self.name, self.name.upper())

    @property
    def enabled_path(self) -> str:
        return join(self.module_root, self.name, "parameters/enabled")

    @property
    def off_command(self) -> str:
        return f"echo N | sudo tee {self.enabled_path}"

    def describe(self) -> str:
        pid = f"kdamond pid {self.kdamond_pid}" if self.kdamond_pid else "its kdamond"
        return f"{self.title} ({self.name}, {pid})"


def _pid(text: str | None) -> int | None:
    try:
        pid = int(text) if text is not None else None
    except ValueError:
        return None
    return pid if pid is not None and pid > 0 else None


def read_module(sysfs: Sysfs, name: str, module_root: str = MODULE_ROOT) -> ExclusiveModule | None:
    """The module's state, by reading only; None if this kernel has no such module."""
    params = join(module_root, name, "parameters")
    try:
        enabled = read_opt(sysfs, join(params, "enabled"))
    except SysfsError:
        enabled = None
    if enabled is None:
        return None
    try:
        pid = _pid(read_opt(sysfs, join(params, "kdamond_pid")))
    except SysfsError:
        pid = None
    return ExclusiveModule(name, enabled.strip().upper() in ("Y", "1"), pid, module_root)


def read_modules(sysfs: Sysfs, module_root: str = MODULE_ROOT) -> list[ExclusiveModule]:
    """Every exclusive DAMON module this kernel has (reading only)."""
    out = []
    for name in EXCLUSIVE_MODULES:
        mod = read_module(sysfs, name, module_root)
        if mod is not None:
            out.append(mod)
    return out


def running_modules(sysfs: Sysfs, module_root: str = MODULE_ROOT) -> list[ExclusiveModule]:
    return [m for m in read_modules(sysfs, module_root) if m.enabled]


def check_consent_names(names: Iterable[str], flag: str = "--turn-off") -> frozenset[str]:
    """Validate module names the user consented to turn off."""
    out = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(out - set(EXCLUSIVE_MODULES))
    if unknown:
        raise BackendError(
            f"{flag}: unknown module {', '.join(repr(n) for n in unknown)}; "
            f"allowed: {', '.join(EXCLUSIVE_MODULES)}"
        )
    return out


class ExclusiveModuleBusy(BackendError):
    """An exclusive in-kernel DAMON user blocks kernel DAMON (the message says what
    the user can do); ``modules`` names them, for the backend selection's note."""

    def __init__(self, modules: Sequence[ExclusiveModule]) -> None:
        super().__init__(blocked_message(modules))
        self.modules = tuple(modules)

    def short_note(self) -> str:
        names = ", ".join(m.describe() for m in self.modules)
        flags = " ".join(f"--turn-off {m.name}" for m in self.modules)
        return (
            f"kernel DAMON busy: {names} holds DAMON exclusively; damontui does not turn "
            f"it off by itself ({flags} to use kernel DAMON)"
        )


def blocked_message(mods: Sequence[ExclusiveModule]) -> str:
    """Why a kernel kdamond can't start, and what the user can do about it."""
    first = mods[0]
    who = " and ".join(m.describe() for m in mods)
    verb = "is" if len(mods) == 1 else "are"
    offs = "; ".join(f"`{m.off_command}`" for m in mods)
    flags = " ".join(f"--turn-off {m.name}" for m in mods)
    view = (
        " view DAMON_STAT's own results read-only (damontui with no target, or "
        "--backend damon_stat);"
        if any(m.name == "damon_stat" for m in mods)
        else ""
    )
    return (
        f"cannot start a kernel kdamond: {who} {verb} running and holds DAMON "
        "exclusively (the kernel refuses every other kdamond with EBUSY). Nothing was "
        "written; damontui never turns an in-kernel DAMON module off by itself. You can: "
        f"turn it off yourself ({offs}); use the user-space engine (--backend engine);"
        f"{view} or let damontui turn it off for this run and back on at exit "
        f"({flags}). ({first.title} is a kernel module parameter, not a kdamond "
        "directory: it does not show in kdamonds/.)"
    )


class ModuleSwitch:
    """Turns consented modules off before damontui's kdamond starts and back on
    when it stops.  Writes only the modules' ``enabled`` parameter."""

    def __init__(
        self,
        sysfs: Sysfs,
        module_root: str = MODULE_ROOT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sysfs = sysfs
        self._root = module_root
        self._sleep = sleep
        self.turned_off: list[ExclusiveModule] = []

    def turn_off(self, mods: Sequence[ExclusiveModule]) -> None:
        for m in mods:
            try:
                self._sysfs.write(m.enabled_path, "N")
            except SysfsError as e:
                raise BackendError(
                    f"turning {m.title} off: writing 'N' to {m.enabled_path} "
                    f"failed: {errno_name(e.errno)}"
                ) from None
            self.turned_off.append(m)
            deadline = time.monotonic() + OFF_WAIT_S
            while True:
                now = read_module(self._sysfs, m.name, self._root)
                if now is None or (not now.enabled and now.kdamond_pid is None):
                    break
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"{m.title} did not stop within {OFF_WAIT_S:.0f} s after "
                        f"'N' was written to {m.enabled_path}"
                    )
                self._sleep(0.05)

    def restore(self) -> list[str]:
        """Turn back on what turn_off() turned off; returns problems (empty: all on)."""
        problems = []
        while self.turned_off:
            m = self.turned_off.pop()
            try:
                self._sysfs.write(m.enabled_path, "Y")
            except SysfsError as e:
                problems.append(
                    f"turning {m.title} back on failed ({errno_name(e.errno)}); "
                    f"turn it on yourself: echo Y | sudo tee {m.enabled_path}"
                )
        return problems
