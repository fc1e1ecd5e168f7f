"""Feature detection reads which files exist; the version table fills the gaps."""

from __future__ import annotations

import pytest
from fakesysfs import FakeSysfs, host_like_kdamond

from damontui.backends.kernel.features import (
    FEATURES,
    detect_features,
    kernel_release,
    parse_kernel_version,
)
from damontui.model import Filter, FilterType, QuotaGoal, Quotas, Scheme

VERSIONS = [(5, 18), (6, 2), (6, 9), (6, 15), (6, 18), (6, 19)]


def rich_scheme(version):
    """A scheme that makes the fake create goal and filter dirs where they exist."""
    goals = (QuotaGoal(),) if version >= (6, 8) else ()
    filters = (Filter(FilterType.ANON),) if version >= (6, 3) else ()
    return Scheme(quotas=Quotas(ms=10, reset_interval_ms=100, goals=goals), filters=filters)


@pytest.mark.parametrize("version", VERSIONS)
def test_detected_from_files_match_version_table(tmp_path, version):
    fake = FakeSysfs.build(tmp_path, version)
    fake.setup_kdamond(ops="paddr", schemes=[rich_scheme(version)], running=False)
    f = detect_features(fake, fake.admin, fake.release)
    assert f.sysfs_present
    for spec in FEATURES:
        if spec.name in ("goal nid", "goal path", "goal_metric") and version < (6, 8):
            continue  # no goal dir to look into: inferred (checked below)
        assert f.has(spec.name) == (version >= spec.version), spec.name
    if version >= (6, 8):
        assert {"goal_metric", "quota_goals"} <= f.detected
    if version >= (5, 19):
        assert f.ops_detected and f.avail_operations == ("vaddr", "fvaddr", "paddr")
    else:
        assert not f.ops_detected and "fvaddr" not in f.avail_operations
    assert not fake.attempts, "feature detection must not write"


def test_files_beat_the_version_number(tmp_path):
    """A backported kernel: 6.9 files under a '6.1' release string."""
    fake = FakeSysfs.build(tmp_path, (6, 9))
    fake.setup_kdamond(ops="paddr", schemes=[rich_scheme((6, 9))], running=False)
    f = detect_features(fake, fake.admin, "6.1.0-distro")
    assert f.has("tried_regions") and f.has("quota_goals") and f.has("effective_quota")
    assert not f.has("core/ops filters")
    assert f.effective_version == (6, 9)
    assert f.supports_action("migrate_hot") is False  # 6.11, not provable by files
    assert f.supports_filter_type("anon") and f.supports_filter_type("addr")


def test_no_kdamond_dirs_inferred_and_said_so(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 15))
    f = detect_features(fake, fake.admin, "6.15.2")
    assert not f.detected
    assert f.has("core/ops filters") and not f.has("refresh_ms")
    assert any("inferred from kernel version 6.15" in n for n in f.notes)
    assert all(label.endswith("*") for label in f.labels())


def test_host_like_tree(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 18), avail_operations=("paddr",))
    host_like_kdamond(fake)
    f = detect_features(fake, fake.admin, "6.18.44-fc-v782")
    assert f.avail_operations == ("paddr",)
    assert not f.has("vaddr") and f.has("paddr")
    assert f.has("refresh_ms") and f.has("addr_unit") and not f.has("obsolete_target")
    assert f.supports_command("commit_schemes_quota_goals")
    assert "refresh_ms" in f.labels() and "paddr" in f.labels()


def test_missing_sysfs(tmp_path):
    f = detect_features(root=str(tmp_path / "nothing"), kernel_release_text="6.18")
    assert not f.sysfs_present
    assert "not found" in f.notes[0]


def test_version_parsing(tmp_path):
    assert parse_kernel_version("6.18.44-fc-v782") == (6, 18)
    assert parse_kernel_version("Linux version 5.18.0-rc1 (x)") == (5, 18)
    assert parse_kernel_version("garbage") is None
    pv = tmp_path / "version"
    pv.write_text("Linux version 6.9.3-test (gcc) #1 SMP\n")
    assert kernel_release(str(pv)) == "6.9.3-test"
    assert kernel_release(str(tmp_path / "missing"))  # falls back to platform.release()
