"""A whole semester on one machine: JupyterHub, real Linux users, nbgrader's exchange, driven in Chromium.

The instructor releases the assignment; student A fetches it in JupyterLab's Assignments tab,
fills it with the model answers, validates and submits; student B submits the untouched
handout; student C renames the notebook before submitting; A resubmits after the due date.
The instructor collects, grades with ``inn-course grade-class`` (sandboxed), gives a manual
score in the formgrader under a mark scheme, generates and releases feedback; each student
fetches it in the Assignments tab and reads it; the final grades are exported for an LMS.
Each step is checked on what the user sees; screenshots go to ``artifacts/hub/``.

Needs root (users, each server started as its user), the system python3 with venv, and
Chromium; skipped, saying why, elsewhere. ``.ci/run`` provides all three.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from inn_course import hub, notebooks, submissions
from inn_course.paths import COURSE_FILES, REPO_ROOT, CourseLayout

from .browser.hub import HubUser
from .browser.origins import reach
from .polling import until
from .browser.chromium import CHROMIUM, CHROMIUM_ARGS, MISSING

pytestmark = [pytest.mark.slow, pytest.mark.hub]

ASSIGNMENT = "invertible_networks"
NOTEBOOK = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
ARTIFACTS = REPO_ROOT / "artifacts" / "hub"
INSTRUCTOR, STUDENT_A, STUDENT_B, STUDENT_C = "inn-instructor", "inn-student-a", "inn-student-b", "inn-student-c"


PLANTED_CONFIG = ('c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors *"}}\n'
                  'c.ServerApp.disable_check_xsrf = True\n')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    reason = hub.can_run_here()
    if reason:
        pytest.skip(f"the course's JupyterHub cannot run here: {reason}")
    if CHROMIUM is None:
        pytest.skip(MISSING)
    site = hub.Site(tmp_path_factory.mktemp("hub"), INSTRUCTOR, [STUDENT_A, STUDENT_B, STUDENT_C], port=_free_port())
    site.reset()  # a semester from nothing: earlier runs' users, homes and exchange removed
    site.setup()
    # C tries to configure their own server from their home (a frame of theirs allowed anywhere).
    site.run_as(STUDENT_C, ["sh", "-c", 'mkdir -p "$HOME/.jupyter" && cat > "$HOME/.jupyter/jupyter_server_config.py"'],
                input=PLANTED_CONFIG)
    site.start()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _user(browser, site, name) -> HubUser:
    user = HubUser(browser, site.url, name, site.passwords[name], ARTIFACTS)
    user.login()
    return user


def _instructor(site, *command: str) -> str:
    return site.run_as(INSTRUCTOR, list(command), cwd=site.course).stdout


def test_a_semester(site, browser):
    layout = CourseLayout(site.course)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    started = time.perf_counter()

    # 1. The instructor generates and releases the assignment (nbgrader, as the instructor).
    _instructor(site, "nbgrader", "generate_assignment", "--force")
    _instructor(site, "nbgrader", "release_assignment")
    assert (site.exchange / site.course_id / "outbound" / NOTEBOOK).is_file()

    # 2. Student A: log in, fetch in the Assignments tab, answer, validate, submit.
    a = _user(browser, site, STUDENT_A)
    a.assignments()
    assert ASSIGNMENT in " ".join(a.released())
    a.fetch(ASSIGNMENT)
    fetched = site.home(STUDENT_A) / NOTEBOOK
    assert fetched.is_file() and fetched.stat().st_uid == _uid(STUDENT_A)
    a.screenshot("1-student-fetched")
    answers = json.loads(notebooks.dumps(submissions.sample(layout, "reference")))
    a.put_notebook(NOTEBOOK, answers)
    notebook = a.open_notebook(NOTEBOOK)
    validation = notebook.validate()
    assert validation.outcome == "success", validation.text
    a.screenshot("2-student-validated")
    notebook.close_dialog()
    a.assignments()
    first_a = a.submit(ASSIGNMENT)

    # Student B submits the untouched handout; student C renames the notebook first.
    b = _user(browser, site, STUDENT_B)
    b.assignments()
    b.fetch(ASSIGNMENT)
    b.submit(ASSIGNMENT)
    c = _user(browser, site, STUDENT_C)
    c.assignments()
    c.fetch(ASSIGNMENT)
    folder = site.home(STUDENT_C) / ASSIGNMENT
    site.run_as(STUDENT_C, ["mv", str(folder / f"{ASSIGNMENT}.ipynb"), str(folder / "my_work.ipynb")])
    c.submit(ASSIGNMENT)

    # The due date passes; A resubmits: late, and the latest submission is the one graded.
    due = datetime.now(timezone.utc).replace(microsecond=0)
    _instructor(site, "nbgrader", "db", "assignment", "add", ASSIGNMENT, f"--duedate={due.isoformat()}")
    time.sleep(2)
    a.assignments()
    second_a = a.submit(ASSIGNMENT)
    assert a.submissions() == [first_a, second_a]
    a.screenshot("3-student-resubmitted")

    # B attacks: a folder in the exchange named as A's, dated 2099 (the latest, were names believed);
    # then B submits late and rewrites its timestamp.txt to a time before the due date.
    inbound = site.exchange / site.course_id / "inbound"
    forged = inbound / f"{STUDENT_A}+{ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+forged"
    release_copy = site.home(STUDENT_B) / NOTEBOOK
    site.run_as(STUDENT_B, ["sh", "-c", f'mkdir "{forged}" && cp "{release_copy}" "{forged}/" && '
                f'echo "2099-01-01 00:00:00.000000 UTC" > "{forged}/timestamp.txt" && '
                f'echo x > "{forged}/submission_secret.txt"'])
    ours = set(os.listdir(inbound))
    site.run_as(STUDENT_B, ["nbgrader", "submit", ASSIGNMENT])
    (late_b,) = [name for name in set(os.listdir(inbound)) - ours if name.startswith(STUDENT_B)]
    before_due = (due - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    site.run_as(STUDENT_B, ["sh", "-c", f'echo "{before_due}" > "{inbound / late_b}/timestamp.txt"'])

    # 3. The instructor collects (the report names C's renamed notebook) and grades the class in the sandbox.
    # The commands of docs/instructor/hub.md verbatim, in the course folder (no --root: the course is where one stands).
    done = site.run_as(INSTRUCTOR, ["inn-course", "collect"], cwd=site.course, check=False)
    collected = done.stdout
    assert done.returncode == 1, collected + done.stderr  # 1: something was refused, and the report says what
    refused = collected.split("refused (")[1]
    assert forged.name in refused and f"claims to be {STUDENT_A}'s but was made by {STUDENT_B}" in refused, collected
    untrusted = collected.split("times not believed")[1].split("refused (")[0]
    assert f"{STUDENT_B}: its timestamp.txt says '{before_due}'" in untrusted, collected
    b_time = (layout.root / "submitted" / STUDENT_B / ASSIGNMENT / "timestamp.txt").read_text()
    assert datetime.strptime(b_time, "%Y-%m-%d %H:%M:%S.%f %Z").replace(tzinfo=timezone.utc) > due, b_time
    lines = {line.split()[0]: line for line in collected.split("\n\n")[0].splitlines()[1:]}
    assert f"no {ASSIGNMENT}.ipynb" in lines[STUDENT_C] and "another notebook: my_work.ipynb" in lines[STUDENT_C]
    assert lines[STUDENT_A].endswith("ok") and lines[STUDENT_B].endswith("ok")
    timestamp = (layout.root / "submitted" / STUDENT_A / ASSIGNMENT / "timestamp.txt").read_text().strip()
    assert timestamp in second_a, (timestamp, second_a)  # the latest submission, with its own timestamp
    # Root grades (the sandbox's setup needs it); on the instructor's course it runs as the instructor.
    grading = subprocess.run([str(site.env / "bin" / "python"), "-m", "inn_course", "--root", str(site.course),
                              "grade-class"],
                             capture_output=True, text=True, env={**os.environ, "INN_DATA_ROOT": str(site.data)})
    lines = {line.split()[0]: line for line in grading.stdout.splitlines() if line.startswith("inn-")}
    assert "not graded" in lines[STUDENT_C] and "No such file" in lines[STUDENT_C], grading.stdout  # C only
    assert "graded" in lines[STUDENT_A] and "graded" in lines[STUDENT_B], grading.stdout + grading.stderr[-3000:]
    assert (site.course / "gradebook.db").stat().st_uid == _uid(INSTRUCTOR)  # handed back to the instructor
    assert _seconds_late(site, STUDENT_B) > 0  # B's rewritten time won nothing: graded as late
    rows = {r["student"]: r for r in csv.DictReader(open(site.course / "grading" / "grades.csv"))}
    assert float(rows[STUDENT_A]["autograded score"]) == 32 and float(rows[STUDENT_B]["autograded score"]) == 0, rows

    # The formgrader, in the instructor's JupyterLab: a mark scheme above A's answer, a manual score.
    teacher = _user(browser, site, INSTRUCTOR)
    frame = teacher.formgrader()
    teacher.screenshot("4-formgrader-assignments")
    frame.goto(f"{teacher.server}/formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}")
    href = frame.locator(f"a:text-is('{STUDENT_A}')").first.get_attribute("href")
    frame.goto(f"{teacher.origin}{href}" if href.startswith("/") else href)
    frame.wait_for_selector("input.score#q03_architecture")
    task = frame.locator(".nbgrader_cell", has=frame.locator("input.score#q03_architecture"))
    assert "Mark scheme (3 points" in task.inner_text() and "Model answer" in task.inner_text()
    frame.fill("input.score#q03_architecture", "2")
    frame.press("input.score#q03_architecture", "Tab")
    task.locator(".score-saved").wait_for(state="visible")
    task.scroll_into_view_if_needed()
    formgrader_shot = teacher.screenshot("5-formgrader-manual-score")
    assert _manual_score(site, STUDENT_A, "q03_architecture") == 2.0

    # 4. Feedback, generated and released by the instructor, fetched and read by each student.
    _instructor(site, "nbgrader", "generate_feedback")
    _instructor(site, "nbgrader", "release_feedback")
    a.assignments()
    a.fetch_feedback(ASSIGNMENT)
    text = a.open_feedback()
    feedback_shot = a.screenshot("6-student-feedback")
    # nbgrader's feedback: 32 autograded + 2 by hand (Q3's task) - 3.2 for lateness (10 % of the 32 points A
    # had when the late submission was graded), and the penalty on a line of its own.
    assert "invertible_networks (Score: 30.8 / 56.0)" in text and "Task (Score: 2.0 / 3.0)" in text, text[:2000]
    assert "Late submission penalty (Score: -3.2)" in text, text[:2000]
    for secret in ("BEGIN HIDDEN TESTS", "_KIT", "Mark scheme"):  # (A's own answers are the model answers)
        assert secret not in text, secret
    b.assignments()
    b.fetch_feedback(ASSIGNMENT)
    text = b.open_feedback()
    assert "invertible_networks (Score: 0.0 / 56.0)" in text and "Late submission penalty" not in text
    for secret in ("BEGIN HIDDEN TESTS", "_KIT", "Mark scheme", "Model answer"):
        assert secret not in text, secret

    # 5. Final grades, for the LMS and for the instructor.
    exported = _instructor(site, "inn-course", "export")
    canvas = list(csv.reader(open(site.course / "grading" / "canvas.csv")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "56"
    scores = {row[3]: float(row[5]) for row in canvas[2:]}
    assert scores[STUDENT_A] == pytest.approx(30.8) and scores[STUDENT_B] == 0, scores
    # 6. The hub set up again (a reboot, a crash, Ctrl-C): every user, password, file and grade as it was;
    # then with --refresh-course: the course's own files replaced (the old ones kept), nothing else touched.
    kept, passwords = _state(site), dict(site.passwords)
    assert site.setup() == [] and site.passwords == passwords  # nothing made, no new password
    assert _state(site) == kept  # every file of the course and every password hash as it was
    changed = site.setup(refresh_course=True)
    assert len(changed) == 3 and all("replaced" in c for c in changed), changed
    after = _state(site)
    assert _outside_course_files(after) == _outside_course_files(kept) and after["shadow"] == kept["shadow"]
    assert any(name.startswith("source.previous-") for name in os.listdir(site.course))
    minutes = (time.perf_counter() - started) / 60
    print(f"semester: {minutes:.1f} min; {exported}")
    for shot, name in [(formgrader_shot, "hub-formgrader.png"), (feedback_shot, "hub-feedback.png")]:
        (REPO_ROOT / "artifacts" / name).write_bytes(shot.read_bytes())


def test_a_page_from_a_students_server_cannot_reach_the_instructors(site, browser):
    """The instructor, logged in, opens a page a student serves from their own server: its script can
    neither fetch, frame nor open-and-read the instructor's server (the course with the solutions).
    The same page served from the instructor's own origin reads all of it: the probe sees what it can."""
    teacher, student = _user(browser, site, INSTRUCTOR), _user(browser, site, STUDENT_B)
    assert teacher.origin != student.origin, (teacher.origin, student.origin)  # an origin per user
    solutions = f"course/source/{NOTEBOOK}"
    attack = reach(teacher.page, f"{student.server}/files/probe.html", teacher.server, solutions)
    assert all(answer.startswith("blocked") for answer in attack.values()), attack
    control = reach(teacher.page, f"{teacher.server}/files/probe.html", teacher.server, solutions)
    assert all(answer.startswith("read") for answer in control.values()), control
    assert "with the solutions" in control["fetch"], control
    # disable_user_config: C's own jupyter_server_config.py (frame-ancestors *) did not configure C's server.
    c = _user(browser, site, STUDENT_C)
    policy = c.page.goto(f"{c.server}/lab").headers.get("content-security-policy", "")
    assert "frame-ancestors 'self'" in policy and "frame-ancestors *" not in policy, policy
    print(f"isolation: a student's page {attack}; the instructor's own {control}")


def test_the_hub_as_a_service_limits_memory_culls_idle_servers_and_stops_cleanly(site, browser, tmp_path):
    """`inn-course hub` as its systemd unit runs it (the same course: nothing lost): a user's server and what
    it starts are held to --memory-per-user (one process past it is killed, the server lives on); an idle
    server is stopped by the culler (and what it left with it); SIGTERM stops the hub, its proxy and every
    server. Runs last: it replaces the module's hub."""
    import signal
    import warnings

    from inn_course import cgroups

    site.stop()
    log = open(tmp_path / "hub.log", "w")
    command = [sys.executable, "-m", "inn_course", "hub", "--instructor", INSTRUCTOR, "--students", STUDENT_A,
               STUDENT_B, STUDENT_C, "--port", str(site.port), "--state", str(site.state), "--memory-per-user",
               "1G", "--idle-timeout", "20"]
    service = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "INN_DATA_ROOT":
                               str(site.data)})
    try:
        until(lambda: _answers(f"{site.url}/hub/api/"), 180, "the hub did not answer")
        b = _user(browser, site, STUDENT_B)  # the password of the first setup: the user was kept
        (server,) = _pids(STUDENT_B, "jupyterhub-singleuser")
        group = cgroups.find(f"hub-{STUDENT_B}")
        if cgroups.version() is None:  # the hub's log says so; nothing to bound memory with on this machine
            warnings.warn("no control groups here: the per-user memory limit is not checked")
        else:
            assert group is not None and server in group.pids(), f"B's server {server} is in no group of its own"
            # A process of B's in that group asks for 1.5 GB: the kernel kills it, B's server lives on.
            hog = subprocess.Popen(["runuser", "-u", STUDENT_B, "--", "python3", "-c",
                                    "import sys; sys.stdin.readline(); hog = b'x' * (1536 * 1024 ** 2); print('kept')"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   preexec_fn=group.join)  # born in B's group (runuser forks the user's process)
            out, _ = hog.communicate("go\n", timeout=120)
            assert hog.returncode == 128 + signal.SIGKILL and "kept" not in out, (hog.returncode, out)  # via runuser
            assert group.out_of_memory() and _pids(STUDENT_B, "jupyterhub-singleuser") == [server]
        # B leaves; 20 s without activity, and the culler stops B's server, its group and all in it.
        b.close()
        until(lambda: not _pids(STUDENT_B, "jupyterhub-singleuser"), 120, "the idle server was not culled")
        until(lambda: cgroups.find(f"hub-{STUDENT_B}") is None, 30, "the culled server's group stayed")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(90)
    assert service.returncode == 0, (tmp_path / "hub.log").read_text()[-3000:]
    for program in (site.env / "bin" / "jupyterhub", site.proxy):
        assert subprocess.run(["pgrep", "-f", str(program)], capture_output=True).returncode == 1, program
    assert not any(_pids(user, "") for user in site.users), "a user's process outlived the hub"


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _pids(user: str, pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-u", user, *(["-f", pattern] if pattern else [])], capture_output=True,
                           text=True).stdout
    return [int(pid) for pid in found.split()]


def _manual_score(site, student: str, grade_id: str) -> float | None:
    from inn_course.api import open_api

    with open_api(CourseLayout(site.course)).gradebook as gb:
        return gb.find_grade(grade_id, ASSIGNMENT, ASSIGNMENT, student).manual_score


def _state(site) -> dict:
    """What a second setup must keep: every file of the course (path -> content hash) and every password hash."""
    import hashlib

    files = {}
    for folder, _, names in os.walk(site.course):
        for name in names:
            path = Path(folder, name)
            if ".previous-" not in str(path):
                files[str(path.relative_to(site.course))] = hashlib.sha256(path.read_bytes()).hexdigest()
    shadow = [line for line in Path("/etc/shadow").read_text().splitlines() if line.split(":")[0] in site.users]
    return {"files": files, "shadow": sorted(shadow)}


def _outside_course_files(state: dict) -> dict:
    """The files a refresh must not touch: all but the course's own (lab/, source/, nbgrader_config.py)."""
    return {path: digest for path, digest in state["files"].items() if not path.startswith(COURSE_FILES)}


def _seconds_late(site, student: str) -> float:
    from inn_course.api import open_api

    with open_api(CourseLayout(site.course)).gradebook as gb:
        return gb.find_submission(ASSIGNMENT, student).total_seconds_late


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid
