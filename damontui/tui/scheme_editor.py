"""Editor for one DAMOS scheme: every field validated on every change.

Each input parses on its own (so an untouched field keeps its exact value even
if the monitoring attributes change meanwhile), then the model validates what
parsed. Errors show next to the field and in a summary line; only a fully valid
Scheme ever leaves the editor (in `SchemeEditor.Changed`). While the editor has
focus, access-pattern edits post a debounced `PreviewPattern`; losing focus or
closing posts `PreviewPattern(None)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ..model import (
    AccessPattern,
    Filter,
    FilterType,
    MonitoringAttrs,
    QuotaGoal,
    Scheme,
    ValidationError,
)
from ..model.units import format_permil
from . import age_threshold as age
from .field_gates import Gate, gate_errors
from .messages import PreviewPattern
from .scheme_fields import (
    ENUM_TYPES,
    FILTER_READERS,
    GOAL_READERS,
    READERS,
    Reader,
    assemble,
    scheme_values,
    value_text,
)
from .scheme_forms import FORM_CSS as FORM_CSS
from .scheme_forms import Control, filter_block, goal_block
from .scheme_forms import Note as Note
from .scheme_forms import field_id as field_id
from .scheme_forms import field_row as field_row
from .scheme_forms import section as section

PREVIEW_DELAY_S = 0.15


@dataclass
class _Slot:
    template: str  # field key, with {i} for goal/filter rows
    reader: Reader
    note: Note
    group: str = ""  # "goals" | "filters" for list rows
    uid: int = 0
    value: Any = None
    error: str | None = None
    widget: Input | Checkbox | Select[Any] | None = None
    raw: Any = None  # the control's content when last parsed: repeats are ignored


def _raw(value: Any, text: str) -> Any:
    """What a control holds for `value`: enum value, bool, or the text."""
    if isinstance(value, ENUM_TYPES):
        return value.value
    return value if isinstance(value, bool) else text


class SchemeEditor(Vertical):
    """Edits one scheme. `load()` shows a scheme; `Changed` reports each edit."""

    DEFAULT_CSS = (
        FORM_CSS
        + """
    SchemeEditor { height: 1fr; }
    SchemeEditor > VerticalScroll { height: 1fr; }
    SchemeEditor #goals, SchemeEditor #filters, .list-row { height: auto; }
    .list-row { padding-left: 2; }
    """
    )

    class Changed(Message):
        """An edit: `scheme` is None while any field is invalid; errors by field key."""

        def __init__(
            self,
            editor: SchemeEditor,
            scheme: Scheme | None,
            pattern: AccessPattern | None,
            errors: dict[str, str],
        ) -> None:
            self.editor = editor
            self.scheme = scheme
            self.pattern = pattern
            self.errors = errors
            super().__init__()

    def __init__(
        self,
        scheme: Scheme | None = None,
        attrs: MonitoringAttrs | None = None,
        *,
        gate: Gate | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._scheme_in = scheme or Scheme()
        self.attrs = attrs or MonitoringAttrs()
        self.gate = gate or Gate()  # the 6.17+/7.x settings the backend takes
        self._slots: dict[str, _Slot] = {}
        self._uids = itertools.count()
        self._groups: dict[str, list[int]] = {"goals": [], "filters": []}
        self._scheme: Scheme | None = self._scheme_in
        self._pattern: AccessPattern | None = self._scheme_in.access_pattern
        self._age_us = age.loaded_age_us(self._scheme_in.access_pattern)  # -1: a count
        self._errors: dict[str, str] = {}
        self._previewing = False
        self._preview_timer: Timer | None = None

    # --- public API
    @property
    def scheme(self) -> Scheme | None:
        """The edited scheme, or None while a field is invalid."""
        return self._scheme

    @property
    def pattern(self) -> AccessPattern | None:
        return self._pattern

    @property
    def errors(self) -> dict[str, str]:
        """Error text by field key ('quotas.bytes', 'filters[0].addr_start', ...)."""
        return dict(self._errors)

    async def load(self, scheme: Scheme) -> None:
        """Show `scheme` (discarding any edits)."""
        self._scheme_in = scheme
        self._age_us = age.loaded_age_us(scheme.access_pattern)
        same_shape = [len(scheme.quotas.goals), len(scheme.filters)] == [
            len(self._groups["goals"]),
            len(self._groups["filters"]),
        ]
        if same_shape and self.is_mounted:
            self._fill(scheme)  # much cheaper than rebuilding ~70 widgets
        else:
            await self.recompose()
        self._show_relevant_fields()
        self._revalidate(notify=False)

    def _fill(self, scheme: Scheme) -> None:
        simple = scheme_values(scheme)
        for slot in self._slots.values():
            field = slot.template.rsplit(".", 1)[-1]
            if slot.group == "goals":
                value = getattr(scheme.quotas.goals[self._groups["goals"].index(slot.uid)], field)
            elif slot.group == "filters":
                value = getattr(scheme.filters[self._groups["filters"].index(slot.uid)], field)
            else:
                value = simple[slot.template]
            slot.value, slot.error = value, None
            slot.raw = _raw(value, self._text(slot.template, value))
            assert slot.widget is not None  # _control gives every slot its widget
            slot.widget.value = slot.raw

    def _text(self, key: str, value: Any) -> str:
        return age.age_field_text(key, self._age_us) or value_text(key, value, self.attrs)

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        """Attributes for converting time/percent input; typed values keep their meaning
        (an age typed as a time is converted again: see age_threshold.py)."""
        old, self.attrs = self.attrs, attrs
        for key in age.AGE_KEYS:
            slot = self._slots.get(field_id(key))
            if slot and isinstance(slot.widget, Input) and slot.value is not None:
                text = age.refreshed_text(key, slot.value, slot.raw, old, attrs, self._age_us)
                if text is not None:  # a count still shown as a time: show its new time
                    slot.raw = slot.widget.value = text
        if self._slots:  # composed (else on_mount validates)
            self._revalidate(notify=False)

    # --- composition
    def compose(self) -> ComposeResult:
        self._slots.clear()
        self._groups = {"goals": [], "filters": []}
        scheme = self._scheme_in
        values = scheme_values(scheme)
        yield Static("", classes="summary", id="summary")
        with VerticalScroll(can_focus=False):  # Tab goes straight to the fields
            yield from self._simple_rows(values)
            yield section("Quota goals", Button("+ goal", id="add-goal", compact=True))
            with Vertical(id="goals"):
                for goal in scheme.quotas.goals:
                    yield self._goal_block(goal)
            yield from self._watermark_rows(values)
            yield section("Filters", Button("+ filter", id="add-filter", compact=True))
            with Vertical(id="filters"):
                for flt in scheme.filters:
                    yield self._filter_block(flt)
            yield section("Other")
            yield self._row("Apply every", values, "apply_interval_us")
            yield self._row("Target nid", values, "target_nid")
            yield self._row("Dests", values, "dests")
            yield self._row("Max snapshots", values, "max_nr_snapshots")

    def _control(self, key: str, value: Any, note: Note, group: str = "", uid: int = 0) -> Widget:
        reader = (
            READERS[key]
            if not group
            else (GOAL_READERS if group == "goals" else FILTER_READERS)[key.rsplit(".", 1)[-1]]
        )
        wid = field_id(key) if not group else f"f-{group[:-1]}{uid}-{key.rsplit('.', 1)[-1]}"
        raw = _raw(value, self._text(key, value))
        control: Input | Checkbox | Select[Any]
        if isinstance(value, ENUM_TYPES):
            control = Select(
                [(m.value, m.value) for m in type(value)],
                value=raw,
                allow_blank=False,
                compact=True,
                id=wid,
            )
        elif isinstance(value, bool):
            control = Checkbox(key.rsplit(".", 1)[-1], value, compact=True, id=wid)
        else:
            control = Input(raw, compact=True, id=wid, select_on_focus=False)
        self._slots[wid] = _Slot(key, reader, note, group, uid, value, widget=control, raw=raw)
        return control

    def _row(
        self, label: str, values: Mapping[str, Any], *keys: str, between: str = ".."
    ) -> Horizontal:
        note = Note()
        controls: list[Widget] = []
        for index, key in enumerate(keys):
            if index:
                controls.append(Label(between, classes="sep"))
            controls.append(self._control(key, values[key], note))
        return field_row(label, *controls, note=note)

    def _simple_rows(self, values: Mapping[str, Any]) -> Iterable[Widget]:
        yield self._row("Name", values, "name")
        yield self._row("Action", values, "action")
        yield section("Access pattern (access: count or %, age: time or aggregations)")
        for label, name in (("Size", "sz"), ("Access", "nr_accesses"), ("Age", "age")):
            yield self._row(
                label, values, f"access_pattern.{name}.min", f"access_pattern.{name}.max"
            )
        yield section("Quotas (0 = unlimited)")
        yield self._row("Time", values, "quotas.ms")
        yield self._row("Size", values, "quotas.bytes")
        yield self._row("Reset every", values, "quotas.reset_interval_ms")
        yield self._row(
            "sz/acc/age ‰",
            values,
            "quotas.weights.sz_permil",
            "quotas.weights.nr_accesses_permil",
            "quotas.weights.age_permil",
            between="/",
        )
        yield self._row("Goal tuner", values, "quotas.goal_tuner")
        yield self._row(
            "Fail charge",
            values,
            "quotas.fail_charge_num",
            "quotas.fail_charge_denom",
            between="/",
        )

    def _watermark_rows(self, values: Mapping[str, Any]) -> Iterable[Widget]:
        yield section("Watermarks (free memory ‰)")
        yield self._row("Metric", values, "watermarks.metric")
        yield self._row("Check every", values, "watermarks.interval_us")
        yield self._row(
            "High/mid/low",
            values,
            "watermarks.high",
            "watermarks.mid",
            "watermarks.low",
            between="/",
        )

    def _new_block(
        self, group: str, prefix: str, item: QuotaGoal | Filter
    ) -> tuple[int, Note, Control]:
        """A new goal/filter row: its uid, its note, and a maker of its controls by field."""
        uid = next(self._uids)
        self._groups[group].append(uid)
        note = Note()

        def ctl(name: str) -> Widget:
            return self._control(f"{prefix}[{{i}}].{name}", getattr(item, name), note, group, uid)

        return uid, note, ctl

    def _goal_block(self, goal: QuotaGoal) -> Vertical:
        return goal_block(*self._new_block("goals", "quotas.goals", goal))

    def _filter_block(self, flt: Filter) -> Vertical:
        return filter_block(*self._new_block("filters", "filters", flt))

    def on_mount(self) -> None:
        self._show_relevant_fields()
        self._revalidate(notify=False)

    def _show_relevant_fields(self) -> None:
        """Show only the inputs a filter's type or a goal's metric uses."""
        for group, kind_field in (("filters", "type"), ("goals", "metric")):
            for uid in self._groups[group]:
                slot = self._slots.get(f"f-{group[:-1]}{uid}-{kind_field}")
                kind = slot.value.value if slot and slot.value else ""
                for row in self.query(f"#{group[:-1]}{uid} .field-row"):
                    owned = [c[4:] for c in row.classes if c.startswith("for-")]
                    row.display = not owned or kind in owned

    # --- editing
    def _key(self, slot: _Slot) -> str:
        if not slot.group:
            return slot.template
        return slot.template.format(i=self._groups[slot.group].index(slot.uid))

    def _set(self, control: Widget) -> None:
        slot = self._slots.get(control.id or "")
        raw = getattr(control, "value", None)
        if slot is None or slot.widget is not control or raw == slot.raw:
            return  # a removed control, or no change (e.g. set by load)
        slot.raw = raw
        key = self._key(slot)
        if key in age.AGE_KEYS:
            self._age_us[key] = age.typed_age_us(raw, key)
        try:
            slot.value, slot.error = slot.reader(raw, key, self.attrs), None
        except ValidationError as exc:
            slot.value, slot.error = None, str(exc)
        if slot.template in ("filters[{i}].type", "quotas.goals[{i}].metric"):
            self._show_relevant_fields()
        self._revalidate(notify=True, pattern_edit=key.startswith("access_pattern."))

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._set(event.input)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._set(event.select)

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._set(event.checkbox)

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        event.stop()
        if bid == "add-goal":
            await self.query_one("#goals").mount(self._goal_block(QuotaGoal()))
        elif bid == "add-filter":
            await self.query_one("#filters").mount(self._filter_block(Filter(FilterType.ANON)))
        elif bid.startswith("remove-"):
            group, uid = (
                ("goals", int(bid[11:]))
                if bid.startswith("remove-goal")
                else ("filters", int(bid[13:]))
            )
            self._groups[group].remove(uid)
            for wid in [w for w, s in self._slots.items() if s.group == group and s.uid == uid]:
                del self._slots[wid]
            await self.query_one(f"#{group[:-1]}{uid}").remove()
        else:
            return
        self._show_relevant_fields()
        self._revalidate(notify=True)

    def _revalidate(self, notify: bool, pattern_edit: bool = False) -> None:
        for key in age.AGE_KEYS:  # ages given as times: counts at the attrs in force
            slot = self._slots.get(field_id(key))
            count = age.age_count(key, self._age_us, self.attrs)
            if slot is not None and slot.error is None and count is not None:
                slot.value = count
        simple = {s.template: s.value for s in self._slots.values() if not s.group}
        rows: dict[str, list[dict[str, Any]]] = {
            group: [
                {
                    s.template.rsplit(".", 1)[-1]: s.value
                    for s in self._slots.values()
                    if s.group == group and s.uid == uid
                }
                for uid in uids
            ]
            for group, uids in self._groups.items()
        }
        scheme, pattern, model_errors = assemble(
            simple, rows["goals"], rows["filters"], self._scheme_in
        )
        scheme, pattern = age.with_age_times(scheme, pattern, self._age_us, self.attrs)
        parse_errors = {self._key(s): s.error for s in self._slots.values() if s.error}
        refused = gate_errors(self.gate, ((self._key(s), s.value) for s in self._slots.values()))
        self._errors = {**model_errors, **refused, **parse_errors}
        if refused:  # a setting the backend lacks: the scheme doesn't leave the editor
            scheme = None
        self._scheme, self._pattern = scheme, pattern
        self._refresh_notes()
        if notify:
            self.post_message(self.Changed(self, scheme, pattern, self.errors))
        if pattern_edit and self._previewing:
            self._schedule_preview()

    def _refresh_notes(self) -> None:
        by_note: dict[int, tuple[Note, list[str], list[str]]] = {}
        for slot in self._slots.values():
            key = self._key(slot)
            entry = by_note.setdefault(id(slot.note), (slot.note, [], []))
            if key in self._errors:
                entry[1].append(self._errors[key])
            entry[2].append(key)
        for note, errors, keys in by_note.values():
            if errors:
                note.show(errors[0], "")
            else:  # else a note on what the backend can't take, if any
                gated = next(filter(None, map(self.gate.hint, keys)), "")
                note.show(None, self._hint(keys) or gated)
        summary = self.query("#summary")
        if summary:
            box = summary.first(Static)
            box.set_class(bool(self._errors), "-error")
            if self._errors:
                first = next(iter(self._errors.values()))
                more = f" (+{len(self._errors) - 1} more)" if len(self._errors) > 1 else ""
                box.update(f"✗ {len(self._errors)} invalid: {first}{more}")
            else:
                box.update("✓ valid — ctrl+s applies all schemes")

    def _hint(self, keys: list[str]) -> str:
        """What a valid field means in other units."""
        values = {k: s.value for s in self._slots.values() if (k := self._key(s)) in keys}
        max_nr = self.attrs.max_nr_accesses
        if "access_pattern.nr_accesses.min" in values:
            lo, hi = (
                min(values[f"access_pattern.nr_accesses.{e}"], max_nr) for e in ("min", "max")
            )
            return f"= {100 * lo / max_nr:.0f}%..{100 * hi / max_nr:.0f}% of {max_nr} samples"
        if "access_pattern.age.min" in values:
            lo, hi = (values[k] for k in age.AGE_KEYS)
            return age.age_hint(lo, hi, self._age_us, self.attrs)
        if "watermarks.high" in values:
            return "/".join(
                format_permil(values[f"watermarks.{n}"]) for n in ("high", "mid", "low")
            )
        return ""

    # --- preview of the access pattern
    def _schedule_preview(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY_S, self._post_preview)

    def _post_preview(self) -> None:
        self._preview_timer = None
        if self._previewing and self._pattern is not None:
            self.post_message(PreviewPattern(self._pattern))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not self._previewing:
            self._previewing = True
            self._schedule_preview()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        # By now the screen has already moved focus to the new widget (if any).
        focused = self.screen.focused if self.is_attached else None
        if self._previewing and (focused is None or self not in focused.ancestors):
            self.stop_preview()

    def stop_preview(self) -> None:
        """Post PreviewPattern(None) if a preview is showing."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
            self._preview_timer = None
        if self._previewing:
            self._previewing = False
            self.post_message(PreviewPattern(None))

    def on_unmount(self) -> None:
        if self._previewing:  # our own queue is closing: tell the app directly
            self._previewing = False
            self.app.post_message(PreviewPattern(None))
