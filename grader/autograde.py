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
import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from grader import pool, results, template
from grader.course_secret import course_secret, grading_secret, submission_secret
from grader.errors import GraderError
from grader.intake import assignment_max_score, read_notebook
from grader.judge import Blueprint, judge
from grader.layout import Course
from grader.sandbox import Limits, bwrap_path

log = logging.getLogger(__name__)

ENGINES = ("auto", "sandbox", "nbgrader")


def prepare_gradebook(course: Course, assignment: str) -> dict[str, dict[str, str]]:
    """Load the assignment's source cells (with the hidden tests) into the workdir gradebook;
    return the test sources as nbgrader saved them there, per notebook (AUTOTEST expanded,
    see :func:`grader.blueprint.expanded_tests`).

    Skipped when the gradebook already holds this exact version of the source notebooks: the
    tests saved with it are then read from a file beside its stamp, without opening it.
    """
    course.workdir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for path in course.source_notebooks(assignment):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    stamp = course.workdir / "release" / f"{assignment}.source-sha256"
    saved = stamp.parent / f"{assignment}.tests.json"
    if (
        course.gradebook_path.exists()
        and stamp.exists()
        and stamp.read_text() == digest.hexdigest()
    ):
        try:
            tests = json.loads(saved.read_text(encoding="utf-8"))
            if isinstance(tests, dict) and tests.get("source-sha256") == digest.hexdigest():
                return tests["tests"]
        except (OSError, ValueError, KeyError):
            pass  # prepared by an older version, or the file was damaged: read the gradebook
    else:
        from grader import release

        release.generate(course, assignment, course.workdir / "release", course.db_url)
    from grader.blueprint import expanded_tests

    tests = {
        nb.stem: expanded_tests(course.db_url, assignment, nb.stem)
        for nb in course.source_notebooks(assignment)
    }
    saved.write_text(
        json.dumps({"source-sha256": digest.hexdigest(), "tests": tests}), encoding="utf-8"
    )
    stamp.write_text(digest.hexdigest())
    return tests


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
    grader_memory_mb: int = pool.DEFAULT_GRADER_MEMORY_MB,
    scheduler: str | None = None,
    container_is_sandbox: bool = False,
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
    expanded = prepare_gradebook(course, assignment)
    max_score = assignment_max_score(course, assignment)
    done: list[results.Result] = []

    if progress:
        progress(0, len(todo), None)  # grading starts now: the ETA counts from here

    def finish(result: results.Result) -> None:
        result.engine_reason = why
        result.save(course)
        done.append(result)
        if progress:
            progress(len(done), len(todo), result)

    secret = course_secret(course.workdir)
    if engine == "nbgrader" and scheduler:
        log.warning(
            "%s is graded in the kernel (%s), on this machine: --scheduler applies to the "
            "sandbox engine only",
            assignment,
            why,
        )
    if engine == "nbgrader":
        from nbgrader.apps import NbGraderAPI

        api = NbGraderAPI(config=course.nbgrader_config())
        for student in todo:
            folder = course.submitted_dir / student / assignment
            value = submission_secret(secret, assignment, student, list(folder.glob("*.ipynb")))
            with grading_secret(value):
                finish(grade_in_kernel(api, course, assignment, student, max_score))
        return done

    job = SandboxJob(
        course, assignment, max_score, limits or Limits(), bwrap_path(), secret, expanded
    )
    if scheduler:
        return _on_cluster(job, todo, scheduler, container_is_sandbox, finish)
    if job.bwrap is None:
        log.warning("bubblewrap is not available: student code runs with resource limits only")
    # The grading processes' templates start now and import their libraries while this
    # process imports what the tests import; each grading process takes one when forked.
    template.offer(job.bwrap, job.uses_torch(), min(workers, len(todo)))

    def started() -> None:
        template.withdraw(handed=True)
        recording.start()

    try:
        _preload(course, assignment, expanded)
        with Recording(course, assignment) as recording:
            pool.run(
                job.grade,
                todo,
                workers=workers,
                state=course.workdir / "pool" / assignment,
                memory_mb=grader_memory_mb,
                # Recorded one at a time as each arrives, while the workers grade the next.
                on_result=lambda result: finish(recording.record([result])[0]),
                on_started=started,
                on_give_up=lambda student, reason: finish(
                    _ungradable(student, assignment, max_score, reason)
                ),
                on_error=lambda student, exc: finish(
                    _ungradable(
                        student,
                        assignment,
                        max_score,
                        f"the grader failed on it ({type(exc).__name__}: {str(exc)[:200]}); "
                        "re-run with --retry-ungradable after fixing the cause",
                    )
                ),
            )
    finally:
        template.withdraw(handed=False)  # does nothing once the grading processes have them
    return done


def _on_cluster(job, todo, scheduler, container_is_sandbox, finish) -> list[results.Result]:
    """Grade ``todo`` on a Dask cluster; this machine alone writes results and the gradebook."""
    from grader import cluster

    course, assignment = job.course, job.assignment
    sources = course.source_notebooks(assignment)
    works = []
    for student in todo:
        folder = course.submitted_dir / student / assignment
        works.append(
            cluster.pack(
                assignment=assignment,
                student=student,
                max_score=job.max_score,
                limits=job.limits,
                secret=submission_secret(
                    job.secret, assignment, student, list(folder.glob("*.ipynb"))
                ),
                sources=sources,
                folder=folder,
                expanded=job.expanded or {},
                container_is_sandbox=container_is_sandbox,
            )
        )
    done: list[results.Result] = []
    with Recording(course, assignment) as recording:

        def keep(found: list[results.Result]) -> None:
            for result in recording.record(found):
                done.append(result)
                finish(result)

        cluster.run(
            scheduler,
            works,
            on_results=keep,
            on_give_up=lambda s, why: keep([_ungradable(s, assignment, job.max_score, why)]),
            on_error=lambda s, exc: keep(
                [
                    _ungradable(
                        s,
                        assignment,
                        job.max_score,
                        f"the grader failed on it ({type(exc).__name__}: {str(exc)[:200]})",
                    )
                ]
            ),
        )
    return done


@dataclass(frozen=True)
class SandboxJob:
    """Everything a worker process needs to grade one submission (picklable)."""

    course: Course
    assignment: str
    max_score: float
    limits: Limits
    bwrap: str | None
    #: The course secret (see grader.course_secret) and the tests as nbgrader saved them.
    secret: str = ""
    expanded: dict | None = None

    def grade(self, student: str) -> results.Result:
        folder = self.course.submitted_dir / student / self.assignment
        value = submission_secret(
            self.secret, self.assignment, student, list(folder.glob("*.ipynb"))
        )
        with grading_secret(value):
            return self._grade(student, folder)

    def uses_torch(self) -> bool:
        """Whether the assignment's submissions run with torch (which template they need)."""
        return any(
            Blueprint.from_source(source, (self.expanded or {}).get(source.stem)).uses_torch
            for source in self.course.source_notebooks(self.assignment)
        )

    def _grade(self, student: str, folder) -> results.Result:
        return grade_submission(
            self.assignment,
            student,
            self.course.source_notebooks(self.assignment),
            folder,
            self.expanded or {},
            self.limits,
            self.bwrap,
            self.max_score,
        )


def grade_submission(
    assignment: str,
    student: str,
    sources: list,
    folder,
    expanded: dict,
    limits: Limits,
    bwrap: str | None,
    max_score: float,
) -> results.Result:
    """Grade one student's notebooks in ``folder`` against the source notebooks ``sources``
    (their folder holds the assignment's data files). Reads nothing else: a cluster worker
    calls it on copies (grader.cluster)."""
    tests: dict[str, float] = {}
    messages: dict[str, str] = {}
    details: dict[str, str] = {}
    notes: list[str] = []
    for source in sources:
        blueprint = Blueprint.from_source(source, expanded.get(source.stem))
        path = folder / source.name
        submission, problem = (
            read_notebook(path) if path.exists() else (None, "it was not submitted")
        )
        if problem:
            return _ungradable(student, assignment, max_score, problem)
        verdict = judge(blueprint, submission, limits, bwrap, data_dir=source.parent)
        for outcome in verdict.outcomes:
            # grade_id, or <notebook>/<grade_id> when the assignment has several notebooks
            # (grader.layout.Course.result_key).
            key = f"{source.stem}/{outcome.grade_id}" if len(sources) > 1 else outcome.grade_id
            tests[key] = outcome.points
            if outcome.message:
                messages[key] = outcome.message
            if outcome.detail:
                details[key] = outcome.detail
        notes += verdict.notes
    return results.Result(
        student_id=student,
        assignment=assignment,
        status=results.GRADED,
        score=sum(tests.values()),
        max_score=max_score,
        tests=tests,
        reason="; ".join(notes),
        messages=messages,
        details=details,
        engine="sandbox",
    )


def _preload(course: Course, assignment: str, expanded: dict) -> None:
    """Read the source notebooks, compile their cells (:func:`grader.judge.warm`) and import
    what their setup cells import, here, before the grading processes are forked: each
    inherits them instead of doing it again."""
    from grader.judge import warm
    from grader.template import FIRST_USE_IMPORTS

    for source in course.source_notebooks(assignment):
        blueprint = Blueprint.from_source(source, expanded.get(source.stem))
        warm(blueprint)
        for name in sorted(blueprint.setup_imports):
            for module in (name, *FIRST_USE_IMPORTS.get(name.split(".")[0], ())):
                try:
                    importlib.import_module(module)
                except Exception:  # noqa: BLE001  (the setup cell will say so where it runs)
                    log.debug("could not preload %s", module)


class Recording:
    """Records sandbox results in nbgrader's gradebook and autograded folder, as nbgrader's own
    autograde would (see :mod:`grader.gradebook`), so that formgrader shows them; one
    :class:`gradebook.Recorder` for the whole command.

    nbgrader is imported by :meth:`start` (about 0.6 s), which the local pool calls once its
    grading processes are forked and grading, not by the command before they start."""

    def __init__(self, course: Course, assignment: str):
        self.course, self.assignment, self.recorder = course, assignment, None

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc) -> None:
        if self.recorder is not None:
            self.recorder.close()

    def start(self) -> None:
        if self.recorder is None:
            from grader import gradebook

            self.recorder = gradebook.Recorder(self.course, self.assignment)

    def record(self, found: list[results.Result]) -> list[results.Result]:
        self.start()
        return [self.recorder.record(r) for r in found]


def grade_in_kernel(
    api, course: Course, assignment: str, student: str, max_score: float
) -> results.Result:
    """Run nbgrader's autograde for one student and read the scores back from the gradebook."""
    from nbgrader.api import MissingEntry

    from grader import gradebook

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
