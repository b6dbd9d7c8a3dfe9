"""Mistakes students make are seen before submission: a visible check flags each one.

``tests/mistakes/<assignment>.py`` holds plausible wrong answers written as a student errs
(separate from the mutants, which prove the hidden tests), each naming the visible check that
flags it, or ``None`` where no visible check does (the hidden checks still must). Each mistake
is run like "Run All" and then graded in the same kernel: it must lose points, Run All must
reach the end, and the named check must report the failure with a readable message. At least
90% of each assignment's mistakes must be flagged by a visible check.
"""

from __future__ import annotations

import pytest

from grader.layout import Course
from tests.mistake_run import load_mistakes, run_with_grading
from tests.test_student_notebooks import UNREADABLE

COURSE = Course()
CATALOGUED = [
    a for a in COURSE.assignments() if (COURSE.root / "tests" / "mistakes" / f"{a}.py").exists()
]
MIN_FLAGGED_RATE = 0.9
MIN_MISTAKES = 10


def _test_ids(assignment: str) -> set[str]:
    import nbformat

    return {
        c.metadata["nbgrader"]["grade_id"]
        for path in COURSE.source_notebooks(assignment)
        for c in nbformat.read(path, 4).cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }


def _cases():
    for assignment in CATALOGUED:
        for name, mistake in load_mistakes(assignment).MISTAKES.items():
            yield pytest.param(assignment, name, mistake, id=f"{assignment}-{name}")


def test_every_assignment_has_a_catalogue():
    missing = [a for a in COURSE.assignments() if a not in CATALOGUED]
    assert not missing, f"no tests/mistakes/<assignment>.py for {missing}"


@pytest.mark.parametrize("assignment", CATALOGUED)
def test_at_least_90_percent_of_mistakes_are_flagged_visibly(assignment):
    mistakes = load_mistakes(assignment).MISTAKES
    assert len(mistakes) >= MIN_MISTAKES, f"{assignment}: only {len(mistakes)} mistakes"
    known = _test_ids(assignment)
    unknown = {n: m["flagged_by"] for n, m in mistakes.items() if m["flagged_by"] not in known}
    unknown = {n: f for n, f in unknown.items() if f is not None}
    assert not unknown, f"{assignment}: flagged_by names no test cell: {unknown}"
    flagged = sum(m["flagged_by"] is not None for m in mistakes.values())
    rate = flagged / len(mistakes)
    print(f"{assignment}: {flagged}/{len(mistakes)} mistakes flagged by a visible check")
    assert rate >= MIN_FLAGGED_RATE, f"{assignment}: {rate:.0%} flagged, want >= 90%"


@pytest.mark.slow
@pytest.mark.parametrize("assignment, name, mistake", list(_cases()))
def test_mistake_loses_points_and_is_flagged_where_claimed(assignment, name, mistake, tmp_path):
    run = run_with_grading(COURSE, assignment, mistake["code"], tmp_path / assignment)
    assert not run.stopped, f"{name}: Run All stopped at {run.stopped}"
    assert run.lost, f"{name}: grading gives full marks, so it is no point-losing mistake"
    gid = mistake["flagged_by"]
    if gid is None:
        assert not run.flagged, f"{name}: flagged by {run.flagged}; name the check in flagged_by"
        return
    message = run.visible.get(gid, "")
    assert message.startswith(f"FAILED {gid} "), (
        f"{name}: the visible check {gid} does not report it (flagged: {run.flagged}; "
        f"grading fails {run.lost})"
    )
    assert not UNREADABLE.search(message), f"{name}: unreadable values in {message!r}"
    assert " See " in message, f"{name}: the message names no section: {message!r}"
    assert gid in run.summary, f"{name}: the summary does not list {gid}:\n{run.summary}"
