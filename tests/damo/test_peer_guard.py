"""Guard: damo never sees the host's DAMON sysfs writable."""

from __future__ import annotations

import os

import pytest

from . import peer


def test_wrapper_always_goes_through_unshare_and_ro_remount() -> None:
    argv = peer.wrap(["damo", "version"])
    assert argv[:4] == ["unshare", "--mount", "--propagation", "private"]
    script = argv[argv.index("-c") + 1]
    # the ro remount and the mountinfo check come before the exec, under `set -e`
    assert script.index("set -e") < script.index("remount,bind,ro") < script.index("exec")
    assert script.index("/proc/self/mountinfo") < script.index("exec")
    assert argv[argv.index("-c") + 3] == peer.DAMON_DIR


@pytest.mark.skipif(not os.path.isdir(peer.DAMON_DIR), reason="no DAMON sysfs on this host")
def test_write_inside_namespace_fails_with_erofs() -> None:
    if reason := peer.unavailable_reason():
        pytest.skip(reason)
    # A file that exists on every DAMON sysfs; the write must be refused by the mount
    # (EROFS), never reach the kernel (which would answer EBUSY/EINVAL or accept it).
    target = os.path.join(peer.DAMON_DIR, "admin", "kdamonds", "nr_kdamonds")
    code = (
        "import errno, sys\n"
        f"try:\n    open({target!r}, 'w').write('1')\nexcept OSError as e:\n"
        "    sys.exit(0 if e.errno == errno.EROFS else 3)\nsys.exit(4)\n"
    )
    import sys

    proc = peer.run_in_ro_namespace([sys.executable, "-c", code], check=False)
    assert proc.returncode == 0, f"write was not refused with EROFS: {proc.returncode}"


def test_mountinfo_check_refuses_a_writable_mount(tmp_path) -> None:
    """The check in the script itself: a writable mount makes the wrapper exit REFUSED."""
    if reason := peer.unavailable_reason():
        pytest.skip(reason)
    import subprocess

    # Same script, but skip the remount: the awk check must then refuse to exec.
    script = peer._SCRIPT.replace('mount -o remount,bind,ro "$D"', "true")
    d = str(tmp_path)
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "x", d, "true"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == peer.REFUSED


def test_damo_runs_read_only_and_reports_its_version() -> None:
    out = peer.damo("version")
    assert out.strip() == "3.4.3"


def test_no_test_runs_damo_outside_the_wrapper() -> None:
    """Every damo call in the test tree goes through peer.py (so through the ro mount)."""
    import re
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    direct = re.compile(r"""(\[\s*["']damo["']|which\(\s*["']damo["']|damo_executable\(\))""")
    offenders = [
        str(p.relative_to(tests))
        for p in tests.rglob("*.py")
        if p.name != "peer.py" and p.name != Path(__file__).name and direct.search(p.read_text())
    ]
    assert offenders == [], f"run damo through tests/damo/peer.py only: {offenders}"
