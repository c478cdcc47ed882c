"""Does the similarity report find disguised copies, spare independent answers, and never touch a score?"""

import csv
import os

import pytest

from inn_course import classroom, similarity, submissions
from inn_course.api import load_config
from inn_course import release
from inn_course.paths import copy_course

from .submissions import alike, catalogue, disguises

MARGIN = 0.1  # between the threshold and either measured extreme


def test_threshold_lies_between_independent_answers_and_disguised_copies(repo):
    """On the catalogue: independent answers below ALIKE - margin, every disguised answer above ALIKE + margin."""
    rows = alike.measure(repo)
    independent = [r.jaccard for r in rows if r.kind == "independent"]
    copies = [r.jaccard for r in rows if r.kind == "copy"]
    assert len(independent) >= 30 and len(copies) >= 15
    assert max(independent) <= similarity.ALIKE - MARGIN < similarity.ALIKE + MARGIN <= min(copies)


def test_pairs_of_the_catalogue(repo):
    """The disguised copy pairs with the reference; a student who wrote most answers in another style does not."""
    found = alike.answers(repo)
    pairs = {frozenset((p.first, p.second)): p for p in similarity.similar_pairs(list(found.values()))}
    assert pairs[frozenset(("reference", alike.COPY))].share == 1.0
    assert frozenset(("reference", "correct_other_style")) not in pairs
    _, shared = similarity.compare(found["reference"], found["correct_other_style"])
    assert shared >= similarity.MIN_SHARED  # it is the share that spares it: it did copy some answers


def test_cheap_disguises_of_a_copy_are_reported(repo):
    """Answers moved into new cells, every name as (n if 1 else n), `...` after every statement: each copy of
    the reference pairs with it (the first through the whole code, the others answer by answer too)."""
    reference = alike.answers(repo)["reference"]
    template = similarity.Template.of(repo)
    for name, make in disguises.DISGUISES.items():
        copy = similarity.answers_of(name, make(submissions.sample(repo, "reference")), template)
        pairs = similarity.similar_pairs([reference, copy])
        assert len(pairs) == 1 and pairs[0].whole == 1.0, (name, pairs)
        assert "whole code 100% alike" in pairs[0].describe()
        if name != "moved_above":
            assert pairs[0].share == 1.0, (name, pairs[0])


def test_each_reported_pair_can_be_read_side_by_side_and_nothing_a_student_wrote_runs_there(repo, tmp_path):
    """similar/<a>~<b>.html: each question's code of both students, side by side, the students' text escaped."""
    template = similarity.Template.of(repo)
    reference = submissions.sample(repo, "reference")
    hostile = catalogue.with_new_cell(disguises.moved_above(reference), "setup",
                                      "x = '</table><script>alert(1)</script>'", "student-html")
    answers = [similarity.answers_of("ann", reference, template), similarity.answers_of("ben", hostile, template)]
    pairs = similarity.similar_pairs(answers)
    report = similarity.Report(pairs, {}, {a.student: a.code for a in answers})
    (page,) = report.write_side_by_side(tmp_path / "similar")
    assert page.name == "ann~ben.html"
    text = page.read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<h2>q07_irevnet_answer</h2>" in text and f"<h2>{similarity.ADDED}</h2>" in text
    assert "whole code 100% alike" in text and "iRevNet" in text  # ben's moved code, beside ann's answer


def test_whole_code_threshold_lies_between_variants_and_copies(repo):
    """Whole code: the catalogue's variants (2 to 11 answers rewritten) below WHOLE - margin, copies above."""
    apart, copies = alike.whole_code(repo)
    assert max(apart.values()) <= similarity.WHOLE - MARGIN < similarity.WHOLE + MARGIN <= min(copies.values()), \
        (apart, copies)


TRAIN = '''
def train(net, n_epoch=40):
    """Train."""
    optimiser = torch.optim.SGD(net.parameters(), lr=0.05)
    for epoch in range(n_epoch):
        for start in range(0, len(train_x), 64):
            optimiser.zero_grad()
            loss = F.cross_entropy(net(train_x[start:start + 64]), train_y[start:start + 64])
            loss.backward()
            optimiser.step()
    return net

def test(net):
    with torch.no_grad():
        return 100.0 * (net(test_x).argmax(1) == test_y).float().mean().item()
'''


def test_names_order_comments_and_docstrings_change_nothing_but_code_does():
    original = similarity.fingerprints(TRAIN)
    assert similarity.fingerprints(catalogue.disguise(TRAIN)) == original
    assert similarity.fingerprints(TRAIN.replace("optimiser", "o") + "\n# a comment\n") == original
    other = similarity.fingerprints(TRAIN.replace("for start in range(0, len(train_x), 64):",
                                                  "for batch, labels in zip(train_x.split(64), train_y.split(64)):"))
    assert 0.3 < similarity.jaccard(original, other) < 1  # one loop rewritten: less alike, not unrelated
    assert similarity.fingerprints("def f(:\n") is None


def test_given_code_and_the_template_count_for_no_one(repo):
    """The handout untouched, or with the given Net class pasted into a new cell, has no fingerprints."""
    template = similarity.Template.of(repo)
    handout = submissions.sample(repo, "handout")
    assert similarity.answers_of("h", handout, template).by_question == {}
    given = next(c.source for c in handout.cells if c.get("id") == "net")
    pasted = catalogue.with_new_cell(handout, "setup", given, "student-pasted")
    assert similarity.answers_of("h", pasted, template).by_question == {}


@pytest.fixture
def course(tmp_path):
    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    return layout


def test_unreadable_notebooks_are_listed_and_never_followed(course, tmp_path):
    """A notebook that is a link, not JSON, or too deep to parse: reported, and the others still compared."""
    samples = {name: submissions.sample(course, name) for name in submissions.SAMPLES}
    submissions.submit(course, "ann", samples["reference"])
    submissions.submit(course, "ben", catalogue.by_name()[alike.COPY].make(samples))
    submissions.submit(course, "cat", "{ not json")
    deep = catalogue.with_answers(samples["handout"], {"q05_split_answer": "x = " + "(" * 300 + ")" * 300})
    submissions.submit(course, "dan", deep)
    secret = tmp_path / "secret.ipynb"
    secret.write_text(submissions.notebooks.dumps(samples["reference"]))
    path = submissions.submit(course, "eve", samples["handout"])
    path.unlink()
    os.symlink(secret, path)
    report = similarity.class_report(course, ["ann", "ben", "cat", "dan", "eve"])
    assert [(p.first, p.second) for p in report.pairs] == [("ann", "ben")]
    assert set(report.not_compared) == {"cat", "eve"}


def test_the_report_changes_no_score(course, tmp_path, monkeypatch):
    """merge with the report and with every pair reported gives the same gradebook and the same scores."""
    samples = {name: submissions.sample(course, name) for name in submissions.SAMPLES}
    points = {"q09_exact_inverse": 1.0}
    for student in ("ann", "ben", "cat"):
        submissions.submit(course, student, samples["reference"] if student != "cat" else samples["handout"])
    snapshots, rows = [], []
    for everyone in (False, True):
        results = tmp_path / f"results-{everyone}"
        results.mkdir()
        for student in ("ann", "ben", "cat"):
            classroom.StudentResult(student, "graded", 1.0, 56.0, dict(points), dict(points),
                                    timestamp="2026-11-01T10:00:00",
                                    grades={"q09_exact_inverse": {"notebook": course.assignment, "auto_score": 1.0,
                                                                  "needs_manual_grade": False}}).save(results)
        if everyone:
            monkeypatch.setattr(similarity, "MIN_SHARE", 0.0)
            monkeypatch.setattr(similarity, "MIN_SHARED", 0)
            monkeypatch.setattr(similarity, "ALIKE", 0.0)
        merged = classroom.merge(course, [results])
        snapshots.append(classroom.gradebook_snapshot(course))
        with (results / "grades.csv").open() as handle:
            rows.append([{k: v for k, v in row.items() if k != "similar answers"} for row in csv.DictReader(handle)])
        pairs = sum(len(r.similar) for r in merged) // 2
        assert pairs == (3 if everyone else 1)  # ann ~ ben alone, then every pair
    assert snapshots[0] == snapshots[1] and rows[0] == rows[1]
    assert "ann ~ ben: 100% alike" in classroom.summary(merged)


def test_the_docs_quote_the_measured_figures(repo):
    """The tables of the similarity thresholds (docs/instructor/similar-answers.md) are this catalogue's measurements."""
    readme = (repo.root / "docs" / "instructor" / "similar-answers.md").read_text()
    rows = alike.measure(repo)
    independent = [r.jaccard for r in rows if r.kind == "independent"]
    copies = [r.jaccard for r in rows if r.kind == "copy"]
    assert f"| {len(independent)} | {min(independent):.2f}–{max(independent):.2f} |" in readme
    assert f"| {len(copies)} | {min(copies):.2f} |" in readme and min(copies) == max(copies)
    found = alike.answers(repo)
    share = {name: similarity.compare(found["reference"], found[name])[0].share for name in found}
    assert f"~ reference | {share['correct_other_style']:.2f} | no |" in readme
    low, high = sorted((share["correct_alternating"], share["correct_handout_style"]))
    quoted = f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"
    assert f"~ reference | {quoted} | yes |" in readme
    assert f"`{alike.COPY}` ~ reference | {share[alike.COPY]:.2f} | yes |" in readme
    apart, copies = alike.whole_code(repo)
    low, high = min(apart.values()), max(apart.values())
    assert f"against each other | {len(apart)} | {low:.2f}–{high:.2f} | no |" in readme
    assert f"`...` after every statement | {len(copies)} | {min(copies.values()):.2f} | yes |" in readme
    assert min(copies.values()) == max(copies.values())
    assert f"reaches a Jaccard index of {similarity.WHOLE}" in readme


def _malformed_cells():
    """One hostile variant of a code cell per field a reader touches: the cell, its type, id, source, metadata."""
    code = {"cell_type": "code", "id": "x1", "metadata": {}, "source": "y = 1", "outputs": [], "execution_count": None}
    yield "cell is a number", 5
    yield "cell is a list", ["cell_type", "code"]
    for name, value in [("type", 5), ("type", None), ("id", 5), ("id", ["x"]), ("id", {"a": 1}), ("source", 5),
                        ("source", ["y =", 1]), ("source", None), ("source", "\x00\ud800"), ("metadata", 5),
                        ("metadata", "nbgrader")]:
        yield f"{name} = {value!r}", {**code, {"type": "cell_type"}.get(name, name): value}
    for value in (5, "q06", [], None, {"grade_id": 5}, {"grade_id": ["q06"]}, {"solution": "yes", "grade_id": {}},
                  {"grade_id": "q06_coupling", "solution": True, "points": "many"}):
        yield f"metadata.nbgrader = {value!r}", {**code, "metadata": {"nbgrader": value}}


def test_no_field_of_a_submitted_notebook_stops_the_scan_or_the_similarity_report(tmp_path):
    """Every malformed cell costs its own student at most: the scan returns (grading refuses or repairs), and
    the class's similarity report is made, the student compared or listed as not compared."""
    import json

    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    handout = json.loads(layout.release_notebook.read_text())
    baseline = submissions.Baseline.of(layout)
    variants = list(_malformed_cells())
    for index, (_, cell) in enumerate(variants):
        nb = {**handout, "cells": [cell, *handout["cells"]]}
        submissions.submit(layout, f"s{index:02d}", json.dumps(nb))
    students = layout.students()
    assert len(students) == len(variants)
    for student in students:
        submissions.scan(layout, student, baseline)  # must return, whatever it decides
    report = similarity.class_report(layout, students)
    seen = {p.first for p in report.pairs} | {p.second for p in report.pairs} | set(report.not_compared)
    assert seen <= set(students) and all(isinstance(why, str) for why in report.not_compared.values())
