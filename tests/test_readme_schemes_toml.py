"""The README's schemes-file example loads, holds every 7.x scheme field, round-trips,
and its error example is the message the loader really gives."""

from __future__ import annotations

import re
from pathlib import Path

from damontui.config import key_line
from damontui.model import Dest, GoalMetric, GoalTuner, ValidationError
from damontui.model.serialize import schemes_from_toml, schemes_to_toml

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("### Schemes files") :]
SECTION = SECTION[: SECTION.index("\n## ")]


def schemes_block() -> str:
    match = re.search(r"<!--\s*readme-test:\s*schemes\s*-->\s*```toml\n(.*?)```", SECTION, re.S)
    assert match, "the Schemes files section has a schemes TOML block"
    return match.group(1)


def test_readme_schemes_block_loads_with_every_7x_field() -> None:
    (scheme,) = schemes_from_toml(schemes_block())
    assert scheme.dests == (Dest(1, 700), Dest(2, 300))
    assert scheme.quotas.goal_tuner is GoalTuner.TEMPORAL
    assert (scheme.quotas.fail_charge_num, scheme.quotas.fail_charge_denom) == (1, 4)
    (goal,) = scheme.quotas.goals
    assert (goal.metric, goal.nid, goal.path, goal.target_value) == (
        GoalMetric.NODE_MEMCG_USED_BP,
        1,
        "/workload",
        4000,
    )
    assert schemes_from_toml(schemes_to_toml([scheme])) == [scheme]
    for key in ("max_nr_snapshots", "complement"):
        assert key in schemes_block()


def test_readme_lists_every_goal_metric() -> None:
    block = schemes_block()
    assert all(metric.value in block for metric in GoalMetric)


def test_readme_error_example_is_the_real_message() -> None:
    text = schemes_block().replace('goal_tuner = "temporal"', 'goal_tuner = "fast"')
    try:
        schemes_from_toml(text)
    except ValidationError as exc:
        message = f"schemes.toml:{key_line(text, exc.field)}: {exc}"
    else:
        raise AssertionError("a bad goal_tuner loaded")
    shown = re.search(r"`(schemes\.toml:\d+:.*?)`", SECTION, re.S)
    assert shown
    assert " ".join(shown.group(1).split()) == message
