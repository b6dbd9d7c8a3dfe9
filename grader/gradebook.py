"""Mirror the sandbox engine's results into nbgrader's gradebook, exactly as nbgrader does.

The sandbox engine decides scores outside the student's kernel; formgrader, manual grading and
``nbgrader export`` still read nbgrader's own state: the gradebook (submission, timestamp,
auto scores, ``needs_manual_grade``, comments) and the autograded notebooks in
``autograded/<student>/<assignment>/``. Rather than imitate that state, this module runs
nbgrader's own ``autograde`` steps with one change: its ``Execute`` step (which would run
the student's code in a kernel) is replaced by :class:`RecordedOutcomes`, which writes each
test cell's recorded outcome as the cell's output (an error with the student-facing message
when it failed, the points as the cell's result for partial credit, nothing when it passed).
Everything after that is nbgrader's: ``SaveAutoGrades`` reads the scores from those outputs,
marks only manually graded cells (written answers, tasks) as needing manual grading, the
notebook lands in the autograded folder with the assignment's files, and formgrader lists the
student as autograded. A reviewer opening the notebook in formgrader sees each outcome.

Two ways run those steps. :func:`record` runs nbgrader's ``autograde`` converter itself: the
reference, and the last word on anything unusual. :class:`Recorder`, what a grading command
uses, runs the same step classes in the same order without the converter (one open gradebook,
the source cells loaded once): about 0.03 s a notebook instead of 0.18 s.
``tests/test_recording.py`` records the same results both ways and requires the same gradebook
rows and autograded files; whatever the recorder does not reproduce goes to :func:`record`.

Scores are then read back from the gradebook (:func:`read_scores`), so a result holds every
graded cell (test cells, manually graded answers, tasks) just as the in-kernel engine's does;
:func:`current_scores` gives the export the manual grades and comments added later.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil
import types

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import nbformat
import sqlalchemy
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbformat.v4.nbjson import BytesEncoder
from nbgrader import utils
from nbgrader.api import (
    BaseCell,
    Comment,
    Grade,
    Gradebook,
    MissingEntry,
    Notebook,
    SubmittedNotebook,
)
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Any, Dict

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


#: How many validated metadata instances :func:`faster_nbgrader` remembers (then it starts over).
_MAX_KNOWN_VALID = 100_000
#: The types a JSON document read by nbformat is made of (NotebookNode is a dict).
_JSON_TYPES = (str, int, float, bool, type(None))


def _frozen(value):
    """``value`` (JSON data) as a hashable key that tells apart everything validation could:
    the exact type of every part (``True``, ``1`` and ``1.0`` differ; so do a list and a
    tuple) and every key and item in order; None for anything else (then it is not cached)."""
    kind = type(value)
    if kind in _JSON_TYPES:
        return (kind, value)
    if isinstance(value, dict) and kind in (dict, NotebookNode):
        items = []
        for key, item in value.items():
            part = _frozen(item)
            if type(key) is not str or part is None:
                return None
            items.append((key, part))
        return (kind, tuple(items))
    if kind in (list, tuple):
        parts = tuple(_frozen(item) for item in value)
        return None if None in parts else (kind, parts)
    return None


def faster_nbgrader() -> None:
    """Two costs of nbgrader 0.9.6 that buy nothing when one process records many results,
    removed without changing what it does (about half of each recording's time):

    - its metadata validator calls ``jsonschema.validate`` for every graded cell, several
      times per notebook, with a schema it reads from its file again each time, and that
      function checks the schema itself on each call. Here one validator per schema (by its
      content) is built, and the schema checked, once; a cell's metadata that passed before
      (the same content, with the same types: :func:`_frozen`) passes again without another
      check, since validation depends on nothing else; any other is validated, raising the
      same ``best_match`` error ``jsonschema.validate`` raises;
    - each ``Gradebook`` creates a new SQLAlchemy engine (about ten per recording), so no SQL
      statement's compiled form is ever reused; here one engine per database URL and options
      is kept for the process (``Gradebook.close`` still disposes its connections).
    """
    from nbgrader import api
    from nbgrader.nbgraderformat import common

    if getattr(api.create_engine, "_kept", False):
        return

    validators: dict[str, object] = {}  # a schema's canonical text: its validator
    last: list = [None, None]  # the schema object seen last, and its validator
    valid: set = set()  # (schema text, instance) pairs that passed

    def validate(instance, schema) -> None:
        if schema is not last[0]:  # nbgrader reads its schema file again for every notebook
            text = json.dumps(schema, sort_keys=True)
            if text not in validators:
                cls = jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
                validators[text] = (text, cls(schema))
            last[:] = [schema, validators[text]]
        text, validator = last[1]
        key = _frozen(instance)
        if key is not None and (text, key) in valid:
            return
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error
        if key is not None:
            if len(valid) >= _MAX_KNOWN_VALID:
                valid.clear()
            valid.add((text, key))

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


def _outcomes(course: Course, assignment: str, result: results.Result) -> dict:
    """notebook stem → grade_id → [points, message], as :class:`RecordedOutcomes` takes them.

    A result key is ``<notebook stem>/<grade_id>`` when the assignment has several notebooks,
    else the grade_id (see :meth:`Course.result_key`)."""
    multi = course.multi_notebook(assignment)
    only = None if multi else course.source_notebooks(assignment)[0].stem
    cells: dict = {}
    for key, points in result.tests.items():
        stem, _, grade_id = key.partition("/") if multi else (only, "", key)
        cells.setdefault(stem, {})[grade_id] = [float(points), result.messages.get(key, "")]
    return cells


def _recording_config(course: Course, assignment: str, graded: list[results.Result]):
    """nbgrader's configuration to record ``graded``: its autograde steps with their outcomes."""
    faster_nbgrader()
    config = course.nbgrader_config()
    config.Autograde.autograde_preprocessors = _pipeline()
    config.RecordedOutcomes.outcomes = {
        r.student_id: _outcomes(course, assignment, r) for r in graded
    }
    return config


def _recording_api(course: Course, assignment: str, graded: list[results.Result]):
    """nbgrader's API configured to record ``graded`` (imported here: a grading command that
    records with :class:`Recorder` alone never needs nbgrader's apps)."""
    from nbgrader.apps import NbGraderAPI

    return NbGraderAPI(config=_recording_config(course, assignment, graded))


class _Cells:
    """The gradebook as nbgrader's steps read it for one notebook, loaded once per recorder:
    the source, graded and task cells (plain copies, so no query runs again per cell)."""

    def __init__(self, gb: Gradebook, notebook: str, assignment: str):
        found = gb.find_notebook(notebook, assignment)
        self.kernelspec = found.kernelspec
        self.source_cells = [_copy(c) for c in found.source_cells]
        self.grade_cells = [_copy(c) for c in found.grade_cells]
        self.solution_cells = [_copy(c) for c in found.solution_cells]
        self.task_cells = [_copy(c) for c in found.task_cells]
        self._source = {c.name: c for c in self.source_cells}
        # nbgrader's find_graded_cell: a grade cell of that name, else a task cell.
        self._graded = {c.name: c for c in self.task_cells + self.grade_cells}

    # What OverwriteCells asks of a Gradebook.
    def find_notebook(self, notebook: str, assignment: str) -> _Cells:
        return self

    def find_source_cell(self, name: str, notebook: str, assignment: str):
        try:
            return self._source[name]
        except KeyError:
            raise MissingEntry() from None

    def find_graded_cell(self, name: str, notebook: str, assignment: str):
        try:
            return self._graded[name]
        except KeyError:
            raise MissingEntry() from None


def _copy(row) -> types.SimpleNamespace:
    """A database row's columns, as plain attributes."""
    columns = sqlalchemy.inspect(row).mapper.column_attrs
    return types.SimpleNamespace(**{c.key: getattr(row, c.key) for c in columns})


class _OverwriteCells(OverwriteCells):
    """nbgrader's OverwriteCells, reading the source cells the recorder loaded."""

    cells = Any()

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.gradebook = self.cells
        nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class _OverwriteKernelspec(OverwriteKernelspec):
    """nbgrader's OverwriteKernelspec, reading the kernelspec the recorder loaded."""

    cells = Any()

    def preprocess(self, nb, resources):
        if self.cells.kernelspec is not None:
            kernelspec = json.loads(self.cells.kernelspec)
            if kernelspec:
                nb.metadata["kernelspec"] = kernelspec
        return nb, resources


class _Session:
    """What SaveAutoGrades asks of a Gradebook, for one submitted notebook: its grades and
    comments, loaded in one query each; its commits wait for the recorder's one commit."""

    def __init__(self, gb: Gradebook, submitted):
        self.grades = _by_cell_name(gb, Grade, submitted)
        self.comments = _by_cell_name(gb, Comment, submitted)
        self.db = types.SimpleNamespace(commit=lambda: None)

    def find_grade(self, name, notebook, assignment, student):
        try:
            return self.grades[name]
        except KeyError:
            raise MissingEntry() from None

    def find_comment(self, name, notebook, assignment, student):
        try:
            return self.comments[name]
        except KeyError:
            raise MissingEntry() from None


def _by_cell_name(gb: Gradebook, kind, submitted) -> dict:
    """A submitted notebook's grades or comments by their cell's name (nbgrader's ``.name``)."""
    rows = (
        gb.db.query(kind, BaseCell.name)
        .join(BaseCell, kind.cell_id == BaseCell.id)
        .filter(kind.notebook_id == submitted.id)
    )
    return {name: row for row, name in rows}


class _SaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, writing into the recorder's open session."""

    session = Any()

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.gradebook = self.session
        return NbGraderPreprocessor.preprocess(self, nb, resources)


class _AssignLatePenalties(AssignLatePenalties):
    """nbgrader's AssignLatePenalties (its plugin, its checks), in the recorder's open gradebook:
    the grades just saved are flushed first, so the notebook's score is theirs (nbgrader's
    session flushes before every query anyway); the recorder commits once, at the end."""

    gb = Any()

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.init_plugin()
        self.gb.db.flush()
        submission = self.gb.find_submission(info["assignment"], info["student"])
        notebook = self.gb.find_submission_notebook(
            info["notebook"], info["assignment"], info["student"]
        )
        notebook.late_submission_penalty = None
        if submission.total_seconds_late > 0:
            penalty = self.plugin_inst.late_submission_penalty(
                info["student"], notebook.score, submission.total_seconds_late
            )
            if penalty is not None:
                notebook.late_submission_penalty = self._check_late_penalty(notebook, penalty)
        self.gb.db.flush()
        return nb, resources


#: Stand-ins for nbgrader's steps that read or write the gradebook (the others run as they are).
_IN_SESSION = {
    OverwriteKernelspec: _OverwriteKernelspec,
    OverwriteCells: _OverwriteCells,
    SaveAutoGrades: _SaveAutoGrades,
    AssignLatePenalties: _AssignLatePenalties,
}


class Recorder:
    """nbgrader's autograde of recorded outcomes, run here without nbgrader's converter.

    nbgrader's converter re-opens the gradebook about ten times per notebook, queries it once
    per cell and commits once per grade, and writes and re-reads the notebook between its two
    passes: about 0.18 s a notebook, the largest cost of a warm class. The recorder does the same
    steps in the same order with nbgrader's own step classes (sanitizing: ClearOutput,
    DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata; grading:
    :class:`RecordedOutcomes`, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata; nbformat's validation after each
    step that can change the notebook, :data:`_READS_ONLY`), the notebook written and read back
    between the passes (:func:`_written_and_read`), the converter's file steps (the submitted
    folder's files, the source folder's files, the timestamp, missing notebooks scored 0,
    read-only permissions), but with one open gradebook, the assignment's source cells loaded
    once, and one commit per notebook.
    ``tests/test_recording.py`` and ``tests/test_semantics.py`` record the same results both
    ways and require the same gradebook rows and the same autograded files.

    Anything it does not reproduce (a configuration other than the course's own, a step that
    fails) goes to nbgrader's converter (:func:`record`), which then has the last word."""

    def __init__(self, course: Course, assignment: str):
        faster_nbgrader()
        self.course, self.assignment = course, assignment
        self.config = _recording_config(course, assignment, [])
        self.coursedir = CourseDirectory(config=self.config)
        self.unsupported = _unsupported(self.config)
        self._gb: Gradebook | None = None
        self._cells: dict[str, _Cells] = {}

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._gb is not None:
            self._gb.close()
            self._gb = None

    def _gradebook(self) -> Gradebook:
        if self._gb is None:
            from grader.autograde import prepare_gradebook  # the course's pre-convert hook

            prepare_gradebook(self.course, self.assignment)
            self._gb = Gradebook(self.coursedir.db_url, self.coursedir.course_id)
        return self._gb

    def record(self, result: results.Result) -> results.Result:
        """:func:`record`, here; on anything unexpected, :func:`record` itself."""
        if result.status != results.GRADED:
            return result
        excluded = result.student_id in self.coursedir.student_id_exclude.split(",")
        if self.unsupported is None and not excluded:
            try:
                self._record(result)
                scores, _ = current_scores(
                    self._gb, self.course, self.assignment, result.student_id
                )
            except Exception as exc:  # noqa: BLE001  (nbgrader's converter decides then)
                log.info("%s: recorded by nbgrader's converter (%r)", result.student_id, exc)
                if self._gb is not None:
                    with contextlib.suppress(Exception):
                        self._gb.db.rollback()
            else:
                result.tests, result.score = scores, float(sum(scores.values()))
                return result
        return record(self.course, self.assignment, result)

    def _record(self, result: results.Result) -> None:
        gb, assignment, student = self._gradebook(), self.assignment, result.student_id
        coursedir = self.coursedir
        source = coursedir.format_path(coursedir.submitted_directory, student, assignment)
        dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
        found = sorted(glob.glob(os.path.join(glob.escape(source), "*.ipynb")))
        if not found:
            raise ValueError("no submitted notebook")
        # init_destination (force) and init_assignment, as the converter does them.
        if os.path.exists(dest):
            utils.rmtree(dest)
        ignore = coursedir.ignore + ["*.ipynb"]
        for filename in utils.find_all_files(source, ignore):
            _copy_file(filename, os.path.join(dest, os.path.relpath(filename, source)))
        gb.update_or_create_student(student)
        gb.find_assignment(assignment)
        timestamp = coursedir.get_existing_timestamp(source)
        if timestamp:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(assignment, student)
        master = coursedir.format_path(coursedir.source_directory, ".", assignment)
        for filename in utils.find_all_files(master, ignore):
            _copy_file(filename, os.path.join(dest, os.path.relpath(filename, master)))
        notebooks = [f for f in found if _stem(f) in self._known(gb)]
        if not notebooks:
            raise ValueError("no notebook of the assignment was submitted")
        for notebook in gb.find_assignment(assignment).notebooks:
            if not os.path.exists(os.path.join(source, f"{notebook.name}.ipynb")):
                for grade in gb.find_submission_notebook(
                    notebook.name, assignment, student
                ).grades:
                    grade.auto_score, grade.needs_manual_grade = 0, False
                gb.db.commit()
        outcomes = {student: _outcomes(self.course, assignment, result)}
        for filename in notebooks:
            self._notebook(gb, filename, dest, student, outcomes)
        permissions = 0o444  # the converter's default where the course is not group-shared
        for dirname, _, filenames in os.walk(dest):
            for name in filenames:
                os.chmod(os.path.join(dirname, name), permissions)

    def _known(self, gb: Gradebook) -> set[str]:
        if not self._cells:
            for notebook in gb.find_assignment(self.assignment).notebooks:
                self._cells[notebook.name] = _Cells(gb, notebook.name, self.assignment)
        return set(self._cells)

    def _notebook(self, gb, filename: str, dest: str, student: str, outcomes: dict) -> None:
        notebook = _stem(filename)
        info = {"student": student, "assignment": self.assignment, "notebook": notebook}
        resources = {"unique_key": notebook, "output_files_dir": f"{notebook}_files"}
        resources["nbgrader"] = {**info, "db_url": self.coursedir.db_url}
        cells = self._cells[notebook]
        session = _Session(gb, gb.find_submission_notebook(notebook, self.assignment, student))
        given = {
            _OverwriteKernelspec: {"cells": cells},
            _OverwriteCells: {"cells": cells},
            _SaveAutoGrades: {"session": session},
            _AssignLatePenalties: {"gb": gb},
            RecordedOutcomes: {"outcomes": outcomes},
        }
        nb = nbformat.read(filename, 4)
        for stage in ("sanitize_preprocessors", "autograde_preprocessors"):
            if stage == "autograde_preprocessors":
                nb = _written_and_read(nb)
            for step in self.config.Autograde.get(stage) or _default(stage):
                cls = _IN_SESSION.get(step, step)
                nb, resources = cls(config=self.config, **given.get(cls, {}))(nb, resources)
                if not issubclass(cls, _READS_ONLY):
                    nbformat.validate(nb, relax_add_props=True)
        # nbformat.writes, less its validation: the notebook passed it, unchanged since.
        text = nbformat.versions[nbformat.current_nbformat].writes_json(nb)
        text = text if text.endswith("\n") else text + "\n"
        gb.db.commit()
        os.makedirs(dest, exist_ok=True)
        with open(os.path.join(dest, f"{notebook}.ipynb"), "w", encoding="utf-8") as f:
            f.write(text)


#: nbgrader's steps that only read the notebook (they check its metadata, or save the grades
#: it holds): nbconvert's validation after each step would find the notebook that passed it
#: just before, unchanged. A notebook that passed nbformat's validation passes it again without
#: being changed (every cell has an id by then, and no id is repeated), so it is not repeated.
_READS_ONLY = (CheckCellMetadata, SaveAutoGrades, AssignLatePenalties)


def _written_and_read(nb):
    """``nbformat.reads(nbformat.writes(nb))``, as nbgrader's converter writes the notebook
    after its first pass and reads it back, for a notebook that has just passed validation:
    the same JSON document (json's C encoder, without the indentation), read by the same
    reader. ``writes`` would split multi-line strings into lines and strip transient metadata
    on a copy first; the reader joins exactly such lines again and strips the same keys, so
    the notebook read is the same. The validations ``writes`` and ``reads`` would repeat find
    nothing to repair or raise (they only log) in a notebook that just passed."""
    text = json.dumps(nb, cls=BytesEncoder, sort_keys=True, ensure_ascii=False)
    return nbformat.reader.reads(text)


def _default(stage: str) -> list:
    return list(Autograde.class_traits()[stage].default())


def _stem(filename: str) -> str:
    return os.path.splitext(os.path.basename(filename))[0]


def _copy_file(filename: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.exists(dest):
        os.remove(dest)
    shutil.copy(filename, dest)


def _unsupported(config) -> str | None:
    """Why the recorder cannot reproduce nbgrader's converter under ``config`` (None: it can)."""
    autograde = config.Autograde
    if autograde.get("post_convert_hook") or autograde.get("exclude_overwriting"):
        return "a post-convert hook or exclude_overwriting is configured"
    if config.CourseDirectory.get("groupshared") or config.CourseDirectory.get("notebook_id"):
        return "a shared or single-notebook course directory is configured"
    if any(config[name].get("permissions") for name in ("Autograde", "BaseConverter")):
        return "file permissions are configured"
    for stage in ("sanitize_preprocessors", "autograde_preprocessors"):
        for step in autograde.get(stage) or _default(stage):
            if step.__module__.split(".")[0] not in ("nbgrader", "nbconvert", "grader"):
                return f"a step of its own ({step.__name__}) is configured"
    return None


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
    submission = gb.find_submission(assignment, student)
    multi = course.multi_notebook(assignment)

    def rows(kind):
        return (
            gb.db.query(kind, Notebook.name, BaseCell.name)
            .join(SubmittedNotebook, kind.notebook_id == SubmittedNotebook.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(BaseCell, kind.cell_id == BaseCell.id)
            .filter(SubmittedNotebook.assignment_id == submission.id)
        )

    def key(notebook: str, name: str) -> str:  # Course.result_key, without a glob per cell
        return f"{notebook}/{name}" if multi else name

    scores = {key(nb, name): float(grade.score) for grade, nb, name in rows(Grade)}
    comments = {
        key(nb, name): comment.manual_comment
        for comment, nb, name in rows(Comment)
        if comment.manual_comment
    }
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
