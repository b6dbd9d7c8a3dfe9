"""Write the grades as CSV: one row per student and assignment, one column per graded test."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.errors import GraderError
from grader.gradebook import with_manual_grades
from grader.layout import Course
from grader.results import load_results

FIXED_COLUMNS = [
    "student_id",
    "assignment",
    "score",
    "max_score",
    "status",
    "reason",
    "engine",
    "comments",
]


def export_csv(*, course: Course, path: Path, assignment: str | None = None) -> int:
    """Write every saved result (of one assignment, if given) to ``path``; return the row count.

    A submission that could not be graded has ``status`` "ungradable" and its ``reason``:
    it is never a silent 0. Scores are the gradebook's current ones, so manual grades given in
    formgrader count; its graders' comments are in ``comments`` (``cell: text``, one per line).
    """
    if assignment:
        course.check_assignment(assignment)
    rows = with_manual_grades(course, load_results(course, assignment))
    if not rows:
        raise GraderError(
            f"no results in {course.results_dir}: run `python -m grader autograde` first"
        )
    tests = sorted({name for r in rows for name in r.tests})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIXED_COLUMNS + tests)
        writer.writeheader()
        for r in rows:
            row = {
                "student_id": r.student_id,
                "assignment": r.assignment,
                "score": f"{r.score:g}",
                "max_score": f"{r.max_score:g}",
                "status": r.status,
                "reason": r.reason,
                "engine": r.engine,
                "comments": "\n".join(f"{k}: {v}" for k, v in sorted(r.comments.items())),
            }
            row.update({name: f"{points:g}" for name, points in r.tests.items()})
            writer.writerow(row)
    return len(rows)
