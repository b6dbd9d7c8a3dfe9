"""Hostile and broken submissions: none earns an unearned point, leaves a trace or harms others.

One class of the tiny course (``tests/course_factory.py``, ``double(x)``, 3 points) is graded
through the CLI with two workers: two honest students and one student per attack. Every attack
either tries to pass with a wrong answer (``double`` returns ``x * 0 + 1``, worth 0 points) or
computes the right answer only if the attack itself worked (reading the solutions or the
gradebook), so any point it earns is unearned.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest

from grader import cli
from grader.sandbox import bwrap_path
from tests.course_factory import ASSIGNMENT, NOTEBOOK, make_course, student_notebook

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bwrap_path() is None,
        reason="needs bubblewrap (scripts/install.d/sandbox.sh installs it); without it the "
        "grader runs student code with resource limits only, which is not safe against these",
    ),
]

WRONG = "def double(x):\n    return x * 0 + 1\n"
RIGHT = "def double(x):\n    return 2 * x\n"
MARK = "relu-hostile-7f3a"  # names every file and process an attack tries to leave behind


def _attacks(root, workdir) -> dict[str, str]:
    """Answer-cell code per attack. ``root`` is the course, ``workdir`` the grading state."""
    solution = root / "solutions" / ASSIGNMENT / NOTEBOOK
    gradebook = workdir / "gradebook.db"
    right_if = "def double(x):\n    return 2 * x if STOLEN else x * 0 + 1\n"
    if_not_stolen = "if not STOLEN:\n    def double(x):\n        return x * 0 + 1\n"
    return {
        "patch_numpy_testing": """
import numpy as np
np.testing.assert_allclose = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
class _EqualsAnything:
    def __eq__(self, other):
        return True
def double(x):
    return _EqualsAnything()
""",
        "silence_tracebacks": f"""
try:
    get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
except NameError:
    pass
{WRONG}""",
        "input_transformer": f"""
try:
    get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
except NameError:
    pass
{WRONG}""",
        "patch_builtins": f"""
import builtins, sys
builtins.AssertionError = type("AssertionError", (Exception,), {{}})
builtins.isinstance = lambda *a: True
sys.excepthook = lambda *a: None
{WRONG}""",
        "read_solutions": f"""
import json
STOLEN = False
try:
    _nb = json.load(open({str(solution)!r}))
    _code = [c["source"] for c in _nb["cells"] if "def double" in "".join(c["source"])]
    exec("".join(_code[0]))
    STOLEN = True
except Exception:
    pass
{if_not_stolen}""",
        "read_gradebook": f"""
import sqlite3
try:
    sqlite3.connect("file:{gradebook}?mode=ro", uri=True).execute(
        "select source from source_cell").fetchall()
    STOLEN = True
except Exception:
    STOLEN = False
{right_if}""",
        "rewrite_gradebook": f"""
import sqlite3
try:
    _db = sqlite3.connect({str(gradebook)!r})
    _db.execute("update source_cell set source = 'pass'")
    _db.execute("update grade set auto_score = 2")
    _db.commit()
except Exception:
    pass
{WRONG}""",
        "lock_gradebook": f"""
import os, sqlite3, time
if os.fork() == 0:
    os.setsid()
    try:
        _db = sqlite3.connect({str(gradebook)!r}, isolation_level=None)
        _db.execute("begin exclusive")
    except Exception:
        pass
    time.sleep(120)
    os._exit(0)
{WRONG}""",
        "kill_the_grader": f"""
import os, signal
for _target in (os.getppid(), 1):
    try:
        os.kill(_target, signal.SIGKILL)
    except Exception:
        pass
try:
    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
except Exception:
    pass
{WRONG}""",
        "infinite_loop": "def double(x):\n    while True:\n        pass\n",
        "memory_bomb": "def double(x):\n    hog = bytearray(8 * 1024**3)\n    return 2 * x\n",
        "orphan_processes": f"""
import subprocess
subprocess.Popen(["/usr/bin/sleep", "300"], start_new_session=True)
import os
if os.fork() == 0:
    os.setsid()
    os.execv("/usr/bin/sleep", ["sleep", "301"])
{WRONG}""",
        "os_exit": "import os\nos._exit(0)\n",
        "output_flood": """
def double(x):
    print("x" * 60_000_000)
    return x * 0 + 1
""",
        "write_outside_scratch": f"""
for _path in ({str(root / MARK)!r}, "/tmp/{MARK}", {str(workdir / MARK)!r}):
    try:
        open(_path, "w").write("pwned")
    except Exception:
        pass
{WRONG}""",
        "fork_bomb": f"""
import os
STOLEN = False
_children = 0
try:
    for _ in range(400):
        if os.fork() == 0:
            import time
            time.sleep(5)
            os._exit(0)
        _children += 1
    STOLEN = True  # 400 processes: the process limit did not hold
except OSError:
    pass
{right_if}""",
        "read_other_submission": f"""
try:
    open({str(workdir / "submitted" / "honest_a" / ASSIGNMENT / NOTEBOOK)!r}).read()
    STOLEN = True
except Exception:
    STOLEN = False
{right_if}""",
        "read_instructor_home": f"""
import os
_home = ("/root/.bashrc", "/root/.profile", {str(Path.home() / ".bashrc")!r})
STOLEN = any(os.path.exists(p) for p in _home)
{right_if}""",
        "network": f"""
import socket
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
    STOLEN = True
except Exception:
    STOLEN = False
{right_if}""",
    }


def _notebook_variants(course) -> dict[str, nbformat.NotebookNode]:
    """Submissions that tamper with the notebook itself rather than run code."""

    def tests_of(nb):
        return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]

    deleted = student_notebook(course, WRONG)
    deleted.cells = [c for c in deleted.cells if c not in tests_of(deleted)]
    unmarked = student_notebook(course, WRONG)
    for cell in tests_of(unmarked):
        cell.metadata["nbgrader"]["grade"] = False
    retyped = student_notebook(course, WRONG)
    for cell in tests_of(retyped):
        cell.source = "pass"
    renamed_id = student_notebook(course, RIGHT)
    for cell in renamed_id.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.metadata["nbgrader"]["grade_id"] = "something_else"
    duplicated = student_notebook(course, WRONG)
    duplicated.cells += [nbformat.from_dict(dict(c)) for c in tests_of(duplicated)]
    for cell in tests_of(duplicated)[len(tests_of(duplicated)) // 2 :]:
        cell.source = "pass"  # a second copy of each test, emptied, under the same grade_id
    flood = student_notebook(course, WRONG)
    flood.cells.append(
        nbformat.v4.new_code_cell(
            "print('x')",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="x" * 60_000_000)],
        )
    )
    return {
        "deleted_test_cells": deleted,
        "unmarked_test_cells": unmarked,
        "retyped_test_cells": retyped,
        "duplicated_test_cells": duplicated,
        "renamed_answer_metadata": renamed_id,
        "huge_output_in_notebook": flood,
    }


def _leftover_processes() -> list[str]:
    """Student processes (and the sleepers attacks start) still running."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [
        ln.strip()
        for ln in out.splitlines()
        if "grader.student" in ln
        or "grader.template" in ln
        or ln.split(None, 1)[-1].startswith("sleep 30")
    ]


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    """The class graded with the source audit switched off (grader.audit refuses most of
    these attacks before they run): this proves the second line of defence, the sandbox and
    the judge, on its own. tests/test_trust.py covers the audit."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("grader.judge.audit", lambda cells, allowed=frozenset(): [])
        yield _grade_hostile_class(tmp_path_factory)


def _grade_hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = make_course(root)
    workdir = course.workdir
    inbox = root / "inbox"
    submissions = {
        f"attack_{k}": student_notebook(course, v) for k, v in _attacks(root, workdir).items()
    }
    submissions |= {f"tamper_{k}": v for k, v in _notebook_variants(course).items()}
    submissions |= {"honest_a": student_notebook(course, RIGHT)}
    submissions |= {"honest_b": student_notebook(course, RIGHT)}
    for name, nb in submissions.items():
        (inbox / name).mkdir(parents=True)
        nbformat.write(nb, inbox / name / NOTEBOOK)
    (inbox / "broken_empty").mkdir()
    (inbox / "broken_empty" / NOTEBOOK).write_bytes(b"")
    (inbox / "broken_json").mkdir()
    (inbox / "broken_json" / NOTEBOOK).write_text('{"cells": [}')

    before = set(_leftover_processes())
    args = ["--root", str(root), "--workdir", str(workdir)]
    assert cli.main([*args, "collect", ASSIGNMENT, str(inbox)]) == 0
    # The gradebook exists from here on (the attacks target it).
    status = cli.main(
        [*args, "autograde", ASSIGNMENT, "--workers", "2", "--timeout", "3", "--memory", "512"]
    )
    assert status == 0, "the grading run itself failed"
    assert cli.main([*args, "export", "--csv", str(root / "grades.csv")]) == 0
    assert cli.main([*args, "feedback", ASSIGNMENT]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(open(root / "grades.csv"))}
    return {
        "root": root,
        "course": course,
        "rows": rows,
        "names": list(submissions) + ["broken_empty", "broken_json"],
        "new_processes": set(_leftover_processes()) - before,
        "args": args,
    }


def _attack_names():
    import pathlib

    fake = pathlib.Path("/nonexistent")
    return sorted(_attacks(fake, fake))


@pytest.mark.parametrize("attack", _attack_names())
def test_attack_earns_nothing(hostile_class, attack):
    row = hostile_class["rows"][f"attack_{attack}"]
    assert row["score"] == "0", f"{attack} earned {row['score']} points: {row}"


@pytest.mark.parametrize(
    "tamper",
    [
        "deleted_test_cells",
        "unmarked_test_cells",
        "retyped_test_cells",
        "duplicated_test_cells",
        "huge_output_in_notebook",
    ],
)
def test_tampered_notebook_earns_nothing(hostile_class, tamper):
    row = hostile_class["rows"][f"tamper_{tamper}"]
    assert row["score"] == "0", f"{tamper} earned {row['score']} points: {row}"
    assert row["status"] == "graded", f"{tamper} should still be graded: {row}"


def test_renamed_answer_runs_as_nbgrader_runs_it(hostile_class):
    """A correct answer whose cell lost its grade_id still runs (nbgrader drops the unknown id
    and runs the cell), so it earns what it is worth; the note says the cell was missing."""
    row = hostile_class["rows"]["tamper_renamed_answer_metadata"]
    assert row["score"] == "3", row
    assert "answer cells missing" in row["reason"], row


def test_honest_students_are_not_disturbed(hostile_class):
    for name in ("honest_a", "honest_b"):
        row = hostile_class["rows"][name]
        assert (row["score"], row["status"]) == ("3", "graded"), f"{name}: {row}"


def test_every_submission_has_a_row(hostile_class):
    rows = hostile_class["rows"]
    assert sorted(rows) == sorted(hostile_class["names"]), sorted(rows)
    for name in ("broken_empty", "broken_json"):
        assert rows[name]["status"] == "ungradable" and rows[name]["reason"], rows[name]


@pytest.mark.parametrize(
    "attack, words",
    [("infinite_loop", "time limit"), ("memory_bomb", "MemoryError"), ("os_exit", "cells")],
)
def test_failures_are_explained_in_feedback(hostile_class, attack, words):
    page = hostile_class["course"].feedback_dir / ASSIGNMENT / f"attack_{attack}.html"
    assert words in page.read_text(), f"feedback of {attack} should mention {words!r}"


def test_no_process_outlives_its_notebook(hostile_class):
    assert not hostile_class["new_processes"], hostile_class["new_processes"]


def test_no_file_written_outside_the_scratch_folder(hostile_class):
    root, workdir = hostile_class["root"], hostile_class["course"].workdir
    for path in (root / MARK, workdir / MARK, f"/tmp/{MARK}"):
        assert not os.path.exists(path), f"an attack wrote {path}"


def test_gradebook_is_intact(hostile_class):
    course = hostile_class["course"]
    db = sqlite3.connect(course.gradebook_path)
    sources = [s for (s,) in db.execute("select source from source_cell")]
    assert sources and all(s != "pass" for s in sources), "hidden tests were rewritten"
    scores = dict(
        db.execute(
            "select student.id, sum(coalesce(grade.manual_score, grade.auto_score)) from grade "
            "join submitted_notebook on grade.notebook_id = submitted_notebook.id "
            "join submitted_assignment on submitted_notebook.assignment_id = "
            "submitted_assignment.id join student on submitted_assignment.student_id = "
            "student.id group by student.id"
        ).fetchall()
    )
    assert scores.get("honest_a") == 3 and scores.get("attack_rewrite_gradebook") == 0, scores


def test_a_later_honest_student_still_gets_full_marks(hostile_class, tmp_path):
    """The hidden tests were not poisoned for later runs."""
    course, args = hostile_class["course"], hostile_class["args"]
    inbox = tmp_path / "late"
    (inbox / "late_honest").mkdir(parents=True)
    nbformat.write(student_notebook(course, RIGHT), inbox / "late_honest" / NOTEBOOK)
    assert cli.main([*args, "collect", ASSIGNMENT, str(inbox)]) == 0
    assert cli.main([*args, "autograde", ASSIGNMENT]) == 0
    result = json.loads((course.results_dir / ASSIGNMENT / "late_honest.json").read_text())
    assert result["score"] == 3, result


def test_a_numpy_assignment_never_loads_torch_for_the_student(hostile_class):
    """The grader may have torch loaded (a PyTorch assignment graded before in the same process);
    a numpy assignment's student process still never imports it (a1–a4 block the import; torch
    does not fit 512 MiB). This answer is right only where torch stays out of its process."""
    pytest.importorskip("torch")
    from grader.judge import Blueprint, judge
    from grader.sandbox import Limits

    course = hostile_class["course"]
    blueprint = Blueprint.from_source(course.root / "solutions" / ASSIGNMENT / NOTEBOOK)
    assert not blueprint.uses_torch
    answer = (
        "import sys\ndef double(x):\n    return x * 0 + 1 if 'torch' in sys.modules else 2 * x\n"
    )
    verdict = judge(blueprint, student_notebook(course, answer), Limits(), bwrap_path())
    assert [(o.points, o.max_points) for o in verdict.outcomes] == [(2.0, 2.0), (1.0, 1.0)], (
        verdict
    )


def test_hidden_tests_never_appear_in_feedback(hostile_class):
    folder = hostile_class["course"].feedback_dir / ASSIGNMENT
    pages = list(folder.glob("*.html"))
    assert pages, "no feedback written"
    for page in pages:
        text = page.read_text()
        for secret in ("assert_allclose", "-7.0", "[2.0, -7.0]"):
            assert secret not in text, f"{page.name} shows hidden test text {secret!r}"


def test_attack_code_is_well_formed():
    """Guards the suite itself: every attack compiles, so a score of 0 is not a syntax error."""
    import pathlib

    fake = pathlib.Path("/x")
    for name, code in _attacks(fake, fake).items():
        compile(textwrap.dedent(code), name, "exec")


def test_the_same_attacks_fool_plain_nbgrader(tmp_path):
    """The suite has teeth: in the student's own kernel (stock nbgrader) these attacks pay."""
    course = make_course(tmp_path, certify=False)  # graded in the kernel on purpose
    attacks = _attacks(tmp_path, course.workdir)
    inbox = tmp_path / "inbox"
    for name in ("patch_numpy_testing", "read_solutions"):
        (inbox / name).mkdir(parents=True)
        nbformat.write(student_notebook(course, attacks[name]), inbox / name / NOTEBOOK)
    args = ["--root", str(tmp_path), "--workdir", str(course.workdir)]
    assert cli.main([*args, "collect", ASSIGNMENT, str(inbox)]) == 0
    assert cli.main([*args, "autograde", ASSIGNMENT, "--engine", "nbgrader"]) == 0
    for name in ("patch_numpy_testing", "read_solutions"):
        result = json.loads((course.results_dir / ASSIGNMENT / f"{name}.json").read_text())
        assert result["score"] > 0, f"{name} should fool stock nbgrader, got {result}"
