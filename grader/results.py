"""One result file per graded (or ungradable) submission: what export and status read.

Results are written as each submission finishes, atomically, one JSON file per student and
assignment (``<workdir>/results/<assignment>/<student>.json``). An interrupted run therefore
loses nothing that finished, and a second run knows what is left to do.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.layout import Course

log = logging.getLogger(__name__)

#: A ``.tmp-*.json`` file older than this was left by a killed run (or a full disk): removed.
STALE_TMP_S = 600

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
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(self), fh, indent=1, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a full disk or a kill leaves no half file
            raise
        return target


def result_path(course: Course, assignment: str, student_id: str) -> Path:
    return course.results_dir / assignment / f"{student_id}.json"


def load_results(
    course: Course, assignment: str | None = None, *, problems: list[str] | None = None
) -> list[Result]:
    """Every saved result, optionally of one assignment, ordered by assignment and student.

    Only ``<student>.json`` files count: a half-written ``.tmp-*.json`` (from a run that was
    killed, or a full disk) is ignored, and removed once it is older than
    :data:`STALE_TMP_S` (a younger one may belong to a run in progress). A result file that
    cannot be read is skipped with a warning; ``problems`` (if given) receives one line each.
    """
    if not course.results_dir.is_dir():
        return []
    pattern = f"{assignment}/*.json" if assignment else "*/*.json"
    known = set(Result.__dataclass_fields__)
    found = []
    for path in sorted(course.results_dir.glob(pattern)):
        if path.name.startswith("."):
            _drop_if_stale(path)
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            result = Result(**{k: v for k, v in data.items() if k in known})
            if not isinstance(result.tests, dict) or not isinstance(result.score, int | float):
                raise TypeError("wrong field types")
        except (OSError, ValueError, TypeError) as exc:
            line = f"{path.relative_to(course.workdir)}: unreadable result ({exc}); regrade it"
            log.warning("%s", line)
            if problems is not None:
                problems.append(line)
            continue
        found.append(result)
    return found


def _drop_if_stale(path: Path) -> None:
    try:
        if path.name.startswith(".tmp-") and time.time() - path.stat().st_mtime > STALE_TMP_S:
            path.unlink()
    except OSError:
        pass  # another process removed or replaced it meanwhile


def forget(course: Course, assignment: str, student_id: str) -> None:
    """Drop a result, so that the submission is graded again on the next run."""
    result_path(course, assignment, student_id).unlink(missing_ok=True)
