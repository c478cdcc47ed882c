"""nbgrader's Execute with limits that hold against a hostile notebook: output size and cell time.

nbgrader caps output by *lines* (``LimitOutput``, after the run): one 100 MB
line, or a 50 MB expression result, passes and makes the graded notebook,
its copies and the feedback HTML that large. And on a cell's time limit
nbgrader interrupts the kernel; a cell that swallows the interrupt holds
the grader until the next limit, cell after cell.

``BoundedExecute`` (configured in ``nbgrader_config.py`` in place of
``Execute``):

- bounds every output *as its message arrives*, before it is stored, copied
  or rendered: each output to ``max_output_chars`` characters (images to
  ``max_image_chars``), each cell to ``max_cell_chars`` and the notebook to
  ``max_notebook_chars``; what is cut says so in the output itself;
- after the interrupt at a cell's time limit, waits ``interrupt_grace``
  seconds for the kernel to stop; a kernel that has not stopped is killed and
  the notebook is not graded (``KILLED_MARK`` in nbgrader's error, flagged);
- in a test cell, keeps as a result only the cell's own value: nbgrader
  scores the *first* ``execute_result`` of a test cell as partial credit (and a
  non-number as full credit), and student code called by the test can show
  one (``sys.displayhook(...)``). A cell graded property by property keeps its
  last result (its score) unless it failed; any other test cell, pass or
  fail, keeps none; every other result becomes a plain display. A test cell
  graded by property (its source ends with ``SCORED_MARK``) that reports no
  score fails, instead of getting nbgrader's full credit for "no output".
"""

from __future__ import annotations

import nbformat
from nbclient.exceptions import DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

KILLED_MARK = "ignored the interrupt at the time limit"
SCORED_MARK = "_KIT.finish(_score)"  # the last line of a test cell graded property by property
NO_SCORE = "This cell reported no score (was the notebook's display of results changed?): it is not graded."
TRUNCATED = "[output cut by the grader: {what} was longer than {limit:,} characters]"


class BoundedExecute(Execute):
    max_output_chars = Integer(200_000, help="Characters of one text output (stream, text/plain, HTML, error).").tag(config=True)
    max_image_chars = Integer(2_000_000, help="Characters of one image (base64; a figure of the lab is ~60,000).").tag(config=True)
    max_cell_chars = Integer(4_000_000, help="Characters of all outputs of one cell.").tag(config=True)
    max_notebook_chars = Integer(16_000_000, help="Characters of all outputs of the notebook.").tag(config=True)
    interrupt_grace = Float(10.0, help="Seconds a kernel has to stop after the interrupt at a cell's time limit.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._cell_chars: dict[int, int] = {}
        self._notebook_chars = 0
        self._full_cells: set[int] = set()  # cells whose budget is spent and that said so once
        return super().preprocess(nb, resources, km)

    # ---------------------------------------------------------------- test cells' scores
    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            scored = reports_score(cell)
            only_own_result(cell, keep_last=scored)
            if scored:
                require_score(cell)
        return cell, resources

    # ---------------------------------------------------------------- output size
    def process_message(self, msg, cell, cell_index):
        if msg.get("msg_type") in {"stream", "display_data", "execute_result", "update_display_data", "error"}:
            if cell_index in self._full_cells:
                return None  # dropped: the cell already said its output was cut
            self._bound(msg, cell_index)
        return super().process_message(msg, cell, cell_index)

    def _bound(self, msg: dict, cell_index: int) -> None:
        """Cut the message's content in place to what this output, its cell and the notebook may still hold."""
        content = msg["content"]
        cell_room = self.max_cell_chars - self._cell_chars.get(cell_index, 0)
        room = max(0, min(cell_room, self.max_notebook_chars - self._notebook_chars))
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
                value = value if isinstance(value, str) else str(value)
                limit = min(self.max_image_chars if mime.startswith("image/") else self.max_output_chars, room - used)
                if len(value) <= limit:
                    bounded[mime] = value
                    used += len(value)
            if len(bounded) < len(data):
                notice = TRUNCATED.format(what="a result", limit=min(self.max_output_chars, max(room, 0)))
                kept = bounded.get("text/plain", "")
                bounded["text/plain"] = (kept + "\n" if kept else "") + notice
                used += len(notice)
            content["data"] = bounded
            content["metadata"] = {} if len(bounded) < len(data) else content.get("metadata", {})
        self._cell_chars[cell_index] = self._cell_chars.get(cell_index, 0) + used
        self._notebook_chars += used
        if used >= room:
            self._full_cells.add(cell_index)

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


def reports_score(cell) -> bool:
    """Is this test cell graded property by property (its last line reports the points earned)?"""
    lines = [line.strip() for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return bool(lines) and lines[-1].startswith(SCORED_MARK)


def only_own_result(cell, keep_last: bool = True) -> None:
    """Leave at most one ``execute_result`` in a test cell: with ``keep_last``, the last one (the cell's own
    value, shown when the cell ends; figures may follow it), and none if the cell failed or scores
    pass/fail (any result there was shown by student code the test called).

    The others become ``display_data``, which nbgrader does not read as a score.
    """
    outputs = cell.get("outputs", [])
    failed = any(o.get("output_type") == "error" for o in outputs)
    results = [i for i, o in enumerate(outputs) if o.get("output_type") == "execute_result"]
    last = results[-1] if results and keep_last and not failed else None
    for index, output in enumerate(outputs):
        if output.get("output_type") == "execute_result" and index != last:
            output["output_type"] = "display_data"
            output.pop("execution_count", None)


def require_score(cell) -> None:
    """A test cell graded by property must end with its score: without one, fail it (nbgrader would give full credit)."""
    outputs = cell.get("outputs", [])
    if any(o.get("output_type") in ("error", "execute_result") for o in outputs):
        return
    outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue=NO_SCORE, traceback=[NO_SCORE]))
