"""Grading on a Dask cluster: the scheduler's overhead and the throughput with 1 and 2 workers.

Starts a real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (each worker
``--nthreads 1``), grades one class of N a1 submissions (the reference, alternatives and
mutants, cycled) locally with one process and on the cluster with 1 and then 2 workers, and
prints, from those measurements:

* the per-submission overhead the cluster adds (cluster with 1 worker vs. one local process);
* the throughput (submissions per second) with 1 and 2 workers;
* the projected time to grade 10,000 submissions on N workers (N = 1, 2, 8, 32, 128), assuming
  throughput scales with workers as measured from 1 to 2 and the client's own cost (packing,
  saving, the gradebook) stays serial.

    .venv/bin/python benchmarks/cluster_speed.py -n 24
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import autograde, intake  # noqa: E402
from grader.layout import REPO_ROOT, Course  # noqa: E402
from grader.sandbox import Limits  # noqa: E402
from tests.mutation import build_submission, load_catalogue  # noqa: E402
from tests.test_cluster import Cluster  # noqa: E402

ASSIGNMENT = "a1_rectifier"


def make_class(root: Path, n: int) -> Course:
    import nbformat

    (root / "solutions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    shutil.copytree(REPO_ROOT / "exercises", root / "exercises")
    course = Course(root=root, workdir=root / "grading")
    catalogue = load_catalogue(ASSIGNMENT)
    pool = [("reference", None)] + list(catalogue.ALTERNATIVES.items())
    pool += list(catalogue.MUTANTS.items())
    for i, (_, code) in zip(range(n), itertools.cycle(pool)):
        folder = root / "inbox" / f"s{i:04d}"
        folder.mkdir(parents=True)
        for name, nb in build_submission(course, ASSIGNMENT, code).items():
            nbformat.write(nb, folder / name)
    intake.collect(course=course, assignment=ASSIGNMENT, source=root / "inbox")
    autograde.prepare_gradebook(course, ASSIGNMENT)
    return course


def timed(template: Path, where: Path, **kwargs) -> tuple[float, dict]:
    """Seconds to grade a copy of the class, and its scores test by test."""
    from grader.results import load_results

    shutil.copytree(template, where)
    course = Course(root=where, workdir=where / "grading")
    start = time.perf_counter()
    autograde.autograde(
        course=course, assignment=ASSIGNMENT, engine="sandbox", limits=Limits(), **kwargs
    )
    seconds = time.perf_counter() - start
    return seconds, {r.student_id: r.tests for r in load_results(course, ASSIGNMENT)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=24, help="submissions in the class")
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        template = make_class(tmp / "template", n).root
        local, scores = timed(template, tmp / "local", workers=1)
        cluster = Cluster(tmp / "cluster")
        try:
            cluster.add_worker("w0")
            cluster.ready()
            one, one_scores = timed(template, tmp / "one", scheduler=cluster.address)
            cluster.add_worker("w1")
            cluster.ready()
            two, two_scores = timed(template, tmp / "two", scheduler=cluster.address)
        finally:
            cluster.stop()
    if not scores == one_scores == two_scores:
        print("the cluster's scores differ from the local ones: these timings mean nothing")
        return 1
    print(f"class of {n} a1 submissions")
    print(f"  local, 1 process : {local:6.1f} s  {n / local:5.2f}/s  {local / n:.3f} s each")
    print(f"  cluster, 1 worker: {one:6.1f} s  {n / one:5.2f}/s  {one / n:.3f} s each")
    print(f"  cluster, 2 workers:{two:6.1f} s  {n / two:5.2f}/s  {two / n:.3f} s each")
    overhead = (one - local) / n
    print(f"  overhead the scheduler adds per submission: {overhead * 1000:.0f} ms")
    # Per submission: a part that the workers share out, and a serial part on the client
    # (fitted from the 1- and 2-worker runs: t(w) = serial + parallel / w).
    parallel = max(2 * (one - two), 0.0) / n
    serial = max(one / n - parallel, 0.0)
    print(f"  fitted per submission: {parallel:.3f} s on a worker, {serial:.3f} s on the client")
    for workers in (1, 2, 8, 32, 128):
        total = 10_000 * (serial + parallel / workers)
        print(f"  projected, 10,000 submissions on {workers:3d} workers: {total / 60:7.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
