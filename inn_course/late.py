"""The course's late policy, as an nbgrader plugin: 10 % of the autograded score per started day late.

nbgrader's own ``LateSubmissionPlugin`` offers no penalty or a zero. Configured in
``nbgrader_config.py`` (``AssignLatePenalties.plugin_class``); nbgrader applies it
when it autogrades a submission whose timestamp is after the assignment's due date
(``nbgrader db assignment add ... --duedate``, plus the student's extension), and
``inn-course grade-class`` carries the penalty into the gradebook.

The penalty is a share of the *autograded* points: nbgrader computes it when it
autogrades, before any point is given by hand, and stores it; the feedback shows it and
the final score is auto + manual − penalty (``export.py``). Hand-graded points are not
reduced. docs/instructor/late-policy.md states the policy so, and the semester test checks one late student's
feedback and export against it (32 autograded, 2 by hand, 3.2 off: 30.8).
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PercentPerDayLate(LateSubmissionPlugin):
    percent_per_day = Float(10.0, help="Percent of the notebook's autograded score taken off per started day late.").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = math.ceil(max(0.0, total_seconds_late) / 86400)
        return min(score, score * self.percent_per_day / 100 * days)
