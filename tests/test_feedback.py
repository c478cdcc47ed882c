"""Does RedactHiddenTests remove hidden tests from what students get back?"""

import nbformat

from inn_course import lint
from inn_course.feedback import RedactHiddenTests
from inn_course.labsource import build_notebook

SOURCE = '''# %% {"id": "q01_answer", "kind": "solution"}
def answer():
    ### BEGIN SOLUTION
    return 42
    ### END SOLUTION

# %% {"id": "q01_tests", "kind": "tests", "points": 1}
assert answer() is not None, "answer must return something."
### BEGIN HIDDEN TESTS
assert answer() == 42, "answer is not the expected number."
### END HIDDEN TESTS
'''


def _graded_notebook():
    """The autograded notebook of a wrong answer: hidden test in the source and in the traceback."""
    nb = build_notebook(SOURCE)
    nb.cells[0].source = "def answer():\n    return 41"
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="answer is not the expected number.",
        traceback=["----> 3 assert answer() == 42, \"answer is not the expected number.\"",
                   "AssertionError: answer is not the expected number."],
    )]
    return nb


def test_unredacted_feedback_would_leak():
    """Without the preprocessor, is the hidden test visible (so the check below can fail)?"""
    nb = _graded_notebook()
    assert lint.leaks(build_notebook(SOURCE), lint.notebook_text(nb), kinds=("hidden test",))


def test_redacted_feedback_keeps_the_message_only():
    """After redaction, is the hidden test gone from source and traceback, and the message kept?"""
    nb, _ = RedactHiddenTests().preprocess(_graded_notebook(), {})
    text = lint.notebook_text(nb)
    assert lint.leaks(build_notebook(SOURCE), text, kinds=("hidden test",)) == []
    assert "AssertionError: answer is not the expected number." in text
    assert 'assert answer() is not None, "answer must return something."' in nb.cells[1].source
    assert "(hidden tests: not shown)" in nb.cells[1].source
    assert nb.cells[0].source == "def answer():\n    return 41"  # the student's own code is untouched
