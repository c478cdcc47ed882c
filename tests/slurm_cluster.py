"""A real one-node Slurm cluster on localhost for the tests: munged, slurmctld and slurmd from Debian.

Everything in one temporary folder (key, sockets, state, logs, ``slurm.conf``), on free
ports, so it runs beside anything on the machine and leaves nothing: ``with Cluster(folder)``
starts the three daemons and waits until the node takes jobs; leaving stops them. The
commands (``sbatch``, ``scontrol``, ...) find it through ``SLURM_CONF``.
Needs root (the daemons) and Debian's ``slurm-wlm`` and ``munge``; ``unavailable()`` says why not.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

DAEMONS = ("munged", "slurmctld", "slurmd")


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the Slurm daemons need root"
    missing = [tool for tool in (*DAEMONS, "sbatch", "scontrol") if shutil.which(tool) is None]
    if missing:
        return (f"no {', '.join(missing)} here: apt-get install slurm-wlm munge (as .ci/run does)")
    return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    def __init__(self, folder: Path, cpus: int | None = None):
        self.folder = folder
        self.cpus = cpus or os.cpu_count() or 1
        self.conf = folder / "slurm.conf"
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        ctld_port, node_port = _free_ports(2)
        memory_mb = int(psutil.virtual_memory().total / 1024 ** 2 * 0.8)
        for name in ("ctld", "spool"):
            (self.folder / name).mkdir()
        self.conf.write_text(f"""# A one-node cluster for the tests (tests/slurm_cluster.py).
ClusterName=inn-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={node_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.folder / 'munge.socket'}
StateSaveLocation={self.folder / 'ctld'}
SlurmdSpoolDir={self.folder / 'spool'}
SlurmctldPidFile={self.folder / 'slurmctld.pid'}
SlurmdPidFile={self.folder / 'slurmd.pid'}
SlurmctldLogFile={self.folder / 'slurmctld.log'}
SlurmdLogFile={self.folder / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=inn-node NodeAddr=127.0.0.1 NodeHostname={host} CPUs={self.cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")

    def _munge(self) -> None:
        key = self.folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._start(["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={self.folder / 'munge.socket'}",
                     f"--pid-file={self.folder / 'munged.pid'}", f"--log-file={self.folder / 'munged.log'}",
                     f"--seed-file={self.folder / 'munged.seed'}"])
        self._wait(lambda: (self.folder / "munge.socket").exists(), "munged did not start", "munged.log")

    def _start(self, command: list[str]) -> None:
        log = open(self.folder / f"{Path(command[0]).name}.out", "ab")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               env={**os.environ, **self.env}, start_new_session=True))

    def _wait(self, ready, what: str, log: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{what}: {process.args[0]} exited: {self.log(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} in {seconds:g} s: {self.log(log)}")
            time.sleep(0.5)

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-2000:] if path.exists() else f"(no {name})"

    def _node_idle(self) -> bool:
        done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                              env={**os.environ, **self.env})
        return done.returncode == 0 and done.stdout.strip() in ("idle", "mixed")

    def __enter__(self) -> "Cluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o755)
        self._write_config()
        try:
            self._munge()
            self._start(["slurmctld", "-D", "-f", str(self.conf)])
            self._start(["slurmd", "-D", "-N", "inn-node", "-f", str(self.conf)])
            self._wait(self._node_idle, "the node did not take jobs", "slurmd.log", 90)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        env = {**os.environ, **self.env}
        subprocess.run(["scancel", "--full", "--user=root"], capture_output=True, env=env)
        deadline = time.monotonic() + 20  # let the jobs end before their slurmd does
        while time.monotonic() < deadline and self._running_jobs(env):
            time.sleep(0.3)
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
        for step in self._leftover_steps():  # a step daemon slurmd left behind: this cluster's only
            step.kill()

    @staticmethod
    def _running_jobs(env: dict[str, str]) -> bool:
        done = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=env)
        return done.returncode == 0 and bool(done.stdout.strip())

    def _leftover_steps(self) -> list[psutil.Process]:
        """Step daemons of this cluster (they keep a socket in its spool folder; their title hides the rest)."""
        spool = str(self.folder / "spool")
        steps = []
        for process in psutil.process_iter(["name"]):
            try:
                if process.info["name"] == "slurmstepd" and any(
                        str(c.laddr).startswith(spool) for c in process.net_connections(kind="unix")):
                    steps.append(process)
            except psutil.Error:
                continue
        return steps
