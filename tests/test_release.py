"""The student notebooks in exercises/ are exactly what the release command generates."""

from __future__ import annotations

import filecmp
import shutil

import pytest

from grader.layout import Course
from grader.release import release
from tests.answers import answer_lines, leaks

COURSE = Course()


def test_every_assignment_is_released():
    released = sorted(p.name for p in COURSE.release_dir.iterdir() if p.is_dir())
    assert released == COURSE.assignments(), (
        "exercises/ and solutions/ hold different assignments: run `python -m grader release`"
    )


@pytest.mark.slow
def test_committed_exercises_equal_a_fresh_release(tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(COURSE.source_dir, copy / "solutions")
    release(course=Course(root=copy, workdir=tmp_path / "grading"))
    for assignment in COURSE.assignments():
        fresh, committed = copy / "exercises" / assignment, COURSE.release_dir / assignment
        cmp = filecmp.dircmp(fresh, committed)
        assert not (cmp.left_only or cmp.right_only), (
            f"{assignment}: files differ ({cmp.left_only} vs {cmp.right_only}); "
            "run `python -m grader release` and commit exercises/"
        )
        for name in cmp.common_files:
            assert (fresh / name).read_text() == (committed / name).read_text(), (
                f"exercises/{assignment}/{name} is stale: "
                "run `python -m grader release` and commit exercises/"
            )


def test_answer_catalogue_is_not_empty():
    lines = answer_lines(COURSE.source_dir)
    assert len(lines) >= 10, f"only {len(lines)} answer lines found: is the extraction broken?"


def test_student_notebooks_contain_no_answer_text():
    lines = answer_lines(COURSE.source_dir)
    files = sorted(COURSE.release_dir.rglob("*"))
    found = leaks([f for f in files if f.is_file()], lines)
    assert not found, "answer text in exercises/:\n" + "\n".join(found)
    # Bytes, not text: an assignment may ship binary data files (images, .npy).
    markers = [f for f in files if f.is_file() and b"BEGIN SOLUTION" in f.read_bytes()]
    assert not markers, f"solution markers left in {markers}"


def test_leak_detector_finds_a_planted_answer(tmp_path):
    lines = answer_lines(COURSE.source_dir)
    planted = tmp_path / "page.html"
    planted.write_text("<pre>" + next(iter(lines)) + "</pre>")
    assert leaks([planted], lines), "the leak detector missed an answer line planted in a page"
