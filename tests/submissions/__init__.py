"""Sample submissions for the grading tests, made from the reference by small patches."""
