"""Does RedactHiddenTests remove hidden tests and mark schemes from what students get back?"""

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

# %% [markdown] {"id": "q02_proof", "kind": "task", "points": 2}
# Prove that the layer is invertible.
# ### BEGIN MARK SCHEME
# The subtraction undoes the coupling whatever the function is: one point per direction.
# ### END MARK SCHEME

# %% [markdown] {"id": "q02_answer", "kind": "answer"}
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


def test_mark_schemes_are_redacted_and_questions_kept():
    """Is a task's mark scheme (restored from the source at grading) gone, and its question kept?"""
    source = build_notebook(SOURCE)
    assert lint.leaks(source, lint.notebook_text(_graded_notebook()), kinds=("mark scheme",))
    nb, _ = RedactHiddenTests().preprocess(_graded_notebook(), {})
    assert lint.leaks(source, lint.notebook_text(nb), kinds=("mark scheme",)) == []
    assert nb.cells[2].source.startswith("Prove that the layer is invertible.")
    assert "not shown" in nb.cells[2].source


def test_a_hidden_test_printed_by_student_code_is_cut_from_the_feedback():
    """If a student's cell printed a hidden test it found in the kernel, is that line gone from every output?"""
    nb = _graded_notebook()
    leak = nbformat.v4.new_code_cell("print(In[2])", id="student-leak")
    hidden = 'assert answer() == 42, "answer is not the expected number."'
    leak.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"### BEGIN HIDDEN TESTS\n{hidden}\nmine\n"),
                    nbformat.v4.new_output("execute_result", data={"text/plain": hidden})]
    nb.cells.append(leak)
    assert lint.leaks(build_notebook(SOURCE), lint.notebook_text(nb), kinds=("hidden test",))
    nb, _ = RedactHiddenTests().preprocess(nb, {})
    assert lint.leaks(build_notebook(SOURCE), lint.notebook_text(nb), kinds=("hidden test",)) == []
    assert nb.cells[-1].outputs[0].text.splitlines()[-1] == "mine"  # the rest of what it printed stays


def test_a_cell_too_long_to_read_is_shown_as_a_note():
    """Is a 2 MB cell (and a 2 MB output) replaced by a short note, with the hidden-test filter still applied?

    Highlighting such a cell took nbconvert 112 s for one hostile notebook of the catalogue.
    """
    nb = _graded_notebook()
    nb.cells[0].source = "x = 1\n" * 350_000
    hidden_line = 'assert answer() == 42, "answer is not the expected number."'
    # a hidden line printed across the cut: cut at the end of a line, so that it is dropped whole
    printed = "y" * 99_950 + "\n" + hidden_line + "\n" + "y" * 2_000_000
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    nb, _ = RedactHiddenTests().preprocess(nb, {})
    assert len(nb.cells[0].source) < 200 and "2,100,000 characters" in nb.cells[0].source
    text = nb.cells[0].outputs[0]["text"]
    assert len(text) < 100_200 and f"{len(printed) - 99_950:,} more characters" in text
    assert hidden_line[:40] not in text
    assert lint.leaks(build_notebook(SOURCE), lint.notebook_text(nb), kinds=("hidden test",)) == []
