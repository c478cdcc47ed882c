"""The course hub's spawner: each user's server as that Linux user, in a control group with a memory limit.

JupyterHub's ``LocalProcessSpawner`` starts the server as the user but does not
enforce ``Spawner.mem_limit`` (its documentation says so): one student's notebook
could take the machine's memory from everyone, the instructor included. This
spawner puts the server, the moment it is started and before it can start a
kernel, into a control group of its own (``inn-course/hub-<user>``, see
``cgroups.py``), so that the server and every kernel it starts share that limit
and the kernel's out-of-memory killer stops only that user's process. When the
server stops (the user, the idle culler, the hub), whatever is left in the group
is killed (a background process cannot outlive the server) and the group goes.
On a host systemd runs, its tree is systemd's to write: there the server is put
in a transient scope systemd makes (``cgroups.adopt_argv``), stopped through
systemd. Where this machine has no usable control groups the server starts
without a limit, and the hub's log says so.
"""

from __future__ import annotations

import asyncio

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer

from . import cgroups


class CourseSpawner(LocalProcessSpawner):
    max_processes = Integer(512, config=True, help="Most processes (and threads) one user's server may run.")

    @property
    def group_name(self) -> str:
        return f"hub-{self.user.name}"

    async def start(self):
        address = await super().start()
        if self.mem_limit and cgroups.systemd_manages():
            await asyncio.to_thread(cgroups.stop_scope, self.group_name)  # a scope a lost server left: same name
            argv = cgroups.adopt_argv(self.group_name, self.pid, int(self.mem_limit), self.max_processes)
            refused = await self._ask_systemd(argv)
            if not refused and not await self._in_scope():
                refused = f"no {cgroups.scope_unit(self.group_name)} holds the server"
            if refused:
                self.log.error("systemd made no scope for %s's server, which runs without its memory limit: %s",
                               self.user.name, refused)
            else:
                self.log.info("%s's server (pid %s) limited to %s bytes in %s", self.user.name, self.pid,
                              self.mem_limit, cgroups.scope_unit(self.group_name))
        elif self.mem_limit:
            group = cgroups.create(self.group_name, int(self.mem_limit), self.max_processes)
            if group is None:
                self.log.error("no control group on this machine: %s's server runs without its memory limit",
                               self.user.name)
            else:
                group.join(self.pid)
                self.log.info("%s's server (pid %s) limited to %s bytes", self.user.name, self.pid, self.mem_limit)
        return address

    async def _in_scope(self, timeout: float = 5) -> bool:
        """Is the server in its scope? systemd answers once the job is queued: the scope follows soon after."""
        for _ in range(int(timeout / 0.1)):
            scope = cgroups.find_scope(self.group_name)
            if scope is not None and self.pid in scope.pids():
                return True
            await asyncio.sleep(0.1)
        return False

    @staticmethod
    async def _ask_systemd(argv: list[str], timeout: float = 30) -> str:
        """Run ``argv``; what went wrong ('' if nothing): its error, or why it could not run or finish."""
        try:
            asked = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE)
        except OSError as error:
            return f"{argv[0]}: {error.strerror}"
        try:
            _, error = await asyncio.wait_for(asked.communicate(), timeout)
        except asyncio.TimeoutError:
            asked.kill()
            await asked.wait()
            return f"{argv[0]} did not answer in {timeout:g} s"
        if asked.returncode:
            return error.decode(errors="replace").strip() or f"{argv[0]} failed"
        return ""

    async def stop(self, now: bool = False):
        await super().stop(now=now)
        # What the server left running (a kernel, a student's background process) stops with it.
        if cgroups.systemd_manages():
            await asyncio.to_thread(cgroups.stop_scope, self.group_name)
            return
        group = cgroups.find(self.group_name)
        if group is not None:
            group.kill_and_remove()
