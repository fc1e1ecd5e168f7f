"""Colour themes from TOML files: Textual Theme fields plus a cold -> hot heat ramp.

Shipped themes live in the top-level ``themes/`` directory of a checkout and in
``damontui/themes`` of an installed package (package data); users add their own
in ``$XDG_CONFIG_HOME/damontui/themes`` (pass it in ``extra_dirs``). A bad file is
skipped with a message naming the file and key; it never stops the app.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import Theme

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_THEME = "damon-dark"
COLOR_FIELDS = (
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
    "boost",
)
_OTHER_FIELDS = ("name", "dark", "luminosity_spread", "text_alpha", "ansi", "variables", "heat")
# Used for themes without a [heat] table (e.g. Textual's built-in ones).
DEFAULT_RAMP = ("#1d2b55", "#2f61b8", "#3fb3b8", "#a6d654", "#f0d13a", "#f59a2c", "#c8202f")

_ramps: dict[str, tuple[str, ...]] = {}  # theme name -> heat ramp, filled by load_themes


class ThemeFileError(ValueError):
    """A theme file that cannot be used; names the file and the offending key."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


def shipped_theme_dirs() -> list[Traversable]:
    """Installed package data first, then a source checkout's top-level themes/."""
    dirs: list[Traversable] = []
    packaged = resources.files("damontui") / "themes"
    if packaged.is_dir():
        dirs.append(packaged)
    checkout = Path(__file__).resolve().parents[2] / "themes"
    if checkout.is_dir() and not any(isinstance(d, Path) and d.resolve() == checkout for d in dirs):
        dirs.append(checkout)
    return dirs


def _color(value: object, key: str, file: str) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(file, key, f"{value!r} is not a colour string")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(file, key, f"{value!r} is not a colour (use '#rrggbb')") from None
    return value


def parse_theme(text: str, file: str) -> tuple[Theme, tuple[str, ...]]:
    """A Theme and its heat ramp from TOML text (`file` names it in errors)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise ThemeFileError(
            f"{file}:{line.group(1)}" if line else file, "", f"TOML syntax error: {exc}"
        ) from None
    for key in data:
        if key not in COLOR_FIELDS and key not in _OTHER_FIELDS:
            raise ThemeFileError(file, key, "unknown key")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(file, "name", "a non-empty string is required")
    if "primary" not in data:
        raise ThemeFileError(file, "primary", "required")
    # Any: Theme's fields differ in type (str, float, bool); the checks here keep them apart.
    colors: dict[str, Any] = {
        key: _color(data[key], key, file) for key in COLOR_FIELDS if key in data
    }
    if not isinstance(data.get("dark", True), bool):
        raise ThemeFileError(file, "dark", "true or false")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data and not isinstance(data[key], (int, float)):
            raise ThemeFileError(file, key, "a number")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(file, "variables", 'a table of name = "value"')
    for var, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(file, f"variables.{var}", f"{value!r} is not a string")
    numbers: dict[str, Any] = {
        k: float(data[k]) for k in ("luminosity_spread", "text_alpha") if k in data
    }
    theme = Theme(
        name=name,
        dark=data.get("dark", True),
        variables=dict(variables),
        ansi=bool(data.get("ansi", False)),
        **colors,
        **numbers,
    )
    return theme, _ramp(data.get("heat"), file)


def _ramp(heat: object, file: str) -> tuple[str, ...]:
    if heat is None:
        return DEFAULT_RAMP
    if not isinstance(heat, dict) or set(heat) != {"ramp"}:
        raise ThemeFileError(file, "heat", "a table with just `ramp = [colours, cold -> hot]`")
    ramp = heat["ramp"]
    if not isinstance(ramp, list) or len(ramp) < 2:
        raise ThemeFileError(file, "heat.ramp", "a list of at least 2 colours")
    return tuple(_color(c, f"heat.ramp[{i}]", file) for i, c in enumerate(ramp))


def _theme_files(dirs: Iterable[Traversable | Path]) -> Iterator[Traversable]:
    for directory in dirs:
        if directory.is_dir():
            yield from sorted(
                (f for f in directory.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name
            )


def load_themes(app: App[Any], extra_dirs: Iterable[Path] = ()) -> list[str]:
    """Register every valid theme (later dirs override same-named themes); return errors."""
    errors: list[str] = []
    for file in _theme_files([*shipped_theme_dirs(), *extra_dirs]):
        label = str(file)
        try:
            theme, ramp = parse_theme(file.read_text(encoding="utf-8"), label)
        except ThemeFileError as exc:
            errors.append(f"theme skipped: {exc}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"theme skipped: {label}: cannot read ({exc})")
            continue
        app.register_theme(theme)
        _ramps[theme.name] = ramp
    return errors


def select_theme(app: App[Any], name: str) -> str | None:
    """Switch to theme `name`, or to the default with a message if it is unknown."""
    if name in app.available_themes:
        app.theme = name
        return None
    fallback = DEFAULT_THEME if DEFAULT_THEME in app.available_themes else "textual-dark"
    app.theme = fallback
    known = ", ".join(sorted(app.available_themes))
    return f"unknown theme {name!r}; using {fallback} (known: {known})"


def heat_ramp(app_or_theme_name: App[Any] | str) -> list[str]:
    """Colours from cold to hot for the current (or named) theme.

    Themes without a ramp of their own get one blended from their primary
    (cold) through warning to error (hot) colours, so the heat still follows them.
    """
    if isinstance(app_or_theme_name, App):
        name = app_or_theme_name.theme
        theme = app_or_theme_name.get_theme(name)
    else:
        name, theme = app_or_theme_name, None
    if name in _ramps:
        return list(_ramps[name])
    if theme is not None and theme.warning and theme.error:
        cold, mid, hot = (Color.parse(c) for c in (theme.primary, theme.warning, theme.error))
        steps = [cold.blend(mid, i / 3) for i in range(3)] + [
            mid.blend(hot, i / 3) for i in range(4)
        ]
        return [c.hex for c in steps]
    return list(DEFAULT_RAMP)
