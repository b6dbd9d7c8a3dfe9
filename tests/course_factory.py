"""A tiny course built in a temporary folder, for testing the grader on its own.

Assignment ``a9_double`` asks for ``double(x)``; two test cells (2 + 1 points) check it, with
numpy's testing helpers (the usual target of a cheating submission).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.layout import Course

ASSIGNMENT = "a9_double"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
MAX_SCORE = 3.0

ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
SETUP = "import numpy as np\n"
VALUES_TEST = (
    "# double_values: doubles numbers\n"
    "assert double(2) == 4, 'double(2) should be 4'\n"
    "### BEGIN HIDDEN TESTS\n"
    "np.testing.assert_allclose(double(np.array([1.0, -3.5])), [2.0, -7.0])\n"
    "assert np.allclose(double(np.float64(-3.5)), -7.0), 'double(-3.5) should be -7.0'\n"
    "### END HIDDEN TESTS\n"
)
ZERO_TEST = "# double_zero: zero stays zero\nassert double(0) == 0, 'double(0) should be 0'\n"


def nbgrader_meta(
    grade_id: str, *, grade=False, solution=False, locked=False, task=False, points=None
) -> dict:
    """A cell's nbgrader metadata (schema 3), as nbgrader's create_assignment writes it."""
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": task,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def answer_cell(grade_id: str, code: str) -> nbformat.NotebookNode:
    """An autograded answer cell."""
    return new_code_cell(code, metadata=nbgrader_meta(grade_id, solution=True))


def graded_cell(grade_id: str, code: str, points: float = 1) -> nbformat.NotebookNode:
    """A locked, autograded test cell."""
    return new_code_cell(
        code, metadata=nbgrader_meta(grade_id, grade=True, locked=True, points=points)
    )


def source_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Doubling\nWrite `double(x)`."),
            new_code_cell(SETUP, metadata=nbgrader_meta("setup", locked=True)),
            answer_cell("double_answer", ANSWER),
            graded_cell("double_values", VALUES_TEST, points=2),
            graded_cell("double_zero", ZERO_TEST, points=1),
        ]
    )
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nb


def make_course(root: Path, *, certify: bool = True) -> Course:
    """Write the tiny course's source notebook under ``root``, release it and certify it.

    Certified (as ``python -m grader release`` does), ``autograde``'s default engine is the
    sandbox engine; ``certify=False`` leaves it uncertified (graded in the kernel).
    """
    from grader.certify import certify as certify_engine
    from grader.release import release

    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), root / "solutions" / ASSIGNMENT / NOTEBOOK)
    course = Course(root=root, workdir=root / "grading")
    release(course=course)
    if certify:
        cert = certify_engine(course=course, assignment=ASSIGNMENT)
        assert cert.certified, cert.summary()
    return course


def student_notebook(course: Course, answer: str | None) -> nbformat.NotebookNode:
    """The released notebook with the answer cell replaced by ``answer`` (None: untouched)."""
    nb = nbformat.read(course.release_dir / ASSIGNMENT / NOTEBOOK, 4)
    if answer is not None:
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answer
    return nb
