"""Feature detection against the guest's real kernel (6.12 or 7.2, by the tier's
kernel descriptor).

damontui detects features by READING which files exist; these tests check the
result against what the guest's kernel really has, check that detection writes
nothing, and cross-check damontui's version tables (actions, filter types,
goal metrics) against the kernel by trial writes - which only the TEST does,
on a scratch kdamond in the guest.
"""

from __future__ import annotations

import errno

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

features = pytest.importorskip("damontui.backends.kernel.features")

# What Debian trixie's 6.12 kernel has (see tests/vm/README.md)
PRESENT_612 = {
    "commit",
    "tried_regions",
    "filters",
    "total_bytes",
    "addr/target filters",
    "apply_interval",
    "quota_goals",
    "goal_metric",
    "effective_quota",
    "target_nid",
}
ABSENT_612 = {
    "filter allow",
    "core/ops filters",
    "intervals_goal",
    "goal nid",
    "refresh_ms",
    "dests",
    "addr_unit",
    "obsolete_target",
    "goal path",
    "nr_snapshots",
    "goal_tuner",
    "pause",
    "fail_charge",
    "probes",
}
# What Debian sid's 7.2 kernel has: every feature of the table
PRESENT_72 = {spec.name for spec in features.FEATURES}
EXPECTED = {(6, 12): (PRESENT_612, ABSENT_612), (7, 2): (PRESENT_72, set())}
KD0 = vmkit.KDAMONDS / "0"
C0 = KD0 / "contexts/0"
S0 = C0 / "schemes/0"


def _populate_scratch_kdamond() -> None:
    """One kdamond with every level of directory detection looks into."""
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)
    vmkit.write(KD0 / "contexts/nr_contexts", 1)
    vmkit.write(C0 / "targets/nr_targets", 1)
    vmkit.write(C0 / "schemes/nr_schemes", 1)
    vmkit.write(S0 / "quotas/goals/nr_goals", 1)
    vmkit.write(S0 / "filters/nr_filters", 1)


def _expected_version() -> tuple[int, int]:
    """The version the tier's kernel descriptor (NAME ends in X.Y) promises."""
    import re

    m = re.search(r"(\d+)\.(\d+)$", vmkit.kernel_name())
    if not m:
        pytest.skip(f"kernel {vmkit.kernel_name()!r}: no expected feature set for it")
    version = (int(m.group(1)), int(m.group(2)))
    if version not in EXPECTED:
        pytest.skip(f"no expected feature set for {version}")
    return version


def test_kernel_is_the_described_one():
    release = features.kernel_release()
    assert features.parse_kernel_version(release) == _expected_version(), release


def test_detection_by_reading_matches_kernel():
    version = _expected_version()
    present, absent = EXPECTED[version]
    _populate_scratch_kdamond()
    before = vmkit.tree(vmkit.ADMIN)
    f = features.detect_features()
    assert vmkit.tree(vmkit.ADMIN) == before, "feature detection changed sysfs"
    print(f"\n[features] detected: {sorted(f.present)}\n[features] notes: {f.notes}")
    assert f.sysfs_present
    assert f.version == version
    assert f.ops_detected and set(f.avail_operations) == {"vaddr", "fvaddr", "paddr"}
    # every feature was decided by reading files (nothing inferred)
    assert not f.inferred, f.inferred
    assert present <= f.present, present - f.present
    assert not (absent & f.present), absent & f.present
    for cmd in (
        "commit",
        "update_schemes_tried_regions",
        "update_schemes_tried_bytes",
        "commit_schemes_quota_goals",
        "update_schemes_effective_quotas",
    ):
        assert f.supports_command(cmd), cmd
    assert f.supports_command("update_tuned_intervals") == (version >= (6, 15))


def test_inference_without_kdamonds_agrees_with_detection():
    """With no kdamond to look into, the version table must give the same answer."""
    inferred = features.detect_features()
    assert inferred.inferred, "expected inference with nr_kdamonds=0"
    _populate_scratch_kdamond()
    detected = features.detect_features()
    assert inferred.present == detected.present, (
        f"version table disagrees with {inferred.version}: only inferred "
        f"{inferred.present - detected.present}, "
        f"only detected {detected.present - inferred.present}"
    )
    assert set(inferred.avail_operations) == set(detected.avail_operations)


def _accepts(path, value) -> bool:
    try:
        vmkit.write(path, value)
        return True
    except OSError as e:
        assert e.errno == errno.EINVAL, (path, value, e)
        return False


def test_version_tables_match_kernel():
    """Trial writes (test-only) of every action / filter type / goal metric."""
    _populate_scratch_kdamond()
    f = features.detect_features()
    wrong = []
    for action in features.ACTION_VERSIONS:
        if _accepts(S0 / "action", action) != f.supports_action(action):
            wrong.append(f"action {action}")
    for ftype in features.FILTER_TYPE_VERSIONS:
        if _accepts(S0 / "filters/0/type", ftype) != f.supports_filter_type(ftype):
            wrong.append(f"filter type {ftype}")
    for metric in features.GOAL_METRIC_VERSIONS:
        if _accepts(S0 / "quotas/goals/0/target_metric", metric) != f.supports_goal_metric(metric):
            wrong.append(f"goal metric {metric}")
    assert not wrong, f"damontui's tables disagree with the {f.version} kernel on: {wrong}"
