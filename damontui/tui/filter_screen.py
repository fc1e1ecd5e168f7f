"""The `/` dialog: filter the regions table by address range, size, temperature
and hot/cold. Dismisses with a RegionFilter, or None when cancelled."""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from ..analysis import HeatOnly, RegionFilter
from ..model import ValidationError
from ..model.units import U64_MAX, format_size, parse_size

HEAT_CHOICES: tuple[HeatOnly, ...] = ("all", "hot", "cold")


def _address(text: str, field: str) -> int:
    """Hex (0x...) or decimal, or a size with a unit (4GiB) for round offsets."""
    try:
        return int(text, 0)
    except ValueError:
        return parse_size(text, field)


def parse_filter(address_range: str, min_size: str, min_temperature: str, heat: HeatOnly
                 ) -> RegionFilter:  # fmt: skip
    """Build a filter from the dialog's text; ValidationError names the bad field."""
    start, end = 0, U64_MAX
    address_range = address_range.strip()
    if address_range:
        parts = re.split(r"\s*(?:-|\.\.)\s*", address_range, maxsplit=1)
        if len(parts) != 2 or not all(parts):
            raise ValidationError("address range", address_range, "START-END, e.g. 0x1000-0x2000")
        start = _address(parts[0], "address range start")
        end = _address(parts[1], "address range end")
        if start >= end:
            raise ValidationError("address range", address_range, "start must be below end")
    size = parse_size(min_size, "min size") if min_size.strip() else 0
    temperature = None
    if min_temperature.strip():
        try:
            temperature = float(min_temperature)
        except ValueError:
            raise ValidationError("min temperature", min_temperature, "a number") from None
    return RegionFilter(start, end, size, temperature, heat)


class FilterScreen(ModalScreen[RegionFilter | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    FilterScreen { align: center middle; }
    FilterScreen > Vertical {
        width: 70; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    FilterScreen .row { height: 1; margin-bottom: 1; }
    FilterScreen .row Label { width: 16; }
    FilterScreen .row Input { width: 1fr; }
    FilterScreen #error { color: $error; height: auto; }
    FilterScreen #buttons { height: 1; align-horizontal: right; }
    FilterScreen #buttons Button { margin-left: 2; }
    FilterScreen RadioSet { layout: horizontal; width: 100%; margin-bottom: 1; }
    """

    def __init__(self, current: RegionFilter) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        f = self.current
        has_range = f.addr_start or f.addr_end != U64_MAX
        fields = (
            ("Address range", "range", f"{f.addr_start:#x}-{f.addr_end:#x}" if has_range else "",
             "0x7f0000000000-0x7f0040000000"),
            ("Min size", "size", format_size(f.min_size) if f.min_size else "", "2MiB"),
            ("Min temperature", "temperature",
             "" if f.min_temperature is None else f"{f.min_temperature:g}",
             "e.g. 0: accessed regions are above 0"),
        )  # fmt: skip
        with Vertical():
            yield Label("[b]Filter regions[/b]  (empty = no limit; Enter applies, Esc cancels)")
            for title, key, value, placeholder in fields:
                with Horizontal(classes="row"):
                    yield Label(title)
                    yield Input(value, placeholder=placeholder, id=key, compact=True)
            with RadioSet(id="heat", compact=True):
                for choice in HEAT_CHOICES:
                    yield RadioButton(f"{choice} regions", value=choice == f.heat)
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Clear", id="clear", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _heat(self) -> HeatOnly:
        index = self.query_one(RadioSet).pressed_index
        return HEAT_CHOICES[index] if index >= 0 else "all"

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        try:
            region_filter = parse_filter(
                self.query_one("#range", Input).value,
                self.query_one("#size", Input).value,
                self.query_one("#temperature", Input).value,
                self._heat(),
            )
        except ValidationError as e:
            self.query_one("#error", Label).update(Text(str(e)))
            return
        self.dismiss(region_filter)

    @on(Button.Pressed, "#clear")
    def clear(self) -> None:
        self.dismiss(RegionFilter())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
