"""The trust boundary: no score, message or resource decision rests on what the student's
process says about itself.

Each attack here targets the grader's own code. Where the attack needs the grader's machinery
(patching the student-side server, reading frames), the test shows it *does* fool the engine
with the source audit switched off, and earns nothing with it on. Bounds (time, sizes) and the
pool's survival of dead workers are tested on their own.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader import course_secret, pool
from grader.audit import audit
from grader.blueprint import Blueprint
from grader.judge import judge
from grader.sandbox import Limits, bwrap_path
from tests.course_factory import nbgrader_meta

needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap")


#: A tiny assignment: ``scale(x)`` returns 2 * x and must not change x. Its second test is the
#: kind a student would like to fool: it checks the argument after the call.
SETUP = "import numpy as np\n"
ANSWER = "def scale(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
TESTS = {
    "scale_values": "x = np.array([1.0, -2.0])\nassert np.allclose(scale(x), [2.0, -4.0])\n",
    "scale_keeps_x": (
        "x = np.array([1.0, -2.0])\nkept = x.copy()\nscale(x)\n"
        "assert np.array_equal(x, kept), 'scale changed its argument in place'\n"
    ),
    "scale_hidden": (
        "# scale_hidden: random inputs\n"
        "### BEGIN HIDDEN TESTS\n"
        "rng = np.random.default_rng(12345)\nx = rng.normal(size=5)\n"
        "assert np.allclose(scale(x.copy()), 2 * x)\n"
        "### END HIDDEN TESTS\n"
    ),
}


def _source(tmp_path: Path) -> Blueprint:
    cells = [
        new_code_cell(SETUP, metadata=nbgrader_meta("setup", locked=True)),
        new_code_cell(ANSWER, metadata=nbgrader_meta("scale_answer", solution=True)),
    ]
    cells += [
        new_code_cell(code, metadata=nbgrader_meta(gid, grade=True, locked=True, points=1))
        for gid, code in TESTS.items()
    ]
    path = tmp_path / "source.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return Blueprint.from_source(path)


def _submission(answer: str, extra: list[str] = ()) -> nbformat.NotebookNode:
    cells = [new_code_cell(SETUP, metadata=nbgrader_meta("setup", locked=True))]
    cells += [new_code_cell(code) for code in extra]
    cells.append(new_code_cell(answer, metadata=nbgrader_meta("scale_answer", solution=True)))
    cells += [
        new_code_cell(code, metadata=nbgrader_meta(gid, grade=True, locked=True, points=1))
        for gid, code in TESTS.items()
    ]
    return new_notebook(cells=cells)


def _points(verdict) -> dict[str, float]:
    return {o.grade_id: o.points for o in verdict.outcomes}


LIMITS = Limits(timeout_s=10, memory_mb=1024)

#: Changes x in place, then patches the grader's own student-side server so that the change is
#: never reported: the classic self-report attack.
HIDE_IN_PLACE = textwrap.dedent(
    """
    import gc

    def scale(x):
        x *= 2
        return x.copy()

    for server in [o for o in gc.get_objects() if type(o).__name__ == "Server"]:
        server._changed_twins = lambda blobs: ([], [])
    """
)


@needs_bwrap
def test_hiding_an_in_place_change_fools_the_engine_without_the_audit(tmp_path, monkeypatch):
    """Proof that the attack is real: with the audit off, the patched report wins the point."""
    blueprint = _source(tmp_path)
    monkeypatch.setattr("grader.judge.audit", lambda cells, allowed=frozenset(): [])
    points = _points(judge(blueprint, _submission(HIDE_IN_PLACE), LIMITS, bwrap_path()))
    assert points["scale_keeps_x"] == 1, "the attack no longer works: this test proves nothing"


@needs_bwrap
@pytest.mark.parametrize(
    "attack",
    [
        HIDE_IN_PLACE,
        # The same through a module that imports sys, and through a dunder walk.
        "import matplotlib\n"
        + HIDE_IN_PLACE.replace("import gc", "gc = matplotlib.sys.modules['gc']"),
        "def scale(x):\n    x *= 2\n    return x.copy()\n"
        "subs = ().__class__.__base__.__subclasses__()\n",
        "def scale(x):\n    x *= 2\n    return x.copy()\ng = getattr(scale, '__glo' + 'bals__')\n",
        "def scale(x):\n    x *= 2\n    return x.copy()\nexec('import gc')\n",
    ],
    ids=["gc", "module_attribute_sys", "dunder_walk", "computed_getattr", "exec"],
)
def test_code_that_can_reach_the_grader_earns_nothing(tmp_path, attack):
    verdict = judge(_source(tmp_path), _submission(attack), LIMITS, bwrap_path())
    assert sum(_points(verdict).values()) == 0, verdict
    assert any(n.startswith("needs review:") for n in verdict.notes), verdict.notes
    assert "not graded" in verdict.outcomes[0].message, verdict.outcomes[0]


@pytest.mark.parametrize(
    "code, finds",
    [
        ("import sys", "import of sys"),
        ("from os import path", "import of os"),
        ("import numpy as np\nnp._core", "private attribute ._core"),
        ("import torch\ntorch.ops.aten.relu", "torch's .ops"),
        ("import torch.nn.functional as F\nF.relu.__wrapped__", ".__wrapped__"),
        ("x = getattr(obj, name)", "computed name"),
        ("vars(x)", "vars()"),
        ("t = e.__traceback__.tb_frame", "__traceback__"),
        ("__builtins__", "the name __builtins__"),
        ("from . import x", "relative import"),
        ("import grader.student", "import of grader"),
    ],
)
def test_the_audit_names_each_construct(code, finds):
    found = audit([("cell 1", code)])
    assert found and any(finds in str(f) for f in found), (code, [str(f) for f in found])


@pytest.mark.parametrize(
    "code",
    [
        "import numpy as np\ndef relu(x):\n    return np.maximum(x, 0)\n",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n",
        "import torch\nfrom torch import nn\nclass M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self._cache = None\n",
        'names = ("ReLU", "ELU")\nimport torch.nn as nn\ncls = getattr(nn, names[0])\n',
        "with open('data.txt') as f:\n    rows = f.read()\n",
        "import math, functools, itertools\nfrom scipy import special\n",
    ],
)
def test_the_audit_lets_ordinary_answers_through(code):
    assert audit([("cell 1", code)]) == [], [str(f) for f in audit([("cell 1", code)])]


@needs_bwrap
def test_a_stride_0_reply_is_refused_not_copied(tmp_path):
    """A tiny reply that decodes to a huge array (a broadcast view of one number) is refused
    before the grader copies it: 0 for what it did not finish, a clear reason, no MemoryError."""
    # 2**27 one-byte elements: cheap for the student's side to hash, over the grader's bound.
    attack = "def scale(x):\n    return np.broadcast_to(np.zeros(1, np.int8), (2**27,))\n"
    verdict = judge(_source(tmp_path), _submission(attack), LIMITS, bwrap_path())
    points = _points(verdict)
    assert sum(points.values()) == 0, verdict
    assert "unreadable" in verdict.outcomes[0].message, verdict.outcomes[0]


@needs_bwrap
def test_a_student_that_sleeps_under_the_call_limit_hits_the_notebook_budget(tmp_path):
    attack = "import time\n\ndef scale(x):\n    time.sleep(0.8)\n    return 2 * x\n"
    limits = Limits(timeout_s=1.0, memory_mb=1024, notebook_budget_s=2.0)
    started = time.monotonic()
    verdict = judge(_source(tmp_path), _submission(attack), limits, bwrap_path())
    took = time.monotonic() - started
    assert took < 8, f"the budget did not stop the notebook: {took:.1f} s"
    messages = " ".join(o.message for o in verdict.outcomes)
    assert "time budget" in messages, messages
    assert _points(verdict)["scale_hidden"] == 0, verdict


@needs_bwrap
def test_student_text_from_a_hidden_check_stays_with_the_instructor(tmp_path):
    """A student's exception raised on hidden inputs shows its text (which could carry the
    inputs) only in the instructor's detail, never in the student's message."""
    attack = (
        "def scale(x):\n"
        "    if x.size == 5:\n"
        "        raise ValueError('LEAK ' + repr(x.tolist()))\n"
        "    return 2 * x\n"
    )
    verdict = judge(_source(tmp_path), _submission(attack), LIMITS, bwrap_path())
    hidden = next(o for o in verdict.outcomes if o.grade_id == "scale_hidden")
    assert hidden.points == 0 and "LEAK" not in hidden.message, hidden
    assert "LEAK" in hidden.detail, hidden


def test_hidden_inputs_change_with_every_resubmission(tmp_path):
    """The secret behind the hidden inputs: reproducible for the same file, different for any
    other file, and unknown without the grading folder."""
    secret = course_secret.course_secret(tmp_path / "grading")
    assert course_secret.course_secret(tmp_path / "grading") == secret, "not stable"
    assert oct((tmp_path / "grading" / "course-secret").stat().st_mode & 0o777) == "0o600"
    first, second = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    first.write_text('{"cells": []}')
    second.write_text('{"cells": [], "x": 1}')
    one = course_secret.submission_secret(secret, "a1", "ada", [first])
    assert one == course_secret.submission_secret(secret, "a1", "ada", [first])
    assert one != course_secret.submission_secret(secret, "a1", "ada", [second])
    assert one != course_secret.submission_secret("other", "a1", "ada", [first])
    with course_secret.grading_secret(one):
        assert os.environ[course_secret.ENV] == one
    assert os.environ.get(course_secret.ENV) != one


# The pool: a grading process that dies loses nothing.
def _grade_or_die(student: str):
    if student.startswith("poison"):
        os._exit(1)  # as the OOM killer would end it
    if student == "bug":
        raise RuntimeError("the grader failed")
    return student


def test_a_dead_worker_leaves_its_submissions_pending_and_a_poison_one_is_given_up(tmp_path):
    results, given_up, errors = [], {}, {}
    students = ["ada", "bob", "poison_1", "cy", "bug", "dee", "eve"]
    pool.run(
        _grade_or_die,
        students,
        workers=2,
        state=tmp_path / "pool",
        on_result=results.append,
        on_give_up=lambda s, why: given_up.setdefault(s, why),
        on_error=lambda s, exc: errors.setdefault(s, str(exc)),
    )
    assert sorted(results) == ["ada", "bob", "cy", "dee", "eve"], results
    assert list(given_up) == ["poison_1"] and "died 3 times" in given_up["poison_1"], given_up
    assert errors == {"bug": "the grader failed"}, errors


def test_a_serial_run_survives_a_dead_worker_too(tmp_path):
    results, given_up = [], {}
    pool.run(
        _grade_or_die,
        ["ada", "poison_2", "bob"],
        workers=1,
        state=tmp_path / "pool",
        on_result=results.append,
        on_give_up=lambda s, why: given_up.setdefault(s, why),
        on_error=lambda s, exc: None,
    )
    assert sorted(results) == ["ada", "bob"] and list(given_up) == ["poison_2"]


@needs_bwrap
@pytest.mark.slow
def test_a_submission_held_for_review_is_listed_by_status(tmp_path, capsys):
    """Through the CLI: the audited submission scores 0, and status asks for a review."""
    from grader import cli
    from tests.course_factory import ASSIGNMENT, NOTEBOOK, make_course, student_notebook

    course = make_course(tmp_path)
    inbox = tmp_path / "inbox"
    attack = "import gc\n\n\ndef double(x):\n    return 2 * x\n"
    for name, answer in {"honest": "def double(x):\n    return 2 * x\n", "gc": attack}.items():
        (inbox / name).mkdir(parents=True)
        nbformat.write(student_notebook(course, answer), inbox / name / NOTEBOOK)
    args = ["--root", str(course.root), "--workdir", str(course.workdir)]
    assert cli.main([*args, "collect", ASSIGNMENT, str(inbox)]) == 0
    assert cli.main([*args, "autograde", ASSIGNMENT, "--engine", "sandbox"]) == 0
    capsys.readouterr()
    cli.main([*args, "status"])
    out = capsys.readouterr().out
    assert "needs review" in out and "import of gc" in out, out
    assert "honest" not in out.split("ATTENTION")[-1], out


@needs_bwrap
def test_an_answer_cell_that_raises_is_noted_for_the_instructor(tmp_path):
    verdict = judge(
        _source(tmp_path), _submission("raise ValueError('oops')\n"), LIMITS, bwrap_path()
    )
    assert any("raised ValueError: oops" in n for n in verdict.notes), verdict.notes
    assert sum(_points(verdict).values()) == 0


@needs_bwrap
@pytest.mark.slow
def test_one_notebook_cannot_change_how_the_next_is_graded():
    """A grading process (a cluster worker above all) grades notebooks of several assignments
    in turn: a1's setup cell blocks `import torch` in the process that runs it, and a5's tests
    need torch. Graded in that order in one process, a5's reference still gets full marks."""
    from grader.layout import REPO_ROOT

    def reference(assignment):
        path = REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        return Blueprint.from_source(path), nbformat.read(path, 4)

    judge(*reference("a1_rectifier"), Limits(), bwrap_path())
    verdict = judge(*reference("a5_frameworks"), Limits(), bwrap_path())
    lost = {o.grade_id: o.message for o in verdict.outcomes if o.points < o.max_points}
    assert not lost, lost
