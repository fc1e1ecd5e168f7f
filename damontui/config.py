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
    sample = "5ms"              # or sample_us (likewise aggr, update)
    aggr = "100ms"

    [temperature_weights]
    size = 0
    access_rate = 100
    age = 100

    [keymap]                    # binding id -> keys (Textual App.set_keymap)
    "app.quit" = "q,f10"

    [[schemes]]                 # the schemes to start with (see model.serialize)
    action = "pageout"
    access_rate = ["0%", "0%"]  # or access_pattern = { access_rate = [...], age = [...] }
    age = ["30s", "max"]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import inputs
from .model import (
    DEFAULT_WEIGHTS,
    SYNTHETIC_PATTERNS,
    MonitoringAttrs,
    Scheme,
    TemperatureWeights,
    ValidationError,
)
from .model.errors import InputError, UnknownKeyError
from .model.serialize import attrs_from_dict
from .model.units import U64_MAX

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
    cpu_budget: float | None = 2.0  # engine CPU budget, percent of one core; None: off
    schemes: tuple[Scheme, ...] = ()
    schemes_file: Path = field(default_factory=default_schemes_file)
    path: Path | None = None  # the file that was read, None if there was none


# --- finding the line of a key ----------------------------------------------------------

_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"
    r"\"[^\"]*\"|'[^']*'))*)\s*="
)


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
        shorter = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", probe)
        if shorter == probe:  # a key like 'a.b]c' (found by fuzzing: it looped for ever)
            shorter = probe.rsplit(".", 1)[0] if "." in probe else ""
        probe = shorter
    return None


# --- per-key readers ------------------------------------------------------------------


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def read(value: object, key: str) -> str:
        if value not in options:
            raise ValidationError(key, value, "one of " + ", ".join(options))
        return str(value)

    return read


def _sources() -> tuple[str, ...]:
    from .backends.select import engine_sources

    try:
        return ("auto", *engine_sources())
    except Exception:  # the engine failing to import is reported by the app, not here
        return ("auto", "synthetic", "smaps", "softdirty", "pageidle")


def _patterns() -> tuple[str, ...]:
    return tuple(SYNTHETIC_PATTERNS)


def _int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(key, value, "a whole number")
    return inputs.whole(value, key, 0, U64_MAX)


def _str(value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(key, value, "a non-empty string")
    return value


REFRESH_RANGE_S = (0.05, 3600.0)


def _refresh(value: object, key: str) -> float:
    return inputs.seconds(value, key, *REFRESH_RANGE_S)


def _weights(value: object, key: str) -> TemperatureWeights:
    if not isinstance(value, dict):
        raise ValidationError(key, value, "a table with size, access_rate, age")
    for name, weight in value.items():
        if name not in ("size", "access_rate", "age"):
            raise UnknownKeyError(f"{key}.{name}", ("size", "access_rate", "age"))
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValidationError(f"{key}.{name}", weight, "a number 0..1000000")
        inputs.weight(weight, f"{key}.{name}")
    return replace(DEFAULT_WEIGHTS, **{k: float(v) for k, v in value.items()})


def _keymap(value: object, key: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(key, value, 'a table of binding id = "keys"')
    for name, keys in value.items():
        if not isinstance(keys, str) or not keys.strip():
            raise ValidationError(f"{key}.{name}", keys, 'keys as a string, e.g. "q,f10"')
    return dict(value)


def _path(value: object, key: str) -> Path:
    return inputs.expand_path(value, key)


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
    "cpu_budget": ("cpu_budget", lambda v, k: _budget(v, k)),
}


def _budget(value: object, key: str) -> float | None:
    from .model.units import parse_cpu_budget

    return parse_cpu_budget(value, key)


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
    # the key as the user spelled it, for messages and line numbers
    spelled = {v: k for k, v in inputs.INTERVAL_ALIASES.items() if k in data}
    try:
        data = inputs.friendly_intervals(data)
    except ValidationError as exc:
        errors.add(exc.field, str(exc))
        return MonitoringAttrs()
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for key in [k for k in inputs.ATTR_RANGES if k in data]:  # ranges before cross-field rules
        name = f"intervals.{spelled.get(key, key)}"
        try:
            data[key] = inputs.attr_value(key, data[key], name)
        except ValidationError as exc:
            errors.add(name, str(exc))
            del data[key]
    data.update(inputs.scaled_aggr(data))
    while True:
        try:
            attrs = attrs_from_dict(data, "intervals")
            return inputs.check_attrs(attrs, "intervals.")
        except ValidationError as exc:
            parts = exc.field.split(".")[1:]
            name = ".".join(["intervals", *[spelled.get(p, p) for p in parts]])
            message = str(exc).replace(exc.field, name, 1) if parts else str(exc)
            if isinstance(exc, UnknownKeyError) and len(parts) == 1:  # name the aliases too
                message = str(UnknownKeyError(name, (*exc.known, *inputs.INTERVAL_ALIASES)))
            holder: Any = data
            for part in parts[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and parts and parts[-1] in holder:
                errors.add(name, message)
                del holder[parts[-1]]
            elif parts and parts[0].split("[")[0] in data:  # inside a list (probes[0].x)
                errors.add(name, message)
                del data[parts[0].split("[")[0]]
            else:
                given = ", ".join(spelled.get(k, k) for k in data) or "none"
                errors.add(name, f"{message} (it keeps its default; keys set: {given})",
                           "using the default intervals")  # fmt: skip
                return MonitoringAttrs()  # a cross-field error on a default: give up


def _schemes(items: object, attrs: MonitoringAttrs, errors: _Errors) -> tuple[Scheme, ...]:
    if not isinstance(items, list):
        errors.add("schemes", "schemes: expected [[schemes]] tables")
        return ()
    schemes = []
    for index, item in enumerate(items):
        try:
            schemes.extend(inputs.schemes_from_data([item], attrs))
        except ValidationError as exc:
            field = exc.field.replace("schemes[0]", f"schemes[{index}]", 1)
            message = str(exc).replace("schemes[0]", f"schemes[{index}]", 1)
            errors.add(field, message, f"scheme {index} skipped")
    return tuple(schemes)


def parse_config(text: str, file: Path) -> tuple[Config, list[str]]:
    """Config from TOML text; `file` is only used in error messages."""
    errors = _Errors(file, text)
    try:
        data = inputs.parse_toml(text, file)
    except InputError as exc:
        return Config(path=file), [f"{exc}; using all defaults"]
    values: dict[str, Any] = {"path": file}
    for key, value in data.items():
        if key in _SIMPLE:
            name, read = _SIMPLE[key]
            try:
                values[name] = inputs.guarded(read, value, key, field=key, value=value)
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
        values["schemes"] = _schemes(
            data["schemes"], values.get("intervals", MonitoringAttrs()), errors
        )
    return Config(**values), errors.items


def load_config(path: Path | None = None) -> tuple[Config, list[str]]:
    """Read the config file (default: XDG config dir); defaults if it does not exist."""
    explicit = path is not None
    file = path if path is not None else default_config_path()
    try:
        text = inputs.read_text(file, "file")
    except InputError as exc:
        if not explicit and not file.exists():
            return Config(), []
        return Config(), [f"{exc}; using defaults"]
    return parse_config(text, file)
