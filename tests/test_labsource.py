"""Does the authoring file compile into the notebook nbgrader expects?"""

import pytest

from inn_course.labsource import ANSWER_STUB, LabSourceError, build_notebook

LAB = '''# %% [markdown] {"id": "intro"}
# # Title
#
# Some *text*.

# %% {"id": "q01_answer", "kind": "solution"}
def f():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION

# %% {"id": "q01_tests", "kind": "tests", "points": 2}
assert f() == 1

# %%
print("plain")
'''


def test_cells_kinds_and_metadata():
    """Are markdown, solution, test and plain cells built with nbgrader's metadata?"""
    nb = build_notebook(LAB)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]
    assert nb.cells[0].source == "# Title\n\nSome *text*."
    assert nb.cells[1].metadata["nbgrader"] == {
        "grade": False, "solution": True, "locked": False, "grade_id": "q01_answer", "schema_version": 3,
    }
    tests = nb.cells[2].metadata["nbgrader"]
    assert tests["grade"] and tests["locked"] and tests["points"] == 2 and tests["grade_id"] == "q01_tests"
    assert "nbgrader" not in nb.cells[3].metadata
    assert nb.cells[3].source == 'print("plain")'


def test_ids_are_stable():
    """Do unnamed cells keep their id when a cell is inserted before them?"""
    before = build_notebook(LAB)
    after = build_notebook('# %%\nx = 1\n\n' + LAB)
    assert before.cells[3].id == after.cells[4].id
    assert [c.id for c in before.cells[:3]] == ["intro", "q01_answer", "q01_tests"]


def test_identical_cells_get_distinct_ids():
    """Can two identical unnamed cells coexist?"""
    nb = build_notebook("# %%\nx = 1\n\n# %%\nx = 1\n")
    assert len({c.id for c in nb.cells}) == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ('# %% {"kind": "tests", "points": 1}\nassert True\n', "needs an 'id'"),
        ('# %% {"id": "t", "kind": "tests"}\nassert True\n', "needs 'points'"),
        ('# %% {"id": "t", "kind": "essay"}\nx = 1\n', "unknown cell kind"),
        ('# %% {"id": "t", "kind": "answer"}\nx = 1\n', "an answer cell is an empty markdown cell"),
        ('# %% {"id": "t", "tags": "figure"}\nx = 1\n', "'tags' must be a list of strings"),
        ('# %% {"id": "a"}\nx = 1\n# %% {"id": "a"}\ny = 2\n', "duplicate cell id"),
        ('# %% [markdown]\nnot a comment\n', "must start with '# '"),
        ('x = 1\n# %%\n', "before the first"),
        ('# %% {"id": "a", "colour": "red"}\n', "unknown header keys"),
        ('# %%{"id": "a"}\n', "malformed cell header"),
    ],
)
def test_malformed_sources_are_rejected(text, message):
    """Does a malformed authoring file fail with a message naming the problem?"""
    with pytest.raises(LabSourceError, match=message):
        build_notebook(text)


def test_tasks_answers_and_tags():
    """Does a task carry its points, an answer cell get the stub and no metadata, a tag reach the cell?"""
    nb = build_notebook('''# %% [markdown] {"id": "q02_maths", "kind": "task", "points": 3}
# Prove it.
# ### BEGIN MARK SCHEME
# 1 point per step.
# ### END MARK SCHEME

# %% [markdown] {"id": "q02_answer", "kind": "answer"}

# %% {"id": "plot", "tags": ["figure"]}
plt.plot([1, 2])
''')
    task, answer, plot = nb.cells
    assert task.metadata["nbgrader"]["task"] and task.metadata["nbgrader"]["points"] == 3
    assert answer.source == ANSWER_STUB and answer.metadata == {"tags": ["answer"]}
    assert plot.metadata == {"tags": ["figure"]}
