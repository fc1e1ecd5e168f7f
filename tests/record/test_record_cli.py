"""`damontui record` and `damontui report` end to end on the engine's synthetic workload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from damontui.cli import main
from damontui.record import RecordReader

DAMONTUI = [sys.executable, "-m", "damontui"]
SYN = ["--synthetic", "hotcold", "--backend", "engine", "--seed", "1"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "syn.dtrec"
    assert main(["record", "-o", str(path), "--count", "12", *SYN]) == 0
    return path


def test_record_then_report_json(recorded, capsys):
    with RecordReader(recorded) as r:
        assert len(r) == 12 and r.warnings == []
        assert r.meta(0).info.backend == "engine"
        first = r.snapshot(0)
    capsys.readouterr()
    assert main(["report", str(recorded), "--json", "--sort", "temperature"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["snapshots"] and len(doc["snapshots"]) == 12
    snap0 = doc["snapshots"][0]
    assert list(snap0)[0] == "regions"
    region = snap0["regions"][0]
    assert list(region)[:5] == ["start", "end", "nr_accesses", "age_us", "temperature"]
    temps = [x["temperature"] for x in snap0["regions"]]
    assert temps == sorted(temps, reverse=True)
    # the values are the recorded ones
    by_start = {x["start"]: x for x in snap0["regions"]}
    t = first.targets[0]
    for i in range(len(t)):
        row = by_start[t.starts[i]]
        assert (row["end"], row["nr_accesses"]) == (t.ends[i], t.nr_accesses[i])
        assert row["age_us"] == t.ages[i] * first.attrs.aggr_us


@pytest.mark.parametrize(
    "style",
    ["summary", "table", "hot", "cold", "recency-percentiles", "idle-time-percentiles",
     "temperature-percentiles", "cold-memory-tail", "wss", "heatmap"],
)  # fmt: skip
def test_report_styles(recorded, capsys, style):
    assert main(["report", str(recorded), "--style", style]) == 0
    out = capsys.readouterr().out
    assert out.strip() and "Traceback" not in out
    if style.endswith("percentiles") or style == "wss":
        assert "p50" in out and "p100" in out
    if style == "heatmap":
        assert "12 snapshots" in out


def test_report_time_window(recorded, capsys):
    assert main(["report", str(recorded), "--json", "--since", "0.3", "--until", "600ms"]) == 0
    doc = json.loads(capsys.readouterr().out)
    times = [s["elapsed_us"] for s in doc["snapshots"]]
    assert len(times) == 4 and times[-1] - times[0] == 300_000
    assert main(["report", str(recorded), "--since", "soon"]) == 2
    assert "--since" in capsys.readouterr().err


def test_report_heatmap_svg(recorded, tmp_path, capsys):
    out = tmp_path / "heat.svg"
    assert main(["report", str(recorded), "--style", "wss", "--heatmap", str(out)]) == 0
    assert f"heatmap written to {out}" in capsys.readouterr().err
    svg = out.read_text()
    assert svg.startswith("<svg") and "damontui" in svg
    from damontui.record.report import HEAT

    assert sum(colour in svg for colour in HEAT) >= 2  # cells drawn in access colours


def test_report_bad_files(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"PK\x03\x04 not a record at all")
    assert main(["report", str(junk)]) == 1
    err = capsys.readouterr().err
    assert f"{junk}: byte 0: not a damontui record" in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "nope.dtrec")]) == 1
    assert "can't open" in capsys.readouterr().err


def test_report_truncated_warns_and_reports(recorded, tmp_path, capsys):
    cut = tmp_path / "cut.dtrec"
    data = recorded.read_bytes()
    cut.write_bytes(data[: len(data) - 7])
    assert main(["report", str(cut), "--json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["snapshots"]) == 11
    assert "warning" in captured.err and "truncated at byte" in captured.err


def _wait_snapshots(path: Path, n: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size > 16:
            try:
                with RecordReader(path) as r:
                    if len(r) >= n:
                        return
            except Exception:  # noqa: BLE001 - mid-creation
                pass
        time.sleep(0.1)
    raise AssertionError(f"{path}: fewer than {n} snapshots after {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_end_the_record_cleanly(tmp_path, sig):
    path = tmp_path / "sig.dtrec"
    proc = subprocess.Popen([*DAMONTUI, "record", "-o", str(path), *SYN],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_snapshots(path, 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and f"({signal.Signals(sig).name})" in err
    with RecordReader(path) as r:
        assert r.warnings == [] and len(r) >= 3
        list(r)


def test_kill_9_keeps_every_complete_snapshot(tmp_path):
    path = tmp_path / "k9.dtrec"
    proc = subprocess.Popen([*DAMONTUI, "record", "-o", str(path), *SYN],
                            stderr=subprocess.DEVNULL)  # fmt: skip
    _wait_snapshots(path, 5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with RecordReader(path) as r:
        assert len(r) >= 5
        snaps = list(r)  # every directory entry decodes
    assert [s.seq for s in snaps] == sorted(s.seq for s in snaps)
    # and it replays up to the last complete snapshot
    from damontui.record.replay import RecordSnapshots, ReplayBackend

    with RecordReader(path) as r:
        replay = ReplayBackend(RecordSnapshots(r), r.meta(0).info, str(path))
        replay.position = len(replay) - 1
        assert replay.latest().seq == snaps[-1].seq


def test_stdout_stream_and_nothing_else_on_a_pipe(tmp_path):
    proc = subprocess.run([*DAMONTUI, "record", "-o", "-", "--count", "3", *SYN],
                          capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert b"\r" not in proc.stderr  # no progress line into a pipe
    path = tmp_path / "s.dtrec"
    path.write_bytes(proc.stdout)
    with RecordReader(path) as r:
        assert len(r) == 3 and r.warnings == []


def test_progress_line_on_a_terminal(tmp_path):
    import pty

    leader, follower = pty.openpty()
    path = tmp_path / "p.dtrec"
    proc = subprocess.Popen([*DAMONTUI, "record", "-o", str(path), "--count", "8", *SYN],
                            stderr=follower, stdout=subprocess.DEVNULL)  # fmt: skip
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(leader)
    text = out.decode(errors="replace")
    assert "\r" in text and f"recording {path}" in text
    assert "8 snapshots" in text and "/s" in text


def test_max_size_rotates(tmp_path):
    path = tmp_path / "rot.dtrec"
    assert main(["record", "-o", str(path), "--count", "40", "--max-size", "4KiB", *SYN]) == 0
    parts = sorted(tmp_path.glob("rot.dtrec*"))
    assert len(parts) >= 2
    total = 0
    for p in parts:
        assert p.stat().st_size <= 4096
        with RecordReader(p) as r:
            total += len(r)
    assert total == 40


def test_report_and_replay_read_all_rotation_parts(tmp_path, capsys):
    from damontui.record.reader import RecordSet, record_parts

    path = tmp_path / "rot.dtrec"
    assert main(["record", "-o", str(path), "--count", "30", "--max-size", "4KiB", *SYN]) == 0
    parts = record_parts([path])
    assert len(parts) >= 2
    capsys.readouterr()
    assert main(["report", str(path), "--json"]) == 0  # FILE brings its parts along
    doc = json.loads(capsys.readouterr().out)
    times = [s["elapsed_us"] for s in doc["snapshots"]]
    assert len(times) == 30 and times == sorted(times)
    assert main(["report", str(parts[0]), str(parts[1]), "--json"]) == 0  # or name them
    with RecordSet(parts) as records:
        assert len(records) == 30
        assert records.snapshot(-1).elapsed_us == times[-1]
        assert (
            records.snapshot(len(records.readers[0])).elapsed_us == times[len(records.readers[0])]
        )


def test_record_bad_options(tmp_path, capsys):
    assert main(["record", "-o", str(tmp_path / "x"), "--count", "0", *SYN]) == 2
    assert "--count" in capsys.readouterr().err
    assert main(["record", "-o", str(tmp_path / "no" / "dir" / "x"), "--count", "1", *SYN]) == 1
    assert "can't write" in capsys.readouterr().err
    assert main(["record", "-o", str(tmp_path / "x"), "--stream", *SYN]) == 2


def test_replay_bad_file(tmp_path, capsys):
    junk = tmp_path / "junk.txt"
    junk.write_text("not a record\n")
    assert main(["replay", str(junk)]) == 1
    err = capsys.readouterr().err
    assert f"{junk}: byte 0: not a damontui record" in err and "Traceback" not in err


def test_append_through_the_cli(tmp_path):
    path = tmp_path / "a.dtrec"
    assert main(["record", "-o", str(path), "--count", "3", *SYN]) == 0
    assert main(["record", "-o", str(path), "--count", "2", "--append", *SYN]) == 0
    with RecordReader(path) as r:
        assert len(r) == 5 and r.warnings == []
        times = r.elapsed_us
    assert all(a < b for a, b in zip(times, times[1:], strict=False))  # one clock


def test_report_of_a_damon_stat_record(tmp_path, capsys):
    """DAMON_STAT samples (no regions) report the kernel's own percentiles."""
    from dataclasses import fields, replace

    from damontui.model import BackendInfo, MonitoringAttrs, Snapshot
    from damontui.record import RecordWriter

    if "damon_stat" not in {f.name for f in fields(Snapshot)}:
        pytest.skip("this build's Snapshot has no damon_stat (the DAMON_STAT backend)")
    from damontui.model.damon_stat import DamonStatSample

    path = tmp_path / "stat.dtrec"
    info = BackendInfo("damon_stat", "DAMON_STAT")
    with RecordWriter(path) as w:
        for i in range(3):
            sample = DamonStatSample(1.0 + i, True, 99, 100_000, (i + 1) << 20,
                                     tuple(range(-50, 51)))  # fmt: skip
            w.write(replace(Snapshot(i, 1.0 + i, i * 100_000, MonitoringAttrs()),
                            damon_stat=sample), info)  # fmt: skip
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "DAMON_STAT, 3 samples" in out and "max 3" in out and "Traceback" not in out
