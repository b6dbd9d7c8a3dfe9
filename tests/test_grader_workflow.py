"""collect → autograde → export on a tiny course, with good and bad submissions mixed."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from grader import cli
from grader.errors import GraderError
from grader.intake import collect, normalise_student_id, notebook_problem
from grader.results import load_results
from tests.course_factory import ASSIGNMENT, MAX_SCORE, NOTEBOOK, make_course, student_notebook

RIGHT = "def double(x):\n    return x + x\n"
HALF_RIGHT = "def double(x):\n    return 4 if x == 2 else 0\n"  # passes the zero test only


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class of six submissions, collected, graded and exported through the CLI."""
    root = tmp_path_factory.mktemp("course")
    course = make_course(root)
    inbox = root / "inbox"

    def put(student: str, name: str, content: bytes | nbformat.NotebookNode) -> None:
        folder = inbox / student
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            nbformat.write(content, folder / name)

    put("Right Student", NOTEBOOK, student_notebook(course, RIGHT))
    put("half", NOTEBOOK, student_notebook(course, HALF_RIGHT))
    put("untouched", NOTEBOOK, student_notebook(course, None))
    put("renamed", "my_work (1).ipynb", student_notebook(course, RIGHT))
    put("broken_json", NOTEBOOK, b'{"cells": [')
    put("empty", NOTEBOOK, b"")
    before = sorted(
        (p.relative_to(inbox), p.read_bytes()) for p in inbox.rglob("*") if p.is_file()
    )

    args = ["--root", str(root), "--workdir", str(course.workdir)]
    assert cli.main([*args, "collect", ASSIGNMENT, str(inbox)]) == 0
    assert cli.main([*args, "autograde", ASSIGNMENT]) == 0
    assert cli.main([*args, "export", "--csv", str(root / "grades.csv")]) == 0
    after = sorted((p.relative_to(inbox), p.read_bytes()) for p in inbox.rglob("*") if p.is_file())
    rows = {r["student_id"]: r for r in csv.DictReader(open(root / "grades.csv"))}
    return {"course": course, "rows": rows, "inbox_unchanged": before == after, "args": args}


@pytest.mark.slow
def test_scores_follow_the_tests(graded):
    rows = graded["rows"]
    assert rows["right_student"]["score"] == "3", rows["right_student"]
    assert rows["half"]["score"] == "1", f"half-right answer should earn 1 point: {rows['half']}"
    assert rows["untouched"]["score"] == "0", rows["untouched"]
    assert all(r["max_score"] == f"{MAX_SCORE:g}" for r in rows.values()), rows


@pytest.mark.slow
def test_export_has_one_column_per_test(graded):
    row = graded["rows"]["half"]
    assert (row["double_values"], row["double_zero"]) == ("0", "1"), row


@pytest.mark.slow
def test_renamed_notebook_is_graded_with_a_note(graded):
    course = graded["course"]
    row = graded["rows"]["renamed"]
    assert row["score"] == "3" and row["status"] == "graded", row
    assert (course.submitted_dir / "renamed" / ASSIGNMENT / NOTEBOOK).exists()


@pytest.mark.slow
@pytest.mark.parametrize("student, words", [("broken_json", "not valid JSON"), ("empty", "empty")])
def test_bad_files_get_a_recorded_zero_with_a_reason(graded, student, words):
    row = graded["rows"][student]
    assert row["status"] == "ungradable" and row["score"] == "0", row
    assert words in row["reason"], f"reason should say {words!r}: {row['reason']!r}"
    quarantined = graded["course"].quarantine_dir / ASSIGNMENT / student
    assert (quarantined / NOTEBOOK).exists(), "the bad file must be kept in quarantine"
    assert words in (quarantined / "REASON.txt").read_text()


@pytest.mark.slow
def test_collect_never_modifies_the_submission_folder(graded):
    assert graded["inbox_unchanged"], "collect changed or removed files in the source folder"


@pytest.mark.slow
def test_autograde_resumes_without_regrading(graded, capsys):
    assert cli.main([*graded["args"], "autograde", ASSIGNMENT]) == 0
    assert "nothing to grade" in capsys.readouterr().out


@pytest.mark.slow
def test_results_are_saved_one_file_per_submission(graded):
    course = graded["course"]
    files = sorted(p.stem for p in (course.results_dir / ASSIGNMENT).glob("*.json"))
    assert files == sorted(graded["rows"]), files
    data = json.loads((course.results_dir / ASSIGNMENT / "half.json").read_text())
    assert data["tests"] == {"double_values": 0.0, "double_zero": 1.0}, data
    assert [r.student_id for r in load_results(course, ASSIGNMENT)] == sorted(graded["rows"])


def test_student_ids_are_normalised():
    assert normalise_student_id("  Ada LOVELACE ") == "ada_lovelace"
    assert normalise_student_id("../s123/x") == "s123_x", "path parts must not survive"
    with pytest.raises(GraderError, match="student id"):
        normalise_student_id("///")


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a Jupyter notebook"),
        (b'{"cells": "nope", "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "format"),
    ],
)
def test_notebook_problems_are_named(tmp_path, content, words):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    problem = notebook_problem(path)
    assert problem and words in problem, f"{content!r}: got {problem!r}"


def test_collect_rejects_a_missing_folder(tmp_path):
    course = make_course(tmp_path, certify=False)  # nothing is graded here
    with pytest.raises(GraderError, match="does not exist"):
        collect(course=course, assignment=ASSIGNMENT, source=tmp_path / "nope")


def test_cli_reports_user_errors_in_one_line(tmp_path, capsys):
    course = make_course(tmp_path, certify=False)  # nothing is graded here
    status = cli.main(
        ["--root", str(tmp_path), "--workdir", str(course.workdir), "autograde", "a0_nothing"]
    )
    err = capsys.readouterr().err
    assert status == 2, status
    assert err.startswith("error: unknown assignment 'a0_nothing'") and err.count("\n") == 1, err


def test_export_without_results_says_what_to_do(tmp_path, capsys):
    course = make_course(tmp_path, certify=False)  # nothing is graded here
    args = ["--root", str(tmp_path), "--workdir", str(course.workdir)]
    assert cli.main([*args, "export", "--csv", str(tmp_path / "g.csv")]) == 2
    assert "run `python -m grader autograde` first" in capsys.readouterr().err


@pytest.mark.slow
def test_report_has_the_plots_and_the_problems(graded, tmp_path):
    path = tmp_path / "report.html"
    assert cli.main([*graded["args"], "report", "--html", str(path)]) == 0
    page = path.read_text()
    assert page.count("data:image/png;base64,") == 2, "want a histogram and a failure-rate plot"
    assert "broken_json" in page and "not valid JSON" in page, "ungradable work must be listed"


@pytest.mark.slow
def test_status_lists_what_needs_attention(graded, capsys):
    assert cli.main([*graded["args"], "status"]) == 0
    out = capsys.readouterr().out
    assert "ATTENTION broken_json" in out and "ATTENTION empty" in out, out
    assert f"{ASSIGNMENT}: 4 collected, 4 graded, 0 waiting, 2 need attention" in out, out


@pytest.mark.slow
def test_feedback_pages_name_each_test(graded):
    assert cli.main([*graded["args"], "feedback", ASSIGNMENT]) == 0
    page = (graded["course"].feedback_dir / ASSIGNMENT / "half.html").read_text()
    assert "double_values" in page and "doubles numbers" in page, page
    assert "a hidden check failed" in page, "half's hidden failure should be reported"
    assert "assert_allclose" not in page and "-7.0" not in page, "hidden test text leaked"


def test_collect_reads_an_lms_zip(tmp_path):
    import zipfile

    course = make_course(tmp_path, certify=False)  # nothing is graded here
    zpath = tmp_path / "download.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        # A Canvas file: keyed by the user id (123), not by the name; its own name is right.
        zf.writestr(
            "ada_123_456_a9_double.ipynb", nbformat.writes(student_notebook(course, RIGHT))
        )
        zf.writestr("bob_789_a9_double.ipynb", b"")
    outcomes = {
        o.student_id: o for o in collect(course=course, assignment=ASSIGNMENT, source=zpath)
    }
    assert outcomes["123"].accepted and "renamed" not in outcomes["123"].message, outcomes
    assert outcomes["123"].name == "ada" and outcomes["123"].lms == "canvas", outcomes
    assert not outcomes["bob"].accepted and "empty" in outcomes["bob"].message, outcomes
    assert (course.submitted_dir / "123" / ASSIGNMENT / NOTEBOOK).exists()


def test_collect_records_a_zip_entry_that_escapes(tmp_path):
    import zipfile

    course = make_course(tmp_path, certify=False)  # nothing is graded here
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../outside.ipynb", b"{}")
        zf.writestr("ada/a9_double.ipynb", nbformat.writes(student_notebook(course, RIGHT)))
    outcomes = collect(course=course, assignment=ASSIGNMENT, source=zpath)
    assert [o.student_id for o in outcomes] == ["ada"], outcomes
    assert not (tmp_path.parent / "outside.ipynb").exists()
    manifest = json.loads((course.workdir / "intake" / ASSIGNMENT / "manifest.json").read_text())
    refused = [f for f in manifest["files"] if f["outcome"] == "refused"]
    assert len(refused) == 1 and "'..'" in refused[0]["reason"], manifest
