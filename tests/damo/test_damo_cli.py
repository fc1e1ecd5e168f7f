"""`damontui damo-json` and `damontui --damo-config`, with files damo wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from damontui.cli import main

from . import peer


def _damo_file(tmp: Path, *args: str, name: str = "in.json") -> Path:
    out = peer.damo("args", "damon", "--format", "json", *args)
    path = tmp / name
    path.write_text(out[out.index("{") :])
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "damontui", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_damo_json_rewrites_and_damo_agrees(tmp_path: Path) -> None:
    src = _damo_file(tmp_path, "--damos_action", "pageout", "--damos_access_rate", "0%", "33%",
                     "--damos_age", "1.5s", "max", "--damos_quota_goal_tuner", "temporal",
                     "--damos_quotas", "10ms", "1G", "1s")  # fmt: skip
    out = tmp_path / "out.json"
    assert main(["damo-json", str(src), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(src.read_text())
    raw = tmp_path / "raw.json"
    assert main(["damo-json", str(src), "-o", str(raw), "--raw"]) == 0
    text = raw.read_text()
    assert "6 samples" in text and "15 aggr_intervals" in text  # counts named as counts
    again = peer.damo("args", "damon", "--kdamonds", str(raw), "--format", "json")
    orig = peer.damo("args", "damon", "--kdamonds", str(src), "--format", "json")
    from damontui.formats.damo_json import load_damo

    assert [k.contexts for k in load_damo(again)] == [k.contexts for k in load_damo(orig)]


@pytest.mark.parametrize(("content", "where"), [
    (b"\xff\xfe", "$: not UTF-8"),
    (b'{"kdamonds": [{"contexts": [{"ops": "kvaddr"}]}]}', "kdamonds[0].contexts[0].ops"),
    (b'{"kdamonds": [{"refresh_ms": NaN, "contexts": []}]}', "NaN"),
])  # fmt: skip
def test_damo_json_errors_name_file_and_key(tmp_path: Path, content: bytes, where: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    proc = _run("damo-json", str(bad), "-o", str(tmp_path / "out.json"))
    assert proc.returncode == 1
    assert f"{bad}: " in proc.stderr and where in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out.json").exists()


def test_damo_json_missing_file(tmp_path: Path) -> None:
    proc = _run("damo-json", str(tmp_path / "nope.json"), "-o", "-")
    assert proc.returncode == 1 and "nope.json" in proc.stderr and "Traceback" not in proc.stderr


def test_damo_config_starts_monitoring_with_its_attrs_and_schemes(tmp_path: Path) -> None:
    import os

    cfg = _damo_file(tmp_path, "--ops", "vaddr", "--target_pid", str(os.getpid()),
                     "--monitoring_intervals", "10ms", "100ms", "1s",
                     "--damos_action", "stat", "--damos_access_rate", "0%", "100%")  # fmt: skip
    proc = _run("--damo-config", str(cfg), "--backend", "engine", "--source", "smaps", "--once")
    assert proc.returncode == 0, proc.stderr
    assert f"pid {os.getpid()}" in proc.stdout
    assert "sample 10 ms  aggr 100 ms  update 1 s" in proc.stdout
    assert "stat" in proc.stdout  # the scheme's stats line


def test_damo_config_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    two = _damo_file(tmp_path, "--nr_ctxs", "1", "1", "--ops", "paddr", "--ops", "paddr",
                     "--nr_targets", "1", "1",
                     name="two.json")  # fmt: skip
    proc = _run("--damo-config", str(two), "--once")
    assert proc.returncode == 1 and "one context; the file has 2" in proc.stderr
    bad = tmp_path / "bad.json"
    ctx = {"ops": "paddr", "intervals": {"sample_us": []}}
    bad.write_text(json.dumps({"kdamonds": [{"contexts": [ctx]}]}))
    proc = _run("--damo-config", str(bad), "--once")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{bad}: kdamonds[0].contexts[0].intervals.sample_us" in proc.stderr
