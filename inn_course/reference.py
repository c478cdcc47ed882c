"""Reference pages generated from what they describe, so that the docs and the code agree.

- ``docs/reference/cli.md`` from the command-line parser (what `--help` says);
- ``docs/reference/config.md`` from ``nbgrader_config.py`` (each setting with the comment above it).

``make docs`` (``python -m inn_course.reference --write``) writes them; a test fails when a committed
page differs from what this module makes of the code.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from . import cli
from .paths import REPO_ROOT

PAGE = "docs/reference/cli.md"
CONFIG_PAGE = "docs/reference/config.md"


def _text(text: str) -> str:
    """Help text as Markdown shows it literally (in a table cell, angle brackets would be taken for HTML)."""
    for plain, escaped in (("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*")):
        text = text.replace(plain, escaped)
    return text


def _option(action: argparse.Action) -> str:
    if not action.option_strings:
        name = action.metavar or action.dest
        return f"`{name} ...`" if action.nargs in ("+", "*") else f"`{name}`"
    takes = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
    if action.nargs in ("+", "*"):
        takes += " ..."
    return ", ".join(f"`{flag}{takes}`" for flag in action.option_strings)


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.required:
        return ""
    return f"`{action.default}`"


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = [a for a in actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
    if not rows:
        return ["No options."]
    lines = ["| option | what it does | default |", "|---|---|---|"]
    for action in rows:
        what = _text(action.help or "")
        if action.required and action.option_strings:
            what += " (required)"
        lines.append(f"| {_option(action)} | {what} | {_default(action)} |")
    return lines


def markdown() -> str:
    parser = cli.parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    lines = ["# `inn-course`: every command and option", "",
             "Generated from `inn_course/cli.py` by `make docs` (a test fails when this page and the parser "
             "differ); `inn-course <command> --help` says the same.", "",
             parser.description or "", "", "Options before the command:", "",
             *_table([a for a in parser._actions if a is not commands]), "", "| command | what it does |", "|---|---|"]
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    lines += [f"| [`{name}`](#inn-course-{name}) | {_text(helps.get(name, ''))} |" for name in commands.choices]
    for name, sub in commands.choices.items():
        usage = " ".join(sub.format_usage().split())[len("usage: "):]
        lines += ["", f"## inn-course {name}", "", _text(helps.get(name, "")), "", "```", usage, "```", "",
                  *_table(sub._actions)]
    return "\n".join(lines) + "\n"


def _setting(node: ast.stmt) -> str | None:
    """``c.Section.name = ...`` gives "Section.name"; anything else None."""
    if not isinstance(node, ast.Assign) or len(node.targets) != 1:
        return None
    target = node.targets[0]
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute) \
            and isinstance(target.value.value, ast.Name) and target.value.value.id == "c":
        return f"{target.value.attr}.{target.attr}"
    return None


def config_markdown(config: Path | None = None) -> str:
    """Every setting of nbgrader_config.py, grouped under the comment that explains it."""
    config = config or REPO_ROOT / "nbgrader_config.py"
    text = config.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    page = ["# `nbgrader_config.py`: every setting and why", "",
            "Generated from the course's `nbgrader_config.py` by `make docs` (a test fails when they differ). "
            "Every nbgrader command run in the course folder reads this file, and so does `inn-course`.", "",
            " ".join((ast.get_docstring(tree) or "").split()), ""]
    groups: list[tuple[str, list[str], list[str]]] = []  # (comment, settings, source lines)
    last_end = -1  # the line where the previous setting ended
    for node in tree.body:
        name = _setting(node)
        if name is None:
            continue
        above, row = [], node.lineno - 2
        while row >= 0 and lines[row].lstrip().startswith("#"):
            above.insert(0, lines[row].lstrip("# ").rstrip())
            row -= 1
        source = lines[node.lineno - 1:node.end_lineno]
        if above or not groups or node.lineno != last_end + 1:
            groups.append((" ".join(above), [name], source))
        else:  # right under the setting above, without a comment of its own: explained with it
            groups[-1][1].append(name)
            groups[-1][2].extend(source)
        last_end = node.end_lineno
    for comment, names, source in groups:
        page += ["## " + ", ".join(f"`{name}`" for name in names), "", comment or "(no comment in the file)", "",
                 "```python", *source, "```", ""]
    return "\n".join(page).rstrip("\n") + "\n"


PAGES = {PAGE: markdown, CONFIG_PAGE: config_markdown}


def main(argv: list[str] | None = None) -> int:
    """``--write``: write every page; ``--check``: exit 1 naming each stale page; neither: print the CLI page."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(markdown(), end="")
        return 0
    stale = []
    for page, make in PAGES.items():
        path = REPO_ROOT / page
        text = make()
        if "--write" in args:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.is_file() or path.read_text() != text:
            stale.append(page)
    for page in stale:
        print(f"{page} is stale: run `make docs`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
