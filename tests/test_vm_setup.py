"""tests/vm/setup.sh takes the Debian mirror from the machine's apt configuration
(one-line and deb822 forms); no host name is built in.  (.example names are test
data from RFC 2606.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SETUP = Path(__file__).resolve().parent / "vm/setup.sh"


def mirror(etc: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAMONTUI_VM_MIRROR"}
    env["DAMONTUI_VM_APT_ETC"] = str(etc)
    return subprocess.run(
        ["bash", str(SETUP), "--print-mirror"], capture_output=True, text=True, env=env, timeout=30
    )


@pytest.mark.parametrize(
    "name, text, want",
    [
        (
            "sources.list",
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main\n",
            "http://a.example/debian",
        ),
        (
            "sources.list.d/x.sources",
            "Types: deb\nURIs: https://b.example/pub/debian/ http://c.example/other\nSuites: sid\n",
            "https://b.example/pub/debian",
        ),
        (
            "sources.list.d/y.list",
            "deb http://d.example/debian-security bookworm-security main\n"
            "deb http://e.example/debian bookworm main\n",
            "http://e.example/debian",
        ),
    ],
)
def test_mirror_from_apt_config(tmp_path, name, text, want):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / name).write_text(text)
    r = mirror(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want


def test_no_mirror_says_so(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    r = mirror(tmp_path)
    assert r.returncode == 1 and "DAMONTUI_VM_MIRROR" in r.stderr


def test_this_machines_mirror_is_not_written_into_the_vm_scripts():
    """The host this machine's apt uses (found at run time) appears nowhere in tests/vm."""
    r = mirror(Path("/etc/apt"))
    if r.returncode != 0:
        pytest.skip("this machine's apt configuration names no Debian mirror")
    host = r.stdout.strip().split("://", 1)[1].split("/", 1)[0]
    for path in SETUP.parent.rglob("*"):
        if path.is_file() and path.suffix in (".sh", ".py", ".conf", ".md"):
            assert host not in path.read_text(), path
