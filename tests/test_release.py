"""Is the committed release generated from the source, up to date, and free of secrets?"""

import json

from inn_course import labsource, lint, notebooks
from inn_course.notebooks import HIDDEN_BEGIN, HIDDEN_END, regions


def test_source_notebook_is_built_from_the_lab_file(repo):
    """Is source/ what `inn-course build` makes of lab/ (no hand edits, nothing stale)?"""
    built = notebooks.dumps(labsource.build_notebook(repo.lab_file.read_text()))
    assert repo.source_notebook.read_text() == built, "source notebook is stale: run `make all`"


def test_source_metadata_is_sound(repo):
    """Does the source pass the metadata lint (unique grade ids, points, balanced markers)?"""
    assert lint.lint_source(notebooks.read(repo.source_notebook)) == []


def test_release_is_up_to_date(repo, released_course):
    """Is the committed release exactly what nbgrader generates from the committed source?"""
    assert repo.release_notebook.read_text() == released_course.release_notebook.read_text(), \
        "release/ is stale: run `make all`"


def test_release_has_no_solution_and_no_hidden_test(repo):
    """Is every line of the answer key (the hidden tests) and every solution line absent from the release?"""
    source = notebooks.read(repo.source_notebook)
    key = repo.answer_key_text()
    assert len(lint.answer_key_lines(key)) > 300, "the answer key should hold the hidden tests"
    assert not any(regions(cell.source, HIDDEN_BEGIN, HIDDEN_END) for cell in source.cells), \
        "hidden tests live in the answer key, never in the notebook the kernel runs"
    release = notebooks.read(repo.release_notebook)
    assert lint.leaks(source, lint.notebook_text(release), answer_key=key) == []
    assert lint.leaks(source, repo.release_notebook.read_text(), answer_key=key) == []


def test_leak_check_would_catch_a_leaked_hidden_test(repo):
    """Would the check above fail if a line of the answer key reached the release?"""
    source = notebooks.read(repo.source_notebook)
    key = repo.answer_key_text()
    release = notebooks.read(repo.release_notebook)
    release.cells[-1].source += "\n" + key[key.index("def q13_invertible_residual"):][:400]
    assert lint.leaks(source, lint.notebook_text(release), answer_key=key)


def test_release_keeps_every_graded_cell_and_stubs_every_answer(repo):
    """Does the release keep all graded cells, with answers replaced by stubs?"""
    source = notebooks.read(repo.source_notebook)
    release = notebooks.read(repo.release_notebook)
    assert list(notebooks.graded_cells(release)) == list(notebooks.graded_cells(source))
    for cell in release.cells:
        if notebooks.nbgrader(cell).get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in cell.source


def test_notebooks_are_committed_clean(repo):
    """Are source and release free of outputs and execution counts, with unique stable ids?"""
    for path in (repo.source_notebook, repo.release_notebook):
        nb = json.loads(path.read_text())
        ids = [c["id"] for c in nb["cells"]]
        assert len(ids) == len(set(ids)), f"{path}: duplicate cell ids"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path}: {cell['id']} has outputs"


def test_release_cell_ids_match_source(repo):
    """Does the release keep the source's cell ids (reviewable diffs, stable references)?"""
    source = notebooks.read(repo.source_notebook)
    release = notebooks.read(repo.release_notebook)
    assert [c.id for c in release.cells] == [c.id for c in source.cells]


# The key ideas of the hand-graded answers, as a student could find them in the release if a statement, a
# docstring or a visible test's message gave them away (found there once: Q15 stated Q11's iteration, Q13's test
# why the FFT grid matters). Lower case; each must be absent from the release.
KEY_PHRASES = {
    "Q3 (the coupling)": ["x + f(x~", "x_tilde + f(", "x + f(x_tilde", "n_{j+1} = m_j"],
    "Q4 (the group)": ["monoid", "not a group", "symmetric"],
    "Q11 (condition and iteration)": ["y - f(x", "y − f(x", "x <- y", "x_{k+1} = y", "fixed-point iteration",
                                      "banach", "contraction"],
    "Q12 (which grid bounds the norm)": ["wrap around onto", "does not wrap", "never wraps", "7 + k // 2",
                                         "n + k // 2", "minimal grid", "smallest grid"],
    "Q17 (flows)": ["hutchinson", "volume"],
}


def test_release_gives_away_no_hand_graded_answer(repo):
    """Does the release (statements, docstrings, visible tests' messages) state none of the key ideas of the
    answers graded by hand?"""
    text = lint.notebook_text(notebooks.read(repo.release_notebook)).lower()
    found = {task: [p for p in phrases if p in text] for task, phrases in KEY_PHRASES.items()}
    assert all(not phrases for phrases in found.values()), found
    model_answers = lint.notebook_text(notebooks.read(repo.source_notebook)).lower()
    missing = [p for phrases in KEY_PHRASES.values() for p in phrases if p not in model_answers
               and p not in repo.answer_key_text().lower()]
    assert len(missing) < len(sum(KEY_PHRASES.values(), [])) // 2, missing  # the phrases are the answers' own
