"""The gradebook recorder leaves exactly what nbgrader's own autograde converter leaves.

:class:`grader.gradebook.Recorder` runs nbgrader's autograde steps for sandbox results without
nbgrader's converter (one open gradebook, source cells loaded once). Formgrader, manual grading
and ``nbgrader export`` read that state, so it must be the converter's, row for row and byte
for byte. Here the same results are recorded both ways, into two grading folders holding the
same submissions, and everything is compared: every gradebook row (ids resolved to names),
every file of the autograded folder with its permissions.

The submissions are the kinds an instructor meets: two notebooks, one of them missing; a late
submission (nbgrader's late-penalty step); partial credit, failures and untouched answers; a
notebook whose student edited a locked test cell, deleted a test cell and changed a cell's type;
an extra data file; a regrade after a grader's manual score; and a notebook nbgrader cannot
record at all, which both ways must refuse alike.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader import gradebook, results
from grader.autograde import prepare_gradebook
from grader.layout import Course
from tests.course_factory import answer_cell, graded_cell, nbgrader_meta

ASSIGNMENT = "ps2"


def _sources() -> dict[str, nbformat.NotebookNode]:
    first = [
        new_code_cell("import math\n", metadata=nbgrader_meta("setup", locked=True)),
        answer_cell(
            "double",
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
        ),
        graded_cell("t1", "assert double(2) == 4\n", points=2),
        graded_cell("t2", "assert double(0) == 0\n", points=1),
        new_markdown_cell(
            "Explain.\n\n=== BEGIN MARK SCHEME ===\nsay why\n=== END MARK SCHEME ===",
            metadata=nbgrader_meta("task", task=True, locked=True, points=3),
        ),
        new_markdown_cell(
            "YOUR ANSWER HERE",
            metadata=nbgrader_meta("essay", grade=True, solution=True, points=2),
        ),
    ]
    second = [
        answer_cell(
            "half",
            "def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION\n",
        ),
        graded_cell("h1", "assert half(4) == 2\n", points=4),
    ]
    kernel = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return {
        "part1": new_notebook(cells=first, metadata=kernel),
        "part2": new_notebook(cells=second, metadata=kernel),
    }


def _submitted(released: Path, student: str) -> dict[str, nbformat.NotebookNode]:
    """The student's notebooks, from the released ones, as ``student`` left them."""
    nbs = {stem: nbformat.read(released / f"{stem}.ipynb", 4) for stem in ("part1", "part2")}
    for nb in nbs.values():
        for cell in nb.cells:
            if cell.cell_type == "code":  # what a kernel left behind
                cell.outputs = [new_output("stream", name="stdout", text="ran\n")]
                cell.execution_count = 3
    first = nbs["part1"].cells
    if student != "untouched":
        first[1].source = "def double(x):\n    return x + x\n"
        first[5].source = "Because doubling is adding twice."
        nbs["part2"].cells[0].source = "def half(x):\n    return x / 2\n"
    if student == "tampered":
        first[2].source = "assert True  # made to pass\n"  # a locked test cell edited
        del first[3]  # a test cell deleted (nbgrader puts it back)
        first[4].cell_type = "code"  # the essay cell made a code cell
        first[4].outputs, first[4].execution_count = [], None
    if student == "duplicated":  # nbgrader 0.9.6 cannot record this notebook
        first.insert(2, nbformat.from_dict(dict(first[1])))
        first[2]["id"] = "copy"
    if student == "one_notebook":
        del nbs["part2"]
    return nbs


STUDENTS = {
    # student: (points per result key, messages, timestamp)
    "full": ({"part1/t1": 2, "part1/t2": 1, "part2/h1": 4}, {}, "2026-11-01 10:00:00.000000 UTC"),
    "partial": (
        {"part1/t1": 0.5, "part1/t2": 0, "part2/h1": 4},
        {"part1/t1": "double(2) gave 3", "part1/t2": "wrong at 0"},
        "2026-11-01 11:00:00.000000 UTC",
    ),
    "late": (
        {"part1/t1": 2, "part1/t2": 0, "part2/h1": 4},
        {"part1/t2": "no"},
        "2026-12-03 09:00:00.000000 UTC",
    ),  # fmt: skip
    "untouched": ({"part1/t1": 0, "part1/t2": 0, "part2/h1": 0}, {}, None),
    "tampered": ({"part1/t1": 0, "part1/t2": 1, "part2/h1": 4}, {"part1/t1": "x"}, None),
    "one_notebook": ({"part1/t1": 2, "part1/t2": 1}, {}, "2026-11-02 08:00:00.000000 UTC"),
    "duplicated": ({"part1/t1": 2, "part1/t2": 1, "part2/h1": 4}, {}, None),
}


def _result(student: str) -> results.Result:
    tests, messages, _ = STUDENTS[student]
    return results.Result(
        student_id=student,
        assignment=ASSIGNMENT,
        status=results.GRADED,
        score=float(sum(tests.values())),
        max_score=12.0,
        tests=dict(tests),
        messages=dict(messages),
        engine="sandbox",
    )


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two grading folders over one course, holding the same submissions, gradebooks ready."""
    root = tmp_path_factory.mktemp("recording")
    source = root / "solutions" / ASSIGNMENT
    source.mkdir(parents=True)
    for stem, nb in _sources().items():
        nbformat.write(nb, source / f"{stem}.ipynb")
    (source / "table.csv").write_text("a,b\n1,2\n")  # a file the assignment ships
    courses = [Course(root=root, workdir=root / name) for name in ("converter", "recorder")]
    for course in courses:
        prepare_gradebook(course, ASSIGNMENT)
        with gradebook.Gradebook(course.db_url) as gb:  # a due date, for the late penalty
            gb.update_or_create_assignment(ASSIGNMENT, duedate=dt.datetime(2026, 12, 1))
        released = course.workdir / "release" / ASSIGNMENT
        for student, (_, _, stamp) in STUDENTS.items():
            folder = course.submitted_dir / student / ASSIGNMENT
            folder.mkdir(parents=True)
            for stem, nb in _submitted(released, student).items():
                nbformat.write(nb, folder / f"{stem}.ipynb")
            if stamp:
                (folder / "timestamp.txt").write_text(stamp)
            if student == "tampered":
                (folder / "notes.csv").write_text("my notes\n")
                (folder / "table.csv").write_text("replaced by the student\n")
    return courses


def _rows(course: Course) -> dict[str, list[str]]:
    """Every row of the gradebook, its ids replaced by the names of the rows they point to."""
    db = sqlite3.connect(course.gradebook_path)
    db.row_factory = sqlite3.Row
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    dump = {t: [dict(r) for r in db.execute(f"SELECT * FROM {t}")] for t in tables}  # noqa: S608
    names = {}
    for table, rows in dump.items():
        for row in rows:
            if row.get("id"):
                names[row["id"]] = f"{table}:{row.get('name') or row.get('student_id') or ''}"
    return {
        table: sorted(
            json.dumps({k: names.get(v, v) for k, v in row.items() if k != "id"}, default=str)
            for row in rows
        )
        for table, rows in dump.items()
    }


def _files(course: Course) -> dict[str, tuple[int, bytes]]:
    """Every file and folder of the autograded folder: permissions and bytes. A cell nbgrader
    put back (a deleted test cell) gets a random id each time, both ways: that id is masked."""
    root = course.autograded_dir
    files = {}
    for path in sorted(root.rglob("*")):
        data = path.read_bytes() if path.is_file() else b""
        if path.suffix == ".ipynb":
            submitted = nbformat.read(course.submitted_dir / path.relative_to(root), 4)
            ids = {cell.get("id") for cell in submitted.cells}
            nb = json.loads(data)
            for cell in nb["cells"]:
                if cell.get("id") not in ids:
                    cell["id"] = "put back by nbgrader"
            data = json.dumps(nb, sort_keys=True).encode()
        files[str(path.relative_to(root))] = (path.stat().st_mode & 0o777, data)
    return files


def _manual_grade(course: Course, student: str) -> None:
    """A grader's manual score and comment in formgrader, before a regrade."""
    with gradebook.Gradebook(course.db_url) as gb:
        grade = gb.find_grade("t1", "part1", ASSIGNMENT, student)
        grade.manual_score = 1.5
        comment = gb.find_comment("essay", "part1", ASSIGNMENT, student)
        comment.manual_comment = "see me"
        gb.db.commit()


def test_the_recorder_leaves_what_nbgraders_converter_leaves(folders, monkeypatch):
    converter, recorder = folders
    recorded = {}
    for student in STUDENTS:
        recorded[("converter", student)] = gradebook.record(
            converter, ASSIGNMENT, _result(student)
        )
    with monkeypatch.context() as m:
        fallbacks = []
        original = gradebook.record
        m.setattr(
            gradebook,
            "record",
            lambda c, a, r: fallbacks.append(r.student_id) or original(c, a, r),
        )
        # The steps after which the recorder does not validate again must not change the
        # notebook (on every notebook recorded here).
        for cls in gradebook._READS_ONLY:
            m.setattr(cls, "__call__", _unchanging(cls.__call__))
        with gradebook.Recorder(recorder, ASSIGNMENT) as rec:
            for student in STUDENTS:
                recorded[("recorder", student)] = rec.record(_result(student))
    # Only the notebook nbgrader itself cannot record went to nbgrader's converter.
    assert fallbacks == ["duplicated"], fallbacks
    for student in STUDENTS:
        a, b = recorded[("converter", student)], recorded[("recorder", student)]
        assert (a.tests, a.score, a.reason) == (b.tests, b.score, b.reason), student
    assert "not recorded" in recorded[("recorder", "duplicated")].reason
    assert "not recorded" not in recorded[("recorder", "tampered")].reason

    # A regrade after a grader's manual score: nbgrader then flags the cell for review.
    for course in folders:
        _manual_grade(course, "partial")
    gradebook.record(converter, ASSIGNMENT, _result("partial"))
    with gradebook.Recorder(recorder, ASSIGNMENT) as rec:
        again = rec.record(_result("partial"))
    assert again.tests["part1/t1"] == 1.5, again.tests  # the manual score stands

    assert _rows(recorder) == _rows(converter)
    assert _files(recorder) == _files(converter)


def _unchanging(call):
    def checked(self, nb, resources):
        before = copy.deepcopy(nb)
        out, resources = call(self, nb, resources)
        assert out is nb and nb == before, f"{type(self).__name__} changed the notebook"
        return out, resources

    return checked


def test_the_recorders_round_trip_is_nbformats():
    """Between its passes nbgrader's converter writes the notebook and reads it back; the
    recorder's shortcut must read back the same notebook, whatever the cells hold."""
    nb = new_notebook(metadata={"orig_nbformat": 3, "signature": "x"})
    nb.cells = [
        new_markdown_cell(
            "# Título\n\nline two\n",
            attachments={
                "a.png": {"image/png": "iVBORw0KGgo=", "text/plain": ["one\n", "two"]},
            },
        ),
        new_code_cell("x = 1\nprint(x)\n", metadata={"trusted": True, "tags": ["a", "b"]}),
        new_code_cell(
            "y",
            outputs=[
                new_output("stream", name="stdout", text="a\nb\n"),
                new_output("stream", name="stderr", text=["kept\n", "as lines"]),
                new_output(
                    "execute_result",
                    execution_count=1,
                    data={
                        "text/plain": "1\n2",
                        "text/html": ["<b>", "x</b>"],
                        "application/json": {"k": ["v\n", "w"]},
                        "image/svg+xml": "<svg>\n</svg>",
                        "application/vnd.custom+json": ["not", "joined"],
                    },
                ),
                new_output("display_data", data={"image/png": "AAAA", "text/plain": "img"}),
                new_output("error", ename="E", evalue="é", traceback=["line 1\n", "line 2"]),
            ],
        ),
        new_code_cell(["already\n", "a list"]),
    ]
    nbformat.validate(nb)
    expected = nbformat.reads(nbformat.writes(copy.deepcopy(nb), version=4), 4)
    assert gradebook._written_and_read(copy.deepcopy(nb)) == expected


def test_the_comparison_sees_a_difference(folders):
    """Guards the test above: the state compared is rich enough to tell recordings apart."""
    converter, _ = folders
    rows, files = _rows(converter), _files(converter)
    # The late one is late (nbgrader's late-penalty step runs its plugin on it).
    assert any('"timestamp": "2026-12-03' in r for r in rows["submitted_assignment"])
    assert any('"duedate": "2026-12-01' in r for r in rows["assignment"]), rows["assignment"]
    assert any('"needs_manual_grade": 1' in r for r in rows["grade"])
    assert any('"auto_comment": "No response."' in r for r in rows["comment"])
    assert any(name.endswith("notes.csv") for name in files)
    # The student's table.csv is replaced by the assignment's own.
    table = files[f"tampered/{ASSIGNMENT}/table.csv"]
    assert table == (0o444, b"a,b\n1,2\n"), table
    copy = converter.workdir.parent / "copy"
    shutil.copytree(converter.workdir, copy)
    changed = Course(root=converter.root, workdir=copy)
    with gradebook.Gradebook(changed.db_url) as gb:
        gb.find_grade("t2", "part1", ASSIGNMENT, "full").auto_score = 0.5
        gb.db.commit()
    assert _rows(changed) != rows


def test_nbgraders_metadata_checks_still_refuse_what_jsonschema_refuses():
    """faster_nbgrader remembers metadata that passed; nothing that would fail may pass."""
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator, common

    gradebook.faster_nbgrader()
    schema = MetadataValidator().schema
    good = nbgrader_meta("tests", points=1)["nbgrader"]

    def refused(instance, schema_used=schema) -> bool:
        expected = True
        try:
            jsonschema.validate(instance, schema_used)
            expected = False
        except jsonschema.ValidationError:
            pass
        try:
            common.jsonschema.validate(instance, schema_used)
        except jsonschema.ValidationError as exc:
            assert expected, f"refused what jsonschema accepts: {exc.message}"
            return True
        assert not expected, f"accepted what jsonschema refuses: {instance!r}"
        return False

    assert not refused(good) and not refused(dict(good))  # remembered, then found again
    # Equal in Python, but of another type: 1 == True, yet a number is not a boolean.
    assert refused({**good, "grade": 1})
    assert refused({**good, "grade_id": ["tests"]})
    assert refused({**good, "grade_id": ("tests",)})  # a tuple is no array either
    changed = dict(good)
    assert not refused(changed)
    changed["locked"] = "yes"  # the same object, changed after it passed
    assert refused(changed)
    # The schema read again from nbgrader's file (a new object each time), and another schema.
    assert not refused(good, json.loads(json.dumps(schema)))
    stricter = {**schema, "required": [*schema.get("required", []), "not_there"]}
    assert refused(good, stricter)
