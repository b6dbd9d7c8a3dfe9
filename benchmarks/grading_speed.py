"""Grading speed, as an instructor experiences it: whole ``python -m grader autograde`` commands.

For each assignment with a mutant catalogue, builds a class of N synthetic submissions (the
reference, the correct alternatives and the mutants, cycled) and collects it into fresh grading
folders; then times, each from a fresh process, ``autograde`` with plain nbgrader (serial, in
the student's kernel), with the sandbox engine and a cold student process per submission
(``RELU_WARM=0``), and with the sandbox engine and warm templates (the default), all with
``--workers``; and a class of one (the regrading of one student) both ways. It checks that every
engine gives every submission the same points test by test, and prints the speed-ups, the
per-submission floor, the fixed cost of a command, and where that time goes.

    .venv/bin/python benchmarks/grading_speed.py                         # a1 (24) and a5 (16)
    .venv/bin/python benchmarks/grading_speed.py -a a1_rectifier -n 24 --workers 2
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from grader import results  # noqa: E402
from grader.layout import Course  # noqa: E402
from tests.mutation import build_submission, load_catalogue  # noqa: E402

#: Class sizes of the issue's targets.
DEFAULT_SIZES = {"a1_rectifier": 24, "a5_frameworks": 16}


def grader_command(workdir: Path, *args: str, env: dict | None = None) -> float:
    """Seconds one ``python -m grader`` command takes, from a fresh process."""
    argv = [sys.executable, "-m", "grader", "--root", str(ROOT), "--workdir", str(workdir)]
    start = time.perf_counter()
    done = subprocess.run(
        [*argv, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def make_class(assignment: str, n: int, inbox: Path) -> list[str]:
    catalogue = load_catalogue(assignment)
    pool = [("reference", None)]
    pool += [(f"alt_{k}", v) for k, v in catalogue.ALTERNATIVES.items()]
    pool += [(f"mutant_{k}", v) for k, v in catalogue.MUTANTS.items()]
    course = Course(root=ROOT)
    names = []
    for i, (name, code) in zip(range(n), itertools.cycle(pool)):
        student = f"s{i:03d}_{name}"[:60].lower()
        names.append(student)
        for nb_name, nb in build_submission(course, assignment, code).items():
            (inbox / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, inbox / student / nb_name)
    return names


#: Seconds each ``collect`` took (it also prepares the gradebook, once per grading folder).
COLLECT_S: dict[str, float] = {}


def collected(tmp: Path, label: str, assignment: str, inbox: Path) -> Path:
    workdir = tmp / label
    COLLECT_S[label] = grader_command(workdir, "collect", assignment, str(inbox))
    return workdir


def tests_of(workdir: Path, assignment: str) -> dict:
    course = Course(root=ROOT, workdir=workdir)
    return {r.student_id: r.tests for r in results.load_results(course, assignment)}


#: What ``python -m grader`` imports, after what its ``__main__`` does first (it keeps the
#: libraries of jsonschema's format checks out), and the seconds an interpreter takes to start
#: and import it, as last measured.
IMPORTS = (ROOT / "grader" / "__main__.py").read_text().split("from grader.cli import")[
    0
] + "\nimport grader.cli, grader.autograde"
IMPORTS_S = [0.0]


def where_time_goes(assignment: str, graded: Path, repeats: int = 5) -> dict[str, float]:
    """The parts of a command's fixed cost and of one submission's floor, measured alone;
    ``graded`` is a grading folder whose class was graded (its results are recorded again)."""
    from grader import template
    from grader.autograde import prepare_gradebook
    from grader.blueprint import Blueprint
    from grader.remote import Remote
    from grader.sandbox import Limits, bwrap_path

    parts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        prepare_gradebook(Course(root=ROOT, workdir=Path(tmp) / "grading"), assignment)
        parts["preparing the gradebook (collect, once per grading folder)"] = (
            time.perf_counter() - start
        )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True, cwd=ROOT)
    parts["interpreter + the grader's imports (command and each pool worker)"] = IMPORTS_S[0] = (
        time.perf_counter() - start
    )
    torch = Blueprint.from_source(Course(root=ROOT).source_notebooks(assignment)[0]).uses_torch
    bwrap = bwrap_path()
    limits = Limits(memory_mb=2048) if torch else Limits()
    cell = ("import torch\n" if torch else "import numpy\n") + "def f(x):\n    return x\n"
    with tempfile.TemporaryDirectory() as tmp:
        if template.unavailable_reason(bwrap) is None:
            start = time.perf_counter()
            template.get(bwrap, torch).wait_ready()
            parts["warm template start (once per worker)"] = time.perf_counter() - start
        for label, env in (("warm", "1"), ("cold", "0")):
            os.environ[template.ENV_WARM] = env
            start = time.perf_counter()
            for _ in range(repeats):
                remote = Remote(limits, bwrap, Path(tmp) / "work", torch)
                remote.run_cells([["answer", "x", cell]])
                assert remote.call("f", (1,), {}) == 1
                remote.close()
            parts[f"student process, {label}: start, import, one call, end"] = (
                time.perf_counter() - start
            ) / repeats
        os.environ.pop(template.ENV_WARM, None)
        parts.update(_grading_and_recording(assignment, graded, Path(tmp), bwrap, limits))
        template.close_all()
    return parts


def _grading_and_recording(assignment, graded: Path, tmp: Path, bwrap, limits, repeats=5) -> dict:
    """One submission's own costs in a warm grading process: its grading (the sandbox engine's
    judge, its student process forked from the template), and recording its result in
    nbgrader's gradebook (after the command's first, which loads nbgrader)."""
    import shutil

    import nbformat

    from grader import gradebook
    from grader.blueprint import Blueprint
    from grader.judge import judge

    parts = {}
    course = Course(root=ROOT, workdir=graded)
    source = course.source_notebooks(assignment)[0]
    blueprint = Blueprint.from_source(source)
    student = sorted(p for p in course.submitted_dir.iterdir())[0]
    notebook = nbformat.read(student / assignment / source.name, 4)
    judge(blueprint, notebook, limits, bwrap)
    start = time.perf_counter()
    for _ in range(repeats):
        judge(blueprint, notebook, limits, bwrap)
    parts["grading one submission, warm (grading process and student process)"] = (
        time.perf_counter() - start
    ) / repeats
    copy = tmp / "recorded"
    shutil.copytree(graded, copy)
    found = results.load_results(Course(root=ROOT, workdir=copy), assignment)
    start = time.perf_counter()
    with gradebook.Recorder(Course(root=ROOT, workdir=copy), assignment) as recorder:
        recorder.record(found[0])
        first = time.perf_counter()
        for result in found[1:]:
            recorder.record(result)
        rest = (time.perf_counter() - first) / max(1, len(found) - 1)
    parts["recording one result in nbgrader's gradebook (each after the first)"] = rest
    parts["recorder start: its gradebook, source cells and first result (once)"] = (
        first - start - rest
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS + ", grader.gradebook"], check=True, cwd=ROOT)
    parts["nbgrader's import, for recording (once per command, while grading)"] = (
        time.perf_counter() - start - IMPORTS_S[0]
    )
    return parts


def bench(assignment: str, n: int, workers: int, engines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        names = make_class(assignment, n, tmp / "inbox")
        make_class(assignment, 1, tmp / "inbox1")
        runs = {
            "nbgrader": ("--engine", "nbgrader"),
            "cold": ("--engine", "sandbox", "--workers", str(workers)),
            "warm": ("--engine", "sandbox", "--workers", str(workers)),
        }
        env = {"cold": {"RELU_WARM": "0"}, "warm": {"RELU_WARM": "1"}, "nbgrader": {}}
        seconds, graded = {}, {}
        for engine in engines:
            workdir = collected(tmp, engine, assignment, tmp / "inbox")
            seconds[engine] = grader_command(
                workdir, "autograde", assignment, *runs[engine], env=env[engine]
            )
            graded[engine] = tests_of(workdir, assignment)
        one, again = {}, {}
        for engine in ("cold", "warm"):
            workdir = collected(tmp, f"one_{engine}", assignment, tmp / "inbox1")
            one[engine] = grader_command(
                workdir, "autograde", assignment, *runs[engine], env=env[engine]
            )
            # Regrading one student of a class graded before: the gradebook is ready.
            again[engine] = grader_command(
                workdir, "autograde", assignment, "--force", *runs[engine], env=env[engine]
            )
        graded_dir = tmp / ("warm" if "warm" in seconds else next(iter(seconds)))
        parts = where_time_goes(assignment, graded_dir)
    print(f"\n== {assignment}: a class of {n}, --workers {workers}, whole commands ==")
    what = {
        "nbgrader": "plain nbgrader (serial, in the kernel)",
        "cold": "sandbox, a cold process per submission",
        "warm": "sandbox, forked from warm templates",
    }
    for engine, s in seconds.items():
        print(f"  {what[engine]:42s} {s:6.1f} s  ({s / n:5.2f} s per notebook)")
    print(
        "  (before each: collect, which copies the class in and prepares the gradebook once, "
        + ", ".join(f"{COLLECT_S[e]:.1f} s" for e in seconds)
        + ")"
    )
    if "nbgrader" in seconds:
        for engine in ("cold", "warm"):
            if engine in seconds:
                ratio = seconds["nbgrader"] / seconds[engine]
                print(f"  speed-up over nbgrader, {engine}: {ratio:.1f}x")
    for engine in ("cold", "warm"):
        print(
            f"  a class of one, {engine}: {one[engine]:.2f} s the first time, "
            f"{again[engine]:.2f} s regraded (autograde --force)"
        )
    for engine in ("cold", "warm"):
        if engine in seconds and n > workers:
            # A class takes F + (n / workers) p, a class of one F + p: p is one submission's
            # time in a worker (its floor), F the command's fixed cost.
            per = (seconds[engine] - one[engine]) / (n / workers - 1)
            print(
                f"  {engine}: per-submission floor {per:.2f} s of a worker "
                f"({per / workers:.2f} s wall with {workers} workers); fixed cost of the "
                f"command {one[engine] - per:.2f} s"
            )
    reference = graded.get("nbgrader") or next(iter(graded.values()))
    for engine, tests in graded.items():
        differ = [s for s in names if tests.get(s) != reference.get(s)]
        print(
            f"  {engine}: scores agree with {'nbgrader' if 'nbgrader' in graded else engine} on "
            f"{n - len(differ)}/{n}" + (f"; DIFFER: {differ}" if differ else "")
        )
    print("  where the time goes (measured alone):")
    for part, s in parts.items():
        print(f"    {part:72s} {s:5.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--assignment", action="append", help="default: a1 and a5")
    parser.add_argument("-n", type=int, default=None, help="class size (default: 24 a1, 16 a5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--engines", default="nbgrader,cold,warm", help="which of nbgrader,cold,warm to time"
    )
    args = parser.parse_args()
    for assignment in args.assignment or list(DEFAULT_SIZES):
        n = args.n or DEFAULT_SIZES.get(assignment, 12)
        bench(assignment, n, args.workers, args.engines.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
