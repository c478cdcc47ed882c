"""Answers that are unusually alike across a class: a signal for a human to read, never a score.

After ``grade-class`` (in ``merge``), every pair of students is compared answer by answer:

- **What is compared**: the code a student wrote for each question (the answer cells, found by
  their grade id as the release has it, else by cell id) and, pooled as one more "question",
  every code cell the student added. Markdown answers are not compared (see docs/instructor/similar-answers.md).
- **Fingerprints**: each cell is parsed (never run) as IPython would read it; what does not
  change behaviour is taken out (conditionals on a constant become their branch; statements that
  are only a constant, and ``pass``, go: cheap disguises are made of these); its syntax tree
  is written as a sequence of node types in which every name, attribute and constant is reduced
  to its kind, so renaming variables changes nothing; docstrings are dropped. Each top-level
  statement, and each method of a class, gives its own sequence, cut into overlapping runs of
  ``K`` tokens: reordering functions or methods changes nothing either. The runs that the
  release's own cell holds (the template, the given code) are removed.
- **Alike answers**: two students' answers to a question are alike when the Jaccard index of
  their fingerprint sets reaches ``ALIKE``; a pair of students is reported when their alike
  answers hold at least ``MIN_SHARED`` fingerprints and make up at least ``MIN_SHARE`` of all the
  fingerprints of the questions both answered, so that a few short answers that every student
  writes the same way are not enough.
- **Whole code**: a pair is also reported when all of the two students' code (answers and added
  cells together) reaches ``WHOLE``, so that answers moved out of their answer cells still count.

``benchmarks/measure_similarity.py`` measures the thresholds on the catalogue of submissions
(tests/submissions): independent correct answers written in other styles against the
reference, and a disguised copy of the reference (variables renamed, functions reordered,
comments dropped); ``tests/test_similarity.py`` checks the margins.

A notebook is read with the same limits as the pre-grading scan (regular file, size, cells,
cell length, nesting); one that cannot be read is listed as not compared, with the reason.
"""

from __future__ import annotations

import ast
import copy
import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from . import codescan, notebooks
from .names import spreadsheet_cell
from .paths import CourseLayout
from .submissions import Unreadable, read_submitted

K = 6  # tokens per fingerprint: a run of six syntax nodes (e.g. Assign Name Call Attribute Name Name)
# Thresholds, measured by benchmarks/measure_similarity.py on the catalogue (docs/instructor/
# similar-answers.md): the Jaccard index of two answers to the same question written independently in other
# styles is at most 0.51 (43 pairs; the highest are answers that kept half of the reference's
# cell); a disguised copy's answers score 1.00 against the original (17 of 17).
ALIKE = 0.65
# A pair of students: correct_other_style, which rewrote 11 of its 17 code answers, shares 0.43 of
# its fingerprints with the reference; the cases that copied the reference and rewrote 2 to 7
# answers share 0.58 to 0.76, the disguised copy 1.00.
MIN_SHARE = 0.5  # alike fingerprints / fingerprints of the questions both students answered
MIN_SHARED = 150  # and at least this many (the reference's code answers hold about 1,900)
# A pair is also reported when the whole of their code (answers and added cells together, so code moved
# out of its answer cell still counts) is this alike: the catalogue's variants, which rewrote 2 to 11 of
# the reference's answers, reach 0.56 to 0.72 against the reference and each other, except the one that
# renamed everything but kept 15 answers' structure (0.86, reported by its share too); copies moved into
# new cells or disguised score 1.00.
WHOLE = 0.85
ADDED = "added cells"  # the pseudo-question that pools the cells a student added
SHOWN_CHARS = 20_000  # of one question's code, in the side-by-side page of a pair


@dataclass
class Answers:
    """One student's fingerprints, by question (answer cell grade id, or ADDED)."""

    student: str
    by_question: dict[str, frozenset[int]] = field(default_factory=dict)
    problem: str = ""  # why the notebook could not be compared ("" when it was)
    code: dict[str, str] = field(default_factory=dict)  # question -> the code, for reading a pair side by side

    @property
    def whole(self) -> frozenset[int]:
        """All of the student's code at once, wherever it was written."""
        return frozenset().union(*self.by_question.values())


@dataclass
class Pair:
    first: str
    second: str
    share: float  # alike fingerprints / fingerprints of the questions both answered
    alike: dict[str, float]  # question -> Jaccard index, for the alike questions
    whole: float = 0.0  # Jaccard index of the two students' whole code

    def describe(self) -> str:
        questions = ", ".join(q.removesuffix("_answer") for q in sorted(self.alike))
        by_question = f"{self.share:.0%} alike: {questions}" if self.alike else "no answer cell alike"
        return by_question + (f"; whole code {self.whole:.0%} alike" if self.whole >= WHOLE else "")


# ------------------------------------------------------------------ fingerprints

class _Tokens(ast.NodeVisitor):
    """A syntax tree as node types, names and constants reduced to their kind."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.Name, ast.arg, ast.alias)):
            self.tokens.append("name")
        elif isinstance(node, ast.Attribute):
            self.tokens.append("attr")
        elif isinstance(node, ast.Constant):
            self.tokens.append(f"const:{type(node.value).__name__}")
        elif not isinstance(node, (ast.expr_context, ast.Module)):
            self.tokens.append(type(node).__name__)
        super().generic_visit(node)


class _Normalised(ast.NodeTransformer):
    """What does not change behaviour, taken out before fingerprinting: a conditional whose test is a
    constant (``(n if 1 else n)``, ``if True:``) becomes the branch it takes; a statement that is only a
    constant (``...``, a number, a string) and ``pass`` go. Cheap disguises of a copy are made of these."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            return node.body if node.test.value else node.orelse
        return node

    def visit_If(self, node: ast.If):
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            return (node.body if node.test.value else node.orelse) or None
        return node

    def visit_Expr(self, node: ast.Expr):
        self.generic_visit(node)
        return None if isinstance(node.value, ast.Constant) else node

    def visit_Pass(self, node: ast.Pass) -> None:
        return None


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def fingerprints(source: str) -> frozenset[int] | None:
    """The K-token runs of a cell's syntax tree, hashed; None when the cell cannot be parsed."""
    tree = codescan._parse(source)
    if tree is None:
        return None
    try:
        tree = _Normalised().visit(tree)
    except RecursionError:
        return None
    found = set()
    for unit in _split_units(tree):
        visitor = _Tokens()
        try:
            visitor.visit(unit)
        except RecursionError:
            return None
        tokens = visitor.tokens
        for i in range(max(1, len(tokens) - K + 1)):
            run = " ".join(tokens[i:i + K])
            found.add(int.from_bytes(hashlib.blake2b(run.encode(), digest_size=8).digest(), "big"))
    return frozenset(found)


def _split_units(tree: ast.Module) -> list[ast.AST]:
    """Top-level statements, and each method of a class on its own: their order does not matter."""
    units: list[ast.AST] = []
    for node in _without_docstring(tree.body):
        if isinstance(node, ast.ClassDef):
            methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            header = copy.copy(node)
            header.body = [n for n in _without_docstring(node.body) if n not in methods]
            units.append(header)
            units.extend(_function_unit(m) for m in methods)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            units.append(_function_unit(node))
        else:
            units.append(node)
    return units


def _function_unit(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
    node.body = _without_docstring(node.body)
    return node


# ------------------------------------------------------------------ reading a class

@dataclass(frozen=True)
class Template:
    """The release: which cells are answers, and the fingerprints every student starts with."""

    answer_ids: dict[str, str]  # release cell id -> grade id of its answer cell
    given: frozenset[int]  # fingerprints of all the release's code: templates, given code, tests

    @classmethod
    def of(cls, layout: CourseLayout) -> "Template":
        release = notebooks.read(layout.release_notebook)
        answer_ids, given = {}, set()
        for cell in release.cells:
            if cell.cell_type != "code":
                continue
            meta = notebooks.nbgrader(cell)
            if meta.get("solution") and not meta.get("grade"):
                answer_ids[cell.id] = notebooks.grade_id(cell)
            given |= fingerprints(cell.source) or set()
        return cls(answer_ids, frozenset(given))

    @property
    def questions(self) -> frozenset[str]:
        return frozenset(self.answer_ids.values())


def answers_of(student: str, nb, template: Template) -> Answers:
    """A notebook's fingerprints by question, what the release holds removed.

    A cell that cannot be parsed (a syntax error, say) adds nothing; the others are compared.
    """
    result = Answers(student)
    by_question: dict[str, set[int]] = {}
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        gid = notebooks.grade_id(cell)
        if gid not in template.questions:
            cell_id = cell.get("id")
            gid = template.answer_ids.get(cell_id, ADDED) if isinstance(cell_id, str) else ADDED
        prints = fingerprints(cell["source"])
        if prints:
            by_question.setdefault(gid, set()).update(prints - template.given)
        if cell["source"].strip():
            result.code[gid] = (result.code.get(gid, "") + "\n" + cell["source"]).strip("\n")[:SHOWN_CHARS]
    result.by_question = {q: frozenset(p) for q, p in by_question.items() if p}
    return result


def read_submission(layout: CourseLayout, student: str, template: Template) -> Answers:
    """A student's submitted notebook, read as the scan reads it (no link followed, size capped)."""
    try:
        nb, _ = read_submitted(layout, student)
    except Unreadable as error:
        return Answers(student, problem=str(error))
    try:
        return answers_of(student, nb, template)
    except Exception as error:  # whatever the file holds costs this student's comparison, never the report
        return Answers(student, problem=f"could not be compared ({type(error).__name__})")


# ------------------------------------------------------------------ comparing

def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def compare(first: Answers, second: Answers) -> tuple[Pair, int]:
    """The pair, and how many fingerprints its alike answers share."""
    both = sorted(set(first.by_question) & set(second.by_question))
    alike, shared, total = {}, 0, 0
    for question in both:
        a, b = first.by_question[question], second.by_question[question]
        index = jaccard(a, b)
        total += len(a | b)
        if index >= ALIKE:
            alike[question] = index
            shared += len(a & b)
    return Pair(first.student, second.student, shared / total if total else 0.0, alike,
                jaccard(first.whole, second.whole)), shared


def similar_pairs(answers: list[Answers]) -> list[Pair]:
    """Pairs of students whose answers are unusually alike, most alike first."""
    found = []
    for i, first in enumerate(answers):
        for second in answers[i + 1:]:
            pair, shared = compare(first, second)
            by_question = shared >= MIN_SHARED and pair.share >= MIN_SHARE
            whole = pair.whole >= WHOLE and len(first.whole & second.whole) >= MIN_SHARED
            if by_question or whole:
                found.append(pair)
    return sorted(found, key=lambda p: (-max(p.share, p.whole), p.first, p.second))


@dataclass
class Report:
    pairs: list[Pair]
    not_compared: dict[str, str]  # student -> why
    code: dict[str, dict[str, str]] = field(default_factory=dict)  # student -> question -> code (students in pairs)

    def write_side_by_side(self, folder: Path) -> list[Path]:
        """One page per reported pair, ``<folder>/<first>~<second>.html``: each question's code of the two
        students side by side, differences marked (difflib), every character of the students' escaped."""
        import difflib
        import html
        import os

        if folder.is_symlink():
            folder.unlink()
        folder.mkdir(exist_ok=True)
        written = []
        for pair in self.pairs:
            first, second = self.code.get(pair.first, {}), self.code.get(pair.second, {})
            differ = difflib.HtmlDiff(wrapcolumn=90)
            sections = []
            for question in sorted(set(first) | set(second), key=lambda q: (q == ADDED, q)):
                mark = f" (Jaccard index {pair.alike[question]:.2f})" if question in pair.alike else ""
                table = differ.make_table(first.get(question, "").splitlines(), second.get(question, "").splitlines(),
                                          html.escape(pair.first), html.escape(pair.second))
                sections.append(f"<h2>{html.escape(question)}{mark}</h2>\n{table}")
            title = f"{pair.first} ~ {pair.second}: {pair.describe()}"
            page = (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{difflib.HtmlDiff._styles} body {{font-family: sans-serif}}</style></head><body>"
                    f"<h1>{html.escape(title)}</h1><p>A reason to read two notebooks side by side, not a verdict: "
                    f"the code of each question, the first student's on the left.</p>{''.join(sections)}"
                    "</body></html>\n")
            path = folder / f"{pair.first}~{pair.second}.html"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with open(fd, "w", encoding="utf-8") as handle:
                handle.write(page)
            written.append(path)
        return written

    def annotate(self, results) -> None:
        """Set each result's ``similar`` (other student -> how alike) and ``similarity_note``; nothing else."""
        by_student = {r.student: r for r in results}
        for pair in self.pairs:
            by_student[pair.first].similar[pair.second] = pair.describe()
            by_student[pair.second].similar[pair.first] = pair.describe()
        for student, why in self.not_compared.items():
            by_student[student].similarity_note = f"not compared: {why}"

    def write_csv(self, path: Path) -> Path:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["student", "other student", "share alike", "alike answers (Jaccard index)",
                             "whole code (Jaccard index)"])
            for p in self.pairs:
                writer.writerow([spreadsheet_cell(p.first), spreadsheet_cell(p.second), f"{p.share:.2f}",
                                 "; ".join(f"{q} ({v:.2f})" for q, v in sorted(p.alike.items())), f"{p.whole:.2f}"])
            for student, why in sorted(self.not_compared.items()):
                writer.writerow([spreadsheet_cell(student), "", "", spreadsheet_cell(f"not compared: {why}"), ""])
        return path


def class_report(layout: CourseLayout, students: list[str]) -> Report:
    template = Template.of(layout)
    answers = [read_submission(layout, s, template) for s in students]
    pairs = similar_pairs([a for a in answers if not a.problem])
    in_pairs = {p.first for p in pairs} | {p.second for p in pairs}
    return Report(pairs, {a.student: a.problem for a in answers if a.problem},
                  {a.student: a.code for a in answers if a.student in in_pairs})
