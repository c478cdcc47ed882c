"""The README and docs/ point at what exists: every link resolves, every command shown is one the course has.

Links: a relative link must name a file or folder of the repository, and its ``#anchor`` a heading of
the Markdown page it names (GitHub's slugs). Commands: every ``make``, ``inn-course`` and ``nbgrader``
command shown (in code blocks and inline code) must be a Makefile target, a command of the CLI's parser
with options that command takes, or a subcommand of nbgrader. Fast: reads text only.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from inn_course import cli
from inn_course.paths import REPO_ROOT

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
USER_FACING = ("README.md", "docs/student.md", "docs/self-study.md", "docs/instructor")


def pages(root: Path = REPO_ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    found: set[str] = set()
    for heading in re.findall(r"(?m)^#{1,6} +(.+?) *#*$", text):
        base, n = slug(heading), 0
        while (base if n == 0 else f"{base}-{n}") in found:
            n += 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(page: Path, root: Path = REPO_ROOT) -> list[str]:
    broken = []
    text = FENCE.sub("", page.read_text())
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: — outside the repository
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists() or root.resolve() not in [where, *where.parents]:
            broken.append(f"{target} (no such file)")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target} (no heading #{anchor} in {where.relative_to(root.resolve())})")
    return broken


def makefile_targets(root: Path = REPO_ROOT) -> set[str]:
    """The Makefile's targets, with its simple variables expanded ($(BIN)/.installed is .venv/bin/.installed)."""
    text = (root / "Makefile").read_text()
    variables = dict(re.findall(r"(?m)^(\w+) :?= *(\S+) *$", text))
    for _ in range(3):
        variables = {k: re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group()), v)
                     for k, v in variables.items()}
    targets = set()
    for line in text.splitlines():
        m = re.match(r"^([$A-Za-z.][\w .()$/-]*):(?!=)", line)
        if m:
            names = re.sub(r"\$\((\w+)\)", lambda v: variables.get(v.group(1), v.group()), m.group(1))
            targets.update(names.split())
    return targets


def nbgrader_commands() -> set[str]:
    from nbgrader.apps import NbGraderApp
    return set(NbGraderApp.subcommands)


def _options(parser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def shown_commands(text: str) -> list[str]:
    """Command lines in a page: each line of a code block, and inline code that starts like a command."""
    found = []
    for block in FENCE.findall(text):
        block = re.sub(r"\\\n\s*", " ", block)  # a line continued with a backslash is one command
        found += [line.split(" #")[0].strip() for line in block.splitlines()]
    found += [m.group(1).strip() for m in INLINE.finditer(FENCE.sub("", text))]
    return [line for line in found if re.match(r"(\S*/)?(make|inn-course|nbgrader|python -m inn_course)\b", line)]


def command_problems(line: str, targets: set[str], nbgrader: set[str]) -> list[str]:
    """What is wrong with one shown command line (nothing: [])."""
    try:
        words = shlex.split(line.replace("…", "").replace("...", ""))
    except ValueError:
        return [f"{line!r}: not a command line"]
    if words[0].rsplit("/", 1)[-1] == "python" and words[1:3] == ["-m", "inn_course"]:
        words = ["inn-course", *words[3:]]
    program = words[0].rsplit("/", 1)[-1]
    rest = [w for w in words[1:] if not w.startswith(("[", "<"))]  # [optional] and <placeholder> words
    if program == "make":
        wanted = [w for w in rest if not w.startswith("-") and "=" not in w]
        return [f"{line!r}: make has no target {w!r}" for w in wanted if w not in targets]
    if program == "nbgrader":
        if rest and not rest[0].startswith("-") and rest[0] not in nbgrader:
            return [f"{line!r}: nbgrader has no command {rest[0]!r}"]
        return []
    parser = cli.parser()
    top = _options(parser)
    while rest and rest[0] in top:  # options before the command, e.g. --root DIR
        rest = rest[2:] if rest[0] == "--root" else rest[1:]
    if not rest or rest[0].startswith("-"):
        return []  # `inn-course --help` and the like
    if rest[0] not in cli.COMMANDS:
        return [f"{line!r}: inn-course has no command {rest[0]!r}"]
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    known = _options(commands.choices[rest[0]]) | top
    flags = [w.split("=")[0] for w in rest[1:] if w.startswith("--")]
    return [f"{line!r}: inn-course {rest[0]} has no option {flag}" for flag in flags if flag not in known]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_resolves(page):
    assert broken_links(page) == [], f"{page.relative_to(REPO_ROOT)} links to what does not exist"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_command_shown_exists(page):
    targets, nbgrader = makefile_targets(), nbgrader_commands()
    problems = [p for line in shown_commands(page.read_text()) for p in command_problems(line, targets, nbgrader)]
    assert problems == [], f"{page.relative_to(REPO_ROOT)} shows commands that do not exist: {problems}"


def test_the_checks_see_what_is_broken(tmp_path):
    """The two checks above can fail: a missing file, a missing anchor, a made-up command and option."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Two words\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#two-words) [gone](docs/b.md) [anchor](docs/a.md#three) [web](https://x.org)\n")
    assert broken_links(page, tmp_path) == ["docs/b.md (no such file)",
                                            "docs/a.md#three (no heading #three in docs/a.md)"]
    targets, nbgrader = {"all", "test"}, {"autograde"}
    shown = shown_commands("```bash\nmake all    # build\nmake deploy\ninn-course grade-class --fast\n```\n"
                           "and `nbgrader autograde x`, `nbgrader grade x`, `inn-course --root d merge a b`.")
    problems = [p for line in shown for p in command_problems(line, targets, nbgrader)]
    assert [p.split(": ", 1)[1] for p in problems] == [
        "make has no target 'deploy'", "inn-course grade-class has no option --fast", "nbgrader has no command 'grade'"]


def test_user_facing_pages_name_no_commit_or_issue():
    """Readers cannot look up a commit hash or an internal issue number: neither appears in their pages."""
    found = []
    for page in pages():
        relative = str(page.relative_to(REPO_ROOT))
        if not relative.startswith(USER_FACING):
            continue
        text = page.read_text()
        found += [f"{relative}: {m.group()}" for m in re.finditer(r"`[0-9a-f]{7,40}`|(?<!nbgrader )\bissues? \d+\b", text)]
    assert found == []


def test_the_readme_starts_every_reader_within_its_first_screen():
    """At most ~150 lines, and each reader's first command within the first 50."""
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 160, f"the README has {len(lines)} lines: move detail into docs/"
    first_screen = "\n".join(lines[:50])
    readers = (("Students", "jupyter lab"), ("Instructors", "make all"), ("Self-learners", "jupyter lab"))
    for reader, _ in readers:
        assert f"**{reader}.**" in first_screen, f"the README's first screen does not speak to {reader.lower()}"
    starts = [first_screen.index(f"**{reader}.**") for reader, _ in readers] + [len(first_screen)]
    for (reader, command), start, end in zip(readers, starts, starts[1:]):
        assert command in first_screen[start:end], f"{reader.lower()} find no first command of their own"


def test_the_readme_points_per_part_are_the_notebooks():
    """The README's table of parts: each row's points are the sum of its questions' points in the source notebook."""
    from inn_course import notebooks
    from inn_course.paths import CourseLayout

    source = notebooks.read(CourseLayout(REPO_ROOT).source_notebook)
    points: dict[int, float] = {}
    autograded = 0.0
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("points") and re.match(r"q\d\d_", meta.get("grade_id", "")):
            number = int(meta["grade_id"][1:3])
            points[number] = points.get(number, 0) + meta["points"]
            if meta.get("grade") and not meta.get("solution") and not meta.get("task"):
                autograded += meta["points"]
    readme = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(r"(?m)^\| [^|]+ \| Q(\d+)–Q(\d+) \| (\d+) \|$", readme)
    assert [(int(a), int(b)) for a, b, _ in rows] == [(1, 2), (3, 9), (10, 15), (16, 17)]
    for first, last, quoted in rows:
        total = sum(points.get(q, 0) for q in range(int(first), int(last) + 1))
        assert total == int(quoted), f"the README gives Q{first}–Q{last} {quoted} points, the notebook {total:g}"
    total = sum(points.values())
    assert f"| **17** | **{total:g}** ({autograded:g} autograded, {total - autograded:g} by hand" in readme


def test_the_time_to_run_the_lab_is_stated_alike_everywhere_and_is_measured():
    """Readers see one phrase for a Run All ("well under a minute": under half of one), and timings.json backs it."""
    from inn_course import bundle, timings

    run_all = timings.load()["notebook"]["run_all_s"]
    assert run_all < 30, f"a Run All measured {run_all} s: 'well under a minute' no longer holds"
    texts = {"README.md": (REPO_ROOT / "README.md").read_text(), "the bundle's README": bundle.README_TEXT,
             **{p: (REPO_ROOT / p).read_text() for p in ("docs/student.md", "docs/self-study.md",
                                                         "lab/invertible_networks.py")}}
    for where, text in texts.items():
        flat = " ".join(text.replace("#", " ").split())
        assert "well under a minute" in flat, f"{where} does not say how long the lab runs as the others do"
        assert "about a minute" not in flat, f"{where} states the run time otherwise"
    for where in ("README.md", "docs/student.md", "docs/self-study.md", "lab/invertible_networks.py"):
        flat = " ".join(texts[where].replace("#", " ").split())
        assert "6–8 hours" in flat and "estimate" in flat, f"{where} lacks the time to do the lab, as an estimate"
