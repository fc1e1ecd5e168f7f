"""Feature detection from damontui's own kdamond directory (fake sysfs): with no
kdamond to look into the version table guesses ('*' in the header); once
damontui created its own directory, every level is read there instead."""

from __future__ import annotations

import pytest
from fakesysfs import FakeSysfs

from damontui.backends.kernel import KernelBackend
from damontui.model import MonitoringAttrs, Target, TargetKind


@pytest.mark.parametrize("version", [(6, 12), (7, 2)])
def test_features_come_from_own_kdamond_after_launch(tmp_path, version):
    fake = FakeSysfs.build(tmp_path, version)
    b = KernelBackend([Target(TargetKind.PADDR)], MonitoringAttrs(), **fake.backend_paths())
    assert b.features.inferred  # nothing to look into yet
    assert any(label.endswith("*") for label in b.info.features)
    b.launch()
    assert not b.features.inferred, b.features.inferred
    assert not any(label.endswith("*") for label in b.info.features), b.info.features
    assert any("detected in damontui's own kdamond.0" in n for n in b.info.notes)
    assert not any(n.startswith("inferred from kernel") for n in b.info.notes)
    # the probe only touched our own kdamond, and left no goal or filter behind
    assert all(p.startswith(("kdamonds/0/", "kdamonds/nr_kdamonds")) for p, _ in fake.writes)
    sdir = "kdamonds/0/contexts/0/schemes/0"
    assert fake.value(f"{sdir}/quotas/goals/nr_goals") == "0"
    assert fake.value(f"{sdir}/filters/nr_filters") == "0"
    if version >= (7, 2):
        assert {"pause", "fail_charge", "probes", "goal_tuner", "dests"} <= b.features.present
    else:
        assert not {"pause", "refresh_ms", "intervals_goal"} & b.features.present
    b.stop()


def test_detection_refuses_what_the_directory_lacks(tmp_path):
    """A backport-free 6.12 tree: detection confirms what the table said."""
    fake = FakeSysfs.build(tmp_path, (6, 12))
    b = KernelBackend([Target(TargetKind.PADDR)], MonitoringAttrs(), **fake.backend_paths())
    before = b.features.present
    b.launch()
    assert b.features.present == before
    b.stop()


def test_unknown_files_are_named_and_kept(tmp_path):
    from fakesysfs import host_like_kdamond

    from damontui.backends.kernel.unknown_files import unknown_files

    fake = FakeSysfs.build(tmp_path, (7, 2))
    index = host_like_kdamond(fake, running=True)
    # a file of a kernel newer than the model (7.2 has none damontui leaves out)
    fake._put(f"kdamonds/{index}/contexts/0/monitoring_attrs/future_knob", "7", True)
    fake.writes.clear()
    b = KernelBackend.observe(
        index, **{k: v for k, v in fake.backend_paths().items() if k != "module_root"}
    )
    note = next(n for n in b.info.notes if "does not model" in n)
    assert "contexts/0/monitoring_attrs/future_knob=7" in note
    # modelled since the 7.x work: read back and written from the model
    assert "probes" not in note
    assert "pause" not in note and "addr_unit" not in note
    assert "quotas/goal_tuner" not in note and "max_nr_snapshots" not in note
    assert fake.writes == []  # observing writes nothing
    # what the model covers is not listed
    from damontui.backends.kernel.reader import read_config_tree

    unknown = unknown_files(read_config_tree(fake, fake.path(f"kdamonds/{index}")))
    assert not any(u.endswith(("/sample_us", "/action", "/nr_filters")) for u in unknown)
