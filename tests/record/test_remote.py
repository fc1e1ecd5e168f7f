"""`damontui --remote` against a real OpenSSH server on a loopback port (see sshd.py):
batch mode, Pilot, a connection dropped mid-stream, reconnect, and tuning."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from damontui.backends.base import BackendError
from damontui.remote.app import RemoteApp
from damontui.remote.client import RemoteBackend, parse_remote

from .helpers import COLD
from .sshd import Sshd

DAMONTUI = [sys.executable, "-m", "damontui"]


@pytest.fixture
def sshd(tmp_path):
    server = Sshd(tmp_path)
    yield server
    server.close()


def remote_flags(sshd: Sshd, seed: int) -> list[str]:
    return ["--remote", sshd.remote, *sshd.options, "--remote-command", sshd.remote_command,
            "--synthetic", "hotcold", "--seed", str(seed)]  # fmt: skip


def remote_records(seed: int) -> list[str]:
    """Remote `damontui record` processes of one test (found by their seed)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if "record -o - --stream" in line and f"--seed {seed}" in line]  # fmt: skip


def wait(predicate, timeout: float = 60.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def test_parse_remote():
    assert parse_remote("host").host == "host" and parse_remote("host").port is None
    spec = parse_remote("me@example.org:2222")
    assert (spec.host, spec.port) == ("me@example.org", 2222)
    assert parse_remote("[::1]:22").host == "::1"
    for bad in ("", "-oProxyCommand=x", "host:99999", "a b"):
        with pytest.raises(BackendError, match="--remote"):
            parse_remote(bad)


def test_batch_over_ssh(sshd):
    proc = subprocess.run([*DAMONTUI, *remote_flags(sshd, 4101), "--batch", "--count", "2",
                           "--delay", "0.5", "--limit", "3"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("damontui remote engine: root@127.0.0.1") == 2
    assert "synthetic:hotcold" in proc.stdout and "temp" in proc.stdout
    wait(lambda: not remote_records(4101), 30, "the remote record to end")


def test_batch_connection_dropped_mid_stream(sshd):
    proc = subprocess.Popen([*DAMONTUI, *remote_flags(sshd, 4102), "--batch", "--count", "0",
                             "--delay", "0.2", "--limit", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    reports = 0
    while reports < 3:  # a few reports arrived: the stream is live
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        reports += line.startswith("damontui remote engine:")
    assert remote_records(4102)
    assert sshd.drop_connections() >= 1
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert f"connection to {sshd.remote} lost" in err
    kept = int(err.split("kept ")[-1].split()[0])
    assert kept >= 3
    assert "Traceback" not in err
    # the remote end noticed (EOF/EPIPE) and stopped its backend: nothing left behind
    wait(lambda: not remote_records(4102), 30, "the remote record to end after the drop")


def _backend(sshd: Sshd, seed: int, allow_tuning: bool = False, remote_tuning: bool = False):  # type: ignore[no-untyped-def]
    from damontui.cli import build_parser
    from damontui.remote.cli import open_remote

    args = build_parser().parse_args(remote_flags(sshd, seed)
                                     + (["--allow-tuning"] if allow_tuning else []))  # fmt: skip
    backend = open_remote(args)
    if allow_tuning and not remote_tuning:  # the local side asks, the remote refuses
        backend.argv[-1] = backend.argv[-1].replace(" --allow-tuning", "")
    return backend


async def test_pilot_drop_keep_and_reconnect(sshd):
    backend = _backend(sshd, 4103)
    app = RemoteApp(backend, refresh_s=0.1, theme="damon-dark")
    notes: list[str] = []
    original = app.notify
    app.notify = lambda m, **kw: (notes.append(m), original(m, **kw))[1]  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:

        async def until(pred, timeout=60.0):  # type: ignore[no-untyped-def]
            end = time.monotonic() + timeout
            while not pred():
                assert time.monotonic() < end, "timed out"
                await pilot.pause(0.1)

        await until(lambda: len(app.history) >= 3)
        assert app.info.backend == "remote engine" and app.info.readonly
        assert app.apply_schemes([COLD]) is False  # read-only without --allow-tuning
        await pilot.press("t")  # the picker would list local processes: refused, said why
        assert any("lists local processes" in n for n in notes)
        await pilot.press("2")  # every view works on the stream: the heatmap
        await pilot.pause()
        sshd.drop_connections()
        await until(lambda: any(" lost: " in n for n in notes))
        kept = len(app.history)
        assert kept >= 3
        lost = next(n for n in notes if " lost: " in n)
        assert f"connection to {sshd.remote} lost" in lost and "press R to reconnect" in lost
        await pilot.pause(0.5)
        assert len(app.history) == kept  # what was received stays
        await pilot.press("R")
        await until(lambda: len(app.history) >= kept + 2)
    backend.stop()
    wait(lambda: not remote_records(4103), 30, "the remote record to end")


def test_tuning_travels_to_the_remote(sshd):
    import threading

    backend = _backend(sshd, 4104, allow_tuning=True, remote_tuning=True)
    got = threading.Event()
    snaps: list = []  # type: ignore[type-arg]

    def on_snapshot(snap) -> None:  # type: ignore[no-untyped-def]
        snaps.append(snap)
        if any(s.name == "cold" for s in snap.schemes):
            got.set()

    backend.start(on_snapshot, lambda text: None)
    try:
        wait(lambda: backend.connected and snaps, 60, "the first snapshot")
        assert not backend.info.readonly
        backend.set_schemes([COLD])
        assert got.wait(30), "the remote's snapshots never carried the new scheme"
        assert snaps[-1].scheme_stats  # the remote engine runs it and reports stats
        from dataclasses import replace

        from damontui.model import Target, TargetKind

        backend.set_attrs(replace(snaps[-1].attrs, aggr_us=200_000))
        wait(lambda: snaps[-1].attrs.aggr_us == 200_000, 30, "the new aggregation interval")
        backend.set_targets([Target(TargetKind.SYNTHETIC, name="stairs")])
        wait(lambda: snaps[-1].targets[0].target.name == "stairs", 30, "the new target")
        with pytest.raises(BackendError, match="remote: not applied"):
            backend.set_targets([Target(TargetKind.PID, pid=2**22 + 12345)])
    finally:
        backend.stop()


def test_remote_without_allow_tuning_refuses(sshd):
    backend = _backend(sshd, 4105, allow_tuning=True, remote_tuning=False)
    backend.start(lambda s: None, lambda t: None)
    try:
        wait(lambda: backend.connected and backend.latest() is not None, 60, "a snapshot")
        with pytest.raises(BackendError, match="refuses changes.*--allow-tuning"):
            backend.set_schemes([COLD])
    finally:
        backend.stop()


def test_unreachable_host_says_so(tmp_path):
    options = ["ConnectTimeout=5", f"UserKnownHostsFile={os.devnull}"]
    backend = RemoteBackend(parse_remote("root@127.0.0.1:9"), ["damontui"], ssh_options=options)
    errors: list[str] = []
    backend.start(lambda s: None, errors.append)
    wait(lambda: errors, 30, "the error")
    backend.stop()
    assert "connection to root@127.0.0.1:9 failed" in errors[0]
    assert "refused" in errors[0].lower() or "port 9" in errors[0]


def test_missing_remote_damontui_is_named(sshd):
    proc = subprocess.run([*DAMONTUI, "--remote", sshd.remote, *sshd.options, "--remote-command",
                           "/nonexistent/damontui", "--once"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 3
    assert f"connection to {sshd.remote} failed" in proc.stderr
    assert "/nonexistent/damontui" in proc.stderr and "Traceback" not in proc.stderr
