"""The command line, run as subprocesses: help, batch output, the engine subcommand,
and the TUI leaving cleanly when its terminal goes away."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGION_ROW = re.compile(r"^\s*\d+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s", re.MULTILINE)
HEATMAP_ROW = re.compile(r"^0x[0-9a-f]+ \|.*\|$", re.MULTILINE)


def env(tmp_path: Path) -> dict[str, str]:
    """No user config, no colour codes; the tree's package first."""
    return dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), PYTHONPATH=str(ROOT), TERM="dumb",
                COLUMNS="100")  # fmt: skip


def run(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """damontui with `args`; tests always pick the engine or the synthetic workload: auto
    could choose kernel DAMON, and tests never write the machine's DAMON sysfs."""
    return subprocess.run([sys.executable, "-m", "damontui", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env(tmp_path))  # fmt: skip


def test_help_lists_every_option(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--pid", "--paddr", "--source", "--synthetic", "--seed", "--backend",
                   "--sample", "--aggr", "--update", "--min-regions", "--max-regions",
                   "--refresh", "--theme", "--no-color", "--no-mouse", "--config",
                   "--readonly", "--keep-running", "--once", "--batch", "--count", "--delay",
                   "engine", "NO_COLOR", "TERM=dumb"):  # fmt: skip
        assert option in result.stdout, option
    engine_help = run(tmp_path, "engine", "--help")
    assert "--sim-seconds" in engine_help.stdout and "--once" in engine_help.stdout


def test_engine_once_prints_the_region_table(tmp_path: Path) -> None:
    result = run(tmp_path, "engine", "--once", "--synthetic", "stairs", "--seed", "3",
                 "--sim-seconds", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "synthetic" in out and "stairs seed 3" in out and "time 2 s" in out
    assert out.count("\n") > 10 and len(REGION_ROW.findall(out)) >= 10
    assert "start" in out and "temp" in out
    again = run(tmp_path, "engine", "--once", "--synthetic", "stairs", "--seed", "3",
                "--sim-seconds", "2")  # fmt: skip
    assert again.stdout == out  # simulated time and a fixed seed: deterministic


def test_once_prints_header_heatmap_and_table(tmp_path: Path) -> None:
    result = run(tmp_path, "--once", "--backend", "engine", "--delay", "0.3", "--sort", "address")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("damontui engine:") and "synthetic:hotcold" in out
    assert len(HEATMAP_ROW.findall(out)) >= 4 and "snapshots, ramp" in out
    rows = REGION_ROW.findall(out)
    assert len(rows) >= 10


def test_batch_prints_count_reports(tmp_path: Path) -> None:
    result = run(tmp_path, "--batch", "--count", "2", "--delay", "0.1", "--synthetic", "zigzag")
    assert result.returncode == 0, result.stderr
    reports = result.stdout.split("=" * 72)
    assert len(reports) == 2
    for report in reports:
        assert "synthetic:zigzag" in report and HEATMAP_ROW.search(report)
        assert REGION_ROW.search(report)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_endless_batch_stops_cleanly_on_signals(tmp_path: Path, signum: int) -> None:
    """`--count 0` runs until told to stop; SIGTERM/SIGHUP unwind through the code
    that stops the backend instead of killing the process mid-report."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "damontui", "--batch", "--count", "0", "--delay", "0.2",
         "--synthetic", "hotcold"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env(tmp_path),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("damontui engine:")  # first report is out
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err


def test_not_a_terminal_means_batch_mode(tmp_path: Path) -> None:
    result = run(tmp_path, "--backend", "engine", "--delay", "0.2", "--limit", "3")  # a pipe
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("damontui engine:")
    assert len(REGION_ROW.findall(result.stdout)) == 3


def test_bad_values_are_named(tmp_path: Path) -> None:
    result = run(tmp_path, "--once", "--backend", "engine", "--sample", "5 parsecs")
    assert result.returncode == 2 and "--sample" in result.stderr and "parsecs" in result.stderr
    result = run(tmp_path, "--once", "--backend", "engine", "--sample", "10ms", "--aggr", "15ms")
    assert result.returncode == 2 and "--aggr 15ms" in result.stderr and "aggr_us" in result.stderr
    result = run(tmp_path, "--once", "--backend", "engine", "--config",
                 str(tmp_path / "missing.toml"), "--delay", "0.1")  # fmt: skip
    assert result.returncode == 0 and "missing.toml" in result.stderr


# --- the TUI on a pseudo-terminal ---------------------------------------------------


class Tui:
    """damontui on a pty of 80x24 as the controlling terminal of a new session."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        environment = dict(env(tmp_path), TERM="xterm-256color")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "damontui", "--backend", "engine", "--refresh", "0.2", *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=environment,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip
        os.close(slave)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while needle not in self.output:
            assert time.monotonic() < end, f"{needle!r} never shown: {self.output[-500:]!r}"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    break

    def wait(self, timeout: float = 10) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"damontui still running {timeout} s after losing its terminal")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


@pytest.fixture
def tui(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[Tui] = []

    def start(*args: str) -> Tui:
        started.append(Tui(tmp_path, *args))
        started[-1].read_until(b"Regions")
        return started[-1]

    yield start
    for t in started:
        t.close()


def test_tui_quits_on_q(tui) -> None:  # type: ignore[no-untyped-def]
    t = tui("--no-mouse")
    t.read_until(b"live")
    os.write(t.master, b"q")
    assert t.wait() == 0


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_tui_exits_on_hangup_and_term(tui, signum: int) -> None:  # type: ignore[no-untyped-def]
    t = tui()
    os.kill(t.proc.pid, signum)
    assert t.wait() == 128 + signum


def test_tui_exits_when_the_terminal_goes_away(tui) -> None:  # type: ignore[no-untyped-def]
    t = tui()
    os.close(t.master)  # like an SSH connection dropping: the tty hangs up
    assert t.wait() in (0, 128 + signal.SIGHUP)


# --- flags to the backend request (in-process, nothing opened) ------------------------


def test_flags_and_config_reach_the_backend_request(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from damontui import cli
    from damontui.model import TargetKind

    config = tmp_path / "config.toml"
    config.write_text('seed = 9\nsynthetic_pattern = "phases"\n[intervals]\nsample_us = "10ms"\n'
                      'aggr_us = "200ms"\n')  # fmt: skip
    parser = cli.build_parser()

    def request(*argv: str):  # type: ignore[no-untyped-def]
        args = parser.parse_args(["--config", str(config), *argv])
        loaded, errors = cli._load_config(args)
        assert errors == []
        return cli._request(args, loaded)

    r = request()
    assert r.backend == "auto" and r.target is None and r.seed == 9
    assert r.synthetic_pattern == "phases" and r.attrs.sample_us == 10_000
    r = request("--pid", str(os.getpid()), "--source", "smaps", "--seed", "4", "--aggr", "1s",
                "--min-regions", "20", "--max-regions", "2000", "--keep-running",
                "--backend", "engine", "--kdamond", "2")  # fmt: skip
    assert r.target is not None and r.target.kind is TargetKind.PID
    assert r.target.pid == os.getpid() and r.target.name  # the process name from /proc
    assert (r.source, r.seed, r.backend, r.keep_running, r.kdamond) == ("smaps", 4, "engine",
                                                                         True, 2)  # fmt: skip
    assert (r.attrs.aggr_us, r.attrs.min_nr_regions, r.attrs.max_nr_regions) == (
        1_000_000, 20, 2000)  # fmt: skip
    r = request("--sample", "1ms")  # aggregation follows to keep 20 samples per aggregation
    assert (r.attrs.sample_us, r.attrs.aggr_us) == (1_000, 20_000)
    assert request("--paddr").target.kind is TargetKind.PADDR
    assert request("--synthetic", "zigzag").target.name == "zigzag"
    opened = []
    monkeypatch.setattr(cli, "open_backend", opened.append)
    cli._open_backend(parser.parse_args(["--synthetic", "stairs"]), None)
    assert opened[0].target.name == "stairs"
    with pytest.raises(cli.InputError, match="needs a target: add --pid N or --paddr"):
        cli._open_backend(parser.parse_args(["--synthetic", "stairs", "--source", "smaps"]), None)
