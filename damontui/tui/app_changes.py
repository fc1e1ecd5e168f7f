"""Changes the user asks of the backend (a mixin of DamonApp): apply schemes and
attributes, switch the target; refused in read-only mode, and a refusal is told and
remembered (the schemes panel shows it next to the running schemes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from ..analysis import SnapshotHistory
from ..backends.base import Backend, BackendError
from ..model import BackendInfo, MonitoringAttrs, Scheme, Target, ValidationError
from .messages import ApplyAttrs, ApplySchemes, SwitchTarget

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[int]
else:
    _Base = object


class BackendChanges(_Base):
    backend: Backend
    info: BackendInfo
    history: SnapshotHistory
    readonly: bool
    last_refusal: str

    if TYPE_CHECKING:  # DamonApp's

        def _show_chrome(self) -> None: ...

    def on_apply_schemes(self, message: ApplySchemes) -> None:
        if not self.apply_schemes(message.schemes):  # the panel goes back to what runs
            refused = getattr(self.query_one("#schemes"), "refused", None)
            if refused is not None:
                refused(self.backend.schemes(), self.last_refusal)

    def apply_schemes(self, schemes: Sequence[Scheme]) -> bool:
        return self._change_backend(
            "schemes", partial(self.backend.set_schemes, schemes),
            "Schemes not applied ({}); the running schemes are unchanged.", "Invalid scheme",
            f"{len(schemes)} scheme(s) applied.",
        )  # fmt: skip

    def on_apply_attrs(self, message: ApplyAttrs) -> None:
        self.apply_attrs(message.attrs)

    def apply_attrs(self, attrs: MonitoringAttrs) -> bool:
        return self._change_backend(
            "monitoring attributes", partial(self.backend.set_attrs, attrs),
            "Attributes not applied ({}); monitoring continues unchanged.", "Invalid attributes",
            "Monitoring attributes applied.",
        )  # fmt: skip

    def on_switch_target(self, message: SwitchTarget) -> None:
        self.switch_target(message.target)

    def switch_target(self, target: Target) -> bool:
        if not self._change_backend(
            "the target", partial(self.backend.set_targets, [target]), "Target not switched ({})."
        ):
            return False
        self.history.clear()  # another address space: old columns would mislead
        self.info = self.backend.info
        self.notify(f"Now monitoring {target.label}.", markup=False)
        self._show_chrome()
        return True

    def _change_backend(self, what: str, change: Callable[[], object], failed: str,
                        title: str = "", done: str | None = None) -> bool:  # fmt: skip
        """Run `change` unless read-only; on a refusal notify `failed` (its {} is the
        error), else `done` if given. True if the backend took the change."""
        if self._refuse_readonly(what):
            return False
        try:
            change()
        except (ValidationError, BackendError) as e:
            self.last_refusal = str(e)
            self.notify(failed.format(e), title=title, severity="error", markup=False)
            return False
        if done is not None:
            self.notify(done, markup=False)
        return True

    def _refuse_readonly(self, what: str) -> bool:
        if self.readonly or self.info.readonly:
            self.last_refusal = f"read-only mode: {what} cannot be changed"
            self.notify(f"Read-only mode: {what} cannot be changed.", severity="warning",
                        markup=False)  # fmt: skip
            return True
        return False
