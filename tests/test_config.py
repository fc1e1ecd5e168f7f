"""Config loading: defaults, a good file, and bad files that name file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from damontui.config import (
    Config,
    config_dir,
    default_config_path,
    key_line,
    load_config,
    user_theme_dir,
)
from damontui.model import Action, MonitoringAttrs, Range, TemperatureWeights
from damontui.model.units import U32_MAX


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = """\
backend = "engine"
source = "synthetic"
synthetic_pattern = "stairs"
seed = 42
refresh = "500ms"
theme = "damon-light"
schemes_file = "~/my-schemes.toml"

[intervals]
sample_us = "10ms"
aggr_us = "200ms"
update_us = "2s"
min_nr_regions = 20
max_nr_regions = "2,000"

[intervals.intervals_goal]
access_bp = "4%"

[temperature_weights]
size = 1
age = 50

[keymap]
"app.quit" = "q,f10"

[[schemes]]
name = "cold"
action = "pageout"
access_pattern = { access_rate = ["0%", "0%"], age = ["30s", "max"] }

[[schemes]]
action = "stat"
"""


def test_defaults_without_a_file(xdg: Path) -> None:
    config, errors = load_config()
    assert errors == []
    assert config == Config()
    assert config.backend == "auto" and config.theme == "damon-dark"
    assert config.intervals == MonitoringAttrs()
    assert config.schemes_file == xdg / "damontui" / "schemes.toml"
    assert default_config_path() == xdg / "damontui" / "config.toml"
    assert user_theme_dir() == xdg / "damontui" / "themes"


def test_relative_xdg_config_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert config_dir() == Path.home() / ".config" / "damontui"


def test_explicit_missing_file_is_reported(tmp_path: Path) -> None:
    config, errors = load_config(tmp_path / "nope.toml")
    assert config == Config()
    assert len(errors) == 1 and "nope.toml" in errors[0]


def test_good_file(xdg: Path) -> None:
    path = write(default_config_path(), GOOD)
    config, errors = load_config()
    assert errors == []
    assert config.path == path
    assert (config.backend, config.source, config.synthetic_pattern, config.seed) == (
        "engine",
        "synthetic",
        "stairs",
        42,
    )
    assert config.refresh_s == 0.5 and config.theme == "damon-light"
    assert config.schemes_file == Path.home() / "my-schemes.toml"
    assert config.intervals.sample_us == 10_000 and config.intervals.aggr_us == 200_000
    assert config.intervals.max_nr_regions == 2000
    assert config.intervals.intervals_goal.access_bp == 400
    assert config.temperature_weights == TemperatureWeights(1.0, 100.0, 50.0)
    assert config.keymap == {"app.quit": "q,f10"}
    cold, stat = config.schemes
    assert cold.name == "cold" and cold.action is Action.PAGEOUT
    # human units converted with the configured intervals: 30 s / 200 ms = 150 aggregations
    assert cold.access_pattern.age == Range(150, U32_MAX)
    assert cold.access_pattern.nr_accesses == Range(0, 0)
    assert stat.action is Action.STAT


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", 'backend = "engine"\ntheme = \nseed = 1\n')
    config, errors = load_config(path)
    assert config == Config(path=path)
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:2:") and "syntax" in errors[0]


def test_bad_values_name_key_and_line_and_fall_back(tmp_path: Path) -> None:
    text = (
        GOOD.replace("seed = 42", 'seed = "forty-two"')
        .replace('aggr_us = "200ms"', 'aggr_us = "12 parsecs"')
        .replace('backend = "engine"', 'backend = "gpu"\ncolour = "blue"')
    )
    path = write(tmp_path / "config.toml", text)
    config, errors = load_config(path)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    by_key = {e.split(": ", 2)[1]: e for e in errors}
    assert by_key["backend"].startswith(f"{path}:{line_of('gpu')}: ")
    assert by_key["seed"].startswith(f"{path}:{line_of('forty-two')}: ")
    assert by_key["intervals.aggr_us"].startswith(f"{path}:{line_of('parsecs')}: ")
    assert by_key["colour"].startswith(f"{path}:{line_of('colour')}: ")
    assert len(errors) == 4
    # bad keys fall back, good ones stay
    assert config.backend == "auto" and config.seed == 0
    # a dropped aggr_us keeps the default samples per aggregation with the given sample_us
    assert config.intervals.aggr_us == 10_000 * MonitoringAttrs().max_nr_accesses
    assert config.intervals.sample_us == 10_000
    assert config.theme == "damon-light" and len(config.schemes) == 2


def test_bad_scheme_is_skipped_with_its_key_path(tmp_path: Path) -> None:
    text = GOOD + '\n[[schemes]]\naction = "pageout"\n\n[schemes.quotas]\nbytes = "lots"\n'
    path = write(tmp_path / "config.toml", text)
    config, errors = load_config(path)
    assert len(config.schemes) == 2
    (error,) = errors
    line = text.splitlines().index('bytes = "lots"') + 1
    assert error.startswith(f"{path}:{line}: schemes[2].quotas.bytes:")
    assert "skipped" in error


def test_cross_field_interval_error_falls_back(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[intervals]\nsample_us = "10ms"\naggr_us = "15ms"\n')
    config, errors = load_config(path)
    assert config.intervals.sample_us == 10_000
    assert config.intervals.aggr_us == MonitoringAttrs().aggr_us  # 100 ms: a multiple of 10
    assert errors and errors[0].startswith(f"{path}:3: intervals.aggr_us:")


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("backend", 1),
        ("intervals", 3),
        ("intervals.sample_us", 4),
        ("intervals.intervals_goal.aggrs", 7),
        ("schemes[0].action", 10),
        ("schemes[0].filters[0].type", 13),
        ("schemes[1].action", 16),
        ("schemes[1].access_pattern.age.min", 17),  # a dotted key holding a list
        ("schemes[1].quotas.bytes", 19),
        ("schemes[1].quotas.goals[0].target_value", 22),
        ("schemes[1].quotas.goals[0].path", 21),  # unset: the enclosing table's line
        ("nothing.here", None),
    ],
)
def test_key_line(path: str, line: int | None) -> None:
    text = """\
backend = "x"

[intervals]
sample_us = 1

[intervals.intervals_goal]
aggrs = 2

[[schemes]]
action = "a"

[[schemes.filters]]
type = "anon"

[[schemes]]
action = "b"
access_pattern.age = [1, 2]
[schemes.quotas]
bytes = 1

[[schemes.quotas.goals]]
target_value = 3
"""
    assert key_line(text, path) == line
