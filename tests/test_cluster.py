"""Grading on a real Dask cluster on 127.0.0.1: same results as local, nothing lost.

Schedulers and workers run as separate processes (as on separate machines), all started at
once when the module starts, while the class is prepared:

* the main cluster (a scheduler with Dask's default settings and two workers) grades a class
  of 24 a1 submissions (references, an untouched notebook, mutants from the catalogue, correct
  alternatives, hostile ones), which is graded locally too, and compared test by test; then
  a worker is SIGKILLed while it grades, and the client (a real ``python -m grader``
  subprocess) is SIGKILLed mid-run and started again, each on a part of that class;
* a small-memory cluster (one 700 MB worker, ``allowed-failures`` 1) is given a submission
  whose grading kills its worker, among innocent ones;
* a worker without bubblewrap on its PATH is asked to grade.
"""

from __future__ import annotations

import os
import shutil
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
#: The part of the class graded while a worker is killed. ``hostile_loop`` runs into its time
#: limit in several tests, so its grading, the first handed out (in order of student id), is
#: surely in flight for seconds when the kill comes.
WORKER_KILL_PART = ["hostile_loop", "m_relu_forward_int_cast", "reference_a", "reference_b",
                    "untouched"]  # fmt: skip
#: The part of the class graded while the client is killed: five gradings of about a second on
#: two workers, so that some are left when the first result is in.
CLIENT_KILL_PART = ["alt_relu_maximum_where", "hostile_gc", "m_relu_forward_int_cast",
                    "reference_a", "untouched"]  # fmt: skip
#: Innocent submissions graded with the poisonous one. A worker that dies blames every task it
#: held, and with Dask's default worker-saturation a single-thread worker holds two tasks at a
#: time: the innocent one queued on the small cluster's only worker behind the poisonous one
#: dies with it, twice, and is KilledWorker too. The run grades those again one at a time, so
#: each innocent one is graded.
INNOCENT = ["m_relu_forward_int_cast", "reference_a", "reference_b", "untouched"]
# 30 million float64s (240 MB, within the wire's bounds and the student's 4 GiB): decoding and
# checking them takes more than a 700 MB worker has.
POISON = "import numpy as np\n\n\ndef relu_forward(x):\n    return np.ones(30_000_000), x\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and named workers, each its own process group on 127.0.0.1.

    Nothing waits here: the processes start in the background; :meth:`ready` waits for them.
    """

    def __init__(self, tmp: Path, env: dict | None = None):
        self.tmp, self.env = tmp, {**os.environ, **(env or {})}
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        self._start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                     "--dashboard-address", ":0"])  # fmt: skip

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

    def add_worker(self, name: str, memory: str = "1.5GB", env: dict | None = None) -> None:
        self.workers[name] = self._start(
            [
                DASK,
                "worker",
                self.address,
                "--name",
                name,
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

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=30, set_as_default=False)

    def ready(self, timeout: float = 60) -> None:
        with self.client() as client:
            client.wait_for_workers(len(self.workers), timeout=timeout)

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


@pytest.fixture(scope="module", autouse=True)
def clusters(tmp_path_factory):
    """Every cluster of the module, started at once before anything else (they boot while
    the class is prepared and graded locally)."""
    made = {}
    try:
        made["main"] = main = Cluster(tmp_path_factory.mktemp("main"))
        for name in ("w0", "w1"):
            main.add_worker(name)
        # The scheduler gives a task up after it killed two workers (see INNOCENT).
        made["small"] = small = Cluster(
            tmp_path_factory.mktemp("small"),
            {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"},
        )
        small.add_worker("s0", memory="700MB")
        # No bubblewrap on this worker's PATH: it stands for a worker in an unprivileged
        # container.
        made["bare"] = bare = Cluster(tmp_path_factory.mktemp("bare"))
        bare.add_worker("b0", env={**os.environ, "PATH": str(Path(sys.executable).parent)})
        yield made
    finally:
        for c in made.values():
            c.stop()


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


def _collect(course: Course, variants: dict, inbox: Path) -> None:
    from nbformat import write

    for name, code in variants.items():
        folder = inbox / name
        folder.mkdir(parents=True)
        for nb_name, nb in build_submission(course, ASSIGNMENT, code).items():
            write(nb, folder / nb_name)
    intake.collect(course=course, assignment=ASSIGNMENT, source=inbox)


def _course(root: Path, variants: dict) -> Course:
    (root / "solutions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    shutil.copytree(REPO_ROOT / "exercises", root / "exercises")
    course = Course(root=root, workdir=root / "grading")
    _collect(course, variants, root / "inbox")
    return course


def _graded(course: Course) -> dict:
    return {
        r.student_id: (r.status, r.score, r.tests)
        for r in results.load_results(course, ASSIGNMENT)
    }


def _saved(course: Course) -> dict[str, int]:
    """The results saved so far: student -> the file's modification time."""
    return {p.stem: p.stat().st_mtime_ns for p in course.results_dir.rglob("*.json")}


def _grade_on(address: str, course: Course, limits: Limits = LIMITS, **options) -> None:
    """Grade ``course``'s pending a1 submissions with the sandbox engine on the cluster."""
    autograde_module.autograde(
        course=course,
        assignment=ASSIGNMENT,
        engine="sandbox",
        limits=limits,
        scheduler=address,
        **options,
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The class, collected and with its gradebook prepared, once: each test grades a copy."""
    assert len(_variants()) >= 24, len(_variants())
    course = _course(tmp_path_factory.mktemp("template") / "course", _variants())
    autograde_module.prepare_gradebook(course, ASSIGNMENT)
    assert set(WORKER_KILL_PART + CLIENT_KILL_PART + INNOCENT) <= set(
        autograde_module.collected_students(course, ASSIGNMENT)
    )
    return course.root


def _copy(template: Path, where: Path, only: list[str] | None = None) -> Course:
    """A copy of the class; ``only``: with just these students' submissions."""
    shutil.copytree(template, where / "course")
    course = Course(root=where / "course", workdir=where / "course" / "grading")
    if only is not None:
        for folder in course.submitted_dir.iterdir():
            if folder.name not in only:
                shutil.rmtree(folder)
        assert autograde_module.collected_students(course, ASSIGNMENT) == sorted(only)
    return course


@pytest.fixture(scope="module")
def local(tmp_path_factory, template):
    course = _copy(template, tmp_path_factory.mktemp("local"))
    autograde_module.autograde(
        course=course, assignment=ASSIGNMENT, engine="sandbox", workers=2, limits=LIMITS
    )
    graded = _graded(course)
    assert len(graded) == len(_variants())
    return graded


@pytest.fixture
def cluster(clusters):
    clusters["main"].ready()
    return clusters["main"]


def test_the_cluster_gives_the_local_results_test_by_test(cluster, local, template, tmp_path):
    course = _copy(template, tmp_path)
    _grade_on(cluster.address, course)
    remote = _graded(course)
    assert remote == local, {
        k: (remote.get(k), local[k]) for k in local if remote.get(k) != local[k]
    }
    assert local["reference_a"][1] > 0 and local["untouched"][1] == 0
    assert {local[k][1] for k in HOSTILE} == {0.0}, "a hostile submission earned points"
    assert len({v[1] for v in local.values()}) > 3, "the class should have varied scores"


def _removed(client, address: str, deadline: float) -> dict:
    """The scheduler's record of the removal of the worker at ``address``."""
    while time.monotonic() < deadline:
        for _, msg in client.get_events("all"):
            if msg.get("action") == "remove-worker" and msg.get("worker") == address:
                return msg
        time.sleep(0.05)
    raise AssertionError(f"the scheduler did not record that {address} was removed")


def test_a_worker_killed_mid_run_loses_nothing(cluster, local, template, tmp_path):
    course = _copy(template, tmp_path, only=WORKER_KILL_PART)
    errors: list = []

    def grade():
        try:
            _grade_on(cluster.address, course)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=grade)
    with cluster.client() as client:
        thread.start()
        # Wait until some results are saved and a worker is grading hostile_loop, which
        # takes seconds (its time limit): that worker is the victim.
        victim, deadline = None, time.monotonic() + 90
        while victim is None and thread.is_alive() and time.monotonic() < deadline:
            if _saved(course):
                # A lambda: the workers get its code, not a reference to this module.
                running = client.run(
                    lambda dask_worker: [str(t.key) for t in dask_worker.state.executing]
                )
                victim = next(
                    (a for a, keys in running.items() if any(k.endswith("-hostile_loop")
                                                             for k in keys)),
                    None,
                )  # fmt: skip
            if victim is None:
                time.sleep(0.05)
        assert victim is not None, f"hostile_loop was never seen in flight ({errors})"
        name = client.scheduler_info()["workers"][victim]["name"]
        cluster.kill(cluster.workers.pop(name))  # SIGKILL to the worker and its nanny
        before = _saved(course)
        cluster.add_worker("w2" if name != "w2" else "w3")  # back to two for the next tests
        lost = _removed(client, victim, time.monotonic() + 30)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the run did not finish after a worker was killed"
    assert not errors, errors
    assert 0 < len(before) < len(WORKER_KILL_PART), f"the worker was not killed mid-run ({before})"
    assert "hostile_loop" not in before
    assert any(str(k).endswith("-hostile_loop") for k in lost["processing-tasks"]), lost
    assert _graded(course) == {k: local[k] for k in WORKER_KILL_PART}


def test_a_killed_client_resumes_without_grading_anything_twice(
    cluster, local, template, tmp_path
):
    course = _copy(template, tmp_path, only=CLIENT_KILL_PART)
    argv = [sys.executable, "-m", "grader", "--root", str(course.root), "--workdir",
            str(course.workdir), "autograde", ASSIGNMENT, "--scheduler", cluster.address,
            "--timeout", "3", "--memory", "2048", "--engine", "sandbox"]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while not _saved(course) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = _saved(course)
    assert 0 < len(first) < len(CLIENT_KILL_PART), (
        f"the client was not stopped mid-run ({len(first)})"
    )
    rerun = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = _saved(course)
    regraded = [name for name, t in first.items() if after[name] != t]
    assert not regraded, f"graded twice: {regraded}"
    assert _graded(course) == {k: local[k] for k in CLIENT_KILL_PART}


def test_a_submission_that_kills_workers_is_given_up_alone(clusters, local, template, tmp_path):
    """Its grading needs more memory than a worker has: Dask runs it on a second worker, then
    the run grades it again alone, records it ungradable, and every other submission (those
    that shared its dying workers too) is graded as locally."""
    small = clusters["small"]
    course = _copy(template, tmp_path, only=INNOCENT)
    _collect(course, {"poison": POISON}, tmp_path / "late")
    small.ready()
    _grade_on(small.address, course, limits=Limits(timeout_s=20, memory_mb=4096))
    graded = {r.student_id: r for r in results.load_results(course, ASSIGNMENT)}
    assert graded["poison"].status == "ungradable", graded["poison"]
    assert "killed the cluster's workers" in graded["poison"].reason
    assert graded["reference_a"].score == graded["reference_a"].max_score, graded["reference_a"]
    assert {k: v for k, v in _graded(course).items() if k != "poison"} == {
        k: local[k] for k in INNOCENT
    }
    with small.client() as client:
        removed = [m for _, m in client.get_events("all") if m.get("action") == "remove-worker"]
        held = [sorted(str(k).rsplit("-", 1)[-1] for k in m["processing-tasks"]) for m in removed]
        # Each worker that died held the poisonous one, some an innocent one too (the case
        # this test is about); then it was tried alone, and killed allowed-failures + 1 = 2
        # workers holding nothing else.
        assert all("poison" in h for h in held), held
        assert any(len(h) > 1 for h in held), f"no innocent submission died with it: {held}"
        assert held[-2:] == [["poison"], ["poison"]], held
        # The nannies started the killed workers again: the cluster is whole.
        client.wait_for_workers(1, timeout=60)


def test_a_worker_without_bubblewrap_refuses_unless_told(clusters, local, template, tmp_path):
    bare = clusters["bare"]
    course = _copy(template, tmp_path, only=["reference_a"])
    bare.ready()
    with pytest.raises(GraderError, match="no usable bubblewrap"):
        _grade_on(bare.address, course)
    assert not _saved(course), "a refused run recorded a result"
    _grade_on(bare.address, course, container_is_sandbox=True)
    (result,) = results.load_results(course, ASSIGNMENT)
    assert result.score == result.max_score, result
    assert _graded(course) == {"reference_a": local["reference_a"]}
