"""Run damo (the GPL-2 peer CLI, used only as an external program) safely.

damo's feature probe stages a test kdamond under /sys/kernel/mm/damon when no kdamond
runs, and the host's DAMON sysfs belongs to the machine (its own kdamond.0).  So damo
only ever runs inside a private mount namespace in which /sys/kernel/mm/damon is a
read-only bind mount of itself:

    unshare --mount --propagation private sh -c \
        'mount --bind D D && mount -o remount,bind,ro D && <check ro> && exec damo ...'

The shell script checks /proc/self/mountinfo for the read-only mount before it execs
damo and exits with REFUSED otherwise, so a failed remount can never fall through to a
writable sysfs.  HOME points at a scratch directory so damo's ~/.damo.sysinfo cache
never lands in the real home.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DAMON_DIR = "/sys/kernel/mm/damon"
REFUSED = 97  # exit status of the wrapper when the read-only mount isn't in place

# mountinfo field 5 is the mount point, field 6 the per-mount options ("ro,...").
_SCRIPT = r"""
set -e
D="$1"; shift
if [ -d "$D" ]; then
    mount --bind "$D" "$D"
    mount -o remount,bind,ro "$D"
    awk -v d="$D" '$5 == d { split($6, o, ","); if (o[1] == "ro") ok = 1; else bad = 1 }
        END { exit (ok && !bad) ? 0 : 1 }' /proc/self/mountinfo || exit 97
fi
exec "$@"
"""


def damo_executable() -> str | None:
    """The damo the test extra installs (next to this interpreter), else one on PATH."""
    here = Path(sys.executable).parent / "damo"
    if here.exists():
        return str(here)
    return shutil.which("damo")


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why damo can't run here read-only (None when it can)."""
    if damo_executable() is None:
        return "damo is not installed (pip install -e '.[test]' pins damo==3.4.3)"
    if shutil.which("unshare") is None:
        return "unshare(1) is missing: cannot give damo a read-only DAMON sysfs"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"unshare --mount is not permitted here ({probe.stderr.strip()})"
    # the whole wrapper (bind mount, ro remount, mountinfo check) must work, not just unshare
    probe = subprocess.run(wrap(["true"]), capture_output=True, text=True)
    if probe.returncode != 0:
        return (
            f"cannot make {DAMON_DIR} read-only in a private mount namespace "
            f"(exit {probe.returncode}: {probe.stderr.strip()})"
        )
    return None


def require_damo() -> str:
    """Skip the calling test, with the reason, unless damo can run read-only."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    exe = damo_executable()
    assert exe is not None
    return exe


_home: str | None = None


def _scratch_home() -> str:
    global _home
    if _home is None:
        _home = tempfile.mkdtemp(prefix="damo-home-")
    return _home


def wrap(argv: list[str]) -> list[str]:
    """The command line that runs argv with DAMON sysfs read-only (never without it)."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _SCRIPT,
        "damo-peer",
        DAMON_DIR,
        *argv,
    ]


def run_in_ro_namespace(
    argv: list[str], cwd: str | os.PathLike[str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run any program in the read-only namespace (the guard test uses this too)."""
    env = dict(os.environ, HOME=_scratch_home(), LC_ALL="C.UTF-8")
    proc = subprocess.run(wrap(argv), capture_output=True, text=True, cwd=cwd, env=env)
    if proc.returncode == REFUSED:
        raise RuntimeError(f"refused to run {argv[0]}: {DAMON_DIR} is not read-only")
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def damo(*args: str, cwd: str | os.PathLike[str] | None = None, check: bool = True) -> str:
    """Run `damo ARGS` read-only; return its stdout."""
    exe = require_damo()
    return run_in_ro_namespace([exe, *args], cwd=cwd, check=check).stdout


# damo's feature probe, seen from here: it reads kdamonds/ and, when no kdamond is "on",
# stages a test kdamond to see which files appear.  In the namespace the staging write
# fails with EROFS, and with the host's kdamond.0 running damo skips the probe ("DAMON
# is running").  Either way damo only warns on stderr ("... DAMON feature is not
# available"); `damo args damon`, `damo report ...` and format conversion need no
# feature, so no --damon_interface option is needed.
