"""Schemes to and from a damo kdamonds JSON file, for the scheme panel's import/export.

Import takes the schemes of the file's first context (noting what else the file has).
Export writes one kdamond with one context; when the schemes were imported from a damo
file, that file's context is the base, so everything else in it (and the way its values
were written) comes back unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from damontui.formats.damo_json import DamoContext, DamoKdamond, dumps, load_damo
from damontui.model import MonitoringAttrs, Scheme, Target, TargetKind


@dataclasses.dataclass(frozen=True)
class DamoImport:
    schemes: tuple[Scheme, ...]
    context: DamoContext  # the base for a later export
    kdamond: DamoKdamond
    notes: tuple[str, ...] = ()


def schemes_from_damo(data: str | bytes, attrs: MonitoringAttrs, file: str) -> DamoImport:
    """The first context's schemes; DamoJsonError names the file and key path."""
    kdamonds = load_damo(data, file=file)
    contexts = [c for kd in kdamonds for c in kd.contexts]
    if not contexts:
        return DamoImport((), DamoContext("paddr", attrs), DamoKdamond(()), ("no context",))
    ctx = contexts[0]
    notes = []
    if len(contexts) > 1:
        notes.append(f"took the schemes of context 0 of {len(contexts)}")
    a = ctx.attrs
    if (a.sample_us, a.aggr_us) != (attrs.sample_us, attrs.aggr_us):
        notes.append(f"the file's intervals ({a.sample_us} us / {a.aggr_us} us) differ from "
                     "the ones in force: nr_accesses and age are kept as counts")  # fmt: skip
    kd = next(kd for kd in kdamonds if ctx in kd.contexts)
    return DamoImport(ctx.schemes, ctx, kd, tuple(notes))


def schemes_to_damo(schemes: Sequence[Scheme], attrs: MonitoringAttrs,
                    base: DamoImport | None = None,
                    targets: Sequence[Target] = (), raw: bool = False) -> str:  # fmt: skip
    """damo kdamonds JSON holding `schemes` (and the monitoring attributes in force)."""
    if base is not None:
        goal = base.context.attrs.intervals_goal
        if not attrs.intervals_goal.enabled and not goal.enabled:  # both off: keep the file's
            attrs = dataclasses.replace(attrs, intervals_goal=goal)
        ctx = dataclasses.replace(base.context, schemes=tuple(schemes), attrs=attrs)
        return dumps(dataclasses.replace(base.kdamond, contexts=(ctx,)), raw=raw)
    kinds = {t.kind for t in targets}
    if kinds == {TargetKind.PID}:
        ops, targets = "vaddr", tuple(t for t in targets if t.pid)
    else:
        ops, targets = "paddr", (Target(TargetKind.PADDR),)
    return dumps(DamoContext(ops, attrs, tuple(targets), tuple(schemes)), raw=raw)
