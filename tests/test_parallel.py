"""Parallel grading gives the serial results; a killed run resumes without loss or repeats."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from grader.autograde import autograde
from grader.intake import collect
from grader.layout import Course
from grader.results import load_results
from grader.sandbox import Limits
from tests.course_factory import ASSIGNMENT, NOTEBOOK, make_course, student_notebook

pytestmark = pytest.mark.slow

ANSWERS = {
    "right": "def double(x):\n    return 2 * x\n",
    "half": "def double(x):\n    return 4 if x == 2 else 0\n",
    "wrong": "def double(x):\n    return x\n",
    "slow": "import time\ndef double(x):\n    time.sleep(0.3)\n    return 2 * x\n",
    "crash": "import os\nos._exit(3)\n",
}


def _class(root, copies: int = 2):
    course = make_course(root)
    inbox = root / "inbox"
    for i in range(copies):
        for kind, answer in ANSWERS.items():
            folder = inbox / f"{kind}{i}"
            folder.mkdir(parents=True)
            nbformat.write(student_notebook(course, answer), folder / NOTEBOOK)
    collect(course=course, assignment=ASSIGNMENT, source=inbox)
    return course


def _summary(course: Course) -> dict:
    return {r.student_id: (r.status, r.score, r.tests) for r in load_results(course, ASSIGNMENT)}


def test_two_workers_give_the_serial_results(tmp_path):
    serial = _class(tmp_path / "serial")
    autograde(course=serial, assignment=ASSIGNMENT, workers=1, limits=Limits(timeout_s=5))
    parallel = _class(tmp_path / "parallel")
    autograde(course=parallel, assignment=ASSIGNMENT, workers=2, limits=Limits(timeout_s=5))
    assert _summary(serial) == _summary(parallel)
    assert _summary(serial)["right0"][1] == 3 and _summary(serial)["half0"][1] == 1


def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    course = _class(tmp_path / "course", copies=4)
    students = sorted(p.parent.name for p in course.submitted_dir.glob(f"*/{ASSIGNMENT}"))
    argv = [sys.executable, "-m", "grader", "--root", str(course.root), "--workdir",
            str(course.workdir), "autograde", ASSIGNMENT, "--workers", "2"]  # fmt: skip
    run = subprocess.Popen(argv, start_new_session=True, stderr=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, cwd=course.root.parent)  # fmt: skip
    results_dir = course.results_dir / ASSIGNMENT
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(results_dir.glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in results_dir.glob("*.json")}
    assert 3 <= len(done_before) < len(students), (
        f"the run should be stopped half-way; {len(done_before)} of {len(students)} were done"
    )
    resumed = autograde(course=course, assignment=ASSIGNMENT, workers=2)
    assert sorted(r.student_id for r in resumed) == sorted(
        s for s in students if f"{s}.json" not in done_before
    ), "the second run must grade exactly the submissions the first one did not finish"
    after = {p.name: p.stat().st_mtime_ns for p in results_dir.glob("*.json")}
    assert sorted(after) == sorted(f"{s}.json" for s in students), "a submission was lost"
    assert all(after[name] == mtime for name, mtime in done_before.items()), "graded twice"
    scores = _summary(course)
    assert all(scores[f"right{i}"][1] == 3 for i in range(4)), scores
    leftovers = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "grader.student" not in leftovers, "a student process outlived the killed run"
