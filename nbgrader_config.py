"""nbgrader configuration of the invertible-networks course.

Read by every nbgrader command run from this folder and by the ``inn_course``
tooling (``make all``), so instructors using nbgrader directly grade the same way.
"""

c = get_config()  # noqa: F821 (provided by nbgrader)

# The course and its one assignment, as the exchange, the gradebook and the folders name them.
c.CourseDirectory.course_id = "invertible-networks"
c.CourseDirectory.assignment_id = "invertible_networks"

# Timeouts. The slowest cells train a network (a few seconds on a quiet 2-core
# machine: docs/maintainers/timings.md) or train one in a hidden test (Q2: up to
# two more Nets); other tenants slowed the same runs 3-15x here. 600 s per cell leaves a
# margin above 15x the slowest cell, while an endless loop still ends.
c.Execute.timeout = 600
c.Execute.startup_timeout = 120

# The judge in place of nbgrader's Execute (inn_course/judge.py): the notebook runs in the kernel
# as nbgrader would run it, but for its test cells; then the hidden tests (the answer key,
# lab/invertible_networks_hidden_tests.py) run in nbgrader's own process, ask the kernel for data,
# check it against their own computations and write each test cell's outputs and points. Nothing
# the kernel runs can change a score. Outputs are cut to a size as they arrive (nbgrader's LimitOutput
# below counts only lines, after the run), and a kernel that ignores the interrupt at a cell's time
# limit, or stops replying, is killed (inn_course/execution.py). The rest is nbgrader 0.9.6's own list.
c.Autograde.autograde_preprocessors = [
    "inn_course.judge.JudgedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Late policy: 10 % of the notebook's autograded score per started day after the due date (hand-graded points
# are not reduced: nbgrader computes the penalty when it autogrades)
# (`nbgrader db assignment add invertible_networks --duedate=...`), see inn_course/late.py.
c.AssignLatePenalties.plugin_class = "inn_course.late.PercentPerDayLate"

# A deleted test cell is put back and graded, instead of scoring a silent zero.
c.OverwriteCells.add_missing_cells = True

# Students see what they must write; the stub fails its test, so a blank answer scores 0.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A runaway print loop must not bloat the gradebook or the feedback.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 40

# Feedback goes back to students: redact hidden tests (sources and tracebacks).
# nbgrader's default feedback shows them in full.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "inn_course.feedback.RedactHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
