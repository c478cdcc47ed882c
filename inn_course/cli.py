"""``inn-course`` (or ``python -m inn_course``): the course's commands for instructors.

Each command is a thin layer over the library functions, which return results;
only this module turns them into printed tables and exit codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import bundle, classroom, collect, export, grade, pipeline, privileges, release, sandbox, selfstudy, timings
from .paths import REPO_ROOT, CourseLayout


def _cmd_build(layout: CourseLayout, args) -> int:
    changed = release.build_source(layout)
    print(f"{layout.source_notebook.relative_to(layout.root)}: {'rebuilt' if changed else 'up to date'}")
    return 0


def _cmd_release(layout: CourseLayout, args) -> int:
    release.generate_release(layout)
    print(f"release written: {layout.release_notebook.relative_to(layout.root)}")
    return 0


def _report(layout: CourseLayout, result: pipeline.PipelineResult) -> int:
    print(f"release written: {layout.release_notebook.relative_to(layout.root)}\n")
    print(grade.score_table(result.results))
    print()
    for student, ok in result.feedback_ok.items():
        where = layout.notebook("feedback", student).relative_to(layout.root)
        print(f"feedback for {student}: {where}" + ("" if ok else "  (FAILED)"))
    failed = [r.student for r in result.results if not r.success] + [s for s, ok in result.feedback_ok.items() if not ok]
    return 1 if failed else 0


def _cmd_selfstudy(layout: CourseLayout, args) -> int:
    release.generate_release(layout)  # the practice edition is made from the release: never a stale one
    return _selfstudy(layout)[0]


def _selfstudy(layout: CourseLayout) -> tuple[int, float]:
    """Build the self-study edition from the release its callers just generated (the source compiled with it):
    exit status, and the seconds it took (``all`` records them)."""
    started = time.perf_counter()
    edition, found = selfstudy.build(layout)
    for path in (edition.notebook, edition.html):
        print(f"self-study edition: {path.relative_to(layout.root)} ({path.stat().st_size / 1e6:.1f} MB)")
    executed = time.perf_counter() - started
    print(f"executed in {executed:.0f} s")
    for problem in found:
        print(f"PROBLEM: {problem}")
    return (1 if found else 0), executed


def _cmd_all(layout: CourseLayout, args) -> int:
    started = time.perf_counter()
    status = _report(layout, pipeline.grade_samples(layout))
    print()
    built, executed = _selfstudy(layout)
    status = built or status
    done = time.perf_counter() - started
    print(f"\ndone in {done:.0f} s")
    if status == 0 and layout.root == REPO_ROOT:
        # `make all` in this repository (not an instructor's course): into artifacts/ only; `make timings`
        # publishes. A timing that cannot be written must not fail the command.
        try:
            timings.record("make_all", {"selfstudy_s": round(executed, 1), "make_all_s": round(done, 1)},
                           root=layout.root)
        except OSError as error:
            print(f"timings not recorded: {error}", file=sys.stderr)
    return status


def _cmd_grade_class(layout: CourseLayout, args) -> int:
    results_dir = args.results.resolve() if args.results else layout.root / "grading"
    shard = classroom.parse_shard(args.shard) if args.shard else (1, 1)
    for why in layout.refused_students("submitted"):
        print(f"left out: submitted/{why}", file=sys.stderr)
    try:
        results = classroom.grade_class(layout, results_dir, args.workers, shard, use_sandbox=not args.no_sandbox,
                                        student_timeout=args.student_timeout, only=args.student)
    except (sandbox.SandboxUnavailable, classroom.ResultsBusy, classroom.ResultsRefused, classroom.NotReady) as error:
        print(f"not grading: {error}", file=sys.stderr)
        return 2
    if not args.shard:
        try:
            results = classroom.merge(layout, [results_dir], only=args.student)
        except (classroom.BadResults, classroom.ResultsBusy, classroom.ResultsRefused) as error:
            print(f"graded, not merged: {error}", file=sys.stderr)
            return 2
        print(f"gradebook updated; {results_dir / 'grades.csv'}, {results_dir / 'grades.png'}")
    else:
        print(f"shard {args.shard} graded into {results_dir}: run `inn-course merge` on all shards' folders")
    print(classroom.summary(results))
    return 0 if all(r.status == "graded" for r in results) else 1


def _cmd_slurm_submit(layout: CourseLayout, args) -> int:
    from . import slurm

    results = (args.results or layout.root / "grading" / "slurm").resolve()
    try:
        plan = slurm.Plan(layout.root, results, args.shards, cpus=args.cpus_per_task, memory=args.mem_per_shard,
                          minutes=args.time, partition=args.partition, student_timeout=args.student_timeout)
        if args.dry_run:
            grade, merge = slurm.write_scripts(plan)
            print(f"wrote {grade} and {merge} (nothing submitted); to submit them: "
                  f"sbatch --parsable {grade}, then sbatch --dependency=afterany:<its id> {merge}")
            return 0
        submitted = slurm.submit(plan)
    except (ValueError, classroom.ResultsRefused, slurm.SlurmError) as error:
        print(f"not submitted: {error}", file=sys.stderr)
        return 2
    print(f"grading: job {submitted.array} ({plan.shards} shards of {plan.cpus} CPUs, {plan.minutes} min each); "
          f"merge: job {submitted.merge}, after it")
    print(f"follow: squeue -j {submitted.array},{submitted.merge}; inn-course slurm-status --results {results}")
    return 0


def _cmd_slurm_status(layout: CourseLayout, args) -> int:
    from . import slurm

    results = (args.results or layout.root / "grading" / "slurm").resolve()
    try:
        report = slurm.status(results)
        print(slurm.describe(report, slurm.merge_state(results)))
        if args.resubmit:
            again = slurm.resubmit(results)
            print(f"resubmitted shards {', '.join(map(str, again.shards))}: job {again.array}; merge: job {again.merge}"
                  if again else "nothing to resubmit")
    except (slurm.SlurmError, classroom.BadResults) as error:
        print(f"no status: {error}", file=sys.stderr)
        return 2
    return 1 if any(shard.needs_rerun for shard in report) and not args.resubmit else 0


def _cmd_merge(layout: CourseLayout, args) -> int:
    try:
        results = classroom.merge(layout, [Path(f).resolve() for f in args.folders])
    except (classroom.BadResults, classroom.ResultsBusy, classroom.ResultsRefused) as error:
        print(f"not merging: {error}", file=sys.stderr)
        return 2
    print(classroom.summary(results))
    print(f"gradebook updated; grades.csv and grades.png in {Path(args.folders[0])}")
    return 0 if all(r.status == "graded" for r in results) else 1


def _cmd_collect(layout: CourseLayout, args) -> int:
    try:
        collection = collect.collect(layout)
    except collect.ExchangeRefused as error:
        print(f"nothing collected: {error}", file=sys.stderr)
        return 2
    print(collect.report(collection))
    return 1 if collection.refused else 0


def _cmd_export(layout: CourseLayout, args) -> int:
    grades = export.final_grades(layout)
    folder = (args.results or layout.root / "grading").resolve()
    canvas = export.write_canvas_csv(grades, folder / "canvas.csv", args.column or layout.assignment)
    final = export.write_final_csv(grades, folder / "final_grades.csv")
    print(f"{len(grades)} students: {canvas} (Canvas gradebook import), {final} (auto, manual, late penalty, final)")
    pending = [g.student for g in grades if g.needs_manual_grade]
    if pending:
        print(f"still to grade by hand: {', '.join(pending)}")
    return 0


def _cmd_student_bundle(layout: CourseLayout, args) -> int:
    try:
        written = bundle.write_bundle(layout, args.folder.resolve())
    except bundle.BundleError as error:
        print(f"no bundle: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path} ({path.stat().st_size / 1e3:.0f} kB)")
    print("checked: no solution, hidden-test or mark-scheme line in any of them")
    return 0


def _cmd_check(layout: CourseLayout, args) -> int:
    from . import notebooks, practice

    if not args.notebook.is_file():
        print(f"no notebook at {args.notebook}", file=sys.stderr)
        return 2
    nb = notebooks.read(args.notebook)
    autograded = notebooks.autograded_cells(nb)
    by_hand = sum(float(notebooks.nbgrader(cell).get("points", 0))
                  for gid, cell in notebooks.graded_cells(nb).items() if gid not in autograded)
    print(f"checking {args.notebook.name}: Run All in a fresh kernel, then the course's tests of each question ...",
          flush=True)
    reports = practice.check_notebook(args.notebook, layout, timeout=args.timeout)
    print(practice.table(reports, by_hand))
    return 0 if reports and all(not r.failed for r in reports) else 1


def _bytes(text: str) -> int:
    """4G, 1500M, 512K or a number of bytes."""
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    try:
        return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1:].upper() in units else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 4G, 1500M or a number of bytes)") from None


def _cmd_hub(layout: CourseLayout, args) -> int:
    import signal

    from . import hub

    if args.service_unit:
        try:
            print(hub.service_unit(args.instructor, args.students, args.port, args.state.resolve(),
                                   args.memory_per_user, args.idle_timeout), end="")
        except hub.NotForRoot as error:
            print(f"no unit: {error}", file=sys.stderr)
            return 1
        return 0
    reason = hub.can_run_here()
    if reason:
        print(f"no hub: {reason}", file=sys.stderr)
        return 2
    site = hub.Site(args.state.resolve(), args.instructor, args.students, port=args.port,
                    memory_per_user=args.memory_per_user, idle_timeout=args.idle_timeout)
    # systemd (or kill) stops the hub with SIGTERM: stop it as Ctrl-C does, every user's server with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    for change in site.setup(refresh_course=args.refresh_course):
        print(change)
    for user in site.users:
        print(f"{user:24s} {site.passwords.get(user, '(existing user: password unchanged)')}")
    site.start()
    print(f"JupyterHub: {site.url} (Ctrl-C stops it); the instructor's course: {site.course}")
    try:
        site.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()
    return 0


COMMANDS = {
    "build": (_cmd_build, "compile lab/*.py into the nbgrader source notebook"),
    "release": (_cmd_release, "build, then generate release/ with nbgrader and check it leaks nothing"),
    "selfstudy": (_cmd_selfstudy, "regenerate the release, then build the self-study editions: the worked solution, "
                                  "executed, as a notebook and an HTML page, and the practice edition"),
    "grade-class": (_cmd_grade_class, "autograde every submitted/<student>/ in parallel, each in a sandbox, into the gradebook"),
    "slurm-submit": (_cmd_slurm_submit, "grade the class on a Slurm cluster: an array job of grade-class shards, then the merge after it"),
    "slurm-status": (_cmd_slurm_status, "what Slurm says of each shard and what each student's result holds; --resubmit runs failed shards again"),
    "merge": (_cmd_merge, "merge the results folders of grade-class shards into the gradebook; write grades.csv and grades.png"),
    "collect": (_cmd_collect, "copy each student's latest submission out of nbgrader's exchange (owner and arrival time checked by the system); report refused submissions, untrusted times, missing or renamed notebooks"),
    "export": (_cmd_export, "final grades (auto + manual - late penalty) as a Canvas gradebook CSV and a plain CSV"),
    "student-bundle": (_cmd_student_bundle, "write what a student may have (release notebook, data instructions, README, requirements) into a new folder"),
    "hub": (_cmd_hub, "as root: create the users, the shared environment, nbgrader's exchange; run JupyterHub at http://localhost:PORT (each user's server on <user>.localhost)"),
    "all": (_cmd_all, "regenerate the release, grade the sample submissions (score table, feedback), build the self-study edition"),
    "check": (_cmd_check, "for self-study: run a notebook and the course's tests of every question on it, and print "
                          "each question's points and failed properties (no gradebook, no sandbox: not for grading)"),
}


def parser() -> argparse.ArgumentParser:
    """Every command and its options."""
    parser = argparse.ArgumentParser(prog="inn-course", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help="course directory (default: the current folder, as for nbgrader)")
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=help_text) for name, (_, help_text) in COMMANDS.items()}
    grading = parsers["grade-class"]
    grading.add_argument("--workers", type=int, default=None, help="parallel workers (default: what cores and memory hold)")
    grading.add_argument("--shard", help="I/N: grade only the I-th of N shares of the class (then run merge)")
    grading.add_argument("--results", type=Path, help="results folder (default: grading/ in the course)")
    grading.add_argument("--student", action="append", metavar="NAME",
                         help="grade only this student (repeat for more: a resubmission, a regrade request); "
                              "only they are merged into the gradebook")
    grading.add_argument("--student-timeout", type=float, default=classroom.STUDENT_TIMEOUT,
                         help="seconds of wall time per student before its worker is killed")
    grading.add_argument("--no-sandbox", action="store_true",
                         help="run student code without bubblewrap (only where it is not installed; unsafe)")
    parsers["student-bundle"].add_argument("folder", type=Path, help="a new (or empty) folder to write the bundle into")
    slurm_submit = parsers["slurm-submit"]
    slurm_submit.add_argument("--shards", type=int, required=True, help="how many shards (array tasks) share the class")
    slurm_submit.add_argument("--cpus-per-task", type=int, default=2, help="CPUs per shard: its parallel workers")
    slurm_submit.add_argument("--mem-per-shard", type=_bytes, default="0",
                              help="memory per shard, e.g. 7G (default: 3G per CPU and 1G)")
    slurm_submit.add_argument("--time", type=int, default=0,
                              help="minutes per shard (default: from the class's size and the per-student limit)")
    slurm_submit.add_argument("--partition", help="the Slurm partition (default: the cluster's)")
    slurm_submit.add_argument("--student-timeout", type=float, default=classroom.STUDENT_TIMEOUT,
                              help="seconds of wall time per student before its worker is killed")
    slurm_submit.add_argument("--dry-run", action="store_true",
                              help="write the batch scripts into the results folder and submit nothing")
    for name in ("slurm-submit", "slurm-status"):
        parsers[name].add_argument("--results", type=Path,
                                   help="a folder every node sees (default: grading/slurm in the course)")
    parsers["slurm-status"].add_argument("--resubmit", action="store_true",
                                         help="submit again the shards that failed, timed out or were cancelled, "
                                              "then the merge")
    parsers["merge"].add_argument("folders", nargs="+", help="results folders of grade-class shards")
    parsers["check"].add_argument("notebook", type=Path, help="the notebook to check (a student version with answers, "
                                  "or the practice edition)")
    parsers["check"].add_argument("--timeout", type=int, default=None,
                                  help="seconds per cell (default: nbgrader_config.py's)")
    hub_parser = parsers["hub"]
    hub_parser.add_argument("--instructor", required=True, help="the instructor's login (created if missing)")
    hub_parser.add_argument("--students", nargs="+", required=True, help="the students' logins (created if missing)")
    hub_parser.add_argument("--port", type=int, default=8000, help="the port the hub answers on (127.0.0.1 only)")
    hub_parser.add_argument("--state", type=Path, default=Path("/srv/inn-course/hub"), help="the hub's database and logs")
    hub_parser.add_argument("--refresh-course", action="store_true",
                            help="replace the course's lab/, source/ and nbgrader_config.py with this repository's "
                                 "(the old ones kept beside; gradebook and student folders untouched)")
    hub_parser.add_argument("--memory-per-user", type=_bytes, default="4G",
                            help="memory for one user's server and all its kernels together, e.g. 4G or 1500M")
    hub_parser.add_argument("--idle-timeout", type=int, default=3600,
                            help="seconds without activity before a user's server is stopped (work is saved)")
    hub_parser.add_argument("--service-unit", action="store_true",
                            help="print a systemd unit that runs this same command at boot, and do nothing else")
    parsers["export"].add_argument("--results", type=Path, help="where to write (default: grading/ in the course)")
    parsers["export"].add_argument("--column", help="the LMS assignment's column (default: the assignment id)")
    # Set by root's re-run of a command as the course's owner: the folder relative paths were given in.
    parser.add_argument("--caller-cwd", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    here = args.caller_cwd or Path.cwd()
    _make_paths_absolute(args, here)
    layout = CourseLayout((here / args.root if args.root else here).resolve())
    if args.command not in ROOT_COMMANDS:
        if not layout.config_file.is_file():
            print(f"not a course directory: {layout.root} has no nbgrader_config.py (cd into the course, or give "
                  "--root)", file=sys.stderr)
            return 2
        try:
            owner = privileges.course_owner(layout.root)
            if owner is not None:  # root on someone else's course: the whole command runs as its owner
                given = _without_options(sys.argv[1:] if argv is None else argv, "--root", "--caller-cwd")
                return privileges.run_as_owner(owner, ["--root", str(layout.root), "--caller-cwd", str(here), *given],
                                               cwd=layout.root)
        except privileges.OwnerUnknown as error:
            print(f"not run: {error}", file=sys.stderr)
            return 2
    return COMMANDS[args.command][0](layout, args)


ROOT_COMMANDS = {"hub"}  # what root does as root; every other command works in a course directory


def _without_options(argv: list[str], *names: str) -> list[str]:
    """``argv`` without the options ``names`` and their values (the caller gives resolved ones)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not arg.startswith(tuple(f"{name}=" for name in names)):
            kept.append(arg)
    return kept


def _make_paths_absolute(args, here: Path) -> None:
    """Every path argument made absolute against ``here``, the folder the command was typed in."""
    for name in ("results", "folder", "state"):
        if getattr(args, name, None) is not None:
            setattr(args, name, here / getattr(args, name))
    if getattr(args, "folders", None):
        args.folders = [str(here / folder) for folder in args.folders]


if __name__ == "__main__":
    sys.exit(main())
