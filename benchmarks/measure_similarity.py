"""Where the similarity report's thresholds come from (inn_course/similarity.py).

Prints, for every answer of the catalogue that a correct variant wrote in its own style, its
Jaccard index against the reference's answer and the other variants' (independent answers), and
for every code answer of the disguised copy its index against the reference's; then the pair
scores of the whole catalogue's correct cases against the reference. No notebook is run.

    .venv/bin/python benchmarks/measure_similarity.py
"""

from __future__ import annotations

import sys

from inn_course import similarity
from inn_course.paths import REPO_ROOT, CourseLayout

sys.path.insert(0, str(REPO_ROOT))  # the catalogue lives in the test suite
from tests.submissions import alike  # noqa: E402


def main() -> int:
    layout = CourseLayout(REPO_ROOT)
    rows = alike.measure(layout)
    print(f"{'question':34s} {'kind':12s} {'answers compared':55s} Jaccard")
    for row in sorted(rows, key=lambda r: (r.kind, -r.jaccard)):
        print(f"{row.question:34s} {row.kind:12s} {row.first + ' / ' + row.second:55s} {row.jaccard:.2f}")
    independent = [r.jaccard for r in rows if r.kind == "independent"]
    copies = [r.jaccard for r in rows if r.kind == "copy"]
    print(f"\nindependent answers: {len(independent)}, max {max(independent):.2f}; "
          f"disguised copies: {len(copies)}, min {min(copies):.2f}; ALIKE = {similarity.ALIKE}")
    found = alike.answers(layout)
    print(f"\npairs with the reference (reported when share >= {similarity.MIN_SHARE} "
          f"and shared fingerprints >= {similarity.MIN_SHARED}):")
    for name, answers in found.items():
        if name == "reference":
            continue
        pair, shared = similarity.compare(found["reference"], answers)
        print(f"  {name:28s} share {pair.share:.2f}, shared {shared:5d}, alike: {len(pair.alike)} of "
              f"{len(set(answers.by_question) & set(found['reference'].by_question))} questions")
    apart, copies = alike.whole_code(layout)
    print(f"\nwhole code (reported when the Jaccard index >= {similarity.WHOLE}):")
    for pair, value in sorted(apart.items(), key=lambda item: -item[1]):
        print(f"  not copies  {pair:55s} {value:.2f}")
    for name, value in sorted(copies.items()):
        print(f"  copy        {name + ' / reference':55s} {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
