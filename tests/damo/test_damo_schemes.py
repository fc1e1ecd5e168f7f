"""Scheme-panel import/export of damo JSON, judged by damo."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from damontui.formats.damo_json import load_damo
from damontui.formats.damo_schemes import schemes_from_damo, schemes_to_damo
from damontui.model import Action, MonitoringAttrs, Scheme, Target, TargetKind

from . import peer


def _damo_json(*args: str) -> str:
    out = peer.damo("args", "damon", "--format", "json", *args)
    return out[out.index("{") :]


def test_import_edit_export_keeps_the_rest_as_written(tmp_path: Path) -> None:
    text = _damo_json("--damos_action", "pageout", "--damos_access_rate", "0%", "33%",
                      "--damos_age", "1.5s", "max", "--damos_action", "stat")  # fmt: skip
    imp = schemes_from_damo(text, MonitoringAttrs(5000, 100_000, 1_000_000), "in.json")
    assert [s.action for s in imp.schemes] == [Action.PAGEOUT, Action.STAT]
    edited = (dataclasses.replace(imp.schemes[0], apply_interval_us=2_000_000), imp.schemes[1])
    out = schemes_to_damo(edited, imp.context.attrs, imp)
    doc, orig = json.loads(out), json.loads(text)
    s0 = doc["kdamonds"][0]["contexts"][0]["schemes"][0]
    assert s0["apply_interval_us"] == "2 s"
    orig_s0 = orig["kdamonds"][0]["contexts"][0]["schemes"][0]
    assert s0["access_pattern"] == orig_s0["access_pattern"]  # "33 %" stays "33 %"
    s0["apply_interval_us"] = "0 ns"
    assert doc == orig  # nothing else changed
    path = tmp_path / "out.json"
    path.write_text(out)
    back = load_damo(peer.damo("args", "damon", "--kdamonds", str(path), "--format", "json"))
    assert back[0].contexts[0].schemes == edited


def test_fresh_export_damo_reads(tmp_path: Path) -> None:
    attrs = MonitoringAttrs(10_000, 200_000, 2_000_000)
    schemes = (Scheme(Action.COLD, name="x"), Scheme(Action.MIGRATE_HOT, target_nid=1))
    path = tmp_path / "s.json"
    path.write_text(schemes_to_damo(schemes, attrs, targets=[Target(TargetKind.PID, pid=7)]))
    [kd] = load_damo(peer.damo("args", "damon", "--kdamonds", str(path), "--format", "json"))
    ctx = kd.contexts[0]
    assert ctx.ops == "vaddr" and ctx.targets[0].pid == 7
    assert (ctx.attrs.sample_us, ctx.attrs.aggr_us) == (10_000, 200_000)
    assert ctx.schemes == tuple(dataclasses.replace(s, name="") for s in schemes)
