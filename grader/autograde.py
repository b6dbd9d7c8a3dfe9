"""Grade every collected submission of an assignment with nbgrader, one student at a time.

Each submission's outcome is saved as soon as it is known (see :mod:`grader.results`), so a
run that stops half-way resumes with the students still missing. A submission that nbgrader
cannot grade gets a recorded zero and its reason; the run always goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI

from grader import release, results
from grader.intake import assignment_max_score
from grader.layout import Course

log = logging.getLogger(__name__)


def prepare_gradebook(course: Course, assignment: str) -> None:
    """Load the assignment's source cells (with the hidden tests) into the workdir gradebook."""
    course.workdir.mkdir(parents=True, exist_ok=True)
    release.generate(course, assignment, course.workdir / "release", course.db_url)


def pending_students(course: Course, assignment: str, *, force: bool = False) -> list[str]:
    """Students with a collected submission and, unless ``force``, no result yet."""
    students = sorted(
        p.parent.name for p in course.submitted_dir.glob(f"*/{assignment}") if p.is_dir()
    )
    if force:
        return students
    return [s for s in students if not results.result_path(course, assignment, s).exists()]


def autograde(
    *,
    course: Course,
    assignment: str,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[results.Result]:
    """Grade the pending submissions of ``assignment``; return their results."""
    course.check_assignment(assignment)
    todo = pending_students(course, assignment, force=force)
    if not todo:
        return []
    prepare_gradebook(course, assignment)
    api = NbGraderAPI(config=course.nbgrader_config())
    max_score = assignment_max_score(course, assignment)
    done: list[results.Result] = []
    for i, student in enumerate(todo, start=1):
        result = grade_one(api, course, assignment, student, max_score)
        result.save(course)
        done.append(result)
        if progress:
            progress(i, len(todo), student)
    return done


def grade_one(
    api: NbGraderAPI, course: Course, assignment: str, student: str, max_score: float
) -> results.Result:
    """Run nbgrader's autograde for one student and read the scores back from the gradebook."""
    outcome = api.autograde(assignment, student, force=True, create=True)
    if not outcome["success"]:
        return _ungradable(student, assignment, max_score, _last_error_line(outcome))
    try:
        tests, score = read_scores(course, assignment, student)
    except MissingEntry:
        return _ungradable(student, assignment, max_score, "nbgrader recorded no grades")
    return results.Result(
        student_id=student,
        assignment=assignment,
        status=results.GRADED,
        score=score,
        max_score=max_score,
        tests=tests,
    )


def read_scores(course: Course, assignment: str, student: str) -> tuple[dict[str, float], float]:
    """Points per test cell (``grade_id`` → points) and the total, from the gradebook."""
    tests: dict[str, float] = {}
    with Gradebook(course.db_url) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                tests[grade.name] = float(grade.score)
        return tests, float(submission.score)


def _ungradable(student: str, assignment: str, max_score: float, reason: str) -> results.Result:
    log.warning("%s: could not be graded (%s)", student, reason)
    return results.Result(
        student_id=student,
        assignment=assignment,
        status=results.UNGRADABLE,
        score=0.0,
        max_score=max_score,
        reason=f"nbgrader could not grade it: {reason}",
    )


def _last_error_line(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no details"
