"""The command line: ``python -m grader COMMAND ...``. It parses, calls the API, reports.

Every command is a thin wrapper over a keyword-only function of the package; a
:class:`~grader.errors.GraderError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

from grader.errors import GraderError
from grader.layout import DEFAULT_WORKDIR, Course
from grader.sanitize import clean_text

EXIT_OK, EXIT_USER_ERROR = 0, 2


def _release(args: argparse.Namespace, course: Course) -> int:
    from grader.release import release

    assignments = [course.check_assignment(a) for a in args.assignments] or None
    for path in release(course=course, assignments=assignments):
        print(f"released {path.relative_to(course.root)}")
    if args.no_certify:
        print("not certified (--no-certify): autograde grades these in the kernel")
        return EXIT_OK
    return _certify_all(course, assignments or course.assignments(), args.workers, False)


def _certify(args: argparse.Namespace, course: Course) -> int:
    assignments = [course.check_assignment(a) for a in args.assignments] or course.assignments()
    return _certify_all(course, assignments, args.workers, args.force)


def _certify_all(course: Course, assignments: list[str], workers: int, force: bool) -> int:
    from grader.certify import certify

    failed: list[str] = []
    for assignment in assignments:
        print(f"certifying {assignment} (both engines grade its reference, untouched notebook "
              "and mutants) ...", file=sys.stderr)  # fmt: skip
        try:
            cert = certify(course=course, assignment=assignment, workers=workers, force=force)
        except Exception as exc:  # say so and go on: auto then grades it in the kernel
            failed.append(assignment)
            print(f"could not certify {assignment} ({type(exc).__name__}: {exc}); "
                  "autograde grades it in the kernel")  # fmt: skip
            continue
        print(cert.summary())
        for d in cert.differences[:10]:
            print(f"  {d['submission']} {d['cell']}: sandbox {d['sandbox']}, "
                  f"nbgrader {d['nbgrader']}")  # fmt: skip
        if len(cert.differences) > 10:
            print(f"  ... {len(cert.differences) - 10} more in {course.workdir / 'certificates'}")
    return EXIT_USER_ERROR if failed else EXIT_OK


def _say(text: object = "", *, file=None) -> None:
    """Print one line of output, without any terminal control sequence (see grader.sanitize)."""
    from grader.sanitize import clean_text

    print(clean_text(text, 2000, newlines=False), file=file or sys.stdout)


def _collect(args: argparse.Namespace, course: Course) -> int:
    from grader.intake import collect_class

    done = collect_class(
        course=course,
        assignment=args.assignment,
        source=Path(args.source),
        roster=Path(args.roster) if args.roster else None,
    )
    for o in done.intakes:
        who = f"{o.student_id} ({o.lms}: {o.name})" if o.lms != "folder" else o.student_id
        late = " LATE" if o.late else ""
        _say(f"{'ok ' if o.accepted else 'BAD'} {who}{late}: {o.message}")
    unowned = [f for f in done.files if not f.student and f.outcome == "refused"]
    for f in unowned:
        _say(f"NOT COLLECTED {f.rel}: {f.reason}")
    bad = sum(not o.accepted for o in done.intakes)
    _say(
        f"collected {len(done.intakes) - bad} submission(s); {bad} quarantined with a zero; "
        f"{len(unowned)} file(s) belonging to nobody refused; every file is listed in "
        f"{course.workdir / 'intake' / args.assignment / 'manifest.json'}"
    )
    # The gradebook is made ready for autograde now, once (autograde would do it otherwise).
    from grader.autograde import prepare_gradebook

    try:
        prepare_gradebook(course, args.assignment)
    except GraderError as exc:
        _say(f"the gradebook could not be prepared yet ({exc}); autograde tries again")
    return EXIT_OK


class Progress:
    """A one-line progress bar with an ETA on stderr (a line per step when not a terminal)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, i: int, n: int, result) -> None:
        if i == 0:  # grading starts now (after the gradebook is ready): the ETA counts from here
            self.start = time.monotonic()
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / i * (n - i)
        width = 30
        bar = "#" * round(width * i / n) + "-" * (width - round(width * i / n))
        line = (
            f"[{bar}] {i}/{n} {elapsed:5.1f}s elapsed, ETA {eta:5.1f}s  "
            f"{clean_text(result.student_id, 40)}: {result.score:g}/{result.max_score:g}"
        )
        if self.tty:
            print("\r" + line[:120].ljust(120), end="" if i < n else "\n", file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def _autograde(args: argparse.Namespace, course: Course) -> int:
    from grader.autograde import autograde
    from grader.intake import normalise_student_id
    from grader.sandbox import Limits

    limits = Limits(
        timeout_s=args.timeout, memory_mb=args.memory, notebook_budget_s=args.notebook_budget
    )
    done = autograde(
        course=course,
        assignment=args.assignment,
        force=args.force,
        workers=args.workers,
        limits=limits,
        engine=args.engine,
        progress=Progress(),
        grader_memory_mb=args.grader_memory,
        scheduler=args.scheduler,
        container_is_sandbox=args.container_is_sandbox,
        student=normalise_student_id(args.student) if args.student else None,
        retry_ungradable=args.retry_ungradable,
    )
    if done:
        print(f"graded by the {done[0].engine} engine: {clean_text(done[0].engine_reason, 300)}")
    for r in done:
        note = f" ({clean_text(r.reason, 300, newlines=False)})" if r.reason else ""
        print(f"{clean_text(r.student_id, 60)}: {r.score:g}/{r.max_score:g} {r.status}{note}")
    if not done and args.retry_ungradable:
        print("nothing to retry: no collected submission is recorded as ungradable "
              "(a quarantined file needs `collect` again)")  # fmt: skip
    elif not done:
        print("nothing to grade: every collected submission already has a result (use --force)")
    return EXIT_OK


def _export(args: argparse.Namespace, course: Course) -> int:
    import datetime as dt

    from grader.export import LatePolicy, export

    out = args.out or args.csv
    if not out:
        raise GraderError("say where to write: --out FILE (or --csv FILE)")
    fmt = args.format or "csv"
    due = None
    if args.due:
        try:
            due = dt.datetime.fromisoformat(args.due)
        except ValueError:
            raise GraderError(f"--due {args.due!r} is not a date like 2026-11-30T23:59") from None
    written = export(
        course=course,
        path=Path(out),
        fmt=fmt,
        assignment=args.assignment,
        policy=LatePolicy(per_day=args.late_penalty, due=due),
        feedback_zip=Path(args.feedback_zip) if args.feedback_zip else None,
    )
    for line in written.skipped:
        _say(f"skipped {line}")
    _say(f"wrote {written.rows} row(s) to {', '.join(str(p) for p in written.files)}")
    return EXIT_OK


def _feedback(args: argparse.Namespace, course: Course) -> int:
    from grader.feedback import write_feedback

    pages = write_feedback(course=course, assignment=args.assignment)
    print(f"wrote {len(pages)} feedback page(s) to {course.feedback_dir / args.assignment}")
    return EXIT_OK


def _report(args: argparse.Namespace, course: Course) -> int:
    from grader.report import write_report

    path = Path(args.html) if args.html else course.workdir / "report.html"
    _say(f"wrote {write_report(course=course, path=path)}")
    return EXIT_OK


def _status(args: argparse.Namespace, course: Course) -> int:
    from grader.status import course_status

    rows, sandbox = course_status(course=course)
    _say(f"workdir: {course.workdir}")
    _say(f"sandbox: {sandbox}")
    if not rows:
        _say("nothing collected yet")
    for row in rows:
        _say(
            f"{row.assignment}: {row.collected} collected, {row.graded} graded, "
            f"{len(row.pending)} waiting, {len(row.attention)} need attention"
        )
        print(f"  next autograde uses the {row.engine} engine: {row.engine_reason}")
        for engine, count in sorted(row.graded_by.items()):
            print(f"  graded by the {engine} engine: {count}")
        for student, reason in row.attention:
            _say(f"  ATTENTION {student}: {reason}")
        for line in row.unreadable:
            _say(f"  ATTENTION {line}")
        if row.missing:
            _say(f"  missing (in the roster, nothing submitted): {', '.join(row.missing)}")
        if row.pending:
            _say(f"  waiting: {', '.join(row.pending)} (run autograde)")
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Release, collect, grade and export the course's nbgrader assignments.",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        help=f"folder for all grading state (default: {DEFAULT_WORKDIR}/ in the repository)",
    )
    parser.add_argument("--root", default=None, help="course repository (default: this one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's log")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "release",
        help="regenerate the student notebooks in exercises/ from solutions/",
        description="Regenerate exercises/<assignment>/ from solutions/<assignment>/ with "
        "nbgrader (solutions and hidden tests removed). Commit the result.",
    )
    p.add_argument("assignments", nargs="*", help="assignments to release (default: all)")
    p.add_argument(
        "--no-certify",
        action="store_true",
        help="skip certifying the sandbox engine (autograde then grades in the kernel)",
    )
    p.add_argument(
        "--workers", type=_positive_int, default=2, help="notebooks graded at once (default: 2)"
    )
    p.set_defaults(run=_release)

    p = sub.add_parser(
        "certify",
        help="check that the sandbox engine grades an assignment exactly as nbgrader does",
        description="Grade each assignment's reference solution, untouched notebook and "
        "mutant catalogue (tests/mutants/<assignment>.py) with both engines and compare them "
        "cell by cell. `autograde --engine auto` uses the sandbox engine only for an "
        "assignment certified for its current source and engine code. `release` runs this.",
    )
    p.add_argument("assignments", nargs="*", help="assignments to certify (default: all)")
    p.add_argument("--force", action="store_true", help="certify again even if up to date")
    p.add_argument(
        "--workers", type=_positive_int, default=2, help="notebooks graded at once (default: 2)"
    )
    p.set_defaults(run=_certify)

    p = sub.add_parser(
        "collect",
        help="copy a class's submissions (a folder, a zip, a Canvas or Moodle download)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Copy every student's submission of ASSIGNMENT into the workdir.

SOURCE is a folder or a zip file holding one of:
  Canvas bulk download   lastfirst[_LATE]_<userid>_<submissionid>_<name>.ipynb
                         (resubmissions <name>-1.ipynb, <name>-2.ipynb)
  Moodle download        <Full Name>_<participantid>_assignsubmission_file_/<files>
                         or flat <Full Name>_<participantid>_assignsubmission_file_<file>
                         (_onlinetext_ folders are ignored)
  plain folder           <student_id>/*.ipynb, or flat <student_id>_<anything>.ipynb
One top folder wrapping everything is looked into.

Student ids: the LMS's own stable id (Canvas user id, Moodle participant id), else the
folder name, lower-cased with anything but [a-z0-9_.-] turned into '_'. Names are kept
beside the id, never merged; two folders that normalise alike get '<id>-<hash>' each.
Of several files the newest is graded (Canvas submission id, then resubmission suffix
'-N' / ' (N)', then modification time); the choice, late flags and submission times are
recorded in <workdir>/intake/ASSIGNMENT/. nbformat 3 notebooks are upgraded.

Bad files (empty, not JSON, not a notebook, a symlink) are quarantined with a recorded
zero and a reason; unsafe or oversized zip entries are refused and recorded; every file
seen is listed in <workdir>/intake/ASSIGNMENT/manifest.json. SOURCE is never modified.""",
    )
    p.add_argument("assignment", help="assignment name, e.g. a1_rectifier")
    p.add_argument("source", help="folder or zip file of submissions (see above)")
    p.add_argument(
        "--roster",
        default=None,
        help="the class list the LMS exports (Canvas gradebook CSV, Moodle grading worksheet, "
        "or a CSV with a student_id column): students without a submission show as missing",
    )
    p.set_defaults(run=_collect)

    p = sub.add_parser(
        "autograde",
        help="grade the collected submissions of an assignment",
        description="Run the hidden tests on every collected submission that has no result "
        "yet; results are saved one by one, so an interrupted run can simply be restarted.",
    )
    p.add_argument("assignment", help="assignment name, e.g. a1_rectifier")
    p.add_argument("--force", action="store_true", help="grade again those already graded")
    p.add_argument("--student", default=None, help="grade (again) only this student's submission")
    p.add_argument(
        "--retry-ungradable",
        action="store_true",
        help="grade again only the collected submissions recorded as ungradable",
    )
    p.add_argument(
        "--workers", type=_positive_int, default=2, help="notebooks graded at once (default: 2)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds one call of a student's function may run (default: 30)",
    )
    p.add_argument(
        "--memory",
        type=_positive_int,
        default=1024,
        help="memory limit of a student's process in MiB (default: 1024)",
    )
    p.add_argument(
        "--notebook-budget",
        type=float,
        default=None,
        help="seconds a student's process may take for the whole notebook, all cells and "
        "calls together (default: 10 x --timeout); what is left unfinished scores 0",
    )
    p.add_argument(
        "--grader-memory",
        type=_positive_int,
        default=4096,
        help="memory limit of each grading process (the trusted side) in MiB (default: 4096)",
    )
    p.add_argument(
        "--scheduler",
        default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
        metavar="ADDRESS",
        help="grade on the Dask cluster whose scheduler is at ADDRESS (e.g. "
        "tcp://10.0.0.5:8786; default: $DASK_SCHEDULER_ADDRESS, else this machine's own "
        "worker processes); results are still written only here",
    )
    p.add_argument(
        "--container-is-sandbox",
        action="store_true",
        help="let cluster workers without bubblewrap grade, because each runs in a container "
        "that is itself the sandbox (otherwise such a worker refuses)",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "sandbox", "nbgrader"),
        default="auto",
        help="auto: the sandbox engine where `certify` found it grades this assignment as "
        "nbgrader does, nbgrader otherwise; sandbox: scores decided outside the student's "
        "process, whose code runs confined; nbgrader: plain nbgrader, every check in the "
        "student's kernel (the reference behaviour, slower and not safe against hostile code)",
    )
    p.set_defaults(run=_autograde)

    p = sub.add_parser(
        "export",
        help="write grades for an LMS (Canvas, Moodle) or as plain CSV",
        description="Write the grades of one assignment (--assignment) or of every graded one. "
        "csv: one row per student and assignment (ids, name, LMS id, score, late, penalty, "
        "status, reason, one column per test in notebook order). canvas: Canvas's gradebook "
        "import CSV keyed by Canvas user id (late flags in FILE.notes.csv). moodle: Moodle's "
        "grading worksheet ('Participant <id>'), and with --feedback-zip Moodle's feedback "
        "files zip. Late penalties are applied here only, never to the stored scores.",
    )
    p.add_argument(
        "--format",
        choices=("csv", "canvas", "moodle"),
        default=None,
        help="what to write (default: csv)",
    )
    p.add_argument("--out", default=None, help="file to write")
    p.add_argument("--csv", default=None, help="file to write (same as --out)")
    p.add_argument("--assignment", default=None, help="only this assignment")
    p.add_argument(
        "--late-penalty",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="percent of the maximum score taken off per day late (default: 0, no penalty); "
        "days are started days after --due, or 1 for work the LMS flagged late",
    )
    p.add_argument("--due", default=None, help="deadline, e.g. 2026-11-30T23:59 (UTC)")
    p.add_argument(
        "--feedback-zip",
        default=None,
        help="with --format moodle: also write the feedback pages as Moodle's 'upload "
        "multiple feedback files in a zip'; with --format canvas: as a zip for Canvas's "
        "'Re-Upload Submissions' (each page becomes a comment on the student's submission)",
    )
    p.set_defaults(run=_export)

    p = sub.add_parser(
        "feedback",
        help="write one HTML feedback page per student",
        description="Write <workdir>/feedback/<assignment>/<student>.html: each test's name, "
        "points and message. Hidden tests' code and expected values are never shown.",
    )
    p.add_argument("assignment", help="assignment name, e.g. a1_rectifier")
    p.set_defaults(run=_feedback)

    p = sub.add_parser(
        "report",
        help="write the class report (HTML)",
        description="Write one HTML page for the class: per assignment a table of every "
        "student (id, name, score, late, status, link to the feedback page), the score "
        "histogram over the full range, the failure rate of each test in notebook order, the "
        "instructor-only details of failed hidden checks, and roster students who submitted "
        "nothing.",
    )
    p.add_argument("--html", default=None, help="file to write (default: <workdir>/report.html)")
    p.set_defaults(run=_report)

    p = sub.add_parser(
        "status",
        help="what is collected, graded, waiting or needs attention",
        description="Summarise the workdir per assignment and list every submission that "
        "could not be graded, with its reason; say how student code is confined.",
    )
    p.set_defaults(run=_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not args.verbose:
        # nbgrader logs every step through the "traitlets" logger (and resets its level), plus a
        # CRITICAL line about its unused exchange folder, and SQLAlchemy warns on every
        # autograde; our own messages report every failure, so keep the terminal readable.
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: not record.name.startswith("traitlets"))
        warnings.filterwarnings("ignore", module="nbgrader")
    try:
        course = Course.at(args.root, args.workdir)
        status = args.run(args, course)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
        return status
    except GraderError as exc:
        _say(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # The reader went away (`status | head`): stop quietly. Python would also complain
        # when it flushes stdout at exit, so point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
