"""A throw-away OpenSSH server on a loopback port, for the --remote tests.

Its own config, host key, user key, authorized_keys and known_hosts live in a
temporary directory; it runs in the foreground (-D) as a child of the test
and is killed with it. Skips (saying why) where sshd or root is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, root: Path) -> None:
        if not os.path.exists(SSHD):
            pytest.skip("sshd not installed (Debian: apt-get install openssh-server; .ci/run "
                        "installs it where it can)")  # fmt: skip
        if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
            pytest.skip("the OpenSSH client (ssh, ssh-keygen) is not installed")
        if os.geteuid() != 0:
            pytest.skip("the test sshd runs as root (it logs the test user in as root)")
        self.root = root
        self.port = _free_port()
        for name in ("host", "user"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(root / name)], check=True)  # fmt: skip
        (root / "authorized_keys").write_text((root / "user.pub").read_text())
        host_pub = (root / "host.pub").read_text().split()[:2]
        (root / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {' '.join(host_pub)}\n")
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'host'}\n"
            f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
            "StrictModes no\nPermitRootLogin yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nLogLevel ERROR\n"
            "PrintMotd no\nAcceptEnv no\n"
        )
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
            stderr=open(root / "sshd.log", "wb"),
        )  # noqa: SIM115
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"sshd exited: {(root / 'sshd.log').read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        pytest.fail("sshd did not listen within 20 s")

    @property
    def remote(self) -> str:
        return f"root@127.0.0.1:{self.port}"

    @property
    def options(self) -> list[str]:
        """damontui flags that make ssh use the throw-away keys only."""
        opts = [f"IdentityFile={self.root / 'user'}", "IdentitiesOnly=yes",
                f"UserKnownHostsFile={self.root / 'known_hosts'}", "StrictHostKeyChecking=yes",
                "ConnectTimeout=20"]  # fmt: skip
        return [x for o in opts for x in ("--ssh-option", o)]

    @property
    def remote_command(self) -> str:
        # The remote damontui is this checkout's (nothing is installed remotely).
        src = Path(__file__).resolve().parents[2]
        return f"env PYTHONPATH={src} {sys.executable} -m damontui"

    def sessions(self) -> list[int]:
        """pids of the per-connection sshd processes (children of the listener)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True).stdout  # fmt: skip
        return [int(x) for x in out.split()]

    def drop_connections(self) -> int:
        """Kill every session's sshd: the client sees the connection close mid-stream."""
        pids = self.sessions()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def close(self) -> None:
        self.drop_connections()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
