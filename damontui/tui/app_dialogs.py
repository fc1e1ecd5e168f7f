"""The app's dialogs, themes and help (a mixin of DamonApp): target picker,
attributes editor, help screen, theme switching."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.binding import BindingType

from ..backends.base import Backend
from ..model import BackendInfo, MonitoringAttrs, Target
from .filter_screen import FilterScreen
from .help_screen import HELP_EXTRA, HelpScreen
from .views import ViewRegistry

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[int]
else:
    _Base = object


class Dialogs(_Base):
    backend: Backend
    info: BackendInfo
    registry: ViewRegistry
    LEAD_BINDINGS: ClassVar[list[BindingType]]
    TAIL_BINDINGS: ClassVar[list[BindingType]]
    _theme_dirs: tuple[Path, ...]
    _theme_name: str | None

    if TYPE_CHECKING:  # DamonApp's

        def switch_target(self, target: Target) -> bool: ...

        def apply_attrs(self, attrs: MonitoringAttrs) -> bool: ...

    def _load_themes(self) -> list[str]:
        """Register the shipped and user themes and pick the configured one."""
        try:
            from .themes import load_themes, select_theme
        except ImportError as e:
            return [f"themes not loaded: {e}"]
        messages = load_themes(self, self._theme_dirs)
        if self._theme_name:
            problem = select_theme(self, self._theme_name)
            messages += [problem] if problem else []
        return messages

    def action_pick_target(self) -> None:
        try:
            from .target_screen import TargetScreen
        except ImportError as e:
            self.notify(f"The target picker failed to load: {e}", severity="error", markup=False)
            return
        current = self.backend.targets()
        # Physical memory is offered only where something can monitor it.
        physical = self.info.backend == "kernel" or "pageidle" in self.info.source
        screen = TargetScreen(current=current[0] if current else None, physical=physical)
        self.push_screen(screen, self._picked_target)

    def _picked_target(self, target: Target | None) -> None:
        if target is not None:
            self.switch_target(target)

    def action_edit_attrs(self) -> None:
        try:
            from .attrs_screen import AttrsScreen
        except ImportError as e:
            self.notify(f"The attributes editor failed to load: {e}", severity="error",
                        markup=False)  # fmt: skip
            return
        screen = AttrsScreen(self.backend.attrs(), info=self.info)  # info: what it takes
        self.push_screen(screen, self._edited_attrs)

    def _edited_attrs(self, attrs: MonitoringAttrs | None) -> None:
        if attrs is not None:
            self.apply_attrs(attrs)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.help_sections(), extra=HELP_EXTRA))

    def help_sections(self) -> list[tuple[str, Sequence[BindingType]]]:
        """Every key, from the bindings themselves: the app's (with the registry's
        number keys), each main view's, the filter dialog's, each panel's, then the
        other dialogs'."""
        registry = self.registry
        app_keys = [*self.LEAD_BINDINGS, *registry.bindings(), *self.TAIL_BINDINGS]
        sections: list[tuple[str, Sequence[BindingType]]] = [("Everywhere", app_keys)]
        for spec in registry.main_views:
            sections += spec.help()
        sections.append(("Dialogs", FilterScreen.BINDINGS))
        for spec in [*registry.panels, *registry.bars]:
            sections += spec.help()
        try:  # the editor modules load lazily; help must not depend on them
            from .attrs_screen import AttrsScreen
            from .target_screen import TargetScreen
        except ImportError:
            return sections
        return sections + [
            ("Attributes dialog", AttrsScreen.BINDINGS),
            ("Target picker", TargetScreen.BINDINGS),
        ]

    def action_next_theme(self) -> None:
        names = sorted(self.available_themes)
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", markup=False, timeout=2)
