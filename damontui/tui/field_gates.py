"""Which of the 6.17+/7.x settings the editors offer the running backend can take.

Decided from what the backend reports in its BackendInfo (the protocol, nothing
else): for kernel DAMON, the features it detected (or inferred, marked '*') and
its kernel release, with the kernel writer's own version table
(model/kernel_versions.py) for the "needs kernel X.Y+" text; for the
user-space engine, what its DAMOS implements (damos.validate_for_engine refuses
the rest: a test keeps the two in agreement). Other backends (DAMON_STAT,
replay, a view-only kdamond) are read-only: the app refuses every change there.

A refusal is a sentence naming the field, the value and the version it needs; the
editors show it next to the field and never let such a scheme leave them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..model import BackendInfo, GoalMetric, GoalTuner, Scheme
from ..model.kernel_versions import GOAL_METRIC_VERSIONS, SPECS, parse_kernel_version, vstr

# editor field -> the kernel feature (features.py FEATURES name) it needs
FIELD_FEATURES = {
    "quotas.goal_tuner": "goal_tuner",
    "quotas.fail_charge_num": "fail_charge",
    "quotas.fail_charge_denom": "fail_charge",
    "max_nr_snapshots": "nr_snapshots",
    "dests": "dests",
    "pause": "pause",
    "addr_unit": "addr_unit",
}
# Goal metrics the user-space engine computes (backends/engine/tuning.py GoalValues).
ENGINE_GOAL_METRICS = frozenset(
    {
        GoalMetric.USER_INPUT,
        GoalMetric.SOME_MEM_PSI_US,
        GoalMetric.NODE_MEM_USED_BP,
        GoalMetric.NODE_MEM_FREE_BP,
        GoalMetric.ACTIVE_MEM_BP,
        GoalMetric.INACTIVE_MEM_BP,
    }
)


def kernel_needs(feature: str) -> str:
    """'kernel 7.1+' for a feature or goal metric, from the kernel writer's table."""
    if feature in SPECS:
        return f"kernel {vstr(SPECS[feature].version)}+"
    if feature in GOAL_METRIC_VERSIONS:
        return f"kernel {vstr(GOAL_METRIC_VERSIONS[feature])}+"
    return "a newer kernel"


@dataclass(frozen=True)
class Gate:
    """What one backend takes; `Gate()` (no backend known) refuses nothing."""

    backend: str = ""
    kernel_release: str = ""
    present: frozenset[str] = frozenset()

    @classmethod
    def from_info(cls, info: BackendInfo | None) -> Gate:
        # --remote: "remote kernel" with the remote backend's own features
        backend = info.backend.removeprefix("remote ") if info is not None else ""
        if info is None or backend not in ("kernel", "engine"):
            return cls()
        present = frozenset(label.rstrip("*") for label in info.features)
        return cls(backend, info.kernel_version, present)

    @property
    def _version(self) -> tuple[int, int] | None:
        """The kernel's version, raised to what its detected features prove (backports),
        as features.Features.effective_version does."""
        best = parse_kernel_version(self.kernel_release)
        for name in self.present & SPECS.keys():
            if best is None or SPECS[name].version > best:
                best = SPECS[name].version
        return best

    def _refuse(self, field: str, what: str, feature: str) -> str:
        needs = kernel_needs(feature)
        if self.backend == "engine":
            return (
                f"{field}: {what} is not implemented by the user-space engine; "
                f"it needs kernel DAMON ({needs}, --backend kernel)"
            )
        return f"{field}: {what} needs {needs} (this kernel: {self.kernel_release or 'unknown'})"

    def takes(self, feature: str) -> bool:
        """Whether the backend has a FIELD_FEATURES feature."""
        if self.backend == "engine":
            return False  # none of them: see the module docstring
        return self.backend != "kernel" or feature in self.present

    def field(self, key: str, value: object) -> str | None:
        """The refusal of setting `key` to `value`, or None if the backend takes it.
        Default values (off, 0, none) are always taken: they write nothing new."""
        feature = FIELD_FEATURES.get(key)
        if feature is None or _is_default(key, value) or self.takes(feature):
            return None
        return self._refuse(key, f"{key.rsplit('.', 1)[-1]} {_shown(value)}", feature)

    def hint(self, key: str) -> str:
        """A short note for a field the backend can't take ('' if it can)."""
        feature = FIELD_FEATURES.get(key)
        if feature is None or self.takes(feature):
            return ""
        who = "engine: no" if self.backend == "engine" else "this kernel: no"
        return f"{who} ({kernel_needs(feature)})"

    def metric(self, key: str, metric: GoalMetric) -> str | None:
        """The refusal of goal metric `metric` at field `key`, or None."""
        metric = GoalMetric(metric)
        what = f"goal metric {metric.value}"
        if self.backend == "engine":
            if metric in ENGINE_GOAL_METRICS:
                return None
            return self._refuse(key, what, metric.value)
        if self.backend != "kernel":
            return None
        version = GOAL_METRIC_VERSIONS.get(metric.value)
        have = self._version
        ok = "quota_goals" in self.present and (
            metric is GoalMetric.USER_INPUT or "goal_metric" in self.present
        )
        ok = ok and version is not None and have is not None and have >= version
        if ok and metric.needs_nid:
            ok = "goal nid" in self.present
        if ok and metric.needs_path:
            ok = "goal path" in self.present
        return None if ok else self._refuse(key, what, metric.value)

    def scheme(self, scheme: Scheme) -> Iterator[tuple[str, str]]:
        """(field key, refusal) for each 6.17+/7.x setting of `scheme` the backend lacks."""
        q = scheme.quotas
        for key, value in (
            ("quotas.goal_tuner", GoalTuner(q.goal_tuner)),
            ("quotas.fail_charge_num", q.fail_charge_num),
            ("quotas.fail_charge_denom", q.fail_charge_denom),
            ("max_nr_snapshots", scheme.max_nr_snapshots),
            ("dests", scheme.dests),
        ):
            refusal = self.field(key, value)
            if refusal is not None:
                yield key, refusal
        for i, goal in enumerate(q.goals):
            key = f"quotas.goals[{i}].metric"
            refusal = self.metric(key, GoalMetric(goal.metric))
            if refusal is not None:
                yield key, refusal


def gate_errors(gate: Gate, fields: Iterable[tuple[str, object]]) -> dict[str, str]:
    """The gate's refusals of the (field key, parsed value) pairs an editor holds
    (None: did not parse); goal metrics by their 'quotas.goals[i].metric' key."""
    out: dict[str, str] = {}
    for key, value in fields:
        if value is None:
            continue
        if key.startswith("quotas.goals[") and key.endswith(".metric"):
            refusal = gate.metric(key, GoalMetric(value))
        else:
            refusal = gate.field(key, value)
        if refusal is not None:
            out[key] = refusal
    return out


def _is_default(key: str, value: object) -> bool:
    if key == "quotas.goal_tuner":
        return GoalTuner(value) is GoalTuner.CONSIST
    if key == "addr_unit":
        return value == 1
    return not value


def _shown(value: object) -> str:
    if isinstance(value, GoalTuner):
        return f"'{value.value}'"
    if isinstance(value, tuple):
        return ",".join(f"{d.id}:{d.weight}" for d in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
