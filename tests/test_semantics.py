"""The sandbox engine runs a notebook as a kernel does: proven against plain nbgrader.

Assignment ``a8_semantics`` is written in the styles nbgrader's documentation teaches, not in
this course's: answers that are variables, a test of printed output, a test that deletes a
student's function to see whether another uses it (nbgrader's "ps1"), an exception the test
expects (raised as a subclass by one student), a data file read by the student and by the test,
a name one test cell defines and a later one reads, and a function that rebinds a global name
(the next lookup, in the same test cell or a later one, sees the new binding). Four
submissions (the reference, the untouched notebook, and two written the way students write:
helper cells, extra imports, a duplicated answer cell, a warning) are graded by both engines;
every test cell must get the same points from both.
"""

from __future__ import annotations

import csv

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import cli, course_secret
from grader.layout import Course
from tests.course_factory import answer_cell, graded_cell, nbgrader_meta

pytestmark = pytest.mark.slow

ASSIGNMENT = "a8_semantics"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


ANSWERS = {
    "squares": """def squares(n):
    ### BEGIN SOLUTION
    if n < 0:
        raise ValueError("n must be at least 0")
    return [i * i for i in range(n)]
    ### END SOLUTION
""",
    "sum_of_squares": """def sum_of_squares(n):
    ### BEGIN SOLUTION
    return sum(squares(n))
    ### END SOLUTION
""",
    "answer_value": "### BEGIN SOLUTION\nanswer_value = 42\n### END SOLUTION\n",
    "greet": 'def greet():\n    ### BEGIN SOLUTION\n    print("hello")\n    ### END SOLUTION\n',
    "read_total": """def read_total():
    ### BEGIN SOLUTION
    with open("numbers.txt") as f:
        return sum(int(line) for line in f)
    ### END SOLUTION
""",
    # A function that rebinds a global name: a kernel's next lookup of the name sees it.
    "switch": """def which():
    ### BEGIN SOLUTION
    return "first"
    ### END SOLUTION


def switch():
    global which

    def which():
        return "second"
""",
}

TESTS = [
    ("correct_squares", "assert squares(3) == [0, 1, 4]"),
    (
        "sum_uses_squares",
        """assert sum_of_squares(3) == 5
orig_squares = squares
del squares
try:
    sum_of_squares(2)
except NameError:
    pass
else:
    raise AssertionError("sum_of_squares does not use squares")
finally:
    squares = orig_squares""",
    ),
    (
        "negative_raises",
        """try:
    squares(-1)
except ValueError:
    pass
else:
    raise AssertionError("squares(-1) should raise a ValueError")""",
    ),
    ("value_is_42", "assert answer_value == 42"),
    (
        "greet_prints",
        """import contextlib
import io
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    greet()
assert buf.getvalue() == "hello\\n", repr(buf.getvalue())""",
    ),
    ("persist_a", "table = squares(4)"),
    (
        "names_in_globals",
        'assert "squares" in globals() and "nothing_like_this" not in globals()\n'
        'assert globals().get("squares")(2) == [0, 1]',
    ),
    ("persist_b", "assert table[-1] == 9\nassert sum_of_squares(4) == 14"),
    (
        "rebinding_seen",
        'assert which() == "first"\nswitch()\nassert which() == "second", which()',
    ),
    ("rebinding_kept", 'assert which() == "second", which()'),
    (
        "total_from_file",
        "assert read_total() == 7\n"
        'assert read_total() == sum(int(x) for x in open("numbers.txt"))',
    ),
]


def source_notebook():
    cells = [
        new_markdown_cell("# Semantics\nWrite the functions and the value below."),
        new_code_cell("import numpy as np\n", metadata=nbgrader_meta("setup", locked=True)),
    ]
    order = {
        "squares": ["correct_squares", "negative_raises"],
        "sum_of_squares": ["sum_uses_squares"],
        "answer_value": ["value_is_42"],
        "greet": ["greet_prints"],
        "read_total": ["persist_a", "names_in_globals", "persist_b", "total_from_file"],
        "switch": ["rebinding_seen", "rebinding_kept"],
    }
    tests = dict(TESTS)
    for name, code in ANSWERS.items():
        cells.append(answer_cell(name, code))
        cells.append(new_code_cell("# try it here\n"))  # an unmarked cell, as nbgrader's docs
        cells += [graded_cell(gid, tests[gid]) for gid in order[name]]
    nb = new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nb


def _student(released, answers: dict[str, str], extra_before: dict[str, list[str]] = None):
    """The released notebook with answer cells replaced and extra cells before some."""
    nb = nbformat.from_dict(released)
    cells = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        for code in (extra_before or {}).get(gid, []):
            cells.append(new_code_cell(code))
        if gid in answers and cell.metadata["nbgrader"].get("solution"):
            for code in answers[gid] if isinstance(answers[gid], list) else [answers[gid]]:
                copy = nbformat.from_dict(dict(cell))
                copy.source = code
                if len(cells) and "id" in copy:  # Jupyter gives a copied cell a new id
                    copy["id"] = f"copy{len(cells)}"
                cells.append(copy)
        else:
            cells.append(cell)
    nb.cells = cells
    return nb


def _reference():
    import re

    return {k: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", v) for k, v in ANSWERS.items()}


SUBMISSIONS = {
    "reference": lambda: (_reference(), {}),
    "untouched": lambda: ({}, {}),
    # Helper cell and import in cells of their own, a ValueError subclass, a sum that does not
    # use squares, a computed variable.
    "helpers_and_imports": lambda: (
        {
            **_reference(),
            "squares": "class NegativeError(ValueError):\n    pass\n\n\n"
            "def squares(n):\n    if n < 0:\n        raise NegativeError(n)\n"
            "    return [_square(i) for i in range(n)]\n",
            "sum_of_squares": "def sum_of_squares(n):\n    return sum(i * i for i in range(n))\n",
            "answer_value": "answer_value = 6 * 7\n",
        },
        {"squares": ["import math\n\n\ndef _square(i):\n    return int(math.pow(i, 2))\n"]},
    ),
    # A warning on stderr, a wrong variable, a greeting printed without its newline.
    "noisy": lambda: (
        {
            **_reference(),
            "sum_of_squares": "import warnings\n\n\ndef sum_of_squares(n):\n"
            "    warnings.warn('summing')\n    return sum(squares(n))\n",
            "answer_value": "answer_value = 41\n",
            "greet": "def greet():\n    print('hello', end='')\n",
        },
        {},
    ),
}


def _course(root):
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), root / "solutions" / ASSIGNMENT / NOTEBOOK)
    (root / "solutions" / ASSIGNMENT / "numbers.txt").write_text("3\n4\n")
    course = Course(root=root, workdir=root / "grading")
    from grader.release import release

    release(course=course)
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("semantics")
    course = _course(root)
    released = nbformat.read(course.release_dir / ASSIGNMENT / NOTEBOOK, 4)
    inbox = root / "inbox"
    everyone = {**SUBMISSIONS, "duplicated_answer_cell": lambda: (_reference() | DUPLICATED, {})}
    for name, make in everyone.items():
        answers, extra = make()
        (inbox / name).mkdir(parents=True)
        nbformat.write(_student(released, answers, extra), inbox / name / NOTEBOOK)
        (inbox / name / "numbers.txt").write_text("3\n4\n")
    scores = {}
    for engine in ("sandbox", "nbgrader"):
        workdir = root / f"grading-{engine}"
        course_secret.share(root / "grading-sandbox", workdir)  # the same hidden inputs
        args = ["--root", str(root), "--workdir", str(workdir)]
        assert cli.main([*args, "collect", ASSIGNMENT, str(inbox)]) == 0
        assert (
            cli.main([*args, "autograde", ASSIGNMENT, "--engine", engine, "--workers", "1"]) == 0
        )
        assert cli.main([*args, "export", "--csv", str(root / f"{engine}.csv")]) == 0
        rows = csv.DictReader(open(root / f"{engine}.csv", encoding="utf-8"))
        scores[engine] = {r["student_id"]: r for r in rows}
    scores["root"] = root
    return scores


#: A student who copied an answer cell (Jupyter's "duplicate cell") and fixed the copy: a kernel
#: keeps the last definition. Plain nbgrader 0.9.6 cannot grade this notebook at all (its
#: DeduplicateIds empties the first copy's metadata, and a later step fails with
#: KeyError 'grade_id'), so only the sandbox engine's points are checked, against the kernel's
#: rule.
DUPLICATED = {
    "squares": [
        "def squares(n):\n    return list(range(n))\n",
        "def squares(n):\n    if n < 0:\n        raise ValueError(n)\n"
        "    return [i * i for i in range(n)]\n",
    ]
}


@pytest.mark.parametrize("student", sorted(SUBMISSIONS))
def test_both_engines_give_the_same_points_test_by_test(graded, student):
    sandbox, kernel = graded["sandbox"][student], graded["nbgrader"][student]
    for gid, _ in TESTS:
        assert sandbox[gid] == kernel[gid], (
            f"{student}/{gid}: sandbox {sandbox[gid]}, nbgrader {kernel[gid]} "
            f"(sandbox reason: {sandbox['reason']})"
        )


def test_the_submissions_differ_where_they_should(graded):
    """Guards the comparison: the engines agree on outcomes that are not all the same."""
    rows = graded["sandbox"]
    assert rows["reference"]["score"] == str(len(TESTS)), rows["reference"]
    assert rows["untouched"]["score"] == "0", rows["untouched"]
    helpers = rows["helpers_and_imports"]
    assert (helpers["negative_raises"], helpers["sum_uses_squares"]) == ("1", "0"), helpers
    noisy = rows["noisy"]
    assert (noisy["correct_squares"], noisy["sum_uses_squares"], noisy["greet_prints"]) == (
        "1",
        "0",
        "0",
    ), noisy


def test_a_duplicated_answer_cell_counts_as_the_kernel_runs_it(graded):
    row = graded["sandbox"]["duplicated_answer_cell"]
    assert row["score"] == str(len(TESTS)), f"the second, correct copy should count: {row}"
    assert graded["nbgrader"]["duplicated_answer_cell"]["status"] == "ungradable", (
        "plain nbgrader graded a duplicated answer cell: update DUPLICATED's note"
    )


def test_the_recorder_records_these_notebooks_as_nbgraders_converter(graded, monkeypatch):
    """The grading command records each result with gradebook.Recorder (nbgrader's autograde
    steps without its converter). Here the same results are recorded with nbgrader's converter
    itself into a second grading folder: the gradebooks and autograded folders must match row
    for row and file for file (tests/test_recording.py does the same for other kinds of
    notebook). The notebook nbgrader cannot record goes to the converter, and says so."""
    from grader import autograde, gradebook, results
    from grader.sandbox import Limits, bwrap_path
    from tests.test_recording import _files, _rows

    root = graded["root"]
    recorded = Course(root=root, workdir=root / "grading-sandbox")  # by the Recorder
    course = Course(root=root, workdir=root / "grading-converter")
    course_secret.share(recorded.workdir, course.workdir)
    args = ["--root", str(root), "--workdir", str(course.workdir)]
    assert cli.main([*args, "collect", ASSIGNMENT, str(root / "inbox")]) == 0
    secret = course_secret.course_secret(course.workdir)
    expanded = autograde.prepare_gradebook(course, ASSIGNMENT)
    job = autograde.SandboxJob(course, ASSIGNMENT, 0.0, Limits(), bwrap_path(), secret, expanded)
    bad = "duplicated_answer_cell"  # nbgrader 0.9.6 cannot record it
    for student in sorted(graded["sandbox"]):
        result = gradebook.record(course, ASSIGNMENT, job.grade(student))
        assert result.status == results.GRADED, result
        assert ("not recorded" in result.reason) == (student == bad), result
        expected = gradebook.read_scores(recorded, ASSIGNMENT, student) if student != bad else None
        if expected is not None:
            assert (result.tests, result.score) == expected, student
    assert _rows(course) == _rows(recorded)
    assert _files(course) == _files(recorded)
    assert graded["sandbox"][bad]["reason"].find("not recorded in nbgrader's gradebook") >= 0
