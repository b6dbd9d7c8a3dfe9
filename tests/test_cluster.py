"""Grading on a real Dask cluster on 127.0.0.1: same results as local, nothing lost.

A scheduler and two workers run as separate processes (as on separate machines). A class of 24
a1 submissions (references, an untouched notebook, mutants from the catalogue, correct
alternatives, hostile ones) is graded locally and on the cluster; then a worker is killed
mid-run, the client is killed mid-run, a submission kills workers again and again, and a
worker without bubblewrap is asked to grade.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import autograde as autograde_module
from grader import intake, results
from grader.errors import GraderError
from grader.layout import REPO_ROOT, Course
from grader.sandbox import Limits, bwrap_path
from tests.mutation import UNTOUCHED, build_submission, load_catalogue

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap on the workers"),
]

ASSIGNMENT = "a1_rectifier"
DASK = str(Path(sys.executable).parent / "dask")
LIMITS = Limits(timeout_s=3, memory_mb=2048)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and workers, each its own process group on 127.0.0.1."""

    def __init__(self, tmp: Path, env: dict | None = None):
        self.tmp, self.env = tmp, {**os.environ, **(env or {})}
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.scheduler = self._start(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dashboard-address",
                ":0",
            ]  # fmt: skip
        )
        self.workers = [self.add_worker() for _ in range(2)]
        self._wait_for(len(self.workers))

    def _start(self, argv, env=None) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv,
            env=env or self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.tmp,
        )
        self.procs.append(proc)
        return proc

    def add_worker(self, env=None, memory="1.5GB") -> subprocess.Popen:
        return self._start(
            [
                DASK,
                "worker",
                self.address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--dashboard-address",
                ":0",
                "--memory-limit",
                memory,
                "--local-directory",
                str(self.tmp / "dask"),
            ],  # fmt: skip
            env,
        )

    def _wait_for(self, n: int, timeout: float = 60) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(proc)


HOSTILE = {
    "hostile_gc": "import gc\n\n\ndef relu_forward(x):\n    return x * 0, x\n",
    "hostile_loop": "def relu_forward(x):\n    while True:\n        pass\n",
}


def _variants() -> dict[str, str | None]:
    catalogue = load_catalogue(ASSIGNMENT)
    mutants = list(catalogue.MUTANTS.items())[:17]
    alternatives = list(catalogue.ALTERNATIVES.items())[:2]
    variants: dict[str, str | None] = {"reference_a": None, "reference_b": None}
    variants["untouched"] = UNTOUCHED
    variants |= {f"m_{k}": v for k, v in mutants}
    variants |= {f"alt_{k}": v for k, v in alternatives}
    variants |= HOSTILE
    return variants


def _course(root: Path, variants: dict) -> Course:
    import shutil

    from nbformat import write

    (root / "solutions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    shutil.copytree(REPO_ROOT / "exercises", root / "exercises")
    course = Course(root=root, workdir=root / "grading")
    inbox = root / "inbox"
    for name, code in variants.items():
        folder = inbox / name
        folder.mkdir(parents=True)
        for nb_name, nb in build_submission(course, ASSIGNMENT, code).items():
            write(nb, folder / nb_name)
    intake.collect(course=course, assignment=ASSIGNMENT, source=inbox)
    return course


def _graded(course: Course) -> dict:
    return {
        r.student_id: (r.status, r.score, r.tests)
        for r in results.load_results(course, ASSIGNMENT)
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The class, collected and with its gradebook prepared, once: each test grades a copy."""
    course = _course(tmp_path_factory.mktemp("template") / "course", _variants())
    autograde_module.prepare_gradebook(course, ASSIGNMENT)
    return course.root


def _copy(template: Path, where: Path) -> Course:
    import shutil

    shutil.copytree(template, where / "course")
    return Course(root=where / "course", workdir=where / "course" / "grading")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def local(tmp_path_factory, template):
    assert len(_variants()) >= 24, len(_variants())
    course = _copy(template, tmp_path_factory.mktemp("local"))
    autograde_module.autograde(
        course=course, assignment=ASSIGNMENT, engine="sandbox", workers=2, limits=LIMITS
    )
    return _graded(course)


def test_the_cluster_gives_the_local_results_test_by_test(cluster, local, template, tmp_path):
    course = _copy(template, tmp_path)
    autograde_module.autograde(
        course=course,
        assignment=ASSIGNMENT,
        engine="sandbox",
        limits=LIMITS,
        scheduler=cluster.address,
    )
    remote = _graded(course)
    assert remote == local, {
        k: (remote.get(k), local[k]) for k in local if remote.get(k) != local[k]
    }
    assert local["reference_a"][1] > 0 and local["untouched"][1] == 0
    assert {local[k][1] for k in HOSTILE} == {0.0}, "a hostile submission earned points"
    assert len({v[1] for v in local.values()}) > 3, "the class should have varied scores"


def test_a_worker_killed_mid_run_loses_nothing(cluster, local, template, tmp_path):
    course = _copy(template, tmp_path)
    done: list = []

    def grade():
        done.extend(
            autograde_module.autograde(
                course=course,
                assignment=ASSIGNMENT,
                engine="sandbox",
                limits=LIMITS,
                scheduler=cluster.address,
            )
        )

    thread = threading.Thread(target=grade)
    thread.start()
    deadline = time.monotonic() + 60
    while not any(course.results_dir.rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    victim = cluster.workers.pop(0)
    cluster.kill(victim)  # SIGKILL to the worker and its nanny
    thread.join(timeout=150)
    assert not thread.is_alive(), "the run did not finish after a worker was killed"
    cluster.workers.append(cluster.add_worker())  # back to two for the next tests
    assert _graded(course) == local


def test_a_submission_that_kills_workers_is_given_up_alone(tmp_path):
    """Its grading needs more memory than a worker has: Dask retries it on other workers, then
    the run records it ungradable, and every other submission is graded."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    c = Cluster(tmp_path / "c", env)
    try:
        for w in c.workers:
            c.kill(w)
        c.workers = [c.add_worker(memory="700MB") for _ in range(2)]
        c._wait_for(2)
        # 30 million float64s (240 MB, within the wire's bounds and the student's 4 GiB):
        # decoding and checking them takes more than a grading worker's 700 MB.
        poison = (
            "import numpy as np\n\n\ndef relu_forward(x):\n    return np.ones(30_000_000), x\n"
        )
        variants = {"reference": None, "poison": poison, "untouched": UNTOUCHED}
        course = _course(tmp_path / "course", variants)
        autograde_module.autograde(
            course=course,
            assignment=ASSIGNMENT,
            engine="sandbox",
            limits=Limits(timeout_s=20, memory_mb=4096),
            scheduler=c.address,
        )
        graded = {r.student_id: r for r in results.load_results(course, ASSIGNMENT)}
        assert graded["poison"].status == "ungradable", graded["poison"]
        assert "killed the cluster's workers" in graded["poison"].reason
        assert graded["reference"].score == graded["reference"].max_score, graded["reference"]
    finally:
        c.stop()


def test_a_killed_client_resumes_without_grading_anything_twice(
    cluster, local, template, tmp_path
):
    course = _copy(template, tmp_path)
    argv = [sys.executable, "-m", "grader", "--root", str(course.root), "--workdir",
            str(course.workdir), "autograde", ASSIGNMENT, "--scheduler", cluster.address,
            "--timeout", "3", "--memory", "2048", "--engine", "sandbox"]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while len(list(course.results_dir.rglob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in course.results_dir.rglob("*.json")}
    assert 0 < len(first) < len(local), f"the client was not stopped mid-run ({len(first)})"
    rerun = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=150)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = {p.name: p.stat().st_mtime_ns for p in course.results_dir.rglob("*.json")}
    regraded = [name for name, t in first.items() if after[name] != t]
    assert not regraded, f"graded twice: {regraded}"
    assert _graded(course) == local


def test_a_worker_without_bubblewrap_refuses_unless_told(tmp_path):
    # No bubblewrap on this worker's PATH: it stands for a worker in an unprivileged container.
    env = {"PATH": str(Path(sys.executable).parent)}
    c = Cluster(tmp_path / "c", env)
    try:
        course = _course(tmp_path / "course", {"reference": None})
        with pytest.raises(GraderError, match="no usable bubblewrap"):
            autograde_module.autograde(
                course=course,
                assignment=ASSIGNMENT,
                engine="sandbox",
                limits=LIMITS,
                scheduler=c.address,
            )
        assert not any(course.results_dir.rglob("*.json")), "a refused run recorded a result"
        autograde_module.autograde(
            course=course,
            assignment=ASSIGNMENT,
            engine="sandbox",
            limits=LIMITS,
            scheduler=c.address,
            container_is_sandbox=True,
        )
        (result,) = results.load_results(course, ASSIGNMENT)
        assert result.score == result.max_score, result
    finally:
        c.stop()
