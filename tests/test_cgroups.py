"""The control-group code, on fake cgroup trees (v1 and v2): which files it writes, and what it reads back.

The machines here have cgroup v1, on which tests/test_sandbox.py runs real groups; v2 is exercised
only here, on a folder laid out like /sys/fs/cgroup.
"""

from inn_course import cgroups

MiB = 1024 ** 2


def test_v1_group_gets_memory_swap_and_process_limits(tmp_path):
    """On a v1 layout, are the memory (with swap) and pids limits written, and the process joined to both?"""
    for controller in ("memory", "pids"):
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "tasks").write_text("")
    (tmp_path / "memory" / cgroups.PREFIX / "k1").mkdir(parents=True)
    (tmp_path / "memory" / cgroups.PREFIX / "k1" / "memory.memsw.limit_in_bytes").write_text("0")
    assert cgroups.version(tmp_path) == 1
    group = cgroups.create("k1", 256 * MiB, 64, root=tmp_path)
    memory, pids = group.folders
    assert (memory / "memory.limit_in_bytes").read_text() == str(256 * MiB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(256 * MiB)
    assert (pids / "pids.max").read_text() == "64"
    group.join(4242)
    assert all(path.read_text() == "4242\n" for path in group.procs_files)
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert group.out_of_memory()


def test_v2_group_is_made_beside_the_graders_own_with_controllers_enabled(tmp_path, monkeypatch):
    """On a v2 layout, is the group created under inn-course/ with memory and pids enabled and limited?"""
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "grader").mkdir()
    monkeypatch.setattr(cgroups, "_own_v2_path", lambda root: root / "grader")
    parent = tmp_path / cgroups.PREFIX
    parent.mkdir()
    (parent / "cgroup.subtree_control").write_text("")
    (parent / "k2").mkdir()
    (parent / "k2" / "memory.swap.max").write_text("max")
    assert cgroups.version(tmp_path) == 2
    group = cgroups.create("k2", 128 * MiB, 32, root=tmp_path)
    assert group.version == 2 and group.folders == (parent / "k2",)
    assert (parent / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (parent / "k2" / "memory.max").read_text() == str(128 * MiB)
    assert (parent / "k2" / "memory.swap.max").read_text() == "0"
    assert (parent / "k2" / "pids.max").read_text() == "32"
    (parent / "k2" / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.out_of_memory()


def test_no_cgroup_tree_means_no_group(tmp_path):
    """Where there is no cgroup tree, is the answer None (the sandbox then falls back to rlimits)?"""
    (tmp_path / "memory").mkdir()  # one v1 controller is not a usable layout
    assert cgroups.version(tmp_path) is None and cgroups.create("k3", MiB, 8, root=tmp_path) is None


def test_a_real_v2_tree_without_memory_or_pids_gets_no_group_and_nothing_written(tmp_path):
    """On a real cgroup2 tree (mounted here: it offers only the controllers v1 does not hold, hugetlb on these
    machines), a kernel's group is made where the grader's own group is, inside the tree, and only when the
    tree can bound memory and processes; otherwise nothing is written and the sandbox keeps its rlimits.
    (The grader here sits in the tree's root: its group's parent would be above the mount, where the code
    once made inn-course/.)"""
    import os
    import subprocess

    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a cgroup2 tree needs root")
    tree = tmp_path / "cgroup2"
    tree.mkdir()
    if subprocess.run(["mount", "-t", "cgroup2", "none", str(tree)], capture_output=True).returncode:
        pytest.skip("no cgroup2 mount here")
    try:
        assert cgroups.version(tree) == 2
        offered = set((tree / "cgroup.controllers").read_text().split())
        assert cgroups._v2_base(tree).is_relative_to(tree)
        group = cgroups.create("k-real", 256 * MiB, 64, root=tree)
        if {"memory", "pids"} <= offered:  # a machine whose v2 tree holds them: a real group, then gone
            sleeper = subprocess.Popen(["sleep", "30"])
            group.join(sleeper.pid)
            assert sleeper.pid in group.pids() and (group.folders[0] / "memory.max").read_text().strip() == \
                str(256 * MiB)
            group.kill_and_remove()
            assert sleeper.wait(5) == -9 and cgroups.find("k-real", root=tree) is None
        else:
            assert group is None and cgroups.find("k-real", root=tree) is None
            assert not (tree / cgroups.PREFIX).exists()  # nothing made in the tree
        assert not (tmp_path / cgroups.PREFIX).exists()  # nor above it
    finally:
        subprocess.run(["umount", str(tree)], check=False)
