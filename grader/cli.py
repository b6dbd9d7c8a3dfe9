"""The command line: ``python -m grader COMMAND ...``. It parses, calls the API, reports.

Every command is a thin wrapper over a keyword-only function of the package; a
:class:`~grader.errors.GraderError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

from grader.errors import GraderError
from grader.layout import DEFAULT_WORKDIR, Course

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
    from grader.intake import normalise_student_id
    from grader.sandbox import Limits

    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory)
    done = autograde(
        course=course,
        assignment=args.assignment,
        force=args.force,
        workers=args.workers,
        limits=limits,
        engine=args.engine,
        progress=Progress(),
        student=normalise_student_id(args.student) if args.student else None,
        retry_ungradable=args.retry_ungradable,
    )
    if done:
        print(f"graded by the {done[0].engine} engine: {done[0].engine_reason}")
    for r in done:
        note = f" ({r.reason})" if r.reason else ""
        print(f"{r.student_id}: {r.score:g}/{r.max_score:g} {r.status}{note}")
    if not done and args.retry_ungradable:
        print("nothing to retry: no collected submission is recorded as ungradable "
              "(a quarantined file needs `collect` again)")  # fmt: skip
    elif not done:
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
        print(f"  next autograde uses the {row.engine} engine: {row.engine_reason}")
        for engine, count in sorted(row.graded_by.items()):
            print(f"  graded by the {engine} engine: {count}")
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
