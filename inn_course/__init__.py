"""Course tooling for the invertible-networks lab (nbgrader).

One module per stage, as in nbgrader's own layering:

- ``paths``      where everything lives (the CourseDirectory of this course)
- ``api``        nbgrader's NbGraderAPI with this course's config (and throw-away gradebooks)
- ``labsource``  authoring file -> nbgrader source notebook
- ``notebooks``  reading, cleaning and comparing notebooks
- ``lint``       checks of nbgrader metadata and of the release's secrecy
- ``release``    source -> student release (nbgrader generate_assignment)
- ``submissions`` sample submissions and the pre-grading scan
- ``grade``      autograde submissions, collect per-cell scores
- ``feedback``   feedback HTML without hidden tests
- ``pipeline``   the main job: release, grade the samples, feedback (``make all``)
- ``cli``        ``inn-course`` command (``python -m inn_course``)
"""

ASSIGNMENT = "invertible_networks"
