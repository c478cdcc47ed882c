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
            asked = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE)
            _, error = await asyncio.wait_for(asked.communicate(), 30)
            if asked.returncode:
                self.log.error("systemd made no scope for %s's server, which runs without its memory limit: %s",
                               self.user.name, error.decode(errors="replace").strip())
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

    async def stop(self, now: bool = False):
        await super().stop(now=now)
        # What the server left running (a kernel, a student's background process) stops with it.
        if cgroups.systemd_manages():
            await asyncio.to_thread(cgroups.stop_scope, self.group_name)
            return
        group = cgroups.find(self.group_name)
        if group is not None:
            group.kill_and_remove()
