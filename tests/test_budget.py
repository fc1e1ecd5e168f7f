"""The engine's CPU budget: adaptation steps, bounds, messages, parsing."""

from __future__ import annotations

import pytest

from damontui.backends.engine.budget import CpuBudget, parse_cpu_budget
from damontui.model import MonitoringAttrs, ValidationError


def feed(b: CpuBudget, attrs: MonitoringAttrs, percent: float, windows: int = 1) -> MonitoringAttrs:
    """Simulate windows of 3 s in which the engine used ``percent`` of a core."""
    wall = getattr(b, "_t", 0.0)
    cpu = getattr(b, "_c", 0.0)
    if b._cpu0 is None:
        attrs = b.after_aggregation(attrs, cpu, wall)
    for _ in range(windows):
        for step in range(1, 4):
            attrs = b.after_aggregation(attrs, cpu + percent / 100 * step, wall + step)
        wall += 3
        cpu += percent / 100 * 3
    b._t, b._c = wall, cpu  # type: ignore[attr-defined]
    return attrs


def test_over_budget_lengthens_sampling_first_keeping_max_nr_accesses() -> None:
    user = MonitoringAttrs()
    b = CpuBudget(2.0, user)
    attrs = feed(b, user, 8.0)
    assert attrs.sample_us > user.sample_us
    assert attrs.max_nr_accesses == user.max_nr_accesses
    assert attrs.max_nr_regions == user.max_nr_regions
    assert b.use == pytest.approx(8.0)
    assert "cpu budget 2 % (using 8.0 %): sampling" in b.status(attrs)


def test_fixed_intervals_only_lower_regions_then_say_it_cannot_fit() -> None:
    user = MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
    b = CpuBudget(2.0, user, intervals_fixed=True)
    attrs = feed(b, user, 50.0, windows=8)
    assert (attrs.sample_us, attrs.aggr_us) == (10_000, 200_000)
    assert attrs.max_nr_regions == attrs.min_nr_regions
    text = b.status(attrs)
    assert "cannot fit" in text and "sampling fixed at 10 ms" in text and "--cpu-budget" in text


def test_sampling_stops_at_its_bound_then_regions_drop() -> None:
    user = MonitoringAttrs()
    b = CpuBudget(1.0, user)
    attrs = feed(b, user, 90.0, windows=12)
    assert attrs.sample_us == b.max_sample_us
    assert attrs.max_nr_regions == attrs.min_nr_regions
    assert "cannot fit: sampling at its bound 1 s" in b.status(attrs)


def test_well_under_budget_steps_back_to_the_user_settings() -> None:
    user = MonitoringAttrs()
    b = CpuBudget(2.0, user)
    attrs = feed(b, user, 30.0, windows=8)
    assert attrs != user
    attrs = feed(b, attrs, 0.1, windows=30)
    assert attrs == user
    assert b.status(attrs) == "cpu budget 2 % (using 0.1 %)"


def test_no_budget_changes_nothing() -> None:
    b = CpuBudget(None, MonitoringAttrs())
    assert feed(b, MonitoringAttrs(), 100.0) == MonitoringAttrs()
    assert b.status(MonitoringAttrs()) == "cpu budget off"


@pytest.mark.parametrize(("text", "value"), [("2", 2.0), ("2.5%", 2.5), ("off", None), (0, None)])
def test_parse(text: object, value: float | None) -> None:
    assert parse_cpu_budget(text) == value


@pytest.mark.parametrize("text", ["-1", "101", "lots", True])
def test_parse_rejects_with_the_allowed_values(text: object) -> None:
    with pytest.raises(ValidationError, match="percentage of one core"):
        parse_cpu_budget(text, "--cpu-budget")


def test_cli_flag_and_config_key(tmp_path) -> None:  # noqa: ANN001
    from damontui.cli import build_parser
    from damontui.config import load_config

    args = build_parser().parse_args(["--cpu-budget", "5%"])
    assert args.cpu_budget == 5.0
    assert build_parser().parse_args(["--cpu-budget", "off"]).cpu_budget == 0.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--cpu-budget", "x"])
    path = tmp_path / "c.toml"
    path.write_text("cpu_budget = 3\n")
    config, problems = load_config(path)
    assert config.cpu_budget == 3.0 and not problems
    path.write_text('cpu_budget = "lots"\n')
    config, problems = load_config(path)
    assert config.cpu_budget == 2.0 and any("cpu_budget" in p for p in problems)


def test_engine_backend_shows_the_budget_in_its_info() -> None:
    from damontui.backends.engine.backend import EngineBackend
    from damontui.model import Target, TargetKind

    b = EngineBackend([Target(TargetKind.SYNTHETIC, name="hotcold")], cpu_budget=2.0)
    assert any(f.startswith("cpu budget 2 %") for f in b.info.features)
    b.close()
