"""Grade every collected submission of an assignment, in parallel, resumably.

Two engines:

``sandbox``
    Scores are decided in the grader (:mod:`grader.judge`); the student's answer cells run in a
    confined process (:mod:`grader.sandbox`). Fast (about 0.15 s a notebook) and safe.
``nbgrader``
    Plain ``nbgrader autograde``, one student at a time, in the student's own kernel: the
    reference behaviour.
``auto`` (the default)
    The sandbox engine for an assignment certified for exactly its current source and engine
    code (:mod:`grader.certify`), the in-kernel engine otherwise; each result says which engine
    graded it and why.

Each submission's outcome is saved as soon as it is known (see :mod:`grader.results`) and then
recorded in nbgrader's gradebook and autograded folder (:mod:`grader.gradebook`), so that a
run that stops half-way resumes with the students still missing and formgrader shows every
graded student. A submission that cannot be graded gets a recorded zero and its reason; the run
always goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import nbformat
from nbgrader.api import MissingEntry
from nbgrader.apps import NbGraderAPI

from grader import gradebook, release, results
from grader.errors import GraderError
from grader.intake import assignment_max_score, notebook_problem
from grader.judge import Blueprint, judge
from grader.layout import Course
from grader.sandbox import Limits, bwrap_path

log = logging.getLogger(__name__)

ENGINES = ("auto", "sandbox", "nbgrader")


def prepare_gradebook(course: Course, assignment: str) -> None:
    """Load the assignment's source cells (with the hidden tests) into the workdir gradebook.

    Skipped when the gradebook already holds this exact version of the source notebooks.
    """
    course.workdir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for path in course.source_notebooks(assignment):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    stamp = course.workdir / "release" / f"{assignment}.source-sha256"
    if (
        course.gradebook_path.exists()
        and stamp.exists()
        and stamp.read_text() == digest.hexdigest()
    ):
        return
    release.generate(course, assignment, course.workdir / "release", course.db_url)
    stamp.write_text(digest.hexdigest())


def collected_students(course: Course, assignment: str) -> list[str]:
    """Students with a collected (gradable) submission of ``assignment``."""
    return sorted(
        p.parent.name for p in course.submitted_dir.glob(f"*/{assignment}") if p.is_dir()
    )


def pending_students(
    course: Course,
    assignment: str,
    *,
    force: bool = False,
    student: str | None = None,
    retry_ungradable: bool = False,
) -> list[str]:
    """The students to grade: those with a collected submission and no result yet.

    ``force``: every collected one. ``student``: that one only, graded again (an unknown id
    is an error). ``retry_ungradable``: only those whose result says ungradable.
    """
    students = collected_students(course, assignment)
    if student is not None:
        if student not in students:
            raise GraderError(
                f"no collected submission of {assignment} by {student!r} in "
                f"{course.submitted_dir}; collected: {', '.join(students) or 'none'}"
            )
        return [student]
    if retry_ungradable:
        return [
            r.student_id
            for r in results.load_results(course, assignment)
            if r.status == results.UNGRADABLE and r.student_id in students
        ]
    if force:
        return students
    return [s for s in students if not results.result_path(course, assignment, s).exists()]


def choose_engine(course: Course, assignment: str, engine: str) -> tuple[str, str]:
    """The engine that grades ``assignment`` and why (``auto``: sandbox only when certified)."""
    if engine not in ENGINES:
        raise GraderError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine, f"--engine {engine} was asked for"
    from grader.certify import check

    certified, why = check(course, assignment)
    return ("sandbox" if certified else "nbgrader"), why


def autograde(
    *,
    course: Course,
    assignment: str,
    force: bool = False,
    workers: int = 1,
    limits: Limits | None = None,
    engine: str = "auto",
    progress: Callable[[int, int, results.Result], None] | None = None,
    student: str | None = None,
    retry_ungradable: bool = False,
) -> list[results.Result]:
    """Grade the pending submissions of ``assignment``; return their results.

    ``student`` grades that student's submission again; ``retry_ungradable`` grades again only
    the submissions recorded as ungradable (see :func:`pending_students`).
    """
    course.check_assignment(assignment)
    if workers < 1:
        raise GraderError(f"--workers must be at least 1, not {workers}")
    todo = pending_students(
        course, assignment, force=force, student=student, retry_ungradable=retry_ungradable
    )
    if not todo:
        return []
    engine, why = choose_engine(course, assignment, engine)
    log.info("%s: %s engine (%s)", assignment, engine, why)
    prepare_gradebook(course, assignment)
    max_score = assignment_max_score(course, assignment)
    done: list[results.Result] = []

    def finish(result: results.Result) -> None:
        result.engine_reason = why
        result.save(course)
        done.append(result)
        if progress:
            progress(len(done), len(todo), result)

    if engine == "nbgrader":
        api = NbGraderAPI(config=course.nbgrader_config())
        for student in todo:
            finish(grade_in_kernel(api, course, assignment, student, max_score))
        return done

    job = SandboxJob(course, assignment, max_score, limits or Limits(), bwrap_path())
    if job.bwrap is None:
        log.warning("bubblewrap is not available: student code runs with resource limits only")
    if workers == 1:
        for name in todo:
            finish(record(course, job.grade(name)))
        return done
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(job.grade, s): s for s in todo}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # a worker died: record it, never lose the submission
                result = _ungradable(futures[future], assignment, max_score, f"worker: {exc}")
            finish(record(course, result))
    return done


@dataclass(frozen=True)
class SandboxJob:
    """Everything a worker process needs to grade one submission (picklable)."""

    course: Course
    assignment: str
    max_score: float
    limits: Limits
    bwrap: str | None

    def grade(self, student: str) -> results.Result:
        folder = self.course.submitted_dir / student / self.assignment
        tests: dict[str, float] = {}
        messages: dict[str, str] = {}
        details: dict[str, str] = {}
        notes: list[str] = []
        for source in self.course.source_notebooks(self.assignment):
            blueprint = Blueprint.from_source(source)
            path = folder / source.name
            problem = notebook_problem(path) if path.exists() else "it was not submitted"
            if problem:
                return _ungradable(student, self.assignment, self.max_score, problem)
            submission = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
            verdict = judge(blueprint, submission, self.limits, self.bwrap)
            for outcome in verdict.outcomes:
                key = self.course.result_key(self.assignment, source.stem, outcome.grade_id)
                tests[key] = outcome.points
                if outcome.message:
                    messages[key] = outcome.message
                if outcome.detail:
                    details[key] = outcome.detail
            notes += verdict.notes
        return results.Result(
            student_id=student,
            assignment=self.assignment,
            status=results.GRADED,
            score=sum(tests.values()),
            max_score=self.max_score,
            tests=tests,
            reason="; ".join(notes),
            messages=messages,
            details=details,
            engine="sandbox",
        )


def record(course: Course, result: results.Result) -> results.Result:
    """Record a sandbox result in nbgrader's gradebook and autograded folder, as nbgrader's own
    autograde would (see :mod:`grader.gradebook`), so that formgrader shows it."""
    return gradebook.record(course, result.assignment, result)


def grade_in_kernel(
    api: NbGraderAPI, course: Course, assignment: str, student: str, max_score: float
) -> results.Result:
    """Run nbgrader's autograde for one student and read the scores back from the gradebook."""
    outcome = api.autograde(assignment, student, force=True, create=True)
    if not outcome["success"]:
        return _ungradable(
            student, assignment, max_score, f"nbgrader could not grade it: {_last_error(outcome)}"
        )
    try:
        tests, score = gradebook.read_scores(course, assignment, student)
    except MissingEntry:
        return _ungradable(student, assignment, max_score, "nbgrader recorded no grades")
    return results.Result(
        student_id=student,
        assignment=assignment,
        status=results.GRADED,
        score=score,
        max_score=max_score,
        tests=tests,
        engine="nbgrader",
    )


def _ungradable(student: str, assignment: str, max_score: float, reason: str) -> results.Result:
    log.warning("%s: could not be graded (%s)", student, reason)
    return results.Result.ungradable(student, assignment, max_score, reason)


def _last_error(outcome: dict) -> str:
    text = (outcome.get("error") or outcome.get("log") or "").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no details"
