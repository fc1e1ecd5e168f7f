"""The one way damontui reads and writes DAMON sysfs, and errno -> message mapping.

Every write the kernel backend makes ends in :func:`write_file` (one ``write(2)``
of the value, like ``echo value > file``).  Tests patch that single function to
refuse writes under the host's ``/sys/kernel/mm/damon`` (tests/conftest.py).

EBUSY from contention: DAMON's sysfs handlers take one global lock with
``mutex_trylock`` and return EBUSY while anyone else holds it.  On 6.12 (with the
stable ``state_show`` fix) that includes plain reads of ``state`` and ``pid``, and
state commands hold the lock while they wait for the kdamond, so a second tool
reading DAMON sysfs (damo, ``watch cat``, another damontui) makes our reads and
writes fail now and then.  `RealSysfs` therefore retries EBUSY briefly
(`BUSY_ATTEMPTS` tries within `BUSY_BUDGET_S`, backing off from 1 ms to 20 ms) for
every read and for writes whose EBUSY can only mean contention (``state`` and the
``nr_*`` files other than ``nr_kdamonds``).  ``nr_kdamonds`` is not retried here:
its EBUSY also means "a kdamond runs", which the backend checks itself.

`Sysfs` is the interface the rest of the backend uses.  `RealSysfs` talks to the
kernel; tests/fakesysfs.py provides a `FakeSysfs` with the same interface that
emulates the kernel's reaction to writes in a temporary directory.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..base import BackendError

_T = TypeVar("_T")

DEFAULT_ROOT = "/sys/kernel/mm/damon/admin"
REAL_DAMON_DIR = "/sys/kernel/mm/damon"

# EBUSY retry (contention on damon_sysfs_lock): at most this many tries within this
# budget, sleeping BUSY_FIRST_DELAY_S, doubling up to BUSY_MAX_DELAY_S between tries
BUSY_ATTEMPTS = 50
BUSY_BUDGET_S = 1.0
BUSY_FIRST_DELAY_S = 0.001
BUSY_MAX_DELAY_S = 0.02
BUSY_CAUSE = (
    "DAMON sysfs stayed busy: another process (damo, a second damontui, "
    "`watch cat ...`) is reading or writing DAMON sysfs at the same moment, and "
    "the kernel refuses concurrent access"
)


def write_file(path: str, data: str) -> None:
    """THE single write path: one write(2) of `data` to an existing file.

    Never creates files (no O_CREAT).  Raises OSError with the kernel's errno.
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


class SysfsError(BackendError):
    """A sysfs read or write failed; the message names file, value, errno and cause."""

    def __init__(
        self, message: str, path: str, value: str | None, err: int | None, attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.path = path
        self.value = value
        self.errno = err
        self.attempts = attempts  # > 1: EBUSY was retried this many times


class SysfsWriteError(SysfsError):
    pass


class SysfsReadError(SysfsError):
    pass


def errno_name(err: int | None) -> str:
    if err is None:
        return "error"
    return errno.errorcode.get(err, f"errno {err}")


_STATE_COMMANDS_NEEDING_RUN = {
    "commit",
    "update_schemes_stats",
    "update_schemes_tried_regions",
    "update_schemes_tried_bytes",
    "clear_schemes_tried_regions",
    "commit_schemes_quota_goals",
    "update_schemes_effective_quotas",
    "update_tuned_intervals",
}


def likely_cause(path: str, value: str | None, err: int | None) -> str:
    """The most probable reason for `err` when writing `value` to `path`."""
    name = os.path.basename(path)
    if err in (errno.EPERM, errno.EACCES):
        if name in ("pid", "avail_operations", "total_bytes", "effective_bytes") or (
            "/stats/" in path or "/tried_regions/" in path
        ):
            return "the file is read-only"
        return (
            "DAMON sysfs needs root (CAP_SYS_ADMIN); run damontui as root or use "
            "the user-space engine (--backend engine)"
        )
    if err == errno.ENOENT:
        return (
            "the file does not exist: this kernel lacks the feature, or the kdamond/"
            "context/scheme directory was removed (nr_* rewritten by someone else)"
        )
    if err == errno.EBUSY:
        if name == "nr_kdamonds":
            return (
                "a kdamond is running (the kernel refuses to add or remove kdamonds while "
                "any runs), or another process is using DAMON sysfs at the same moment"
            )
        if name == "state" and value == "on":
            return (
                "the kdamond is already running, an in-kernel DAMON user holds DAMON "
                "exclusively (DAMON_STAT, DAMON_RECLAIM or DAMON_LRU_SORT enabled: see "
                "/sys/module/damon_*/parameters/enabled), or another process kept DAMON "
                "sysfs busy (the kernel refuses concurrent access)"
            )
        if name == "enabled" and "/damon_" in path:
            return (
                "the module's exclusive kdamond can't start while any other kdamond "
                "runs (stop the sysfs kdamonds first)"
            )
        return BUSY_CAUSE
    if err == errno.ENOMEM:
        if name == "state" and value in ("on", "commit"):
            return "a memcg filter path probably doesn't exist (or the kernel is out of memory)"
        return "the kernel is out of memory"
    if err == errno.EINVAL:
        if name == "state":
            if value in _STATE_COMMANDS_NEEDING_RUN:
                return (
                    f"'{value}' needs a running kdamond, or this kernel does not know the command"
                )
            if value == "on":
                return (
                    "the staged configuration is invalid (e.g. paddr without regions, "
                    "intervals out of order, a target pid that no longer exists, or "
                    "operations the kernel lacks)"
                )
            if value == "off":
                return "the kdamond is not running"
            return "unknown state command"
        if name == "operations":
            return "this operations set is not available (see avail_operations)"
        if name == "action":
            return "this kernel does not know the DAMOS action"
        if name == "type":
            return "this kernel does not know the filter type"
        if name == "target_metric":
            return "this kernel does not know the quota goal metric"
        if name.startswith("nr_"):
            return "the count is out of range"
        return "the kernel rejected the value"
    if err == errno.ESRCH:
        return "the target process does not exist"
    return os.strerror(err) if err else "unknown error"


# errnos about the value written, where a caller's hint (e.g. which memcg path) helps;
# for the others (permissions, busy, missing file) the generic cause is the right one
HINTED_ERRNOS = (errno.EINVAL, errno.ENOMEM, errno.ESRCH)


def _retried(attempts: int, elapsed_s: float | None) -> str:
    if attempts <= 1:
        return ""
    took = f" over {elapsed_s:.2f} s" if elapsed_s is not None else ""
    return f" (tried {attempts} times{took})"


def describe_write_error(
    path: str,
    value: str,
    err: int | None,
    hint: str | None = None,
    attempts: int = 1,
    elapsed_s: float | None = None,
) -> str:
    cause = hint if hint and err in HINTED_ERRNOS else likely_cause(path, value, err)
    return (
        f"writing {value!r} to {path} failed: {errno_name(err)}"
        f"{_retried(attempts, elapsed_s)} — {cause}"
    )


def describe_read_error(
    path: str, err: int | None, attempts: int = 1, elapsed_s: float | None = None
) -> str:
    if err == errno.ENOENT:
        cause = "the file does not exist (kernel lacks the feature, or the directory was removed)"
    elif err in (errno.EPERM, errno.EACCES):
        cause = "DAMON sysfs files are readable by root only; run damontui as root"
    elif err == errno.EBUSY:
        cause = BUSY_CAUSE
    else:
        cause = os.strerror(err) if err else "unknown error"
    return f"reading {path} failed: {errno_name(err)}{_retried(attempts, elapsed_s)} — {cause}"


def busy_retried_write(path: str) -> bool:
    """Whether EBUSY from writing `path` can only mean contention (so it is retried):
    `state` and the nr_* files, except nr_kdamonds (whose EBUSY also means "a
    kdamond runs" - the backend checks that itself)."""
    name = os.path.basename(path)
    return name == "state" or (name.startswith("nr_") and name != "nr_kdamonds")


@runtime_checkable
class Sysfs(Protocol):
    """What the backend needs from a sysfs tree (real or fake)."""

    def read(self, path: str) -> str:
        """The file's content without the trailing newline (SysfsReadError)."""

    def write(self, path: str, value: object, hint: str | None = None) -> None:
        """Write str(value) in one write(2) (SysfsWriteError naming the cause)."""

    def exists(self, path: str) -> bool: ...

    def isdir(self, path: str) -> bool: ...

    def listdir(self, path: str) -> list[str]: ...

    def writable(self, path: str) -> bool:
        """Whether the file's mode allows writing (sysfs: 0600 vs 0400)."""

    def read_dir_files(self, path: str, names: Sequence[str]) -> list[str]:
        """Read several files of one directory (one directory lookup)."""

    def read_numbered(self, path: str, names: Sequence[str]) -> list[tuple[int, list[str]]]:
        """For each numbered subdirectory N of `path` (ascending), the contents of
        files `names` in it: [(N, [content, ...]), ...]."""


class _BusyExhausted(Exception):
    """EBUSY persisted through every retry (carries the last OSError)."""

    def __init__(self, error: OSError, attempts: int, elapsed_s: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.elapsed_s = elapsed_s


def _read_error(path: str, e: OSError | _BusyExhausted) -> SysfsReadError:
    if isinstance(e, _BusyExhausted):
        err = e.error.errno
        return SysfsReadError(
            describe_read_error(path, err, e.attempts, e.elapsed_s), path, None, err, e.attempts
        )
    return SysfsReadError(describe_read_error(path, e.errno), path, None, e.errno)


def _read_fd(fd: int, size: int = 65536) -> str:
    try:
        data = os.read(fd, size)
    finally:
        os.close(fd)
    return data.decode(errors="replace").rstrip("\n")


class RealSysfs:
    """Direct file I/O on a sysfs tree; every write goes through write_file().

    EBUSY (contention, see the module docstring) is retried for every read and for
    `busy_retried_write` paths; `busy_attempts` / `busy_budget_s` bound it."""

    busy_attempts = BUSY_ATTEMPTS
    busy_budget_s = BUSY_BUDGET_S

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _busy_retry(self, op: Callable[..., _T], *args: Any) -> _T:
        """op(*args), retrying OSError(EBUSY) with a bounded backoff; when EBUSY
        persists raises _BusyExhausted, any other OSError as is."""
        t0 = time.monotonic()
        deadline = t0 + self.busy_budget_s
        delay = BUSY_FIRST_DELAY_S
        attempt = 1
        while True:
            try:
                return op(*args)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                if attempt >= self.busy_attempts or time.monotonic() + delay > deadline:
                    raise _BusyExhausted(e, attempt, time.monotonic() - t0) from None
            self._sleep(delay)
            attempt += 1
            delay = min(BUSY_MAX_DELAY_S, delay * 2)

    # --- one attempt (FakeSysfs overrides these to emulate the kernel) --------------

    def _read_once(self, path: str) -> str:
        return _read_fd(os.open(path, os.O_RDONLY))

    def _read_at_once(self, dir_fd: int, name: str, dir_path: str) -> str:
        """Read `name` relative to an open directory (`dir_path` names it)."""
        return _read_fd(os.open(name, os.O_RDONLY, dir_fd=dir_fd), 4096)

    def _write_once(self, path: str, text: str) -> None:
        write_file(path, text)  # module global: the guard patches it

    # --- the interface ----------------------------------------------------------------

    def read(self, path: str) -> str:
        try:
            return self._busy_retry(self._read_once, path)
        except (OSError, _BusyExhausted) as e:
            raise _read_error(path, e) from None

    def write(self, path: str, value: object, hint: str | None = None) -> None:
        text = value if isinstance(value, str) else str(value)
        try:
            if busy_retried_write(path):
                self._busy_retry(self._write_once, path, text)
            else:
                self._write_once(path, text)
        except _BusyExhausted as e:
            err = e.error.errno
            raise SysfsWriteError(
                describe_write_error(path, text, err, hint, e.attempts, e.elapsed_s),
                path,
                text,
                err,
                e.attempts,
            ) from None
        except OSError as e:
            raise SysfsWriteError(
                describe_write_error(path, text, e.errno, hint), path, text, e.errno
            ) from None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)
        except OSError as e:
            raise _read_error(path, e) from None

    def writable(self, path: str) -> bool:
        try:
            return bool(os.stat(path).st_mode & stat.S_IWUSR)
        except OSError:
            return False

    def read_dir_files(self, path: str, names: Sequence[str]) -> list[str]:
        try:
            dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise _read_error(path, e) from None
        try:
            out = []
            for name in names:
                try:
                    out.append(self._busy_retry(self._read_at_once, dfd, name, path))
                except (OSError, _BusyExhausted) as e:
                    raise _read_error(os.path.join(path, name), e) from None
            return out
        finally:
            os.close(dfd)

    def read_numbered(self, path: str, names: Sequence[str]) -> list[tuple[int, list[str]]]:
        """Fast path for tried_regions/: openat() relative to the directory."""
        try:
            dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise _read_error(path, e) from None
        try:
            indices = sorted(int(n) for n in os.listdir(dfd) if n.isdigit())
            out: list[tuple[int, list[str]]] = []
            rel = [(f"/{n}", n) for n in names]
            for index in indices:
                prefix = str(index)
                values = []
                try:
                    for suffix, _ in rel:
                        try:
                            fd = os.open(prefix + suffix, os.O_RDONLY, dir_fd=dfd)
                            try:
                                values.append(os.read(fd, 64).decode().rstrip("\n"))
                            finally:
                                os.close(fd)
                        except OSError as e:
                            if e.errno != errno.EBUSY:
                                raise
                            values.append(
                                self._busy_retry(self._read_at_once, dfd, prefix + suffix, path)
                            )
                except FileNotFoundError:
                    break  # the kernel replaced the regions meanwhile: keep what we have
                except (OSError, _BusyExhausted) as e:
                    raise _read_error(os.path.join(path, prefix), e) from None
                out.append((index, values))
            return out
        finally:
            os.close(dfd)


# --------------------------------------------------------------------------- helpers


def join(*parts: object) -> str:
    return "/".join(
        str(p).rstrip("/") if i == 0 else str(p).strip("/") for i, p in enumerate(parts)
    )


def read_int(sysfs: Sysfs, path: str, default: int | None = None) -> int:
    try:
        text = sysfs.read(path)
    except SysfsReadError:
        if default is not None:
            return default
        raise
    try:
        return int(text.strip() or "0", 0)
    except ValueError:
        if default is not None:
            return default
        raise SysfsReadError(
            f"{path}: expected a number, read {text!r}", path, None, None
        ) from None


def read_opt(sysfs: Sysfs, path: str) -> str | None:
    """The content, or None if the file does not exist."""
    try:
        return sysfs.read(path)
    except SysfsReadError as e:
        if e.errno == errno.ENOENT:
            return None
        raise


def is_under_real_damon(path: str) -> bool:
    """Whether `path` resolves into the host's /sys/kernel/mm/damon."""
    for candidate in (os.path.abspath(path), os.path.realpath(path)):
        if candidate == REAL_DAMON_DIR or candidate.startswith(REAL_DAMON_DIR + "/"):
            return True
    return False


def yn(value: bool) -> str:
    return "Y" if value else "N"


def parse_yn(text: str) -> bool:
    return text.strip().upper() in ("Y", "1", "YES", "TRUE")


def numbered(names: Iterable[str]) -> list[int]:
    return sorted(int(n) for n in names if n.isdigit())
