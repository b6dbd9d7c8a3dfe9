"""Grading on a Dask cluster (``autograde --scheduler ADDRESS``).

The instructor's machine stays the only writer: it reads each pending submission, packs what
grading it needs into a :class:`Work` (the student's notebooks, the source notebooks with
their tests as nbgrader saved them, the assignment's data files, the limits, and the
submission's own secret, see :mod:`grader.course_secret`), and sends it to the cluster. A
worker grades the copy in a temporary folder with the same code as a local run
(:func:`grader.autograde.grade_submission`) and returns the result; it never sees the course's
``solutions/`` folder, the grading folder or the course secret itself. Results are saved and
mirrored into the gradebook on the instructor's machine as they arrive, so a client that is
stopped resumes with only the submissions that have no result.

Every worker confines student code with bubblewrap, as a local run does, and forks each
submission's process from a warm template of its own (:mod:`grader.template`: one per Dask
worker process and kind, kept in a module-level cache between tasks and started again if it
died). A worker without a
usable bubblewrap (e.g. inside an unprivileged container) refuses to grade, and the run stops
with that message, unless the instructor declares that the container is the sandbox
(``--container-is-sandbox``, or ``RELU_CONTAINER_IS_SANDBOX=1`` in the workers' environment).

A worker that dies mid-task (killed, out of memory) loses nothing: Dask runs its tasks again
elsewhere. Dask counts a death against every task the dead worker held, so a submission whose
worker died more often than the scheduler allows (``distributed.scheduler.allowed-failures``,
3 by default) is graded again afterwards, alone; only if its workers die again while it is the
only task is it recorded ungradable with that reason. The cluster goes on with the others.

Run each worker with ``--nthreads 1`` (use ``--nworkers`` for parallelism): grading changes the
process's working folder and standard streams while a notebook runs; a lock keeps two gradings
in one worker process apart in any case.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader import results
from grader.course_secret import grading_secret
from grader.errors import GraderError
from grader.sandbox import Limits, bwrap_path

log = logging.getLogger(__name__)

ENV_SCHEDULER = "DASK_SCHEDULER_ADDRESS"
ENV_CONTAINER = "RELU_CONTAINER_IS_SANDBOX"
_GRADING = threading.Lock()


class SandboxUnavailable(Exception):
    """A worker cannot confine student code and was not told the container is the sandbox."""


@dataclass(frozen=True)
class Work:
    """Everything a worker needs to grade one submission, and nothing else."""

    assignment: str
    student: str
    max_score: float
    limits: Limits
    #: The submission's own secret (derived from the course secret and the submission).
    secret: str
    sources: tuple[tuple[str, bytes], ...]
    data: tuple[tuple[str, bytes], ...]
    notebooks: tuple[tuple[str, bytes], ...]
    expanded: dict
    container_is_sandbox: bool = False


def pack(
    *,
    assignment: str,
    student: str,
    max_score: float,
    limits: Limits,
    secret: str,
    sources: list[Path],
    folder: Path,
    expanded: dict,
    container_is_sandbox: bool = False,
) -> Work:
    from grader.blueprint import data_files

    data = data_files(sources[0].parent) if sources else ()
    return Work(
        assignment=assignment,
        student=student,
        max_score=max_score,
        limits=limits,
        secret=secret,
        sources=tuple((p.name, p.read_bytes()) for p in sources),
        data=tuple((p.name, p.read_bytes()) for p in data),
        notebooks=tuple((p.name, p.read_bytes()) for p in sorted(folder.glob("*.ipynb"))),
        expanded=expanded,
        container_is_sandbox=container_is_sandbox,
    )


def grade_work(work: Work) -> results.Result:
    """Grade one packed submission (runs on a worker)."""
    from grader.autograde import grade_submission

    bwrap = bwrap_path()
    if bwrap is None and not (work.container_is_sandbox or os.environ.get(ENV_CONTAINER) == "1"):
        raise SandboxUnavailable(
            f"worker {socket.gethostname()} has no usable bubblewrap, so it cannot confine "
            "student code: install bubblewrap there, or, if the worker's container is itself "
            f"the sandbox, pass --container-is-sandbox (or set {ENV_CONTAINER}=1 on the workers)"
        )
    with _GRADING, tempfile.TemporaryDirectory(prefix="relu-work-") as tmp:
        source_dir = Path(tmp) / "source" / work.assignment
        folder = Path(tmp) / "submission"
        source_dir.mkdir(parents=True)
        folder.mkdir()
        for name, blob in work.sources + work.data:
            (source_dir / Path(name).name).write_bytes(blob)
        for name, blob in work.notebooks:
            (folder / Path(name).name).write_bytes(blob)
        sources = sorted(source_dir / Path(name).name for name, _ in work.sources)
        with grading_secret(work.secret):
            return grade_submission(
                work.assignment,
                work.student,
                sources,
                folder,
                work.expanded,
                work.limits,
                bwrap,
                work.max_score,
            )


def run(
    address: str,
    works: list[Work],
    *,
    on_results: Callable[[list[results.Result]], None],
    on_give_up: Callable[[str, str], None],
    on_error: Callable[[str, BaseException], None],
    connect_timeout: float = 30,
) -> None:
    """Grade ``works`` on the cluster whose scheduler is at ``address``."""
    from distributed import Client

    try:
        client = Client(address, timeout=connect_timeout)
    except OSError as exc:
        raise GraderError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    run_id = uuid.uuid4().hex[:8]
    try:
        # Dask counts a worker's death against every task the worker held, not only the one
        # that killed it: a submission that shared a worker with a poisonous one can be
        # KilledWorker too. Those are graded again afterwards, one at a time, so that a death
        # is blamed on the submission that caused it (as grader.pool does on this machine).
        suspects = _wave(client, works, run_id, on_results, on_error)
        for n, work in enumerate(suspects, 1):
            if _wave(client, [work], f"{run_id}-alone{n}", on_results, on_error):
                on_give_up(
                    work.student,
                    "grading it killed the cluster's workers again and again, also when it was "
                    "graded alone (out of memory or a crash); it was not graded",
                )
    finally:
        client.close()


def _wave(client, works: list[Work], run_id: str, on_results, on_error) -> list[Work]:
    """Grade ``works`` at once; return those whose workers died too often (KilledWorker)."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    futures = {
        client.submit(
            grade_work, w, key=f"relu-grade-{run_id}-{w.assignment}-{w.student}", pure=False
        ): w
        for w in works
    }
    killed = []
    # Results that arrived while the last ones were being saved come as one batch.
    for finished in as_completed(futures).batches():
        found = []
        for future in finished:
            work = futures[future]
            try:
                found.append(future.result())
            except KilledWorker:
                killed.append(work)
            except SandboxUnavailable as exc:
                for other in futures:
                    other.cancel()
                raise GraderError(str(exc)) from None
            except Exception as exc:  # the grader failed on this submission
                on_error(work.student, exc)
        if found:
            on_results(found)
    return killed
