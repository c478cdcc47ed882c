"""Names a user chose: which student ids the course accepts, and text a spreadsheet must not evaluate.

A student id reaches the course as a folder name (the exchange's submission folders,
``submitted/<student>/``): whatever a user can name a folder. It then becomes a path
component, a gradebook key, a command-line argument, a socket path and a CSV cell.
So ids are checked at the door against a conservative character set (that of
login names), and anything else is refused and reported, never escaped and used.

Every CSV the course writes passes its text cells through ``spreadsheet_cell``: a cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection); a leading apostrophe makes it
text in all three, and shows the original.
"""

from __future__ import annotations

import re

# A letter or digit first (no "-" option, no "." hidden file), then letters, digits, ".", "_", "-": login names.
STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def student_id_problem(name: str) -> str | None:
    """Why ``name`` is not accepted as a student id, or None."""
    if STUDENT_ID.fullmatch(name):
        return None
    shown = name.encode("unicode_escape").decode("ascii")[:80]
    return (f"{shown!r} is not a student id this course accepts (1-64 characters: letters, digits, '.', '_', '-'; "
            "not starting with '.' or '-')")


def is_student_id(name: str) -> bool:
    return student_id_problem(name) is None


def spreadsheet_cell(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows and never evaluates."""
    return "'" + text if text.startswith(FORMULA_START) else text
