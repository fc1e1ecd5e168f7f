"""Themes: shipped files register in a real app; broken files are skipped and named."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.widgets import Label

from damontui.tui.themes import (
    DEFAULT_RAMP,
    DEFAULT_THEME,
    ThemeFileError,
    heat_ramp,
    load_themes,
    parse_theme,
    select_theme,
    shipped_theme_dirs,
)

SHIPPED = ("damon-dark", "damon-light", "damon-high-contrast")
REPO_THEMES = Path(__file__).resolve().parents[1] / "themes"

VALID = """\
name = "mine"
primary = "#336699"
background = "#000000"
[heat]
ramp = ["#000080", "#ff0000"]
"""


class ThemedApp(App[None]):
    def __init__(self, extra: tuple[Path, ...] = (), theme: str = DEFAULT_THEME) -> None:
        super().__init__()
        self.extra = extra
        self.wanted = theme
        self.errors: list[str] = []
        self.select_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("hello")

    def on_mount(self) -> None:
        self.errors = load_themes(self, self.extra)
        self.select_error = select_theme(self, self.wanted)


def test_shipped_theme_files_are_in_the_repo() -> None:
    assert {p.stem for p in REPO_THEMES.glob("*.toml")} >= set(SHIPPED)
    assert shipped_theme_dirs(), "the loader finds no theme directory"


@pytest.mark.parametrize("name", SHIPPED)
async def test_each_shipped_theme_registers_and_applies(name: str) -> None:
    app = ThemedApp(theme=name)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.errors == []
        assert app.select_error is None
        assert app.theme == name
        theme = app.get_theme(name)
        assert theme is not None and theme.background and theme.foreground
        ramp = heat_ramp(app)
        assert len(ramp) >= 5 and ramp != list(DEFAULT_RAMP)
        for color in ramp:
            Color.parse(color)


def test_shipped_files_have_every_theme_field() -> None:
    for name in SHIPPED:
        theme, ramp = parse_theme((REPO_THEMES / f"{name}.toml").read_text(), name)
        for field in (
            "primary",
            "secondary",
            "accent",
            "foreground",
            "background",
            "surface",
            "panel",
            "warning",
            "error",
            "success",
        ):
            assert getattr(theme, field), f"{name}: {field}"
        assert theme.variables and len(ramp) >= 5
    assert parse_theme((REPO_THEMES / "damon-light.toml").read_text(), "x")[0].dark is False


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (VALID.replace('"#336699"', '"not-a-colour"'), "primary"),
        (VALID.replace('"#ff0000"', '"#zzzzzz"'), "heat.ramp[1]"),
        (VALID.replace('ramp = ["#000080", "#ff0000"]', 'ramp = ["#000080"]'), "heat.ramp"),
        (VALID.replace('name = "mine"', ""), "name"),
        (VALID.replace('primary = "#336699"', ""), "primary"),
        ("dark = 3\n" + VALID, "dark"),
        ('primry = "#fff"\n' + VALID, "primry"),
        (VALID.replace("[heat]", "[variables]\nx = 1\n[heat]"), "variables.x"),
    ],
)
def test_invalid_theme_names_the_key(text: str, key: str) -> None:
    with pytest.raises(ThemeFileError) as info:
        parse_theme(text, "my.toml")
    assert info.value.key == key
    assert str(info.value).startswith(f"my.toml: {key}: ")


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ThemeFileError, match=r"^my.toml:2: "):
        parse_theme('name = "x"\nprimary = \n', "my.toml")


async def test_broken_user_theme_is_skipped_with_a_named_error(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(VALID)
    (tmp_path / "bad.toml").write_text(
        VALID.replace("mine", "bad").replace('"#336699"', '"blurple"')
    )
    (tmp_path / "notes.txt").write_text("not a theme")
    app = ThemedApp(extra=(tmp_path,), theme="mine")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "mine"
        assert "bad" not in app.available_themes
        assert len(app.errors) == 1
        assert str(tmp_path / "bad.toml") in app.errors[0] and "primary" in app.errors[0]
        assert heat_ramp("mine") == ["#000080", "#ff0000"]
        assert set(SHIPPED) <= set(app.available_themes)


async def test_unknown_theme_falls_back_to_the_default() -> None:
    app = ThemedApp(theme="no-such-theme")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert app.select_error is not None and "no-such-theme" in app.select_error


async def test_builtin_theme_gets_a_ramp_from_its_colours() -> None:
    app = ThemedApp(theme="textual-light")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        ramp = heat_ramp(app)
        assert len(ramp) == 7 and ramp[0] != ramp[-1]
    assert heat_ramp("never-registered") == list(DEFAULT_RAMP)
