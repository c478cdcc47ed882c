"""Do the metadata lint and the leak check catch what they are for, and only that?"""

from inn_course import lint
from inn_course.labsource import build_notebook

GOOD = '''# %% {"id": "given"}
def helper_function_given(x):
    return x

# %% {"id": "q01_answer", "kind": "solution"}
def answer():
    ### BEGIN SOLUTION
    return helper_function_given(42) + 0
    ### END SOLUTION

# %% {"id": "q01_tests", "kind": "tests", "points": 1}
assert answer() is not None, "answer must return something."
### BEGIN HIDDEN TESTS
assert answer() == 42, "answer is not the answer."
### END HIDDEN TESTS
'''


def test_sound_source_has_no_problems():
    """Is a correct source notebook accepted?"""
    assert lint.lint_source(build_notebook(GOOD)) == []


def test_duplicate_ids_missing_points_and_markers_are_reported():
    """Are duplicate grade ids, point-less graded cells and unbalanced markers all reported?"""
    nb = build_notebook(GOOD)
    del nb.cells[2].metadata["nbgrader"]["points"]
    nb.cells[1].source = nb.cells[1].source.replace("### END SOLUTION", "")
    nb.cells.append(nb.cells[2].copy())
    problems = "\n".join(lint.lint_source(nb))
    assert "'q01_tests' is used by more than one cell" in problems
    assert "graded cell 'q01_tests' has no points" in problems
    assert "unbalanced '### BEGIN SOLUTION'" in problems


def test_markers_outside_graded_cells_are_reported():
    """Is a hidden-test region in an ordinary cell reported?"""
    nb = build_notebook(GOOD)
    nb.cells[0].source += "\n### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"
    assert any("no nbgrader metadata" in p for p in lint.lint_source(nb))


def test_leaks_find_hidden_and_solution_lines_but_not_given_code():
    """Does the leak check see hidden tests and solutions, and ignore code the release may show?"""
    source = build_notebook(GOOD)
    clean_release = "def helper_function_given(x):\nassert answer() is not None"
    assert lint.leaks(source, clean_release) == []
    leaked = lint.leaks(source, clean_release + '\n----> 3 assert answer() == 42, "answer is not the answer."')
    assert leaked == ["hidden test line is visible: 'assert answer() == 42, \"answer is not the answer.\"'"]
    assert lint.leaks(source, "return helper_function_given(42) + 0") != []
    assert lint.leaks(source, "### BEGIN SOLUTION") == ["marker '### BEGIN SOLUTION' is visible"]


def test_html_text_undoes_highlighting():
    """Is code split into highlighted spans and escaped in HTML read back as its text?"""
    html = '<span class="k">assert</span> <span class="n">answer</span>() == 42, &quot;x&quot;'
    assert lint.html_text(html) == 'assert answer() == 42, "x"'


def test_markdown_model_answers_are_secret():
    """Is a manually graded markdown answer (no markers) treated as solution text?"""
    source = build_notebook(GOOD + '''
# %% [markdown] {"id": "q02_answer", "kind": "manual", "points": 2}
# The layer is invertible because the coupling only adds a function of the other half.
''')
    assert lint.lint_source(source) == []
    leaked = lint.leaks(source, "The layer is invertible because the coupling only adds a function of the other half.")
    assert leaked and "solution line" in leaked[0]


def test_students_own_lines_are_not_leaks():
    """Is a hidden-test line that the student also wrote themselves not reported as a leak?"""
    source = build_notebook(GOOD)
    text = 'assert answer() == 42, "answer is not the answer."'
    assert lint.leaks(source, text, kinds=("hidden test",))
    assert lint.leaks(source, text, kinds=("hidden test",), own_text=text) == []


def test_mark_schemes_are_secret_and_belong_in_tasks():
    """Is a mark scheme secret, required in every task, and refused outside tasks?"""
    task = '''
# %% [markdown] {"id": "q02_proof", "kind": "task", "points": 2}
# Prove that the coupling layer can be undone.
# ### BEGIN MARK SCHEME
# Award one point for the inverse written with a subtraction.
# ### END MARK SCHEME
'''
    source = build_notebook(GOOD + task)
    assert lint.lint_source(source) == []
    assert lint.leaks(source, "Prove that the coupling layer can be undone.") == []
    leaked = lint.leaks(source, "Award one point for the inverse written with a subtraction.")
    assert leaked and "mark scheme line" in leaked[0]
    no_scheme = build_notebook(GOOD + task.replace("# ### BEGIN MARK SCHEME\n", "").replace("# ### END MARK SCHEME\n", ""))
    assert any("has no mark scheme" in p for p in lint.lint_source(no_scheme))
    misplaced = build_notebook(GOOD + task.replace('"kind": "task", "points": 2', '"kind": "readonly"'))
    assert any("is not a task cell" in p for p in lint.lint_source(misplaced))


def test_a_line_both_in_a_solution_and_in_a_hidden_test_is_a_leak_in_the_release():
    """The release and the bundle check every kind: a line shared by a solution and a hidden test (the FFT
    bound's last line, say) counts; feedback, which checks hidden tests only, still leaves it to the student."""
    shared = "return torch.linalg.eigvalsh(gram).max().sqrt()"
    source = build_notebook(GOOD.replace("    return helper_function_given(42) + 0\n",
                                         f"    return helper_function_given(42) + 0\n    {shared}\n")
                            .replace('assert answer() == 42, "answer is not the answer."\n',
                                     f'assert answer() == 42, "answer is not the answer."\n{shared}\n'))
    assert lint.leaks(source, f"def helper_function_given(x):\n{shared}") != []  # every kind: the release
    assert lint.leaks(source, shared, kinds=("hidden test",)) == []  # hidden tests only: the feedback
