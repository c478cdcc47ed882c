"""The kernel's sandbox, attacked directly: its user, environment, limits, descriptors and files.

Each test starts a sandboxed kernel the way grading does (``sandbox.KernelSandbox``), runs a hostile
snippet in it and checks what the snippet could do, from inside and from the host. They need
bubblewrap and root (as CI runs): the kernel drops from root to ``nobody``, which is what they prove.
A kernel starts in about a second (no torch import), so these are quick tests.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import psutil
import pytest
from jupyter_client.manager import KernelManager

from inn_course import cgroups, execution, safe_files, sandbox

MiB = 1024 ** 2


def _requirements() -> str | None:
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as error:
        return f"no sandbox here: {error}"
    if os.geteuid() != 0:
        return "the grader is not root here: the kernel keeps the grader's user (these tests prove the drop)"
    return None


needs_sandbox = pytest.mark.skipif(_requirements() is not None, reason=_requirements() or "")
slow = pytest.mark.slow  # each starts a kernel (1-15 s): out of `make quick`


@contextmanager
def kernel(tmp_path: Path, limits: sandbox.Limits = sandbox.Limits(), files: Path | None = None, stdout=None):
    """A sandboxed kernel; yields (run, box, km): run(code) -> everything it printed (errors included).

    ``stdout``: a file the launcher is started with as stdout and stderr (a grading worker's log)."""
    box = sandbox.KernelSandbox(tmp_path / "box", tmp_path / "course" / "autograded" / "s" / "a", files, limits)
    km = KernelManager(kernel_name="python3", config=box.install({}))
    km.start_kernel(**({"stdout": stdout, "stderr": stdout} if stdout else {}))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)

        def run(code: str, timeout: float = 60) -> str:
            printed = []

            def hook(msg):
                content = msg["content"]
                printed.append(content.get("text", "") or content.get("evalue", ""))
                if msg["msg_type"] == "error":
                    printed.append(content["ename"])

            client.execute_interactive(textwrap.dedent(code), timeout=timeout, output_hook=hook)
            return "".join(printed)

        yield run, box, km
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
        box.close()


@needs_sandbox
@slow
def test_kernel_is_an_unprivileged_host_user(tmp_path):
    """Is the kernel uid 65534 on the host (not root mapped to 65534), unable to read root's files?"""
    with kernel(tmp_path) as (run, box, _):
        inside = run("""
            import os
            try:
                open('/etc/shadow').read(); shadow = 'read'
            except PermissionError:
                shadow = 'denied'
            print(os.getuid(), os.getgid(), os.getgroups(), shadow)
        """)
        assert inside.split() == ["65534", "65534", "[]", "denied"]
        kernel_processes = [p for p in psutil.Process().children(recursive=True)
                            if "ipykernel_launcher" in " ".join(p.cmdline())]
        assert kernel_processes and all(p.uids().real == p.uids().effective == sandbox.NOBODY
                                        for p in kernel_processes)
        run("open('/run/kernel/../../' + 'tmp/x', 'w').write('x')")  # written inside, as nobody


@needs_sandbox
@slow
def test_environment_holds_only_the_allow_list(tmp_path, monkeypatch):
    """Does a secret in the grader's environment stay out of the kernel?"""
    monkeypatch.setenv("INN_SECRET_TOKEN", "s3cr3t-token")
    with kernel(tmp_path) as (run, _, _):
        names = json.loads(run("import os, json; print(json.dumps(sorted(os.environ)))"))
        printed = run("import os; print(os.environ)")
    assert "INN_SECRET_TOKEN" not in names and "s3cr3t-token" not in printed
    ipykernel_own = {"CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "GIT_PAGER", "PAGER", "TERM", "PWD",
                     "PYDEVD_USE_FRAME_EVAL", "MPLBACKEND"}
    assert set(names) <= set(sandbox.environment(1)) | ipykernel_own


@needs_sandbox
@slow
def test_no_nested_user_namespace_and_no_network(tmp_path):
    """Can the kernel create a user namespace (root inside it), or reach a socket listening on the host?"""
    listener = socket.create_server(("127.0.0.1", 0))
    with kernel(tmp_path) as (run, _, _):
        printed = run(f"""
            import ctypes, socket
            print('userns', ctypes.CDLL(None, use_errno=True).unshare(0x10000000), ctypes.get_errno())
            try:
                socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), timeout=2); print('net open')
            except OSError:
                print('net blocked')
        """)
    listener.close()
    assert "userns -1" in printed and "net blocked" in printed


@needs_sandbox
@slow
def test_tmp_and_working_folder_are_bounded(tmp_path):
    """Do /tmp and the working folder stop at their size (not fill the host's memory or disk)?"""
    limits = sandbox.Limits(tmp_bytes=16 * MiB, scratch_bytes=16 * MiB)
    with kernel(tmp_path, limits) as (run, _, _):
        printed = run("""
            import errno
            for where in ('/tmp/fill', 'fill'):
                try:
                    with open(where, 'wb') as handle:
                        for _ in range(64):
                            handle.write(b'x' * 2 ** 20)
                    print(where, 'filled')
                except OSError as error:
                    print(where, errno.errorcode[error.errno])
        """)
    assert printed.split() == ["/tmp/fill", "ENOSPC", "fill", "ENOSPC"]


@needs_sandbox
@slow
def test_file_size_and_cpu_time_are_capped(tmp_path):
    """Does one file stop at the per-file limit, and a busy loop die at the CPU-time limit?"""
    limits = sandbox.Limits(file_size=4 * MiB, cpu_seconds=2)
    with kernel(tmp_path, limits) as (run, _, km):
        printed = run("""
            try:
                with open('/tmp/one-file', 'wb') as handle:
                    handle.write(b'x' * (8 * 2 ** 20))
            except OSError as error:
                print(error.strerror)
        """)
        assert "File too large" in printed
        try:  # 2 CPU seconds, then SIGXCPU/SIGKILL; without the limit the loop would still run after 8 s
            run("while True:\n    pass", timeout=8)
        except Exception:
            pass  # the kernel died mid-cell
        assert not km.is_alive()


def test_a_worker_dies_with_its_parent_and_has_a_memory_cap():
    """Does a worker process get its address-space cap and a death signal tied to its parent?"""
    import subprocess
    import sys

    from inn_course import classroom

    probe = ("import resource, ctypes; PR_GET_PDEATHSIG = 2; signal = ctypes.c_int(); "
             "ctypes.CDLL(None).prctl(PR_GET_PDEATHSIG, ctypes.byref(signal), 0, 0, 0); "
             "print(resource.getrlimit(resource.RLIMIT_AS)[0], signal.value)")
    printed = subprocess.run([sys.executable, "-c", probe], preexec_fn=lambda: classroom._limit_worker(True),
                             capture_output=True, text=True, check=True).stdout.split()
    assert printed == [str(classroom.WORKER_ADDRESS_SPACE), "9"]  # SIGKILL when the parent dies


@needs_sandbox
@slow
@pytest.mark.skipif(cgroups.version() is None, reason="no control groups here: memory is capped by rlimits only")
def test_memory_limit_counts_tmpfs(tmp_path):
    """Does filling a large tmpfs hit the kernel's memory limit (pages in host memory are memory)?"""
    limits = sandbox.Limits(memory=160 * MiB, tmp_bytes=1024 * MiB)
    with kernel(tmp_path, limits) as (run, box, km):
        group = box.group()
        if group is None:
            pytest.skip("the control-group tree is not writable here: memory is capped by rlimits only")
        try:  # many files, each under the per-file limit
            run("""
                for number in range(32):
                    with open(f'/tmp/fill{number}', 'wb') as handle:
                        for _ in range(16):
                            handle.write(b'x' * 2 ** 20)
            """, timeout=10)
        except Exception:
            pass  # the kernel was killed mid-cell
        assert group.out_of_memory()
        assert (group.memory_peak() or 0) <= 160 * MiB


@needs_sandbox
@slow
def test_process_count_is_capped(tmp_path):
    """Does a fork bomb stop at the kernel's process limit?"""
    limits = sandbox.Limits(processes=48)
    with kernel(tmp_path, limits) as (run, _, _):
        printed = run("""
            import subprocess
            started = []
            try:
                for _ in range(200):
                    started.append(subprocess.Popen(['sleep', '30']))
            except OSError as error:
                print('stopped', type(error).__name__)
            print('started', len(started))
        """)
    assert "stopped" in printed and int(printed.split("started")[-1]) < 48


@needs_sandbox
@slow
def test_no_descriptor_leads_out(tmp_path):
    """Does the kernel hold no descriptor of the launcher's (a folder outside, the connection file, the worker's
    log file it was started with as stdout and stderr, an open file of the grader's)?"""
    log = tmp_path / "student.log"
    with open(log, "w") as handle, open(tmp_path / "grader-secret", "w") as secret:
        os.set_inheritable(secret.fileno(), True)
        with kernel(tmp_path, stdout=handle) as (run, _, _):
            targets = json.loads(run("""
                import os, json
                targets = {}
                for fd in os.listdir('/proc/self/fd'):
                    try:
                        targets[fd] = os.readlink(f'/proc/self/fd/{fd}')
                    except OSError:
                        pass
                print(json.dumps(targets))
            """))
    # Its own pipes, sockets, event descriptors, devices and (deleted) files of its own /tmp: nothing else.
    outside = [t for t in targets.values() if not t.startswith(("socket:", "pipe:", "anon_inode:", "/dev/", "/tmp/"))]
    assert targets and outside == []
    # (tmp_path is under /tmp too: the grader's files, named.) ipykernel keeps a copy of the stdout it was
    # started with, to echo to: /dev/null, not the worker's log.
    assert str(log) not in targets.values() and str(tmp_path / "grader-secret") not in targets.values()
    assert "/dev/null" in targets.values() and log.read_text() == ""


@needs_sandbox
@slow
def test_working_folder_holds_only_the_students_regular_files(tmp_path):
    """Are links and FIFOs of a submission refused by the copy, and nbgrader's own folder out of sight?"""
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "invertible_networks.ipynb").write_text("{}")
    (submitted / "weights.pt").write_bytes(b"\0" * 100)
    (submitted / "to-passwd").symlink_to("/etc/passwd")
    (submitted / "to-root").symlink_to("/root")
    os.mkfifo(submitted / "a-fifo")
    copy = safe_files.copy_tree(submitted, tmp_path / "copy")
    assert sorted(copy.copied) == ["invertible_networks.ipynb", "weights.pt"]
    assert sorted(r.split(":")[0] for r in copy.refused) == ["a-fifo", "to-passwd", "to-root"]
    graded_folder = tmp_path / "course" / "autograded" / "s" / "a"
    graded_folder.mkdir(parents=True)
    (graded_folder / "with-hidden-tests.ipynb").write_text("HIDDEN")  # what nbgrader writes there
    with kernel(tmp_path, files=tmp_path / "copy") as (run, _, _):
        printed = run("""
            import os
            print(sorted(os.listdir('.')))
            open('written-by-the-kernel', 'w').write('x')
        """)
    assert printed.strip() == "['invertible_networks.ipynb', 'weights.pt']"
    assert sorted(os.listdir(graded_folder)) == ["with-hidden-tests.ipynb"]  # nothing came back out


@needs_sandbox
@slow
def test_everything_the_kernel_started_dies_with_it(tmp_path):
    """Is a process the kernel started in a new session killed when the sandbox is closed?"""
    with kernel(tmp_path) as (run, box, km):
        run("import subprocess; subprocess.Popen(['sleep', '317'], start_new_session=True)")
        group = box.group()
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "317"]]
    assert group is None or not group.pids()


# ------------------------------------------------------------------ BoundedExecute, in the sandbox

def _execute(tmp_path, sources: list[str], timeout: int = 60, **bounds):
    box = sandbox.KernelSandbox(tmp_path / "box", tmp_path / "work")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    executor = execution.BoundedExecute(config=box.install({}), timeout=timeout, **bounds)
    started, error = time.perf_counter(), None
    try:
        executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    except Exception as raised:
        error = raised
    finally:
        box.close()
    return nb, error, time.perf_counter() - started


def _chars(cell) -> int:
    return sum(len(json.dumps(o)) for o in cell.outputs)


@needs_sandbox
@slow
def test_outputs_are_cut_as_they_arrive(tmp_path):
    """Are a 100 MB line, a 50 MB result and an endless print cut to their bounds, saying so?"""
    nb, error, _ = _execute(tmp_path, [
        "print('x' * 100_000_000)",
        "'y' * 50_000_000",
        "for _ in range(2000):\n    print('z' * 10_000)",
        "print('still running')",
    ], max_cell_chars=1_000_000)
    assert error is None
    first, second, third, last = nb.cells
    assert _chars(first) < 250_000 and "output cut by the grader" in first.outputs[0].text
    assert _chars(second) < 1_000 and "output cut by the grader" in second.outputs[0].data["text/plain"]
    assert _chars(third) < 1_100_000 and "output cut by the grader" in json.dumps(third.outputs)
    assert last.outputs[0].text == "still running\n"


@needs_sandbox
@slow
def test_a_kernel_that_ignores_the_interrupt_is_killed(tmp_path):
    """Is a cell that swallows the interrupt stopped at its time limit plus the grace, not held?"""
    swallow = "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass"
    nb, error, seconds = _execute(tmp_path, [swallow, "print('after')"], timeout=5, interrupt_grace=3)
    assert error is not None and execution.KILLED_MARK in str(error)
    assert seconds < 5 + 3 + 10  # limit, grace, and the kernel's start and shutdown


@needs_sandbox
@slow
def test_an_interruptible_loop_stops_at_the_limit_and_the_rest_runs(tmp_path):
    """Does an ordinary endless loop get interrupted (through the sandbox) and the next cell still run?"""
    nb, error, seconds = _execute(tmp_path, ["while True:\n    pass", "print('after')"], timeout=5)
    assert error is None and seconds < 25
    assert nb.cells[1].outputs[0].text == "after\n"
    assert any(o.get("ename") in {"KeyboardInterrupt", "CellTimeoutError"} for o in nb.cells[0].outputs)


def test_configured_preprocessors_are_nbgraders_with_the_judge(repo):
    """Is the course's autograde list nbgrader's own, with the judge (a bounded Execute) in place of Execute?"""
    from nbgrader.converters import Autograde

    from inn_course import judge
    from inn_course.api import load_config

    configured = list(load_config(repo).Autograde.autograde_preprocessors)
    default = [p.__name__ for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    assert configured[0] == "inn_course.judge.JudgedExecute"
    assert [c.rsplit(".", 1)[1] for c in configured] == ["JudgedExecute"] + default[1:]
    assert default[0] == "Execute" and issubclass(judge.JudgedExecute, execution.BoundedExecute)
    assert issubclass(execution.BoundedExecute, __import__("nbgrader").preprocessors.Execute)
