"""The judge (inn_course/judge.py): its wire format, its scores, and a kernel that lies to it.

The quick tests check the wire format and the scores on their own. The slow ones run a small notebook
with a small answer key through ``JudgedExecute`` in the kernel's sandbox, as grading does, and attack
the judge from the notebook: a relay that rewrites every message the kernel sends, forged and extra
answers, a broken request handler, a huge print. The lab's own answer key is checked for coverage here;
the catalogue (tests/test_catalogue.py) grades it on every kind of submission.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import torch
from nbgrader import utils
from traitlets.config import Config

from inn_course import execution, judge, notebooks, sandbox, wire

from .submissions import catalogue
from .test_sandbox import needs_sandbox, slow


# ------------------------------------------------------------------ the wire format

def test_wire_round_trip_keeps_values_and_types():
    """Do tensors (each dtype), numbers, strings, lists and dicts come back as they went?"""
    value = {"a": [1, 2.5, None, True, "text"], "b": {"nested": torch.arange(6, dtype=torch.int64).reshape(2, 3)},
             "c": [torch.randn(2, 3, dtype=torch.float64), torch.rand(4) > 0.5, torch.zeros(0, 3)]}
    back = wire.decode(json.loads(json.dumps(wire.encode(value))))
    assert back["a"] == value["a"] and type(back["a"][1]) is float
    assert torch.equal(back["b"]["nested"], value["b"]["nested"]) and back["b"]["nested"].dtype == torch.int64
    assert all(torch.equal(x, y) and x.dtype == y.dtype for x, y in zip(back["c"], value["c"]))


@pytest.mark.parametrize("message", [
    {"tensor": "float32", "shape": [2, 2], "data": base64.b64encode(b"\0" * 12).decode()},  # 3 floats for 4
    {"tensor": "object", "shape": [1], "data": ""},  # not a dtype of the format
    {"tensor": "float32", "shape": [-1], "data": ""},
    {"tensor": "float32", "shape": [1], "data": "not base64!"},
    {"tensor": "float32", "shape": [2 ** 31, 2 ** 31], "data": ""},  # far over the size limit
    {"tensor": "float32", "shape": [1], "data": "AAAA", "extra": 1},
    {"pickle": "gASVAAAAAAAAAAA="},  # an object that is neither a dict nor a tensor
    "x" * (wire.MAX_STRING + 1),
    [[[[[[[[[[0]]]]]]]]]],  # deeper than MAX_DEPTH
    list(range(wire.MAX_ITEMS + 1)),
])
def test_wire_refuses_what_is_not_in_the_format(message):
    """Is every malformed or oversized message refused with WireError (and nothing evaluated or unpickled)?"""
    with pytest.raises(wire.WireError):
        wire.decode(message)


def test_wire_sends_only_what_it_knows():
    """Are values of other types (an object, a set, a complex tensor) refused on the way out?"""
    for value in (object(), {1, 2}, torch.zeros(2, dtype=torch.complex64)):
        with pytest.raises(wire.WireError):
            wire.encode(value)


# ------------------------------------------------------------------ scores

def _grade(outputs) -> float:
    cell = nbformat.v4.new_code_cell("", outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 4, "grade_id": "t"}
    return utils.determine_grade(cell)[0]


def test_a_score_is_what_nbgrader_reads_from_the_outputs():
    """Full, partial and zero credit: does nbgrader read from the judge's outputs the points earned?"""
    full = judge.Score(4)
    full.check(4, True, "never shown")
    partial = judge.Score(4)
    partial.check(1.5, lambda: True, "fine")
    partial.check(2.5, lambda: False, "The second property is wrong.")
    zero = judge.Score(4)
    zero.check(4, lambda: (_ for _ in ()).throw(judge.Fail("A precise reason.")), "A general reason.")
    assert [_grade(s.outputs()) for s in (full, partial, zero)] == [4, 1.5, 0]
    assert "The second property is wrong. (2.5 of 4 points lost)" in partial.outputs()[0]["text"]
    assert zero.outputs()[-1]["evalue"] == "A precise reason."


def test_the_judges_own_error_fails_the_property_and_is_noted():
    """A bug in a hidden test gives no point (fail closed) and says so for a human; NoAnswer says why."""
    score = judge.Score(2)
    score.check(1, lambda: 1 / 0, "Divides.")
    score.check(1, lambda: (_ for _ in ()).throw(judge.NoAnswer("it raised ValueError")), "Answers.")
    assert score.earned == 0 and score.notes and "ZeroDivisionError" in score.notes[0]
    text = score.outputs()[0]["text"]
    assert "Answers. (it raised ValueError)" in text and judge.NOTE in text


def test_shares_must_add_up_to_the_points():
    score = judge.Score(3)
    score.check(1, True, "one")
    with pytest.raises(AssertionError):
        score.earned


# ------------------------------------------------------------------ the lab's answer key

def test_the_answer_key_covers_every_autograded_cell(repo):
    """Is there exactly one hidden test per autograded test cell of the source, worth the same points?"""
    key = judge.AnswerKey.load(repo.hidden_tests)
    cells = notebooks.autograded_cells(notebooks.read(repo.source_notebook))
    assert {gid: float(notebooks.nbgrader(c)["points"]) for gid, c in cells.items()} == \
        {gid: test.points for gid, test in key.tests.items()}


def test_the_kernel_code_of_the_answer_key_stands_alone(repo):
    """Does the code sent to the kernel define every request in a namespace of its own (no judge-side name)?"""
    key = judge.AnswerKey.load(repo.hidden_tests)
    namespace = {"__name__": "request"}
    exec(compile(key.kernel_source, "<kernel>", "exec"), namespace)
    requests = [name for name in namespace if name.endswith("_request")]
    assert len(requests) >= len(key.tests) and "reference_models" in namespace and "encode" in namespace
    assert "Fail" not in namespace and "hidden_test" not in namespace and "THRESHOLD" not in key.kernel_source


# ------------------------------------------------------------------ a small notebook, judged in the sandbox

KEY = '''
import torch
from inn_course.judge import Fail, hidden_test, in_kernel


@in_kernel
def doubled(ns, x):
    return ns["double"](x)


@in_kernel
def slow_request(ns, seconds, x):
    import time
    time.sleep(seconds)
    return ns["double"](x)


@hidden_test("t_double", points=2)
def t_double(kernel, score):
    x = torch.arange(4.0)
    score.check(1, lambda: torch.equal(kernel.ask(doubled, x=x), 2 * x), "double must double its input.")
    score.check(1, lambda: torch.equal(kernel.ask(doubled, x=-x), -2 * x), "double must double negative inputs.")


@hidden_test("t_slow", points=1)
def t_slow(kernel, score):
    x = torch.ones(2)
    score.check(1, lambda: torch.equal(kernel.ask(slow_request, seconds=SLEEP, x=x), 2 * x), "double must answer.")
'''


def _judged(tmp_path: Path, sources: list[str], sleep: float = 0, timeout: int = 30, **traits):
    """Run ``sources`` (the last two cells are the test cells t_double and t_slow) through JudgedExecute, in
    the sandbox, with the small answer key above; return the notebook, what was raised, and the seconds."""
    (tmp_path / "lab").mkdir(exist_ok=True)
    (tmp_path / "lab" / "a_hidden_tests.py").write_text(KEY.replace("SLEEP", repr(sleep)))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    for cell, (gid, points) in zip(nb.cells[-2:], (("t_double", 2), ("t_slow", 1))):
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                     "grade_id": gid, "schema_version": 3}
    box = sandbox.KernelSandbox(tmp_path / "box", tmp_path / "work")
    config = Config(box.install({}))
    config.CourseDirectory.root = str(tmp_path)
    executor = judge.JudgedExecute(config=config, timeout=timeout, **traits)
    started, error = time.perf_counter(), None
    try:
        executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}, "nbgrader": {"assignment": "a"}})
    except Exception as raised:
        error = raised
    finally:
        box.close()
    return nb, error, time.perf_counter() - started


def _scores(nb) -> list[float]:
    return [utils.determine_grade(cell)[0] for cell in nb.cells[-2:]]


RIGHT = "def double(x):\n    return 2 * x"
TESTS = ["raise AssertionError('a visible test that fails: not run when graded')",
         "print('Visible tests passed.')\nimport sys\nsys.displayhook(99.0)"]


@needs_sandbox
@slow
def test_test_cells_hold_only_the_judges_verdict(tmp_path):
    """Are test cells never run in the kernel (what they would print or fail is absent), and scored by the judge?"""
    nb, error, _ = _judged(tmp_path, [RIGHT, *TESTS])
    assert error is None and _scores(nb) == [2, 1]
    for cell in nb.cells[-2:]:
        assert "visible" not in json.dumps(cell.outputs).lower() and "99" not in json.dumps(cell.outputs)
        assert cell.outputs[0]["text"] == "Hidden tests passed.\n"


WRONG = "def double(x):\n    return 2 * x.abs()  # wrong for negative inputs"


@needs_sandbox
@slow
def test_a_wrong_answer_loses_the_share_of_what_it_gets_wrong(tmp_path):
    nb, error, _ = _judged(tmp_path, [WRONG, *TESTS])
    assert error is None and _scores(nb) == [1, 1]
    assert "double must double negative inputs. (1 of 2 points lost)" in nb.cells[-2].outputs[0]["text"]


@needs_sandbox
@slow
def test_a_kernel_that_rewrites_its_messages_earns_nothing(tmp_path):
    """The untouched template behind a relay that forges every reply and answer: no point is won."""
    template = "def double(x):\n    raise NotImplementedError()"
    nb, error, _ = _judged(tmp_path, [template, catalogue.MESSAGE_RELAY, "1 / 0", "3 + 3", *TESTS])
    assert nb.cells[2].outputs == []  # the relay works: the error was dropped, and the result below is "4"
    assert nb.cells[3].outputs[0]["data"]["text/plain"] == "4"
    assert error is None and _scores(nb) == [0, 0]
    assert "a forged answer" in json.dumps(nb.cells[-2].outputs)  # for a human grader


EXTRA_ANSWERS = '''
from IPython.display import publish_display_data
import IPython.display

real = IPython.display.publish_display_data


def twice(data, *args, **kwargs):  # the judge's answer is sent, and a forged one after it
    real(data, *args, **kwargs)
    real({mime: {"result": 1} for mime in data}, *args, **kwargs)


IPython.display.publish_display_data = twice
'''


@needs_sandbox
@slow
def test_an_answer_sent_twice_is_not_believed_and_noted(tmp_path):
    nb, error, _ = _judged(tmp_path, [RIGHT, EXTRA_ANSWERS, *TESTS])
    assert error is None and _scores(nb) == [0, 0]
    assert "more answers than it asked for" in json.dumps(nb.cells[-2].outputs)


@needs_sandbox
@slow
def test_a_late_answer_fails_its_property_and_the_rest_is_judged(tmp_path):
    """A request past the time limit: interrupted, its property failed, the judge goes on."""
    nb, error, seconds = _judged(tmp_path, [RIGHT, *TESTS], sleep=60, timeout=5)
    assert error is None and _scores(nb) == [2, 0] and seconds < 40
    assert "no answer within the time limit" in json.dumps(nb.cells[-1].outputs)


BROKEN_HANDLER = '''
kernel = get_ipython().kernel
kernel.shell_handlers["execute_request"] = lambda *args: 1 / 0  # every later request: no reply, ever
'''


@needs_sandbox
@slow
def test_a_kernel_that_cannot_reply_is_not_waited_for(tmp_path):
    """A notebook that breaks the kernel's request handler is stopped within the reply grace, not the time limit."""
    nb, error, seconds = _judged(tmp_path, [RIGHT, BROKEN_HANDLER, "print('never')", *TESTS], timeout=600,
                                 reply_grace=3)
    assert error is not None and execution.NO_REPLY_MARK in str(error)
    assert seconds < 60
    assert _scores(nb) == [0, 0]  # nothing judged: every test cell says so (and grading reports it, not graded)


@needs_sandbox
@slow
def test_a_huge_print_never_reaches_the_graders_memory(tmp_path):
    """A message over the cap is dropped on receipt: the grader's memory stays small, and the notebook is not graded."""
    process, peak, done = psutil.Process(), [0], threading.Event()
    baseline = process.memory_info().rss

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss - baseline)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        nb, error, seconds = _judged(tmp_path, [RIGHT, "print('x' * 200_000_000)", "print('after')", *TESTS],
                                     max_message_bytes=16 * 1024 ** 2)
    finally:
        done.set()
        sampler.join()
    assert error is not None and "Timeout waiting for IOPub output" in str(error)
    assert peak[0] < 100 * 1024 ** 2, peak[0]  # the 200 MB message never arrived (without the cap: 3 copies of it)


@pytest.mark.parametrize("taps, grid", [((1, 0, 0, 0.75, 0, -0.75, 0.25), 8), ((1, 0, 0, -1, 0, 0, 1), 9)])
def test_q13s_separable_kernels_tell_a_too_small_grid_from_the_minimal_one(repo, taps, grid):
    """On its grid (below the minimal 10) the FFT of the kernel gives 0.686 of the true norm, no bound; on grids
    10 to 64 a bound 1.16-1.61 times the norm (a normalisation by it is not crushed: above 0.5 rho)."""
    key = judge.answer_key(repo.hidden_tests).module
    weight = key.separable(taps).double()[None, None]

    def ratio(size: int) -> float:
        bound = float(torch.fft.fft2(weight, s=(size, size)).abs().max())
        return bound / key.operator_norm(weight)

    assert ratio(grid) == pytest.approx(0.686, abs=1e-3)
    assert all(1.15 < ratio(size) < 1.62 for size in (10, 11, 12, 13, 16, 64))


class InProcessKernel(judge.Kernel):
    """A stand-in for the student's kernel: the requests run in this process on ``namespace``, their arguments
    and answers through the wire format (a quick way to run one hidden test on many answers)."""

    def __init__(self, key: judge.AnswerKey, namespace: dict):
        super().__init__(lambda source: [], key)
        self.namespace = namespace

    def ask(self, request, **arguments):
        arguments = wire.decode(json.loads(json.dumps(wire.encode(arguments))))
        try:
            answer = request(self.namespace, **arguments)
        except Exception as error:
            raise judge.NoAnswer(f"it raised {type(error).__name__}") from None
        return wire.decode(json.loads(json.dumps(wire.encode(answer))))


def _answers(source: str) -> dict:
    namespace = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    exec(source, namespace)
    return namespace


@pytest.mark.parametrize("grid, earned", [(16, 4.0), (10, 4.0), (9, 3.0), (8, 3.0), (7, 3.0)])
def test_q13_judges_the_normalisation_by_its_grid(repo, grid, earned):
    """Q13's hidden test on FFT normalisations by grid: 10 (the minimal one) and above keep every point; 7, 8 and 9,
    which bound no zero-padded layer, lose the bound's share (1 of 4) and nothing else."""
    from .submissions import variants

    key = judge.answer_key(repo.hidden_tests)
    source = variants.BLOCK_LARGE_GRID.replace("s=(16, 16)", f"s=({grid}, {grid})")
    score = judge.Score(4)
    key.tests["q13_invertible_residual"].run(InProcessKernel(key, _answers(source)), score)
    assert score.earned == earned, score.parts
    assert score.notes == []


def _judged_in_process(repo, grade_id: str, source: str, points: float) -> judge.Score:
    key = judge.answer_key(repo.hidden_tests)
    score = judge.Score(points)
    key.tests[grade_id].run(InProcessKernel(key, _answers(source)), score)
    assert score.notes == []
    return score


def _wirings():
    from .submissions import variants

    return [(variants.IREVNET_SEQUENTIAL, 4), (variants.IREVNET_ALTERNATING, 4), (variants.IREVNET_HANDOUT, 4),
            (variants.IREVNET_INVERSE_IN_FORWARD_ORDER, 0), (variants.IREVNET_IDENTITY, 0)]


@pytest.mark.parametrize("answer, earned", _wirings(), ids=["sequential", "alternating", "handout", "inverse in "
                                                            "forward order", "identity"])
def test_q07_recognises_every_right_wiring_and_no_wrong_one(repo, answer, earned):
    """Q7's forward is recognised among all compositions of the four reference layers (any order, the halves swapped
    or not before each): the catalogue's right networks keep 4, the wrong ones get 0."""
    assert _judged_in_process(repo, "q07_irevnet", answer, 4).earned == earned


def _block_networks():
    from .submissions import variants

    return [(variants.IRESNET_OTHER_STYLE, 3), (variants.IRESNET_HANDOUT, 3), (variants.IRESNET_POWER_ITERATION, 3),
            (variants.IRESNET_INVERSE_FORWARD_ORDER, 0)]


@pytest.mark.parametrize("answer, earned", _block_networks(), ids=["sequential", "handout", "power iteration",
                                                                   "inverse in forward order"])
def test_q14_judges_the_network_of_reference_blocks(repo, answer, earned):
    """Q14 with reference blocks: a normalisation by the blocks or by a power iteration of its own keeps 3; an inverse
    that undoes the blocks in the wrong order gets 0."""
    assert _judged_in_process(repo, "q14_iresnet", answer, 3).earned == earned
