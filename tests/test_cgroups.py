"""The control-group code, on fake cgroup trees (v1 and v2): which files it writes, and what it reads back.

The machines here have cgroup v1, on which tests/test_sandbox.py runs real groups; v2 is exercised here on
a folder laid out like /sys/fs/cgroup and on a real cgroup2 mount (without memory or pids controllers);
hosts that systemd runs get a transient scope per kernel, whose commands are tested at the end.
"""

import os
import subprocess

import pytest

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


def test_only_a_mounted_tree_root_alone_controls_may_be_named_and_each_missing_piece_is_said(tmp_path, monkeypatch):
    """INN_COURSE_CGROUP_TREE names another tree only if the mount table shows cgroupfs there, as the layout its
    files claim, on a path only root can change: a folder laid out like one (which anyone could make) is no
    tree; and every reason for no group reads as one line."""
    if os.geteuid() != 0:
        pytest.skip("the folders' owners are checked against root")
    monkeypatch.delenv(cgroups.TREE_ENV, raising=False)
    monkeypatch.setattr(cgroups, "_own_v2_path", lambda root: root)  # the grader in the tree's root
    assert cgroups.tree() == cgroups.ROOT
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    monkeypatch.setenv(cgroups.TREE_ENV, str(tmp_path))
    assert cgroups.tree() is None and cgroups.mounted(tmp_path) is None
    assert cgroups.unavailable(None) == f"INN_COURSE_CGROUP_TREE={tmp_path} is not a mounted cgroup tree"
    # Mounted as v1 (memory and pids in it) but holding a v2 tree's file: the files would steer root's writes.
    monkeypatch.setattr(cgroups, "_mount_types", lambda: {str(tmp_path / c): "cgroup" for c in cgroups.CONTROLLERS})
    assert cgroups.mounted(tmp_path) == 1 and cgroups.tree() is None
    assert cgroups.refused_tree(tmp_path) == "is mounted as cgroup v1 but holds files of another layout"
    monkeypatch.setattr(cgroups, "_mount_types", lambda: {str(tmp_path): "cgroup2"})
    assert cgroups.tree() == tmp_path  # what a cgroup2 mount looks like
    monkeypatch.setenv(cgroups.TREE_ENV, str(tmp_path) + "/")
    assert cgroups.tree() == tmp_path
    monkeypatch.setenv(cgroups.TREE_ENV, "relative/tree")
    assert cgroups.tree() is None and cgroups.unavailable(None).endswith("is not an absolute path")
    monkeypatch.setattr(cgroups, "systemd_manages", lambda *args: True)
    assert cgroups.tree() == cgroups.ROOT  # a host systemd runs: its own tree, whatever the variable says
    monkeypatch.undo()
    monkeypatch.setattr(cgroups, "_own_v2_path", lambda root: root)
    # A folder on the path that someone else could change (not root's, or writable by others) or a link.
    (tmp_path / "theirs").mkdir()
    os.chown(tmp_path / "theirs", 65534, 65534)
    (tmp_path / "theirs" / "tree").mkdir()
    assert cgroups.refused_tree(tmp_path / "theirs" / "tree").startswith("goes through a folder that is not root's")
    (tmp_path / "open").mkdir(mode=0o777)
    os.chmod(tmp_path / "open", 0o777)
    assert cgroups.refused_tree(tmp_path / "open").startswith("goes through a folder that is not root's")
    (tmp_path / "link").symlink_to(tmp_path / "open")
    assert cgroups.refused_tree(tmp_path / "link").startswith("goes through a link")
    # The mount table's escapes: a mount point with a space in its name.
    table = "36 31 0:30 / /mnt/with\\040space rw,relatime shared:5 - cgroup2 none rw\n"
    assert cgroups._mount_types(table) == {"/mnt/with space": "cgroup2"}
    assert cgroups.unavailable(tmp_path / "nothing") == f"no cgroup tree at {tmp_path / 'nothing'}"
    assert cgroups.unavailable(tmp_path) == ""  # as far as can be told: create() would try
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    assert cgroups.unavailable(tmp_path) == f"the cgroup v2 tree at {tmp_path} offers no memory controller, only cpu, pids"
    (tmp_path / "cgroup.controllers").write_text("")
    assert cgroups.unavailable(tmp_path).endswith("offers no memory or pids controller, none at all")
    assert cgroups.create("k4", MiB, 8, root=tmp_path) is None and not (tmp_path / cgroups.PREFIX).exists()
    if cgroups.version() == 1:  # this machine: the v1 hierarchies are mounted under /sys/fs/cgroup
        assert cgroups.mounted(cgroups.ROOT)


def test_no_cgroup_tree_means_no_group(tmp_path):
    """Where there is no cgroup tree, is the answer None (the sandbox then falls back to rlimits)?"""
    (tmp_path / "memory").mkdir()  # one v1 controller is not a usable layout
    assert cgroups.version(tmp_path) is None and cgroups.create("k3", MiB, 8, root=tmp_path) is None


def test_a_real_v2_tree_without_memory_or_pids_gets_no_group_and_nothing_written(cgroup2_mount, tmp_path,
                                                                                       monkeypatch):
    """On a real cgroup2 tree (mounted here: it offers only the controllers v1 does not hold, hugetlb on these
    machines), a kernel's group is made where the grader's own group is, inside the tree, and only when the
    tree can bound memory and processes; otherwise nothing is written and the sandbox keeps its rlimits.
    (The grader here sits in the tree's root: its group's parent would be above the mount, where the code
    once made inn-course/.)"""
    tree = cgroup2_mount
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
        missing = " or ".join(c for c in cgroups.CONTROLLERS if c not in offered)
        assert cgroups.unavailable(tree).startswith(f"the cgroup v2 tree at {tree} offers no {missing} controller")
        # What a group does on a real v2 tree, without limits to set: join, list, kill, remove, sweep.
        folder = tree / cgroups.PREFIX / "k-hand"
        folder.mkdir(parents=True)
        made = cgroups.Cgroup(2, (folder,))
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            made.join(sleeper.pid)
            assert made.pids() == {sleeper.pid} and cgroups.find("k-hand", root=tree) == made
            made.kill_and_remove()
            assert sleeper.wait(5) == -9 and not folder.exists()
            (tree / cgroups.PREFIX / "k-left").mkdir()
            assert cgroups.sweep(tree, older_than=0) == 1 and not (tree / cgroups.PREFIX / "k-left").exists()
        finally:  # the hierarchy outlives the mount: leave nothing in it
            made.kill_and_remove()
            sleeper.kill()
            for left in (folder, tree / cgroups.PREFIX / "k-left", tree / cgroups.PREFIX):
                if left.exists():
                    left.rmdir()
    assert not (tmp_path / cgroups.PREFIX).exists()  # nor above it
    monkeypatch.setenv(cgroups.TREE_ENV, str(tree))
    assert cgroups.tree() == tree  # a cgroup2 mount may be named as the grader's tree


# ------------------------------------------------------------------ hosts that systemd runs (cgroup v2)
# Not runnable here (no systemd as PID 1): what the grader asks of systemd is tested, not systemd.

def test_systemd_is_asked_only_where_it_runs_the_host_on_a_unified_tree(tmp_path, monkeypatch):
    marker, tree = tmp_path / "run-systemd-system", tmp_path / "cgroup"
    tree.mkdir()
    (tree / "cgroup.controllers").write_text("cpu memory pids\n")
    looked = []
    monkeypatch.setattr(cgroups.shutil, "which", lambda name, path=None: looked.append(path) or f"/usr/bin/{name}")
    assert not cgroups.systemd_manages(tree, marker)  # systemd is not PID 1
    marker.mkdir()
    assert cgroups.systemd_manages(tree, marker)
    assert looked and set(looked) == {cgroups.SYSTEM_PATH}  # root never finds systemd's tools on the caller's PATH
    (tree / "cgroup.controllers").unlink()
    assert not cgroups.systemd_manages(tree, marker)  # not a unified tree
    monkeypatch.undo()
    assert not cgroups.systemd_manages()  # this machine: no systemd as PID 1, so the tests above run by hand


def test_a_kernels_scope_carries_its_limits_and_is_stopped_and_read_through_systemd(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "_tool", lambda name: f"/usr/bin/{name}")
    argv = cgroups.scope_argv("123-ab", 4 * 1024 ** 3, 256, ["python", "-m", "inn_course.sandbox", "launch", "s", "c"])
    assert argv == ["/usr/bin/systemd-run", "--scope", "--quiet", "--slice=inncourse.slice",
                    "--unit=inncourse-123-ab.scope", "-p", "MemoryMax=4294967296", "-p", "MemorySwapMax=0",
                    "-p", "TasksMax=256", "--", "python", "-m", "inn_course.sandbox", "launch", "s", "c"]
    assert cgroups.find_scope("123-ab", tmp_path) is None
    (tmp_path / "inncourse.slice" / "inncourse-123-ab.scope").mkdir(parents=True)
    assert cgroups.find_scope("123-ab", tmp_path) == cgroups.Cgroup(2, (tmp_path / "inncourse.slice" / "inncourse-123-ab.scope",))
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="oom-kill\n")

    monkeypatch.setattr(cgroups.subprocess, "run", run)
    assert cgroups.scope_result("123-ab") == "oom-kill"
    cgroups.stop_scope("123-ab")
    assert ran == [["/usr/bin/systemctl", "show", "-p", "Result", "--value", "inncourse-123-ab.scope"],
                   ["/usr/bin/systemctl", "stop", "inncourse-123-ab.scope"],
                   ["/usr/bin/systemctl", "reset-failed", "inncourse-123-ab.scope"]]


def test_the_launcher_asks_systemd_for_the_kernels_scope_before_it_touches_anything(tmp_path, monkeypatch):
    """As root on a systemd host, the kernel's launcher first becomes systemd-run (itself again, in the scope)."""
    from inn_course import sandbox

    if os.geteuid() != 0:
        pytest.skip("the launcher asks systemd only as root")
    monkeypatch.setenv("JUPYTER_PATH", "")  # install() points it at the sandbox's kernelspec: put back after
    monkeypatch.delenv(cgroups.TREE_ENV, raising=False)
    monkeypatch.setattr(cgroups, "systemd_manages", lambda *args: True)
    box = sandbox.KernelSandbox(tmp_path / "box", tmp_path / "work")
    assert box.spec.scoped  # the grader decides, and the launcher does as its spec says
    box.install({})
    monkeypatch.delenv(sandbox.SCOPED, raising=False)

    class Exec(Exception):
        pass

    def execv(program, argv):
        raise Exec(program, argv)

    monkeypatch.setattr(sandbox.os, "execv", execv)
    spec = str(tmp_path / "box" / "launch.json")
    with pytest.raises(Exec) as started:
        sandbox.launch(spec, "connection.json")
    program, argv = started.value.args
    limits = sandbox.Limits()
    assert program == argv[0] and program.endswith("/systemd-run")
    assert argv[:-6] == cgroups.scope_argv(box.cgroup_name, limits.memory, limits.processes, [])
    assert argv[-6:] == [sandbox.sys.executable, "-m", "inn_course.sandbox", "launch", spec, "connection.json"]
    assert os.environ.pop(sandbox.SCOPED) == box.cgroup_name  # the launcher in the scope knows it is there
    assert not (tmp_path / "box" / "sockets").exists()  # nothing made before systemd-run
    # A spec that says no scope is obeyed, whatever the launcher would conclude itself: no systemd-run.
    monkeypatch.setattr(cgroups, "systemd_manages", lambda *args: False)
    plain = sandbox.KernelSandbox(tmp_path / "plain", tmp_path / "work")
    plain.install({})
    monkeypatch.setattr(cgroups, "systemd_manages", lambda *args: True)
    with pytest.raises(FileNotFoundError):  # on to its own work: opening the (absent) connection file
        sandbox.launch(str(tmp_path / "plain" / "launch.json"), str(tmp_path / "no-connection.json"))


def test_a_scoped_kernel_is_reported_from_what_systemd_says_once_its_scope_is_gone(tmp_path, monkeypatch):
    from inn_course import sandbox

    if os.geteuid() != 0:
        pytest.skip("kernels get scopes only as root")
    monkeypatch.setattr(cgroups, "systemd_manages", lambda *args: True)
    monkeypatch.setenv(cgroups.TREE_ENV, str(tmp_path))  # ignored there: a cgroup2 mount is systemd's hierarchy
    assert sandbox.KernelSandbox(tmp_path / "other", tmp_path / "work").scoped
    monkeypatch.delenv(cgroups.TREE_ENV)
    box = sandbox.KernelSandbox(tmp_path / "box", tmp_path / "work")
    monkeypatch.setattr(cgroups, "scope_result", lambda name: "oom-kill")
    stopped = []
    monkeypatch.setattr(cgroups, "stop_scope", stopped.append)
    report = box.close()
    assert report["memory_bound"] == "a systemd scope of its own (cgroup v2, 4 GB)"
    assert report["out_of_memory"] is True and stopped == [box.cgroup_name]


def test_a_hub_server_is_put_in_a_systemd_scope_and_stopped_through_systemd(monkeypatch):
    """On a host systemd runs, the hub's spawner asks systemd (D-Bus) for a scope around the server it started
    (never writing into systemd's tree), says so in the log, says when systemd refused, and stops the scope.
    JupyterHub's own spawner is stood in for: what is tested is the course's part."""
    import asyncio
    import importlib
    import sys
    import types

    from traitlets.config import LoggingConfigurable

    class LocalProcessSpawner(LoggingConfigurable):  # JupyterHub's, as far as CourseSpawner uses it
        mem_limit, pid = 2 * 1024 ** 3, 4242
        user = types.SimpleNamespace(name="ann")

        async def start(self):
            return ("127.0.0.1", 8888)

        async def stop(self, now=False):
            pass

    fake = types.ModuleType("jupyterhub.spawner")
    fake.LocalProcessSpawner = LocalProcessSpawner
    monkeypatch.setitem(sys.modules, "jupyterhub", types.ModuleType("jupyterhub"))
    monkeypatch.setitem(sys.modules, "jupyterhub.spawner", fake)
    import inn_course

    monkeypatch.setitem(sys.modules, "inn_course.hub_spawner", None)  # imported afresh here, forgotten after
    monkeypatch.setattr(inn_course, "hub_spawner", None, raising=False)
    del sys.modules["inn_course.hub_spawner"]
    hub_spawner = importlib.import_module("inn_course.hub_spawner")
    monkeypatch.setattr(cgroups, "_tool", lambda name: f"/usr/bin/{name}")
    assert cgroups.adopt_argv("hub-ann", 4242, 2 * 1024 ** 3, 512) == [
        "/usr/bin/busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))", "inncourse-hub-ann.scope",
        "fail", "5", "PIDs", "au", "1", "4242", "Slice", "s", "inncourse.slice", "MemoryMax", "t", "2147483648",
        "MemorySwapMax", "t", "0", "TasksMax", "t", "512", "0"]

    asked, stopped, logged = [], [], []
    monkeypatch.setattr(cgroups, "systemd_manages", lambda *args: True)
    monkeypatch.setattr(cgroups, "create", lambda *args, **kwargs: pytest.fail("wrote into systemd's tree"))
    monkeypatch.setattr(cgroups, "stop_scope", stopped.append)
    monkeypatch.setattr(cgroups, "adopt_argv", lambda *args: asked.append(args) or ["/bin/true"])
    scope = [cgroups.Cgroup(2, ())]  # what systemd made (it answers before the scope exists: looked for after)
    monkeypatch.setattr(cgroups, "find_scope", lambda name: scope[0])
    monkeypatch.setattr(cgroups.Cgroup, "pids", lambda self: {4242})
    spawner = hub_spawner.CourseSpawner()
    monkeypatch.setattr(spawner.log, "info", lambda *args: logged.append(("info", args[0] % args[1:])))
    monkeypatch.setattr(spawner.log, "error", lambda *args: logged.append(("error", args[0] % args[1:])))
    assert asyncio.run(spawner.start()) == ("127.0.0.1", 8888)
    assert asked == [("hub-ann", 4242, 2 * 1024 ** 3, 512)] and stopped == ["hub-ann"]  # a stale scope first
    assert logged == [("info", "ann's server (pid 4242) limited to 2147483648 bytes in inncourse-hub-ann.scope")]
    monkeypatch.setattr(cgroups, "adopt_argv", lambda *args: ["/bin/sh", "-c", "echo Access denied >&2; exit 1"])
    asyncio.run(spawner.start())
    assert logged[-1] == ("error", "systemd made no scope for ann's server, which runs without its memory limit: "
                                   "Access denied")
    for argv, said in ((["/bin/true"], "no inncourse-hub-ann.scope holds the server"),
                       (["/nonexistent/busctl"], "/nonexistent/busctl: No such file or directory")):
        scope[0] = None
        monkeypatch.setattr(cgroups, "adopt_argv", lambda *args, argv=argv: argv)
        monkeypatch.setattr(spawner, "_in_scope", lambda timeout=5: asyncio.sleep(0, result=False))
        asyncio.run(spawner.start())  # the server runs on, and the log says it has no limit, and why
        assert logged[-1] == ("error", f"systemd made no scope for ann's server, which runs without its memory "
                                       f"limit: {said}")
    assert asyncio.run(hub_spawner.CourseSpawner._ask_systemd(["/bin/sleep", "5"], timeout=0.2)) == \
        "/bin/sleep did not answer in 0.2 s"
    stopped.clear()
    asyncio.run(spawner.stop())
    assert stopped == ["hub-ann"]
