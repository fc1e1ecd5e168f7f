"""User configuration: $XDG_CONFIG_HOME/damontui/config.toml.

A bad config never stops the app: each bad key falls back to its default and
yields an error "file:line: key: why". Example::

    backend = "auto"            # auto | engine | kernel
    source = "auto"             # engine access source: auto | synthetic | smaps | ...
    synthetic_pattern = "hotcold"
    seed = 0
    refresh = "1s"              # seconds, or a duration
    theme = "damon-dark"
    schemes_file = "~/.config/damontui/schemes.toml"

    [intervals]                 # MonitoringAttrs; human units accepted
    sample_us = "5ms"
    aggr_us = "100ms"

    [temperature_weights]
    size = 0
    access_rate = 100
    age = 100

    [keymap]                    # binding id -> keys (Textual App.set_keymap)
    "app.quit" = "q,f10"

    [[schemes]]                 # the schemes to start with (see model.serialize)
    action = "pageout"
    access_pattern = { access_rate = ["0%", "0%"], age = ["30s", "max"] }
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .model import (
    DEFAULT_WEIGHTS,
    SYNTHETIC_PATTERNS,
    MonitoringAttrs,
    Scheme,
    TemperatureWeights,
    ValidationError,
)
from .model.serialize import attrs_from_dict, read_duration_us, scheme_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

BACKENDS = ("auto", "engine", "kernel", "damon_stat")
DEFAULT_THEME = "damon-dark"


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/damontui; the spec says to ignore a relative XDG_CONFIG_HOME."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "damontui"


def default_config_path() -> Path:
    return config_dir() / "config.toml"


def user_theme_dir() -> Path:
    return config_dir() / "themes"


def default_schemes_file() -> Path:
    return config_dir() / "schemes.toml"


@dataclass(frozen=True)
class Config:
    backend: str = "auto"
    source: str = "auto"
    synthetic_pattern: str = "hotcold"
    seed: int = 0
    intervals: MonitoringAttrs = field(default_factory=MonitoringAttrs)
    refresh_s: float = 1.0
    theme: str = DEFAULT_THEME
    temperature_weights: TemperatureWeights = DEFAULT_WEIGHTS
    keymap: dict[str, str] = field(default_factory=dict)
    schemes: tuple[Scheme, ...] = ()
    schemes_file: Path = field(default_factory=default_schemes_file)
    path: Path | None = None  # the file that was read, None if there was none


# --- finding the line of a key ----------------------------------------------------------

_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"
                  r"\"[^\"]*\"|'[^']*'))*)\s*=")


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", dotted)]


def key_line(text: str, path: str) -> int | None:
    """1-based line where key `path` (e.g. 'schemes[1].quotas.bytes') is set, or the
    line of its closest enclosing key/table; None if nothing matches."""
    lines_of: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = _parts(header.group(2))
            concrete = ""
            for i, name in enumerate(names):
                concrete = f"{concrete}.{name}" if concrete else name
                is_new_item = header.group(1) == "[[" and i == len(names) - 1
                if is_new_item:
                    counts[concrete] = counts.get(concrete, 0) + 1
                if concrete in counts:
                    concrete = f"{concrete}[{counts[concrete] - 1}]"
            table = concrete
            lines_of.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            full = ".".join([table, *_parts(key.group(1))] if table else _parts(key.group(1)))
            lines_of.setdefault(full, number)
    probe = path
    while probe:
        if probe in lines_of:
            return lines_of[probe]
        probe = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", probe) if re.search(r"[.\[]", probe) else ""
    return None


# --- per-key readers ------------------------------------------------------------------


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def read(value: object, key: str) -> str:
        if value not in options:
            raise ValidationError(key, value, "one of " + ", ".join(options))
        return str(value)

    return read


def _sources() -> tuple[str, ...]:
    try:
        from .backends.engine.sources import SOURCES
    except Exception:  # the engine failing to import is reported by the app, not here
        return ("auto", "synthetic", "smaps", "softdirty", "pageidle")
    return ("auto", *SOURCES)


def _patterns() -> tuple[str, ...]:
    return tuple(SYNTHETIC_PATTERNS)


def _int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(key, value, "a whole number")
    return value


def _str(value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(key, value, "a non-empty string")
    return value


def _refresh(value: object, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = read_duration_us(value, key) / 1e6
    else:
        raise ValidationError(key, value, "seconds, or a duration like '500ms'")
    if not 0.05 <= seconds <= 3600:
        raise ValidationError(key, value, "between 50ms and 1h")
    return seconds


def _weights(value: object, key: str) -> TemperatureWeights:
    if not isinstance(value, dict):
        raise ValidationError(key, value, "a table with size, access_rate, age")
    for name, weight in value.items():
        if name not in ("size", "access_rate", "age"):
            raise ValidationError(f"{key}.{name}", weight, "unknown; known: size, access_rate, age")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValidationError(f"{key}.{name}", weight, "a number >= 0")
    return replace(DEFAULT_WEIGHTS, **{k: float(v) for k, v in value.items()})


def _keymap(value: object, key: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(key, value, "a table of binding id = \"keys\"")
    for name, keys in value.items():
        if not isinstance(keys, str) or not keys.strip():
            raise ValidationError(f"{key}.{name}", keys, "keys as a string, e.g. \"q,f10\"")
    return dict(value)


def _path(value: object, key: str) -> Path:
    return Path(_str(value, key)).expanduser()


_SIMPLE: dict[str, tuple[str, Callable[[object, str], Any]]] = {
    # toml key: (Config field, reader)
    "backend": ("backend", _choice(BACKENDS)),
    "source": ("source", lambda v, k: _choice(_sources())(v, k)),
    "synthetic_pattern": ("synthetic_pattern", lambda v, k: _choice(_patterns())(v, k)),
    "seed": ("seed", _int),
    "refresh": ("refresh_s", _refresh),
    "theme": ("theme", _str),
    "schemes_file": ("schemes_file", _path),
    "temperature_weights": ("temperature_weights", _weights),
    "keymap": ("keymap", _keymap),
}


# --- loading ------------------------------------------------------------------------------


class _Errors:
    """Messages 'file:line: key: why; outcome' in the order found."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        self.text = text
        self.items: list[str] = []

    def add(self, key: str, message: str, outcome: str = "using the default") -> None:
        line = key_line(self.text, key)
        where = f"{self.file}:{line}" if line else str(self.file)
        self.items.append(f"{where}: {message}; {outcome}")


def _intervals(data: dict[str, Any], errors: _Errors) -> MonitoringAttrs:
    """Drop bad keys one at a time so the good ones still apply."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    while True:
        try:
            return attrs_from_dict(data, "intervals")
        except ValidationError as exc:
            errors.add(exc.field, str(exc))
            parts = exc.field.split(".")[1:]
            holder: Any = data
            for part in parts[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            if not isinstance(holder, dict) or parts[-1] not in holder:
                return MonitoringAttrs()  # a cross-field error on a default: give up
            del holder[parts[-1]]


def _schemes(items: object, attrs: MonitoringAttrs, errors: _Errors) -> tuple[Scheme, ...]:
    if not isinstance(items, list):
        errors.add("schemes", "schemes: expected [[schemes]] tables")
        return ()
    schemes = []
    for index, item in enumerate(items):
        try:
            schemes.append(scheme_from_dict(item, attrs, f"schemes[{index}]"))
        except ValidationError as exc:
            errors.add(exc.field, str(exc), f"scheme {index} skipped")
    return tuple(schemes)


def parse_config(text: str, file: Path) -> tuple[Config, list[str]]:
    """Config from TOML text; `file` is only used in error messages."""
    errors = _Errors(file, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = match.group(1) if match else str(len(text.splitlines()) or 1)
        return Config(path=file), [f"{file}:{line}: TOML syntax error: {exc}; using all defaults"]
    values: dict[str, Any] = {"path": file}
    for key, value in data.items():
        if key in _SIMPLE:
            name, read = _SIMPLE[key]
            try:
                values[name] = read(value, key)
            except ValidationError as exc:
                errors.add(exc.field, str(exc))
        elif key not in ("intervals", "schemes"):
            known = ", ".join(sorted([*_SIMPLE, "intervals", "schemes"]))
            errors.add(key, f"{key}: unknown key (known: {known})", "ignored")
    intervals = data.get("intervals", {})
    if isinstance(intervals, dict):
        values["intervals"] = _intervals(intervals, errors)
    else:
        errors.add("intervals", "intervals: expected a table")
    if "schemes" in data:
        values["schemes"] = _schemes(data["schemes"], values.get("intervals", MonitoringAttrs()),
                                     errors)
    return Config(**values), errors.items


def load_config(path: Path | None = None) -> tuple[Config, list[str]]:
    """Read the config file (default: XDG config dir); defaults if it does not exist."""
    explicit = path is not None
    file = path if path is not None else default_config_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(), [f"{file}: no such file; using defaults"] if explicit else []
    except (OSError, UnicodeDecodeError) as exc:
        return Config(), [f"{file}: cannot read ({exc}); using defaults"]
    return parse_config(text, file)
