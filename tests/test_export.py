"""Export and the commands around it, on saved results (no grading): columns in notebook order,
the late policy, clean cells, leftover temporary files, closed pipes, help texts."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import cli
from grader.export import LatePolicy, export, ordered_tests
from grader.layout import Course
from grader.results import GRADED, UNGRADABLE, Result, load_results

REPO = Path(__file__).resolve().parent.parent
EVIL = '=HYPERLINK("http://x")\x1b]52;c;ZXZpbA==\x07\x1b[2J'


@pytest.fixture
def course(tmp_path) -> Course:
    """The real course with saved results for a1 and a2 (all tests passed but the last)."""
    course = Course(root=REPO, workdir=tmp_path / "grading")
    for assignment in ("a1_rectifier", "a2_sparsity"):
        order = ordered_tests(course, assignment)
        for student, late_reason in (("ann", ""), ("bob", EVIL)):
            tests = {t: 1.0 for t in order[:-1]} | {order[-1]: 0.0}
            Result(
                student, assignment, GRADED, sum(tests.values()), 27.0, tests, late_reason
            ).save(course)
        Result.ungradable("cyd", assignment, 27.0, "-1 cells; \x1b[31mred").save(course)
    return course


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_csv_columns_are_the_assignments_tests_in_notebook_order(course, tmp_path):
    out = tmp_path / "a1.csv"
    export(course=course, path=out, assignment="a1_rectifier")
    header, *body = _rows(out)
    tests = header[header.index("notes") + 1 :]
    assert tests == ordered_tests(course, "a1_rectifier"), tests
    assert tests != sorted(tests), "the notebook order is not the alphabetical one here"
    assert {r[4] for r in body} == {"a1_rectifier"} and len(body) == 3

    both = tmp_path / "all.csv"
    export(course=course, path=both)
    header = _rows(both)[0]
    tests = header[header.index("notes") + 1 :]
    expected = [f"a1_rectifier/{t}" for t in ordered_tests(course, "a1_rectifier")] + [
        f"a2_sparsity/{t}" for t in ordered_tests(course, "a2_sparsity")
    ]
    assert tests == expected


def test_test_order_follows_the_source_notebook():
    course = Course(root=REPO)
    import nbformat

    cells = nbformat.read(course.source_notebooks("a1_rectifier")[0], 4).cells
    ids = [c.metadata["nbgrader"]["grade_id"] for c in cells if c.metadata.get("nbgrader", {})
           .get("grade")]  # fmt: skip
    assert ordered_tests(course, "a1_rectifier") == ids


def test_cells_are_clean_and_cannot_be_formulas(course, tmp_path):
    out = tmp_path / "g.csv"
    export(course=course, path=out, assignment="a1_rectifier")
    text = out.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text
    rows = {r[0]: r for r in _rows(out)[1:]}
    header = _rows(out)[0]
    reason = header.index("reason")
    assert rows["bob"][reason].startswith("'=HYPERLINK"), rows["bob"]
    assert rows["cyd"][reason] == "'-1 cells; red", "a reason starting with '-' is text"
    assert rows["ann"][header.index("score")] == "17", "numbers stay numbers"


def test_late_policy():
    due = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)
    policy = LatePolicy(per_day=10, due=due)
    assert policy.days_late(False, "2026-11-30T23:00:00+00:00") == 0
    assert policy.days_late(True, "2026-12-01T00:30:00+00:00") == 1
    assert policy.days_late(False, "2026-12-02T00:30:00+00:00") == 2, "late by time alone"
    assert policy.days_late(True, "") == 1, "the LMS's flag without a time: one day"
    assert policy.penalty(20.0, 27.0, 2) == pytest.approx(5.4)
    assert policy.penalty(3.0, 27.0, 5) == 3.0, "never below zero"
    assert LatePolicy().penalty(20.0, 27.0, 3) == 0.0, "no penalty by default"


def test_late_penalty_applies_in_the_export_only(course, tmp_path):
    from grader.intake import _write_json, intake_dir

    record = {"lms": "canvas", "lms_id": "42", "name": "ann", "late": True, "notes": []}
    _write_json(intake_dir(course, "a1_rectifier") / "students" / "ann.json", record)
    out = tmp_path / "late.csv"
    export(course=course, path=out, assignment="a1_rectifier", policy=LatePolicy(per_day=50))
    header, *body = _rows(out)
    ann = dict(zip(header, next(r for r in body if r[0] == "ann"), strict=True))
    assert (ann["score"], ann["penalty"], ann["final_score"]) == ("17", "13.5", "3.5"), ann
    saved = {r.student_id: r for r in load_results(course, "a1_rectifier")}
    assert saved["ann"].score == 17.0, "the stored score is never changed"
    written = export(
        course=course, path=tmp_path / "c.csv", fmt="canvas", assignment="a1_rectifier"
    )
    assert [r[1] for r in _rows(tmp_path / "c.csv")[2:]] == ["42"]
    assert any("bob" in s and "Canvas" in s for s in written.skipped), written.skipped


def test_leftover_temporary_result_files_are_ignored_and_cleaned(course, tmp_path, capsys):
    folder = course.results_dir / "a1_rectifier"
    old, young = folder / ".tmp-old123.json", folder / ".tmp-new456.json"
    old.write_text('{"student_id": "ann", "sco')
    young.write_text("")
    stale = time.time() - 3600
    os.utime(old, (stale, stale))
    (folder / "dan.json").write_text("{ half")
    args = ["--root", str(REPO), "--workdir", str(course.workdir)]
    assert cli.main([*args, "export", "--out", str(tmp_path / "x.csv")]) == 0
    assert cli.main([*args, "status"]) == 0
    out = capsys.readouterr().out
    assert not old.exists() and young.exists(), "only a stale temporary file is removed"
    assert "ATTENTION results/a1_rectifier/dan.json: unreadable result" in out, out
    assert "\x1b" not in out and "ATTENTION cyd: -1 cells; red" in out, out


def test_every_command_survives_a_closed_pipe(course):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for command in (["status"], ["export", "--out", "/dev/stdout"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "--workdir", str(course.workdir), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        proc.stdout.close()  # the reader is gone before anything is written (`| head -0`)
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, err
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_help_says_what_collect_accepts_and_how_ids_are_made(capsys):
    with pytest.raises(SystemExit):
        cli.main(["collect", "--help"])
    text = capsys.readouterr().out
    for words in ("zip", "Canvas", "Moodle", "Student ids", "participantid", "--roster"):
        assert words in text, f"collect --help should mention {words!r}"
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    text = capsys.readouterr().out
    for words in ("canvas", "moodle", "--late-penalty", "--feedback-zip"):
        assert words in text, f"export --help should mention {words!r}"


def test_ungradable_rows_say_why(course, tmp_path):
    out = tmp_path / "g.csv"
    export(course=course, path=out, assignment="a2_sparsity")
    header, *body = _rows(out)
    cyd = dict(zip(header, next(r for r in body if r[0] == "cyd"), strict=True))
    assert cyd["status"] == UNGRADABLE and cyd["final_score"] == "0" and cyd["reason"], cyd


def test_an_lms_export_without_that_lms_students_says_so(course, tmp_path):
    from grader.errors import GraderError

    with pytest.raises(GraderError, match="collected from a Moodle download"):
        export(course=course, path=tmp_path / "m.csv", fmt="moodle")
    assert not (tmp_path / "m.csv").exists()
