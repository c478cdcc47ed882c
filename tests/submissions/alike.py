"""Where the similarity thresholds come from: the catalogue's answers compared with the reference's.

Two kinds of pairs of answers to the same question:

- *independent*: an answer that a correct variant of the catalogue rewrote in its own style
  (tests/submissions/variants.py, and the while-loop rewrite) against the reference's answer, and
  against every other variant's own answer to that question;
- *copy*: each code answer of ``copy_renamed_reordered`` (the reference disguised) against the
  reference's.

``inn_course.similarity.ALIKE`` must lie between the two, with a margin
(tests/test_similarity.py); ``benchmarks/measure_similarity.py`` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from inn_course import similarity, submissions
from inn_course.paths import CourseLayout

from . import catalogue

INDEPENDENT = ("correct_other_style", "correct_alternating", "correct_handout_style", "correct_while_loop_renamed")
COPY = "copy_renamed_reordered"


@dataclass(frozen=True)
class Measured:
    question: str
    kind: str  # "independent" or "copy"
    first: str
    second: str
    jaccard: float


def answers(layout: CourseLayout) -> dict[str, similarity.Answers]:
    template = similarity.Template.of(layout)
    samples = {name: submissions.sample(layout, name) for name in submissions.SAMPLES}
    cases = catalogue.by_name()
    return {name: similarity.answers_of(name, cases[name].make(samples), template)
            for name in ("reference", *INDEPENDENT, COPY)}


def measure(layout: CourseLayout) -> list[Measured]:
    found = answers(layout)
    reference = found["reference"].by_question
    rows = []
    own = {name: {q: p for q, p in found[name].by_question.items() if reference.get(q) != p} for name in INDEPENDENT}
    for i, name in enumerate(INDEPENDENT):
        for question, prints in sorted(own[name].items()):
            if question in reference:
                rows.append(Measured(question, "independent", name, "reference",
                                     similarity.jaccard(prints, reference[question])))
            for other in INDEPENDENT[i + 1:]:
                # (two variants given the same fixture text, such as Q17's brief table, hold one answer, not two)
                if question in own[other] and own[other][question] != prints:
                    rows.append(Measured(question, "independent", name, other,
                                         similarity.jaccard(prints, own[other][question])))
    for question, prints in sorted(found[COPY].by_question.items()):
        rows.append(Measured(question, "copy", COPY, "reference", similarity.jaccard(prints, reference.get(question, frozenset()))))
    return rows


# Whole code (all of a student's code at once): pairs that are not copies, and copies.
NOT_COPIES = ("reference", "correct_other_style", "correct_alternating", "correct_handout_style")


def whole_code(layout: CourseLayout) -> tuple[dict[str, float], dict[str, float]]:
    """Jaccard indices of whole code: {pair: index} for the pairs among NOT_COPIES (variants that rewrote
    2 to 11 answers, against the reference and each other), and {copy: index against the reference} for
    the catalogue's disguised copy and the three cheap disguises (tests/submissions/disguises.py)."""
    from . import disguises

    found = answers(layout)
    template = similarity.Template.of(layout)
    reference_nb = submissions.sample(layout, "reference")
    for name, make in disguises.DISGUISES.items():
        found[name] = similarity.answers_of(name, make(reference_nb), template)
    apart = {f"{a} / {b}": similarity.jaccard(found[a].whole, found[b].whole)
             for i, a in enumerate(NOT_COPIES) for b in NOT_COPIES[i + 1:]}
    copies = {name: similarity.jaccard(found[name].whole, found["reference"].whole)
              for name in (COPY, *disguises.DISGUISES)}
    return apart, copies
