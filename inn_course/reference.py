"""The command-line reference, generated from the parser itself, so that `--help` and the docs agree.

``python -m inn_course.reference`` prints it; ``make docs`` writes it to
``docs/reference/cli.md``, and a test fails when the committed page differs.
"""

from __future__ import annotations

import argparse

from . import cli

PAGE = "docs/reference/cli.md"


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


if __name__ == "__main__":
    print(markdown(), end="")
