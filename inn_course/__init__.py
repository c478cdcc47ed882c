"""Course tooling for the invertible-networks lab (nbgrader).

One module per stage, as in nbgrader's own layering:

- ``paths``      where everything lives (the CourseDirectory of this course)
- ``api``        nbgrader's NbGraderAPI with this course's config (and throw-away gradebooks)
- ``labsource``  authoring file -> nbgrader source notebook
- ``notebooks``  reading, cleaning and comparing notebooks
- ``lint``       checks of nbgrader metadata and of the release's secrecy
- ``release``    source -> student release (nbgrader generate_assignment)
- ``submissions`` sample submissions and the pre-grading scan (repairs, flags)
- ``codescan``   static checks of students' code for what could interfere with grading
- ``grade``      autograde submissions, collect per-cell scores and flags
- ``execution``  nbgrader's Execute with outputs cut as they arrive, a kill for ignored interrupts and silent kernels
- ``judge``      the hidden tests, run outside the student's kernel: it asks the kernel for data and checks it
- ``wire``       the judge's wire format (JSON and raw tensors, no pickle), shared with the kernel
- ``processes``  processes a graded notebook leaves behind: found and killed
- ``feedback``   feedback HTML without hidden tests or mark schemes
- ``pipeline``   the main job: release, grade the samples, feedback (``make all``)
- ``selfstudy``  the worked solution, executed, as a notebook and an HTML page
- ``sandbox``    the bubblewrap sandbox a student's kernel runs in (unprivileged user, limits)
- ``cgroups``    a control group per kernel: memory (tmpfs included) and processes
- ``safe_files`` copies and reads of student-made files: regular files only, never through a link
- ``classroom``  a whole class: parallel sandboxed workers, shards, merge, CSV and plot
- ``cli``        ``inn-course`` command (``python -m inn_course``)
"""

ASSIGNMENT = "invertible_networks"

import sys as _sys

# jsonschema (which nbformat imports in every nbgrader process) imports rfc3987_syntax when it is
# installed, and that module builds a grammar for the "iri" string formats at import: 1.1 s of every
# process here. Neither nbformat nor nbgrader checks string formats, so the course's processes do
# without it: a grading worker (one process per submission) starts in 1.2 s instead of 2.2 s.
_sys.modules.setdefault("rfc3987_syntax", None)
