"""One result file per graded (or ungradable) submission: what export and status read.

Results are written as each submission finishes, atomically, one JSON file per student and
assignment (``<workdir>/results/<assignment>/<student>.json``). An interrupted run therefore
loses nothing that finished, and a second run knows what is left to do.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.layout import Course

#: The submission was graded; ``score`` is what it earned.
GRADED = "graded"
#: The submission could not be graded (bad file, crash); ``reason`` says why, the score is 0.
UNGRADABLE = "ungradable"


@dataclass
class Result:
    """The outcome of grading one student's submission of one assignment."""

    student_id: str
    assignment: str
    status: str
    score: float
    max_score: float
    #: Points earned per graded cell, keyed by its ``grade_id`` (``<notebook stem>/<grade_id>``
    #: when the assignment has several notebooks; see :meth:`Course.result_key`).
    tests: dict[str, float] = field(default_factory=dict)
    #: Why a submission is ungradable, or what was noticed while grading it.
    reason: str = ""
    #: The message shown to the student per failed test (never hidden-test code or values).
    messages: dict[str, str] = field(default_factory=dict)
    #: For the instructor only: the error each failed hidden check raised.
    details: dict[str, str] = field(default_factory=dict)
    #: Which grading engine produced the result ("sandbox" or "nbgrader").
    engine: str = ""
    #: Why that engine graded it (e.g. "sandbox engine not certified for ps1: ...").
    engine_reason: str = ""
    #: Graders' comments from formgrader, per graded cell (filled in by export and feedback).
    comments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def ungradable(cls, student_id: str, assignment: str, max_score: float, reason: str) -> Result:
        """A recorded zero for a submission that could not be graded, with its reason."""
        return cls(student_id, assignment, UNGRADABLE, 0.0, max_score, reason=reason)

    def path(self, course: Course) -> Path:
        return result_path(course, self.assignment, self.student_id)

    def save(self, course: Course) -> Path:
        """Write the result atomically (a reader never sees half a file)."""
        target = self.path(course)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh, indent=1, sort_keys=True)
        os.replace(tmp, target)
        return target


def result_path(course: Course, assignment: str, student_id: str) -> Path:
    return course.results_dir / assignment / f"{student_id}.json"


def load_results(course: Course, assignment: str | None = None) -> list[Result]:
    """Every saved result, optionally of one assignment, ordered by assignment and student."""
    if not course.results_dir.is_dir():
        return []
    pattern = f"{assignment}/*.json" if assignment else "*/*.json"
    results = []
    for path in sorted(course.results_dir.glob(pattern)):
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f for f in Result.__dataclass_fields__}
        results.append(Result(**{k: v for k, v in data.items() if k in known}))
    return results


def forget(course: Course, assignment: str, student_id: str) -> None:
    """Drop a result, so that the submission is graded again on the next run."""
    result_path(course, assignment, student_id).unlink(missing_ok=True)
