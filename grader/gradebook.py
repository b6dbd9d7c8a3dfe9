"""Mirror the sandbox engine's results into nbgrader's gradebook, exactly as nbgrader does.

The sandbox engine decides scores outside the student's kernel; formgrader, manual grading and
``nbgrader export`` still read nbgrader's own state: the gradebook (submission, timestamp,
auto scores, ``needs_manual_grade``, comments) and the autograded notebooks in
``autograded/<student>/<assignment>/``. Rather than imitate that state, this module runs
nbgrader's own ``autograde`` converter with one change: its ``Execute`` step (which would run
the student's code in a kernel) is replaced by :class:`RecordedOutcomes`, which writes each
test cell's recorded outcome as the cell's output (an error with the student-facing message
when it failed, the points as the cell's result for partial credit, nothing when it passed).
Everything after that is nbgrader's: ``SaveAutoGrades`` reads the scores from those outputs,
marks only manually graded cells (written answers, tasks) as needing manual grading, the
notebook lands in the autograded folder with the assignment's files, and formgrader lists the
student as autograded. A reviewer opening the notebook in formgrader sees each outcome.

Scores are then read back from the gradebook (:func:`read_scores`), so a result holds every
graded cell (test cells, manually graded answers, tasks) just as the in-kernel engine's does;
:func:`current_scores` gives the export the manual grades and comments added later.
"""

from __future__ import annotations

import logging
import types

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Dict, List

from grader import results
from grader.layout import Course

log = logging.getLogger(__name__)


class RecordedOutcomes(NbGraderPreprocessor):
    """Stands in for nbgrader's ``Execute``: writes recorded outcomes as test cell outputs."""

    #: student → notebook stem → grade_id → [points, message]
    outcomes = Dict({}).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self._cells = self.outcomes.get(info["student"], {}).get(info["notebook"], {})
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        max_points = float(cell.metadata["nbgrader"].get("points", 0))
        points, message = self._cells.get(grade_id, [0.0, "this test cell was not graded"])
        if points >= max_points and not (max_points == 0 and message):
            cell.outputs = []  # passed: nbgrader gives full points to a cell without error
        elif points > 0:
            # nbgrader's partial credit: a number as the cell's result.
            cell.outputs = [new_output("execute_result", {"text/plain": repr(float(points))})]
            cell.outputs[0].execution_count = None
        else:
            text = message or "the test failed"
            cell.outputs = [new_output("error", ename="TestFailed", evalue=text, traceback=[text])]
        return cell, resources


def faster_nbgrader() -> None:
    """Two costs of nbgrader 0.9.6 that buy nothing when one process records many results,
    removed without changing what it does (about half of each recording's time):

    - its metadata validator calls ``jsonschema.validate`` for every cell of every notebook,
      three times per notebook, and that function checks the schema itself on each call; here
      one validator per schema is built (and the schema checked) once, and each cell is
      validated with it, raising the same ``best_match`` error ``jsonschema.validate`` raises;
    - each ``Gradebook`` creates a new SQLAlchemy engine (about ten per recording), so no SQL
      statement's compiled form is ever reused; here one engine per database URL and options
      is kept for the process (``Gradebook.close`` still disposes its connections).
    """
    from nbgrader import api
    from nbgrader.nbgraderformat import common

    if getattr(api.create_engine, "_kept", False):
        return

    validators: dict[int, tuple[dict, object]] = {}

    def validate(instance, schema) -> None:
        kept = validators.get(id(schema))
        if kept is None or kept[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            kept = validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(kept[1].iter_errors(instance))
        if error is not None:
            raise error

    engines: dict[tuple, object] = {}
    create_engine = api.create_engine

    def kept_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = create_engine(url, **options)
        return engines[key]

    kept_engine._kept = True
    common.jsonschema = types.SimpleNamespace(validate=validate)
    api.create_engine = kept_engine


def _pipeline() -> list:
    """nbgrader's own autograde steps, with ``Execute`` replaced by :class:`RecordedOutcomes`."""
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    return [RecordedOutcomes if step is Execute else step for step in steps]


def split_key(course: Course, assignment: str, key: str) -> tuple[str, str]:
    """(notebook stem, grade_id) of a result key (see :meth:`Course.result_key`)."""
    if course.multi_notebook(assignment):
        stem, _, grade_id = key.partition("/")
        return stem, grade_id
    return course.source_notebooks(assignment)[0].stem, key


def _outcomes(course: Course, assignment: str, result: results.Result) -> dict:
    """notebook stem → grade_id → [points, message], as :class:`RecordedOutcomes` takes them."""
    cells: dict = {}
    for key, points in result.tests.items():
        stem, grade_id = split_key(course, assignment, key)
        cells.setdefault(stem, {})[grade_id] = [float(points), result.messages.get(key, "")]
    return cells


def _recording_api(course: Course, assignment: str, graded: list[results.Result]) -> NbGraderAPI:
    """nbgrader's API configured to record ``graded``: its autograde steps with their outcomes."""
    faster_nbgrader()
    config = course.nbgrader_config()
    config.Autograde.autograde_preprocessors = _pipeline()
    config.RecordedOutcomes.outcomes = {
        r.student_id: _outcomes(course, assignment, r) for r in graded
    }
    return NbGraderAPI(config=config)


class _Batch(Autograde):
    """nbgrader's autograde over the submissions of ``students`` only (one run for several)."""

    students = List([])

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        return student_id in self.students and super().init_destination(assignment_id, student_id)


def record_many(
    course: Course, assignment: str, found: list[results.Result]
) -> list[results.Result]:
    """:func:`record` for several results, in one run of nbgrader's autograde when there are
    several graded ones (a run costs about a third more per notebook when it records one).
    If nbgrader fails on any of them, each is recorded again alone, so that only the one it
    cannot record says so."""
    graded = [r for r in found if r.status == results.GRADED]
    if len(graded) < 2:
        return [record(course, assignment, r) for r in found]
    api = _recording_api(course, assignment, graded)
    with utils.temp_attrs(api.coursedir, assignment_id=assignment, student_id="*"):
        app = _Batch(coursedir=api.coursedir, parent=api)
        app.force, app.create_student = True, True
        app.students = [r.student_id for r in graded]
        ran = utils.capture_log(app)
    if not ran["success"]:
        return [record(course, assignment, r) for r in found]
    with Gradebook(course.db_url) as gb:
        for r in graded:
            scores, _ = current_scores(gb, course, assignment, r.student_id)
            r.tests, r.score = scores, float(sum(scores.values()))
    return found


def record(course: Course, assignment: str, result: results.Result) -> results.Result:
    """Record one sandbox result in the gradebook and the autograded folder, through nbgrader.

    Returns the result with its scores read back from the gradebook (every graded cell, keyed
    as :meth:`Course.result_key` says). A submission nbgrader cannot record keeps its own
    scores and says so in its reason. Ungradable results are returned unchanged.
    """
    if result.status != results.GRADED:
        return result
    ran = _recording_api(course, assignment, [result]).autograde(
        assignment, result.student_id, force=True, create=True
    )
    if not ran["success"]:
        # What nbgrader left half-written must not stand for this result (the export reads the
        # gradebook's scores): the submission goes, the result keeps its own scores.
        with Gradebook(course.db_url) as gb:
            try:
                gb.remove_submission(assignment, result.student_id)
            except MissingEntry:
                pass
        note = "not recorded in nbgrader's gradebook (formgrader does not show it)"
        result.reason = "; ".join(filter(None, [result.reason, note]))
        log.warning("%s: %s", result.student_id, note)
        return result
    result.tests, result.score = read_scores(course, assignment, result.student_id)
    return result


def read_scores(course: Course, assignment: str, student: str) -> tuple[dict[str, float], float]:
    """Points per graded cell (result key → points) and the total, from the gradebook."""
    with Gradebook(course.db_url) as gb:
        scores, _ = current_scores(gb, course, assignment, student)
    return scores, float(sum(scores.values()))


def current_scores(
    gb: Gradebook, course: Course, assignment: str, student: str
) -> tuple[dict[str, float], dict[str, str]]:
    """The gradebook's scores now (a manual grade overrides the automatic one) and the
    graders' comments, keyed by result key. Raises :class:`MissingEntry` without a submission."""
    scores: dict[str, float] = {}
    comments: dict[str, str] = {}
    submission = gb.find_submission(assignment, student)
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            key = course.result_key(assignment, notebook.name, grade.name)
            scores[key] = float(grade.score)
        for comment in notebook.comments:
            if comment.manual_comment:
                key = course.result_key(assignment, notebook.name, comment.name)
                comments[key] = comment.manual_comment
    return scores, comments


def with_manual_grades(course: Course, found: list[results.Result]) -> list[results.Result]:
    """The results with the gradebook's current scores (manual grades included) and comments.

    A graded result the gradebook does not hold keeps its own scores.
    """
    graded = [r for r in found if r.status == results.GRADED]
    if not graded or not course.gradebook_path.exists():
        return found
    with Gradebook(course.db_url) as gb:
        for r in graded:
            try:
                scores, comments = current_scores(gb, course, r.assignment, r.student_id)
            except MissingEntry:
                continue
            if scores:
                r.tests = scores
                r.score = float(sum(scores.values()))
                r.comments = comments
    return found
