"""Modal editor for the monitoring attributes (intervals, region bounds, auto-tuning)
and the context's 6.18/7.2 settings (addr_unit, pause).

Apply (ctrl+s, Enter or the button) dismisses with validated MonitoringAttrs;
the app then posts ApplyAttrs. Escape dismisses with None. addr_unit and pause are
gated (field_gates.py): one the backend lacks is refused naming the kernel version
it needs; no backend changes them on a running context yet, so a change of either
is refused on apply with that reason (the kernel backend writes them at start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from ..inputs import attr_value
from ..model import BackendInfo, Context, IntervalsGoal, MonitoringAttrs, ValidationError
from ..model.context import OPS
from ..model.serialize import exact_duration, read_bp, read_count, read_duration_us
from .field_gates import Gate
from .scheme_editor import FORM_CSS, Note, field_id, field_row, section

NOT_LIVE = (
    "{key}: no backend changes it on a running context yet (the kernel backend "
    "writes it when it starts its kdamond); set back to {initial} to apply the rest"
)


def _ranged(value: object, key: str) -> int:
    return attr_value(key, value, key)  # the CLI's and the config's parser and range


# field key -> (label, reader); keys match the model's ValidationError fields
FIELDS: dict[str, tuple[str, Callable[[object, str], int]]] = {
    "sample_us": ("Sampling", _ranged),
    "aggr_us": ("Aggregation", _ranged),
    "update_us": ("Update", _ranged),
    "min_nr_regions": ("Regions min", _ranged),
    "max_nr_regions": ("Regions max", _ranged),
    "intervals_goal.access_bp": ("Access goal", read_bp),
    "intervals_goal.aggrs": ("Every aggrs", read_count),
    "intervals_goal.min_sample_us": ("Sample min", read_duration_us),
    "intervals_goal.max_sample_us": ("Sample max", read_duration_us),
}


def attrs_values(attrs: MonitoringAttrs) -> dict[str, int]:
    goal = attrs.intervals_goal
    return {
        "sample_us": attrs.sample_us,
        "aggr_us": attrs.aggr_us,
        "update_us": attrs.update_us,
        "min_nr_regions": attrs.min_nr_regions,
        "max_nr_regions": attrs.max_nr_regions,
        "intervals_goal.access_bp": goal.access_bp,
        "intervals_goal.aggrs": goal.aggrs,
        "intervals_goal.min_sample_us": goal.min_sample_us,
        "intervals_goal.max_sample_us": goal.max_sample_us,
    }


def build_attrs(values: dict[str, int | None]) -> tuple[MonitoringAttrs | None, dict[str, str]]:
    """Validated attrs from parsed values (None: failed to parse), or the model's error."""
    if any(v is None for v in values.values()):
        return None, {}
    v: dict[str, Any] = values
    attrs = MonitoringAttrs(
        v["sample_us"],
        v["aggr_us"],
        v["update_us"],
        v["min_nr_regions"],
        v["max_nr_regions"],
        IntervalsGoal(
            v["intervals_goal.access_bp"],
            v["intervals_goal.aggrs"],
            v["intervals_goal.min_sample_us"],
            v["intervals_goal.max_sample_us"],
        ),
    )
    errors: dict[str, str] = {}
    # Validate the goal apart from the rest so both kinds of error show at once.
    for check in (
        attrs.intervals_goal.validate,
        replace(attrs, intervals_goal=IntervalsGoal()).validate,
    ):
        try:
            check()
        except ValidationError as exc:
            errors[exc.field] = str(exc)
    return (None if errors else attrs), errors


def _text(key: str, value: int) -> str:
    return str(exact_duration(value)) if key.endswith("_us") and value else str(value)


class AttrsScreen(ModalScreen[MonitoringAttrs | None]):
    """Edit monitoring attributes; errors show next to the field and in a summary."""

    DEFAULT_CSS = (
        FORM_CSS
        + """
    AttrsScreen { align: center middle; }
    AttrsScreen > Vertical { width: 78; max-height: 100%; height: auto;
                             border: round $primary; background: $surface; }
    AttrsScreen VerticalScroll { height: auto; max-height: 16; }
    AttrsScreen #buttons { height: 1; margin-top: 1; }
    AttrsScreen #buttons Button { min-width: 0; width: auto; margin-right: 2; }
    """
    )
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="attrs.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="attrs.apply"),
    ]

    def __init__(
        self,
        attrs: MonitoringAttrs | None = None,
        *,
        info: BackendInfo | None = None,
        addr_unit: int = 1,
        pause: bool = False,
    ) -> None:
        super().__init__()
        self._initial = attrs or MonitoringAttrs()
        self._values: dict[str, int | None] = dict(attrs_values(self._initial))
        self._parse_errors: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._notes = {key: Note() for key in (*FIELDS, "addr_unit", "pause")}
        self._gate = Gate.from_info(info)
        ops = info.source.split()[0] if info and info.source else ""
        self._ops = ops if ops in OPS else "paddr"  # addr_unit != 1 is for paddr only
        self._context_initial: dict[str, int | bool] = {"addr_unit": addr_unit, "pause": pause}
        self._ctx_values: dict[str, int | bool | None] = dict(self._context_initial)

    @property
    def errors(self) -> dict[str, str]:
        return dict(self._errors)

    @property
    def context_values(self) -> dict[str, int | bool | None]:
        """addr_unit and pause as parsed (None: did not parse)."""
        return dict(self._ctx_values)

    def compose(self) -> ComposeResult:
        initial = attrs_values(self._initial)
        with Vertical():
            yield Label("Monitoring attributes", classes="section")
            yield Static("", classes="summary", id="summary")
            with VerticalScroll(can_focus=False):
                for key, (label, _read) in FIELDS.items():
                    if key == "intervals_goal.access_bp":
                        yield section("Intervals auto-tuning (access goal 0 = off)")
                    value = _text(key, initial[key])
                    yield field_row(
                        label, Input(value, id=field_id(key), compact=True), note=self._notes[key]
                    )
                yield section("Context (6.18 addr_unit, 7.2 pause)")
                unit = str(self._context_initial["addr_unit"])
                yield field_row(
                    "Addr unit",
                    Input(unit, id="f-addr_unit", compact=True),
                    note=self._notes["addr_unit"],
                )
                paused = bool(self._context_initial["pause"])
                yield field_row(
                    "Pause",
                    Checkbox("paused", paused, id="f-pause", compact=True),
                    note=self._notes["pause"],
                )
            with Horizontal(id="buttons"):
                yield Button("Apply ^s", id="apply", variant="primary", compact=True)
                yield Button("Cancel esc", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._validate()

    @on(Checkbox.Changed, "#f-pause")
    def _pause_changed(self, event: Checkbox.Changed) -> None:
        self._ctx_values["pause"] = event.value
        self._validate()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == "f-addr_unit":
            try:  # the TOML loader's reader: the same words and errors
                self._ctx_values["addr_unit"] = read_count(event.value, "addr_unit")
                self._parse_errors.pop("addr_unit", None)
            except ValidationError as exc:
                self._ctx_values["addr_unit"] = None
                self._parse_errors["addr_unit"] = str(exc)
            self._validate()
            return
        key = next((k for k in FIELDS if field_id(k) == event.input.id), None)
        if key is None:
            return
        try:
            self._values[key] = FIELDS[key][1](event.value, key)
            self._parse_errors.pop(key, None)
        except ValidationError as exc:
            self._values[key] = None
            self._parse_errors[key] = str(exc)
        self._validate()

    def _context_errors(self) -> dict[str, str]:
        """The context settings: the model's check, the backend's gate, then (since
        nothing applies them live) the refusal of any change."""
        unit, pause = self._ctx_values["addr_unit"], self._ctx_values["pause"]
        if unit is None:
            return {}
        try:
            Context(self._ops, addr_unit=int(unit), pause=bool(pause)).validate()
        except ValidationError as exc:
            return {exc.field: str(exc)}
        errors = {}
        for key, value in self._ctx_values.items():
            refusal = self._gate.field(key, value)
            if refusal is None and value != self._context_initial[key]:
                initial = self._context_initial[key]
                shown = ("on" if initial else "off") if isinstance(initial, bool) else initial
                refusal = NOT_LIVE.format(key=key, initial=shown)
            if refusal is not None:
                errors[key] = refusal
        return errors

    def _validate(self) -> MonitoringAttrs | None:
        attrs, model_errors = build_attrs(self._values)
        self._errors = {**model_errors, **self._context_errors(), **self._parse_errors}
        if self._errors:
            attrs = None
        for key, note in self._notes.items():
            note.show(self._errors.get(key), self._hint(key) or self._gate.hint(key))
        summary = self.query_one("#summary", Static)
        summary.set_class(bool(self._errors), "-error")
        if self._errors:
            summary.update(f"✗ {next(iter(self._errors.values()))}")
        else:
            summary.update("✓ valid — ctrl+s or enter applies, escape cancels")
        return attrs

    def _hint(self, key: str) -> str:
        if key not in self._values:
            return ""
        sample, aggr = self._values["sample_us"], self._values["aggr_us"]
        if key == "aggr_us" and sample and aggr:
            return f"= {aggr // sample} samples per aggregation"
        access_bp = self._values[key] if key == "intervals_goal.access_bp" else None
        if access_bp is not None:
            return f"= {access_bp / 100:g}% of samples" if access_bp else "off"
        return ""

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.action_cancel()

    def action_apply(self) -> None:
        attrs = self._validate()
        if attrs is None:
            first = next(iter(self._errors.values()), "invalid value")
            self.notify(f"not applied: {first}", severity="error")
            return
        self.dismiss(attrs)

    def action_cancel(self) -> None:
        self.dismiss(None)
