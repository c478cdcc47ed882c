"""The judge: every autograded point is decided outside the student's kernel.

nbgrader grades a notebook by running it in a kernel and reading each test
cell's outputs as its score. Whatever runs in that kernel can rewrite those
outputs: a notebook that wraps the kernel's message sender turns every failed
test into a pass, and no check inside the kernel can see it (the checker runs
in the same process). So when a notebook is graded, **no test cell runs in
the kernel**:

1. ``JudgedExecute`` (named in ``nbgrader_config.py`` in place of nbgrader's
   ``Execute``) runs every other cell as nbgrader would: the student's own
   *Run All*, in the kernel's sandbox when ``grade-class`` grades;
2. with that kernel still alive, it runs the lab's hidden tests **in its own
   process** (nbgrader's, outside the sandbox), which the kernel never sees:
   ``lab/<assignment>_hidden_tests.py`` of the course, one function per
   autograded test cell;
3. a hidden test asks the kernel questions (``Kernel.ask``): a short request,
   sent as code, calls the student's functions on inputs and weights the judge
   chose and sends back only data (tensors and numbers, ``wire.py``: no
   pickle). The judge believes none of it: it checks every answer against its
   own computations (a forward pass recomputed from the weights it sent, an
   inverse pushed back through its own forward, an accuracy measured on its
   own copy of the data with its own copy of the network), so an answer can
   only pass by being right. An answer that is late, malformed, duplicated or
   missing fails the property that needed it, never the judge;
4. it writes each test cell's outputs: one sentence per failed property, the
   points earned (nbgrader reads them as the cell's partial credit), or an
   error for a question worth nothing. The formgrader and the feedback show
   them as they would show a test's output.

The kernel therefore never holds a hidden test, an expected value or a
threshold (only the requests, which ask and do not judge), and nothing it
sends can change a score but its answers to the requests.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.util
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import is_grade, is_solution
from traitlets import Integer, Unicode

from . import wire
from .execution import BoundedExecute

MIME = "application/vnd.inn-course.judge+json"  # the output type of the kernel's answers
NOTE = "Note for a human grader:"  # a line of a test cell's output that grade.py turns into a flag
NOT_JUDGED = "This cell was not judged (the grading stopped before its hidden tests ran): 0 points."
REQUEST_NAME = "<the judge's request>"
ANSWER = -1  # the output budget of the kernel's answer to a request (cells count from 0)

# Runs in the kernel: the wire format, the answer key's shared kernel code and one request function,
# in a namespace of their own (nothing stays in the notebook's), on the notebook's globals.
_REQUEST = '''\
def _inn_judge_request(sources, payload):
    import json
    from IPython.display import publish_display_data
    own = {{"__name__": "inn_judge_request"}}
    exec(compile(sources, {filename!r}, "exec"), own)
    try:
        answer = {{"result": own["encode"](own[{function!r}](globals(), **own["decode"](json.loads(payload))))}}
    except Exception as error:
        answer = {{"error": type(error).__name__}}
    publish_display_data({{{mime!r}: answer}})


_inn_judge_request({sources!r}, {payload!r})
del _inn_judge_request
'''


class Fail(Exception):
    """A property does not hold; the message says why, in one sentence for the student."""


class NoAnswer(Fail):
    """The kernel gave no usable answer to a request (it raised, timed out, sent nothing or a malformed one)."""


# ------------------------------------------------------------------------------------------ the answer key

@dataclass(frozen=True)
class HiddenTest:
    grade_id: str
    points: float
    run: Callable[["Kernel", "Score"], None]


def hidden_test(grade_id: str, points: float):
    """Register ``function(kernel, score)`` as the hidden tests of the test cell ``grade_id``."""
    def register(function):
        function.hidden_test = HiddenTest(grade_id, float(points), function)
        return function
    return register


def in_kernel(function):
    """Mark a function of the answer key as code the kernel runs: its source is sent with every request.

    It must be self-contained (its imports inside), and the functions a request calls get the
    notebook's globals as their first argument.
    """
    function.in_kernel = True
    return function


@dataclass
class AnswerKey:
    """The hidden tests of an assignment, and the kernel code their requests use."""

    path: Path
    tests: dict[str, HiddenTest]
    kernel_source: str  # wire.py and every @in_kernel function of the key
    module: object  # the key itself (its reference pieces and measures, for benchmarks)

    @classmethod
    def load(cls, path: Path) -> "AnswerKey":
        if not path.is_file():
            raise FileNotFoundError(f"the hidden tests {path} are missing: no notebook can be graded without them")
        name = "inn_hidden_tests_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and inspect look modules up by name
        spec.loader.exec_module(module)
        tests, shared = {}, [inspect.getsource(wire)]
        for value in vars(module).values():
            test = getattr(value, "hidden_test", None)
            if isinstance(test, HiddenTest):
                if test.grade_id in tests:
                    raise ValueError(f"{path}: two hidden tests for {test.grade_id}")
                tests[test.grade_id] = test
            if getattr(value, "in_kernel", False) and getattr(value, "__module__", None) == name:
                shared.append(textwrap.dedent(inspect.getsource(value)).replace("@in_kernel\n", "", 1))
        return cls(path, tests, "\n\n".join(shared), module)


_KEYS: dict[tuple[str, float], AnswerKey] = {}


def answer_key(path: Path) -> AnswerKey:
    """The answer key at ``path``, loaded once per process (and again when the file changes)."""
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _KEYS:
        _KEYS[key] = AnswerKey.load(path)
    return _KEYS[key]


# ------------------------------------------------------------------------------------------ the kernel, as the judge sees it

class Kernel:
    """The student's kernel: it answers the hidden tests' requests with data, and is believed in nothing."""

    def __init__(self, run_request: Callable[[str], list], key: AnswerKey, sources: dict[str, str] | None = None):
        self._run_request, self._key = run_request, key
        self.sources = sources or {}  # grade id -> the student's cell as graded (a question may run it again)
        self.notes: list[str] = []  # what a human grader should know (hostile answers)

    def ask(self, request: Callable, **arguments):
        """What ``request(notebook_globals, **arguments)`` returns in the kernel, decoded and checked for form.

        Raises NoAnswer when the kernel raised (the exception's type is named), sent no answer or
        a malformed one, or several answers where one was asked for.
        """
        if not getattr(request, "in_kernel", False):
            raise TypeError(f"{request.__name__} is not marked @in_kernel")
        payload = json.dumps(wire.encode(arguments))
        source = _REQUEST.format(filename=REQUEST_NAME, function=request.__name__, mime=MIME,
                                 sources=self._key.kernel_source, payload=payload)
        outputs = self._run_request(source)
        answers = [o for o in outputs if o.get("output_type") == "display_data" and MIME in o.get("data", {})]
        if not answers:
            timed_out = any(o.get("ename") == "CellTimeoutError" for o in outputs if o.get("output_type") == "error")
            raise NoAnswer("no answer within the time limit" if timed_out else "no answer")
        if len(answers) > 1:
            self.notes.append("the kernel sent the judge more answers than it asked for (a forged answer?)")
            raise NoAnswer("more than one answer")
        try:  # back to plain JSON types (nbformat made every dict a NotebookNode)
            answer = json.loads(json.dumps(answers[0]["data"][MIME]))
        except (TypeError, ValueError, RecursionError):
            answer = None
        if type(answer) is dict and set(answer) == {"error"} and type(answer["error"]) is str:
            name = answer["error"] if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,60}", answer["error"]) else "an error"
            raise NoAnswer(f"it raised {name}")
        try:
            if type(answer) is not dict or set(answer) != {"result"}:
                raise wire.WireError("not an answer")
            return wire.decode(answer["result"])
        except (wire.WireError, RecursionError) as error:
            self.notes.append(f"the kernel sent the judge a malformed answer ({error})")
            raise NoAnswer("a malformed answer") from None


# ------------------------------------------------------------------------------------------ scores

@dataclass
class Score:
    """Partial credit by property: each check earns its share of the cell's points."""

    points: float
    parts: list[tuple[float, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, share: float, condition, message: str) -> bool:
        """Record one property. ``condition`` (called if callable) must be True, or raise Fail with a more precise
        message; NoAnswer adds why the kernel did not answer. Any other error is the judge's own: the property
        fails (fail closed) and a human is told."""
        try:
            held = condition() if callable(condition) else condition
            if held is not True and held is not False:
                raise TypeError(f"a condition returned {type(held).__name__}, not a bool")
        except NoAnswer as failure:
            held, message = False, f"{message} ({failure})"
        except Fail as failure:
            held, message = False, str(failure) or message
        except Exception as bug:  # the judge's own error: no point given, and said
            held = False
            self.notes.append(f"the judge could not decide a property ({type(bug).__name__}: {bug}): "
                              "a forged answer, or a fault of the judge")
        self.parts.append((float(share), held, message))
        return held

    @property
    def earned(self) -> float:
        shares = sum(share for share, _, _ in self.parts)
        if abs(shares - self.points) > 1e-9:
            raise AssertionError(f"the judge's shares add up to {shares}, not {self.points}")
        return sum(share for share, held, _ in self.parts if held)

    def outputs(self) -> list:
        """The test cell's outputs: what failed, one sentence each, and the points (nbgrader reads the result)."""
        earned, notes = self.earned, [f"{NOTE} {note}" for note in self.notes]
        failed = [(share, message) for share, held, message in self.parts if not held]
        if not failed:
            lines = ["Hidden tests passed."]
        elif len(self.parts) == 1:
            lines = []
        else:
            lines = [f"- {message} ({share:g} of {self.points:g} points lost)" for share, message in failed]
            lines.append(f"Partial credit: {earned:g} of {self.points:g} points.")
        outputs = []
        if lines or notes:
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines + notes) + "\n"))
        if earned > 0:
            outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": f"{earned:g}"},
                                                  execution_count=None))
        else:
            message = failed[0][1] if len(failed) == 1 else f"0 of {self.points:g} points."
            outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue=message,
                                                  traceback=[f"AssertionError: {message}"]))
        return outputs


def not_judged(reason: str = NOT_JUDGED) -> list:
    return [nbformat.v4.new_output("error", ename="AssertionError", evalue=reason, traceback=[reason])]


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


# ------------------------------------------------------------------------------------------ nbgrader's side

class JudgedExecute(BoundedExecute):
    """nbgrader's Execute (bounded, ``execution.py``) that runs no test cell in the kernel: the judge fills them."""

    hidden_tests = Unicode("lab/{assignment}_hidden_tests.py",
                           help="The answer key, relative to the course directory.").tag(config=True)
    max_answer_chars = Integer(64 * 1024 ** 2, help="Characters of the kernel's answer to one request "
                               "(a trained network is about 0.3 MB).").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        assignment = (resources or {}).get("nbgrader", {}).get("assignment", "")
        root = Path(CourseDirectory(config=self.config).root)
        path = root / self.hidden_tests.format(assignment=assignment)
        # The answer key imports torch and loads the data: in a thread, while the kernel runs the notebook.
        loading = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="answer-key")
        self._key = loading.submit(answer_key, path)
        loading.shutdown(wait=False)
        self._requesting = False
        self.scores: dict[str, Score] = {}  # grade id -> its verdict (inn-course check reads them)
        for cell in nb.cells:
            if is_test_cell(cell):
                cell.outputs, cell.execution_count = not_judged(), None  # until the judge has decided
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if not is_test_cell(cell):
            cell, resources = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:
            self._judge()  # every other cell has run: the kernel holds the student's whole notebook
        return cell, self.resources

    def _judge(self) -> None:
        key = self._key.result()  # a broken answer key stops the grading: no notebook is graded without it
        kernel = Kernel(self._run_request, key, {cell.metadata["nbgrader"]["grade_id"]: cell.source
                                                 for cell in self.nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id")})
        for cell in self.nb.cells:
            if not is_test_cell(cell):
                continue
            grade_id, points = cell.metadata["nbgrader"]["grade_id"], float(cell.metadata["nbgrader"]["points"])
            test = key.tests.get(grade_id)
            if test is None or test.points != points:
                cell.outputs = not_judged(f"The judge has no hidden tests for {grade_id} worth {points:g} points: "
                                          "0 points. " + f"{NOTE} the answer key does not match the notebook.")
                continue
            score = Score(points)
            test.run(kernel, score)
            score.notes.extend(kernel.notes)
            kernel.notes = []
            cell.outputs = score.outputs()
            self.scores[grade_id] = score

    # ------------------------------------------------------------------ requests
    def _run_request(self, source: str) -> list:
        """Run ``source`` in the kernel as a cell of its own (no history), and return its outputs.

        nbclient stores the executed cell into ``self.nb``: a scratch notebook stands in meanwhile.
        Timeouts, interrupts and a dead kernel are handled as for any cell.
        """
        cell = nbformat.v4.new_code_cell(source)
        notebook, self.nb = self.nb, nbformat.v4.new_notebook(cells=[cell])
        self._requesting = True
        self._cell_chars.pop(ANSWER, None)
        self._full_cells.discard(ANSWER)
        try:
            self.execute_cell(cell, 0, store_history=False)
        finally:
            self.nb, self._requesting = notebook, False
        return cell.outputs

    def process_message(self, msg, cell, cell_index):
        return super().process_message(msg, cell, ANSWER if self._requesting else cell_index)

    def _room(self, cell_index: int) -> int:
        if cell_index == ANSWER:  # an answer has a budget of its own, outside the notebook's
            return max(0, self.max_answer_chars - self._cell_chars.get(ANSWER, 0))
        return super()._room(cell_index)

    def _output_limit(self, mime: str) -> int:
        return self.max_answer_chars if self._requesting and mime == MIME else super()._output_limit(mime)

    def _spend(self, cell_index: int, used: int, room: int) -> None:
        if cell_index == ANSWER:
            self._cell_chars[ANSWER] = self._cell_chars.get(ANSWER, 0) + used
            if used >= room:
                self._full_cells.add(ANSWER)
            return
        super()._spend(cell_index, used, room)
