"""Every released student notebook runs top to bottom in a clean kernel, as a student runs it.

With the answer cells filled from solutions/ every visible test cell passes; untouched, every
visible test cell fails with the checks' own AssertionError or the answer stub's
NotImplementedError, never with a NameError, a SyntaxError or a crash somewhere else.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from grader.layout import Course
from tests.mutation import UNTOUCHED, build_submission

COURSE = Course()
#: The course's own assignments: the conventions below are its own, not nbgrader's.
ASSIGNMENTS = COURSE.own_assignments()
#: What an untouched notebook's test cells may fail with.
EXPECTED_FAILURES = {"AssertionError", "NotImplementedError"}


def _is_placeholder(assignment: str) -> bool:
    notebooks = sorted((COURSE.release_dir / assignment).glob("*.ipynb"))
    return not any(c.cell_type == "code" for nb in notebooks for c in nbformat.read(nb, 4).cells)


def _run(assignment: str, variant, folder) -> dict[str, nbformat.NotebookNode]:
    """Execute each notebook of the submission in a fresh kernel, in a copy of its folder."""
    shutil.copytree(COURSE.release_dir / assignment, folder)
    done = {}
    for name, nb in build_submission(COURSE, assignment, variant).items():
        NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
        ).execute()
        done[name] = nb
    return done


def _cells(notebooks):
    for name, nb in notebooks.items():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            is_test = bool(meta.get("grade")) and not meta.get("solution")
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            label = f"{name} cell {index} ({meta.get('grade_id', 'no grade_id')})"
            yield label, is_test, errors


def _describe(errors) -> str:
    return "; ".join(f"{e.ename}: {e.evalue}"[:300] for e in errors)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_answers_pass_every_visible_test(assignment, tmp_path):
    if _is_placeholder(assignment):
        pytest.skip(f"{assignment} is still a placeholder (no code cells)")
    notebooks = _run(assignment, None, tmp_path / assignment)
    failures = [
        f"{label}: {_describe(errors)}" for label, _, errors in _cells(notebooks) if errors
    ]
    assert not failures, f"{assignment} with the reference answers:\n" + "\n".join(failures)
    tests = sum(is_test for _, is_test, _ in _cells(notebooks))
    print(f"{assignment}: {tests} visible test cells pass with the reference answers")
    assert tests, f"{assignment} has no visible test cell"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_notebook_fails_every_test_cleanly(assignment, tmp_path):
    if _is_placeholder(assignment):
        pytest.skip(f"{assignment} is still a placeholder (no code cells)")
    notebooks = _run(assignment, UNTOUCHED, tmp_path / assignment)
    problems = []
    for label, is_test, errors in _cells(notebooks):
        names = {e.ename for e in errors}
        if is_test:
            if not errors:
                problems.append(f"{label}: passes although no answer was written")
            elif not names <= EXPECTED_FAILURES:
                problems.append(f"{label}: fails with {_describe(errors)}")
            elif any(e.ename == "AssertionError" and not e.evalue.strip() for e in errors):
                problems.append(f"{label}: an AssertionError without a message")
        elif not names <= {"NotImplementedError"}:
            # Setup and answer cells run cleanly; a "try it" cell may hit the unanswered stub.
            problems.append(f"{label}: {_describe(errors)}")
    assert not problems, f"{assignment} as released:\n" + "\n".join(problems)
