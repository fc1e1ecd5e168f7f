"""The scheme panel's damo JSON keys: F7 imports a damo file's schemes, F6 exports."""

from __future__ import annotations

import json
from pathlib import Path

from test_tui_schemes import ATTRS, COLD, PanelApp, SchemeList
from textual.widgets import Input

from damontui.formats.damo_json import load_damo
from damontui.model import Action

from . import peer


async def test_import_then_export_damo_json(tmp_path: Path) -> None:
    out = peer.damo(
        "args",
        "damon",
        "--format",
        "json",
        "--monitoring_intervals",
        "5ms",
        "100ms",
        "60s",
        "--damos_action",
        "pageout",
        "--damos_access_rate",
        "0%",
        "33%",
        "--damos_age",
        "1.5s",
        "max",
        "--damos_action",
        "stat",
    )
    src = tmp_path / "conf.json"
    src.write_text(out[out.index("{") :])
    dst = tmp_path / "exported.json"
    app = PanelApp((COLD,), schemes_file=tmp_path / "schemes.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one(SchemeList).focus()
        await pilot.press("f7")
        await pilot.pause()
        app.screen.query_one(Input).value = str(src)
        await pilot.press("enter")
        await pilot.pause()
        assert [s.action for s in app.panel.schemes] == [Action.PAGEOUT, Action.STAT]
        app.query_one(SchemeList).focus()
        await pilot.press("f6")
        await pilot.pause()
        app.screen.query_one(Input).value = str(dst)
        await pilot.press("enter")
        await pilot.pause()
    assert json.loads(dst.read_text()) == json.loads(src.read_text())  # as written
    again = peer.damo("args", "damon", "--kdamonds", str(dst), "--format", "json")
    assert load_damo(again)[0].contexts == load_damo(src.read_text())[0].contexts


async def test_import_error_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kdamonds": [{"contexts": [{"ops": "paddr", "schemes": [{"action": 1}]}]}]}')
    app = PanelApp((COLD,), schemes_file=tmp_path / "schemes.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one(SchemeList).focus()
        await pilot.press("f7")
        await pilot.pause()
        app.screen.query_one(Input).value = str(bad)
        await pilot.press("enter")
        await pilot.pause()
        assert app.panel.schemes == (COLD,)  # nothing replaced
        messages = [n.message for n in app._notifications]
        assert any(f"{bad}: kdamonds[0].contexts[0].schemes[0].action" in m for m in messages)


async def test_toml_save_keeps_every_7x_setting(tmp_path: Path) -> None:
    import dataclasses

    from damontui.model import Action, Dest, GoalMetric, GoalTuner, QuotaGoal, Quotas

    goal = QuotaGoal(GoalMetric.NODE_MEMCG_USED_BP, 4000, nid=1, path="/db", complement=True)
    quotas = Quotas(ms=10, reset_interval_ms=1000, goals=(goal,), goal_tuner=GoalTuner.TEMPORAL,
                    fail_charge_num=1, fail_charge_denom=8)  # fmt: skip
    dests = (Dest(0, 700), Dest(1, 300))
    scheme = dataclasses.replace(COLD, action=Action.MIGRATE_COLD, quotas=quotas, dests=dests,
                                 max_nr_snapshots=9)  # fmt: skip
    app = PanelApp((scheme,), schemes_file=tmp_path / "schemes.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one(SchemeList).focus()
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
    from damontui.model.serialize import schemes_from_toml

    assert schemes_from_toml((tmp_path / "schemes.toml").read_text(), ATTRS) == [scheme]
    assert any("saved 1 scheme(s)" in m for m in messages)
    assert not any("damo JSON" in m or "can't hold" in m for m in messages)  # nothing lost
