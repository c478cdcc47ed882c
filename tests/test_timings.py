"""docs/maintainers/timings.md, the one place measured timings live: generated from timings.json, fed by
the commands that measure (inn_course/timings.py, tests/timings_plugin.py)."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from inn_course import timings
from inn_course.paths import REPO_ROOT

from .timings_plugin import NARROWING, Run, SuiteTimings, entry


def test_the_committed_timings_page_is_what_its_json_renders():
    page = REPO_ROOT / timings.PAGE
    assert page.is_file(), f"{timings.PAGE} is missing: run `make timings`"
    assert page.read_text() == timings.markdown(timings.load()), \
        f"{timings.PAGE} is stale (edited by hand, or timings.json changed): run `make timings` and commit both"


def test_the_page_has_every_entry_and_no_commit_hash_or_issue_number():
    data = timings.load()
    page = timings.markdown(data)
    assert set(timings.SECTIONS) <= set(data), f"entries missing from timings.json: {set(timings.SECTIONS) - set(data)}"
    titles = re.findall(r"(?m)^## (.+)$", page)
    assert titles == [title for title, _ in timings.SECTIONS.values()]  # the fixed order
    assert "make timings" in page.split("\n## ", 1)[0] and "do not edit" in page.split("\n## ", 1)[0]
    hashes = re.findall(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", page)
    issues = re.findall(r"(?i)\bissues? #?\d+|#\d+\b", page)
    assert not hashes and not issues, (hashes, issues)
    for name in timings.SECTIONS:
        assert f"Measured {data[name]['measured']} on " in _section(page, name), name


def test_check_fails_on_a_stale_page_and_says_to_run_make_timings(tmp_path, capsys):
    (tmp_path / timings.JSON_FILE).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / timings.JSON_FILE, tmp_path / timings.JSON_FILE)
    assert timings.main(["--check", "--root", str(tmp_path)]) == 1  # no page yet
    assert timings.main(["--root", str(tmp_path)]) == 0  # make timings
    assert timings.main(["--check", "--root", str(tmp_path)]) == 0
    page = tmp_path / timings.PAGE
    text = page.read_text()
    figure = re.search(r"\| \d[\d,.]* \|", text)  # the page's first figure in a table, whatever was measured
    assert figure is not None and figure.group(0) != "| 0.5 |"
    page.write_text(text.replace(figure.group(0), "| 0.5 |", 1))  # a figure edited by hand
    capsys.readouterr()
    assert timings.main(["--check", "--root", str(tmp_path)]) == 1
    assert "make timings" in capsys.readouterr().err


def _section(page: str, name: str) -> str:
    return page.split(f"## {timings.SECTIONS[name][0]}\n", 1)[1].split("\n## ", 1)[0]


def test_a_new_measurement_replaces_its_entry_and_keeps_the_others(tmp_path):
    (tmp_path / timings.JSON_FILE).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / timings.JSON_FILE, tmp_path / timings.JSON_FILE)
    before = timings.load(tmp_path)
    assert before["make_all"]["make_all_s"] != 47.9

    path = timings.record("make_all", {"selfstudy_s": 17.3, "make_all_s": 47.9}, root=tmp_path)
    assert path == tmp_path / "artifacts" / "timings" / "make_all.json"
    recorded = json.loads(path.read_text())
    assert recorded["measured"] == timings.today() and re.fullmatch(r"\d{4}-\d\d-\d\d", recorded["measured"])
    assert recorded["machine"]["cores"] >= recorded["machine"]["usable_cores"] >= 1
    assert timings.load(tmp_path) == before  # recording writes artifacts/ only: publishing is `make timings`
    timings.record("suite", {**before["suite"], "measured": "2000-01-01", "seconds": 1.0}, root=tmp_path)  # stale
    timings.record("new_benchmark", {"seconds": 3.5}, root=tmp_path)

    data = timings.collect(tmp_path)
    assert data == timings.load(tmp_path)  # and written
    assert data["make_all"] == recorded
    assert {name: e for name, e in data.items() if name not in ("make_all", "new_benchmark")} \
        == {name: e for name, e in before.items() if name != "make_all"}  # the stale suite.json lost too
    assert list(data)[:len(timings.SECTIONS)] == list(timings.SECTIONS) and list(data)[-1] == "new_benchmark"

    page = timings.markdown(data)
    make_all = _section(page, "make_all")
    assert "| 17.3 |" in make_all and "| 47.9 |" in make_all and "| 50 |" not in make_all
    assert f"Measured {timings.today()} on {recorded['machine']['cpu']}, {recorded['machine']['cores']} cores" \
        in make_all
    assert "Copied from the README" not in make_all  # the carried-over note went with the old figures
    assert _section(timings.markdown(before), "notebook") == _section(page, "notebook")
    assert "## `new_benchmark`" in page and "| `seconds` | 3.5 |" in page


def test_record_refuses_a_name_that_is_not_a_file_name(tmp_path):
    with pytest.raises(ValueError):
        timings.record("../suite", {}, root=tmp_path)
    assert not (tmp_path / "artifacts").exists()


def _recorded_keys(source: Path, name: str) -> set[str]:
    """The keys of the dict literal a source passes to ``timings.record(name, {...})``."""
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "record" and node.args \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == name:
            return {key.value for key in node.args[1].keys}
    raise AssertionError(f"{source} does not call timings.record({name!r}, {{...}})")


CARRIED_ONLY = {"measured", "machine", "note", "cells_rest", "hidden_tests_rest", "modules_rest_s"}


@pytest.mark.parametrize("source, name", [
    ("benchmarks/bench_grading.py", "notebook"),
    ("inn_course/cli.py", "make_all"),
    ("benchmarks/bench_class_grading.py", "class_grading"),
    ("benchmarks/bench_slurm.py", "slurm"),
    ("tests/submissions/report.py", "catalogue"),
])
def test_each_source_records_the_figures_its_section_shows(source, name):
    """A benchmark whose keys drifted from the page's would break `make timings` only after a long run."""
    assert _recorded_keys(REPO_ROOT / source, name) == set(timings.load()[name]) - CARRIED_ONLY


@pytest.mark.parametrize("run, expected", [
    (Run(ran=426), "suite"),
    (Run(paths=("tests/",), ran=426), "suite"),  # the testpaths, named
    (Run(markexpr="not slow", deselected_slow=105, ran=321), "suite_quick"),
    (Run(markexpr="not  slow", deselected_slow=105, ran=321), "suite_quick"),
    (Run(markexpr="slow", deselected_other=321, ran=105), None),
    (Run(markexpr="not slow and not browser", deselected_slow=105, ran=321), None),
    (Run(keyword="judge", deselected_other=400, ran=26), None),
    (Run(paths=("tests/test_cli.py",), ran=12), None),
    (Run(paths=("tests/test_cli.py::test_the_course_is_the_folder_one_stands_in",), ran=1), None),
    (Run(deselected_other=1, ran=425), None),  # --deselect, or a plugin
    (Run(deselected_slow=1, ran=425), None),  # a slow test deselected without -m "not slow"
    (Run(markexpr="not slow", deselected_slow=105, deselected_other=1, ran=320), None),
    (Run(narrowed=("lf",), ran=3), None),
    (Run(stopped=True, ran=100), None),  # -x
    (Run(exitstatus=1, ran=425), None),
    (Run(ran=0), None),  # --collect-only, or nothing collected
])
def test_only_a_whole_suite_run_is_recorded(run, expected):
    assert entry(run) == expected


def test_the_options_the_plugin_reads_exist_and_it_is_registered(pytestconfig):
    plugins = {"lf": "cacheprovider", "stepwise": "stepwise"}  # options of plugins one may disable (-p no:...)
    for name in ("markexpr", "keyword", "file_or_dir", *NARROWING):
        if pytestconfig.pluginmanager.has_plugin(plugins.get(name, "main")):
            pytestconfig.getoption(name)  # ValueError if pytest named it otherwise
    assert isinstance(pytestconfig.pluginmanager.get_plugin("inn-course-suite-timings"), SuiteTimings)


def _fake_config(root: Path, **options) -> SimpleNamespace:
    defaults = {"markexpr": "", "keyword": "", "file_or_dir": []}
    return SimpleNamespace(rootpath=root, getini=lambda name: ["tests"],
                           getoption=lambda name, default=None: {**defaults, **options}.get(name, default))


def _report(nodeid: str, when: str, duration: float, outcome: str = "passed") -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, when=when, duration=duration, passed=outcome == "passed",
                           skipped=outcome == "skipped")


def _session(plugin: SuiteTimings, exitstatus: int = 0) -> None:
    plugin.pytest_sessionfinish(SimpleNamespace(shouldstop=False, shouldfail=False), exitstatus)


def test_the_plugin_records_seconds_by_module_for_a_whole_run(tmp_path):
    plugin = SuiteTimings(_fake_config(tmp_path))
    for phase, seconds in (("setup", 30.0), ("call", 2.0), ("teardown", 0.5)):  # a session fixture's first user
        plugin.pytest_runtest_logreport(_report("tests/test_catalogue.py::test_a", phase, seconds))
    for phase in ("setup", "call", "teardown"):
        plugin.pytest_runtest_logreport(_report("tests/test_cli.py::test_b", phase, 1.0))
    plugin.pytest_runtest_logreport(_report("tests/test_cli.py::test_c", "setup", 0.3, "skipped"))
    plugin.pytest_runtest_logreport(_report("tests/test_cli.py::test_c", "teardown", 0.0))
    _session(plugin)
    suite = json.loads((tmp_path / "artifacts" / "timings" / "suite.json").read_text())
    assert (suite["tests"], suite["passed"], suite["skipped"]) == (3, 2, 1)
    assert list(suite["modules_s"].items()) == [("tests/test_catalogue.py", 32.5), ("tests/test_cli.py", 3.3)]
    assert suite["seconds"] >= 0 and not (tmp_path / "artifacts" / "timings" / "suite_quick.json").exists()
    section = _section(timings.markdown({"suite": suite}), "suite")
    assert "3 tests (2 passed, 1 skipped)" in section and "| `tests/test_catalogue.py` | 32.5 |" in section
    assert "first test that uses it" in section


def test_the_plugin_records_the_quick_tests_and_nothing_for_a_selection(tmp_path):
    quick = SuiteTimings(_fake_config(tmp_path, markexpr="not slow"))
    quick.pytest_deselected([SimpleNamespace(get_closest_marker=lambda name: name == "slow")])
    quick.pytest_runtest_logreport(_report("tests/test_lint.py::test_a", "call", 0.5))
    _session(quick)
    assert json.loads((tmp_path / "artifacts" / "timings" / "suite_quick.json").read_text())["tests"] == 1
    for config, exitstatus in ((_fake_config(tmp_path / "k", keyword="lint"), 0),
                               (_fake_config(tmp_path / "path", file_or_dir=["tests/test_lint.py"]), 0),
                               (_fake_config(tmp_path / "failed"), 1)):
        plugin = SuiteTimings(config)
        plugin.pytest_runtest_logreport(_report("tests/test_lint.py::test_a", "call", 0.5))
        _session(plugin, exitstatus)
        assert not (config.rootpath / "artifacts").exists(), config.rootpath.name


def test_a_timing_that_cannot_be_written_warns_and_never_fails_the_run(tmp_path):
    (tmp_path / "artifacts").write_text("a file where the folder should be")
    plugin = SuiteTimings(_fake_config(tmp_path))
    plugin.pytest_runtest_logreport(_report("tests/test_lint.py::test_a", "call", 0.5))
    with pytest.warns(UserWarning, match="timings were not recorded"):
        _session(plugin)
    broken = SuiteTimings(SimpleNamespace())  # a config without what the plugin reads
    with pytest.warns(UserWarning, match="timings were not recorded"):
        _session(broken)
