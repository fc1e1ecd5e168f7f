"""damo's record format on the record side: `damontui record --format damo` (read back by
damontui and, where the damo peer runs, by damo itself), and damo records in `report` and
`replay`. Uses the damo interop engineer's damontui.formats.damo_record."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from damontui.cli import main

damo_record = pytest.importorskip(
    "damontui.formats.damo_record", reason="damontui.formats.damo_record is not in this build"
)

SYN = ["--synthetic", "hotcold", "--backend", "engine", "--seed", "2"]
PEER = Path(__file__).resolve().parents[1] / "damo" / "peer.py"


def _peer():  # type: ignore[no-untyped-def]
    if not PEER.exists():
        pytest.skip("tests/damo/peer.py (the damo test peer) is not in this build")
    spec = importlib.util.spec_from_file_location("damontui_damo_peer", PEER)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def damo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("damo") / "damon.data"
    assert main(["record", "-o", str(path), "--format", "damo", "--count", "6", *SYN]) == 0
    return path


def test_record_format_damo_reads_back(damo_file, capsys):
    snaps = damo_record.read_damo_record(damo_file)
    assert len(snaps) == 6 and all(s.targets and len(s.targets[0]) for s in snaps)
    capsys.readouterr()
    assert main(["report", str(damo_file), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["snapshots"]) == 6
    first = doc["snapshots"][0]["regions"][0]
    assert list(first)[:5] == ["start", "end", "nr_accesses", "age_us", "temperature"]


def test_damo_reads_our_damo_record(damo_file):
    peer = _peer()
    reason = peer.unavailable_reason()
    if reason:
        pytest.skip(reason)
    out = peer.damo("report", "access", "-i", str(damo_file), "--raw_number",
                    "--format_record_head", "", "--format_record_tail", "",
                    "--format_snapshot_head", "snapshot", "--format_snapshot_tail", "",
                    "--format_region", "<start address> <end address>",
                    cwd=damo_file.parent)  # fmt: skip
    last = damo_record.read_damo_record(damo_file)[-1].targets[0]
    rows = [line.split() for line in out.splitlines() if line.strip() and line != "snapshot"]
    ours = {(str(s), str(e)) for s, e in zip(last.starts, last.ends, strict=True)}
    assert ours <= {(r[0].replace(",", ""), r[1].replace(",", "")) for r in rows if len(r) >= 2}


async def test_replay_a_damo_record(damo_file):
    from damontui.record.replay import ReplayApp, ReplayBackend
    from damontui.record.report import load

    snaps, info, _ = load(damo_file)
    app = ReplayApp(ReplayBackend(snaps, info, str(damo_file)), theme="damon-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("G")
        assert app.replay.position == 5 and app.displayed is snaps[-1]
        assert app.info.readonly


def test_format_damo_refuses_streams(tmp_path, capsys):
    assert main(["record", "-o", "-", "--format", "damo", "--count", "1", *SYN]) in (2,)
    assert "--format damo" in capsys.readouterr().err
