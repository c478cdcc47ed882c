"""nbgrader's Execute with limits that hold against a hostile notebook: output size, cell time, replies.

nbgrader caps output by *lines* (``LimitOutput``, after the run): one 100 MB
line, or a 50 MB expression result, passes and makes the graded notebook,
its copies and the feedback HTML that large. And on a cell's time limit
nbgrader interrupts the kernel; a cell that swallows the interrupt holds
the grader until the next limit, cell after cell.

``BoundedExecute`` (the base of the judge's ``JudgedExecute``, ``judge.py``):

- bounds every output *as its message arrives*, before it is stored, copied
  or rendered: each output to ``max_output_chars`` characters (images to
  ``max_image_chars``), each cell to ``max_cell_chars`` and the notebook to
  ``max_notebook_chars``; what is cut says so in the output itself. No message
  from the kernel may exceed ``max_message_bytes`` at all: ZeroMQ drops it on
  receipt and disconnects the kernel's output, so one huge ``print`` never
  reaches the grader's memory, and the notebook ends ungraded (flagged);
- after the interrupt at a cell's time limit, waits ``interrupt_grace``
  seconds for the kernel to stop; a kernel that has not stopped is killed and
  the notebook is not graded (``KILLED_MARK`` in nbgrader's error, flagged);
- stops waiting for a kernel that reported a cell finished (status idle) but
  sent no reply within ``reply_grace`` seconds (its request handler was broken
  by the notebook): the kernel is killed and the notebook not graded
  (``NO_REPLY_MARK``), instead of holding the grader until the cell's time limit.
"""

from __future__ import annotations

import asyncio
import json

import zmq
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

KILLED_MARK = "ignored the interrupt at the time limit"
NO_REPLY_MARK = "finished a cell without replying"
TRUNCATED = "[output cut by the grader: {what} was longer than {limit:,} characters]"


class BoundedExecute(Execute):
    max_output_chars = Integer(200_000, help="Characters of one text output (stream, text/plain, HTML, error).").tag(config=True)
    max_image_chars = Integer(2_000_000, help="Characters of one image (base64; a figure of the lab is ~60,000).").tag(config=True)
    max_cell_chars = Integer(4_000_000, help="Characters of all outputs of one cell.").tag(config=True)
    max_notebook_chars = Integer(16_000_000, help="Characters of all outputs of the notebook.").tag(config=True)
    max_message_bytes = Integer(128 * 1024 ** 2, help="Bytes of one message from the kernel (a larger one is "
                                "dropped by ZeroMQ, and the kernel's output with it): above any output the bounds "
                                "above keep and the judge's largest answer.").tag(config=True)
    interrupt_grace = Float(10.0, help="Seconds a kernel has to stop after the interrupt at a cell's time limit.").tag(config=True)
    reply_grace = Float(10.0, help="Seconds between a cell's end (status idle) and its reply, at most.").tag(config=True)

    def reset_bounds(self) -> None:
        self._cell_chars: dict[int, int] = {}
        self._notebook_chars = 0
        self._full_cells: set[int] = set()  # cells whose budget is spent and that said so once

    def preprocess(self, nb, resources=None, km=None):
        self.reset_bounds()
        return super().preprocess(nb, resources, km)

    async def async_start_new_kernel_client(self):
        make_client = self.km.client

        def capped_client(**kwargs):
            client = make_client(**kwargs)
            # Before its sockets exist: each one drops (and disconnects on) a message over the cap, so one
            # huge print never reaches the grader's memory; the notebook's output then stops, and it is not graded.
            client.context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
            return client

        self.km.client = capped_client
        try:
            return await super().async_start_new_kernel_client()
        finally:
            del self.km.client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient's own is bound to its method

    # ---------------------------------------------------------------- output size
    def process_message(self, msg, cell, cell_index):
        if msg.get("msg_type") in {"stream", "display_data", "execute_result", "update_display_data", "error"}:
            if cell_index in self._full_cells:
                return None  # dropped: the cell already said its output was cut
            self._bound(msg, cell_index)
        return super().process_message(msg, cell, cell_index)

    def _room(self, cell_index: int) -> int:
        """Characters the cell may still show: its own budget, within the notebook's."""
        cell_room = self.max_cell_chars - self._cell_chars.get(cell_index, 0)
        return max(0, min(cell_room, self.max_notebook_chars - self._notebook_chars))

    def _output_limit(self, mime: str) -> int:
        return self.max_image_chars if mime.startswith("image/") else self.max_output_chars

    def _bound(self, msg: dict, cell_index: int) -> None:
        """Cut the message's content in place to what this output, its cell and the notebook may still hold."""
        content = msg["content"]
        room = self._room(cell_index)
        used = 0
        if msg["msg_type"] == "stream":
            text = str(content.get("text", ""))
            limit = min(self.max_output_chars, room)
            if len(text) > limit:
                text = text[:limit] + "\n" + TRUNCATED.format(what="this output", limit=limit) + "\n"
            content["text"], used = text, len(text)
        elif msg["msg_type"] == "error":
            limit = min(self.max_output_chars, room)
            content["ename"] = str(content.get("ename", ""))[:200]
            content["evalue"] = _cut(str(content.get("evalue", "")), limit // 2, "the error message")
            lines, total = [], 0
            for line in content.get("traceback", []) or []:
                line = _cut(str(line), limit // 2, "a traceback line")
                if total + len(line) > limit:
                    lines.append(TRUNCATED.format(what="the traceback", limit=limit))
                    break
                lines.append(line)
                total += len(line)
            content["traceback"] = lines
            used = total + len(content["evalue"])
        else:
            data = content.get("data") or {}
            bounded = {}
            for mime, value in data.items():
                size = len(value) if isinstance(value, str) else len(json.dumps(value))  # JSON types stay structures
                limit = min(self._output_limit(mime), room - used)
                if size <= limit:
                    bounded[mime] = value
                    used += size
            if len(bounded) < len(data):
                notice = TRUNCATED.format(what="a result", limit=min(self.max_output_chars, max(room, 0)))
                kept = bounded.get("text/plain", "")
                bounded["text/plain"] = (kept + "\n" if kept else "") + notice
                used += len(notice)
            content["data"] = bounded
            content["metadata"] = {} if len(bounded) < len(data) else content.get("metadata", {})
        self._spend(cell_index, used, room)

    def _spend(self, cell_index: int, used: int, room: int) -> None:
        self._cell_chars[cell_index] = self._cell_chars.get(cell_index, 0) + used
        self._notebook_chars += used
        if used >= room:
            self._full_cells.add(cell_index)

    # ---------------------------------------------------------------- a kernel that cannot reply
    async def _async_poll_for_reply(self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive):
        reply = asyncio.ensure_future(super()._async_poll_for_reply(
            msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive))
        await asyncio.wait({reply, task_poll_output_msg}, return_when=asyncio.FIRST_COMPLETED)
        if reply.done() or task_poll_output_msg.cancelled() or task_poll_output_msg.exception() is not None:
            return await reply
        try:  # the kernel said the cell is over (status idle): its reply follows at once, if it can send one
            return await asyncio.wait_for(asyncio.shield(reply), self.reply_grace)
        except asyncio.TimeoutError:
            pass
        reply.cancel()
        task_poll_kernel_alive.cancel()
        self.log.error("The kernel %s: killing it", NO_REPLY_MARK)
        await self.km.shutdown_kernel(now=True)
        raise DeadKernelError(f"the kernel {NO_REPLY_MARK} within {self.reply_grace:g} s (its request handler "
                              "was changed or broken): it was killed")

    # ---------------------------------------------------------------- cell time
    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)  # the interrupt (or CellTimeoutError)
        try:
            await self.kc.shell_channel.get_msg(timeout=self.interrupt_grace)  # the interrupted cell's reply
            return reply
        except Exception:
            pass
        self.log.error("The kernel %s: killing it", KILLED_MARK)
        await self.km.shutdown_kernel(now=True)
        raise DeadKernelError(f"a cell ran past the time limit of {timeout} s and {KILLED_MARK}; "
                              f"the kernel was killed after {self.interrupt_grace:g} s more")


def _cut(text: str, limit: int, what: str) -> str:
    return text if len(text) <= limit else text[:limit] + " " + TRUNCATED.format(what=what, limit=limit)
