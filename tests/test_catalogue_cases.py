"""Are the catalogue's expectations built on what the source notebook really is?"""

from inn_course import execution, notebooks

from .submissions.catalogue import CASES, SCORED_BY_PROPERTY


def test_cells_scored_by_property_are_the_source_notebooks(repo):
    """The catalogue's list of cells graded property by property is the source's (their last line reports the score)."""
    source = notebooks.read(repo.source_notebook)
    scored = {gid for gid, cell in notebooks.autograded_cells(source).items() if execution.reports_score(cell)}
    assert scored == SCORED_BY_PROPERTY


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
