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

EXIT_OK, EXIT_USER_ERROR = 0, 2


def _release(args: argparse.Namespace, course: Course) -> int:
    from grader.release import release

    for path in release(course=course, assignments=args.assignments or None):
        print(f"released {path.relative_to(course.root)}")
    return EXIT_OK


def _collect(args: argparse.Namespace, course: Course) -> int:
    from grader.intake import collect

    outcomes = collect(course=course, assignment=args.assignment, source=Path(args.source))
    for o in outcomes:
        print(f"{'ok ' if o.accepted else 'BAD'} {o.student_id}: {o.message}")
    bad = sum(not o.accepted for o in outcomes)
    print(f"collected {len(outcomes) - bad} submission(s); {bad} quarantined with a zero")
    return EXIT_OK


class Progress:
    """A one-line progress bar with an ETA on stderr (a line per step when not a terminal)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, i: int, n: int, result) -> None:
        elapsed = time.monotonic() - self.start
        eta = elapsed / i * (n - i)
        width = 30
        bar = "#" * round(width * i / n) + "-" * (width - round(width * i / n))
        line = (
            f"[{bar}] {i}/{n} {elapsed:5.1f}s elapsed, ETA {eta:5.1f}s  "
            f"{result.student_id}: {result.score:g}/{result.max_score:g}"
        )
        if self.tty:
            print("\r" + line[:120].ljust(120), end="" if i < n else "\n", file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def _autograde(args: argparse.Namespace, course: Course) -> int:
    from grader.autograde import autograde
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
    )
    for r in done:
        note = f" ({r.reason})" if r.reason else ""
        print(f"{r.student_id}: {r.score:g}/{r.max_score:g} {r.status}{note}")
    if not done:
        print("nothing to grade: every collected submission already has a result (use --force)")
    return EXIT_OK


def _export(args: argparse.Namespace, course: Course) -> int:
    from grader.export import export_csv

    n = export_csv(course=course, path=Path(args.csv), assignment=args.assignment)
    print(f"wrote {n} row(s) to {args.csv}")
    return EXIT_OK


def _feedback(args: argparse.Namespace, course: Course) -> int:
    from grader.feedback import write_feedback

    pages = write_feedback(course=course, assignment=args.assignment)
    print(f"wrote {len(pages)} feedback page(s) to {course.feedback_dir / args.assignment}")
    return EXIT_OK


def _report(args: argparse.Namespace, course: Course) -> int:
    from grader.report import write_report

    path = Path(args.html) if args.html else course.workdir / "report.html"
    print(f"wrote {write_report(course=course, path=path)}")
    return EXIT_OK


def _status(args: argparse.Namespace, course: Course) -> int:
    from grader.status import course_status

    rows, sandbox = course_status(course=course)
    print(f"workdir: {course.workdir}\nsandbox: {sandbox}")
    if not rows:
        print("nothing collected yet")
    for row in rows:
        print(
            f"{row.assignment}: {row.collected} collected, {row.graded} graded, "
            f"{len(row.pending)} waiting, {len(row.attention)} need attention"
        )
        for student, reason in row.attention:
            print(f"  ATTENTION {student}: {reason}")
        if row.pending:
            print(f"  waiting: {', '.join(row.pending)} (run autograde)")
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
    p.set_defaults(run=_release)

    p = sub.add_parser(
        "collect",
        help="copy a folder of submissions into the grading workdir",
        description="Copy SOURCE/<student_id>/*.ipynb into the workdir. Bad files are "
        "quarantined with a recorded zero and a reason; SOURCE is never modified.",
    )
    p.add_argument("assignment", help="assignment name, e.g. a1_rectifier")
    p.add_argument("source", help="folder with one sub-folder per student")
    p.set_defaults(run=_collect)

    p = sub.add_parser(
        "autograde",
        help="grade the collected submissions of an assignment",
        description="Run the hidden tests on every collected submission that has no result "
        "yet; results are saved one by one, so an interrupted run can simply be restarted.",
    )
    p.add_argument("assignment", help="assignment name, e.g. a1_rectifier")
    p.add_argument("--force", action="store_true", help="grade again those already graded")
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
        help="sandbox (what auto picks): scores decided outside the student's process, "
        "whose code runs confined; nbgrader: plain nbgrader, every check in the student's "
        "kernel (the reference behaviour, slower and not safe against hostile code)",
    )
    p.set_defaults(run=_autograde)

    p = sub.add_parser(
        "export",
        help="write grades as CSV",
        description="Write one row per student and assignment: student_id, assignment, score, "
        "max_score, status, reason and one column per graded test.",
    )
    p.add_argument("--csv", required=True, help="CSV file to write")
    p.add_argument("--assignment", default=None, help="only this assignment")
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
        description="Write an HTML page with each assignment's score histogram, failure rate "
        "per test and the submissions that need attention.",
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
        return args.run(args, course)
    except GraderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
