"""Grading speed: plain `nbgrader autograde` against the course's sandboxed engine.

For each assignment with a mutant catalogue, builds a class of N synthetic submissions (the
reference, the correct alternatives and the mutants, cycled), grades it once with plain nbgrader
(serial, in the student's kernel) and once with the sandbox engine (``--workers``), checks that
both give every submission the same points test by test, and prints notebooks per second, the
ratio, and the floor of the in-kernel approach (a fresh kernel that only imports numpy).

    .venv/bin/python benchmarks/grading_speed.py                 # every assignment, N=12
    .venv/bin/python benchmarks/grading_speed.py -a a1_rectifier -n 40 --workers 2
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.autograde import prepare_gradebook  # noqa: E402
from grader.layout import Course  # noqa: E402
from tests.mutation import grade_variants, load_catalogue  # noqa: E402


def kernel_floor(repeats: int = 3) -> float:
    """Seconds to start a fresh kernel and import numpy in it (nbclient), the in-kernel floor."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    start = time.perf_counter()
    for _ in range(repeats):
        NotebookClient(nb, timeout=60).execute()
    return (time.perf_counter() - start) / repeats


def bench(course: Course, assignment: str, n: int, workers: int) -> None:
    catalogue = load_catalogue(assignment)
    pool = [("reference", None)]
    pool += [(f"alt_{k}", v) for k, v in catalogue.ALTERNATIVES.items()]
    pool += [(f"mutant_{k}", v) for k, v in catalogue.MUTANTS.items()]
    variants = {
        f"s{i:03d}_{name}"[:60]: code for i, (name, code) in zip(range(n), itertools.cycle(pool))
    }
    timings = {}
    graded = {}
    for engine in ("nbgrader", "sandbox"):
        with tempfile.TemporaryDirectory() as tmp:
            work = Course(root=course.root, workdir=Path(tmp) / "grading")
            # Load the gradebook first: both engines pay that once per assignment, not per
            # notebook, and the figure wanted is the throughput of grading itself.
            prepare_gradebook(work, assignment)
            start = time.perf_counter()
            graded[engine] = grade_variants(
                work, assignment, variants, Path(tmp), engine=engine, workers=workers
            )
            timings[engine] = time.perf_counter() - start
    for engine, seconds in timings.items():
        print(
            f"{assignment} {engine:8s}: {n} notebooks in {seconds:6.1f} s = "
            f"{n / seconds:5.2f} notebooks/s, {seconds / n:5.2f} s per notebook"
            + (f" (workers={workers})" if engine == "sandbox" else " (serial)")
        )
    if len(timings) == 2:
        differ = [s for s in variants if graded["nbgrader"][s].tests != graded["sandbox"][s].tests]
        print(
            f"{assignment} speed-up of the sandbox engine: "
            f"{timings['nbgrader'] / timings['sandbox']:.1f}x; scores agree on "
            f"{n - len(differ)}/{n} submissions" + (f"; DIFFER: {differ}" if differ else "")
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--assignment", default="all")
    parser.add_argument("-n", type=int, default=12, help="submissions per class (default 12)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    course = Course()
    catalogued = [
        a for a in course.assignments() if (course.root / "tests/mutants" / f"{a}.py").exists()
    ]
    todo = catalogued if args.assignment == "all" else [args.assignment]
    print(f"floor: a fresh kernel importing numpy takes {kernel_floor():.2f} s")
    for assignment in todo:
        bench(course, assignment, args.n, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
