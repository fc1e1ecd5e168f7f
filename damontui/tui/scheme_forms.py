"""Form building blocks for the scheme editor: field ids, the per-field Note,
labelled rows and sections (shared with the attrs screen), and the layouts of
one quota-goal or filter row. Layout only: scheme_editor.py owns the controls
(passed in as `ctl`, a maker of a field's control by its name) and their state."""

from __future__ import annotations

import re
from collections.abc import Callable

from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Label, Static

Control = Callable[[str], Widget]


def field_id(key: str) -> str:
    """A widget id for a field key: 'quotas.bytes' -> 'f-quotas-bytes'."""
    return "f-" + re.sub(r"[^A-Za-z0-9_]+", "-", key).strip("-")


class Note(Static):
    """Shows a field's error (or a hint when it is valid) right next to it."""

    def show(self, error: str | None, hint: str = "") -> None:
        self.set_class(error is not None, "-error")
        self.update(f"✗ {error}" if error else hint)


def field_row(label: str, *controls: Widget, note: Note) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), *controls, note, classes="field-row")


def section(title: str, *extra: Widget) -> Horizontal:
    return Horizontal(Label(title, classes="section"), *extra, classes="section-row")


FORM_CSS = """
.field-row { height: auto; }
.field-label { width: 13; }
.field-row Input { width: 14; }
.field-row Select { width: 22; }
.field-row .sep { width: 4; content-align: center middle; }
.field-row Label { height: 1; }
Note { width: 1fr; color: $text-muted; padding-left: 1; }
Note.-error { color: $error; }
.section-row { height: auto; margin-top: 1; }
.section { color: $accent; text-style: bold; padding-right: 2; }
.summary { height: auto; padding: 0 1; background: $panel; }
.summary.-error { color: $error; }
"""


def goal_block(uid: int, note: Note, ctl: Control) -> Vertical:
    """One quota goal; rows tagged `for-<metric>` show only for those metrics."""
    node = "for-node_mem_used_bp for-node_mem_free_bp for-node_eligible_mem_bp"
    memcg = "for-node_memcg_used_bp for-node_memcg_free_bp"
    return Vertical(
        Horizontal(
            ctl("metric"),
            Label(" target "),
            ctl("target_value"),
            Label(" "),
            Button("remove", id=f"remove-goal{uid}", compact=True),
            classes="field-row",
        ),
        Horizontal(
            Label("current value "), ctl("current_value"), classes="field-row for-user_input"
        ),
        Horizontal(Label("NUMA node "), ctl("nid"), classes=f"field-row {node} {memcg}"),
        Horizontal(Label("memcg path "), ctl("path"), classes=f"field-row {memcg}"),
        note,
        classes="list-row",
        id=f"goal{uid}",
    )


def filter_block(uid: int, note: Note, ctl: Control) -> Vertical:
    """One filter; rows tagged `for-<type>` show only for those filter types."""
    return Vertical(
        Horizontal(
            ctl("type"),
            ctl("matching"),
            ctl("allow"),
            Button("remove", id=f"remove-filter{uid}", compact=True),
            classes="field-row",
        ),
        Horizontal(Label("memcg path "), ctl("memcg_path"), classes="field-row for-memcg"),
        Horizontal(
            Label("addresses "),
            ctl("addr_start"),
            Label(" .. "),
            ctl("addr_end"),
            classes="field-row for-addr",
        ),
        Horizontal(Label("target idx "), ctl("target_idx"), classes="field-row for-target"),
        Horizontal(
            Label("page size "),
            ctl("min"),
            Label(" .. "),
            ctl("max"),
            classes="field-row for-hugepage_size",
        ),
        note,
        classes="list-row",
        id=f"filter{uid}",
    )
