"""Are the catalogue's expectations built on what the source notebook really is?"""

from inn_course import notebooks

from .submissions.catalogue import ALL_AUTOGRADED, CASES


def test_expected_cells_are_the_source_notebooks(repo):
    """Does every case name only autograded cells of the source in what it loses, gains or scores in part?"""
    cells = notebooks.autograded_cells(notebooks.read(repo.source_notebook))
    for case in CASES:
        named = set(case.loses) | set(case.right) | (set(case.gains) - {ALL_AUTOGRADED}) | {gid for gid, _ in case.partial}
        assert named <= set(cells), (case.name, named - set(cells))
        assert all(0 < points < float(notebooks.nbgrader(cells[gid])["points"]) for gid, points in case.partial)


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
