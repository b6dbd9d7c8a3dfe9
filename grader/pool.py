"""Grading processes on this machine: a pool that survives any one submission.

Each submission is graded in a worker process (one worker for a serial run too), never in the
command's own process, so nothing a submission does to the trusted side (a reply that makes the
grader use too much memory, a crash of the interpreter) can stop the run. Each worker's address
space is capped (``--grader-memory``); the student's own process has its separate limits
(:class:`grader.sandbox.Limits`). Each worker forks its student processes from a warm template
of its own (:mod:`grader.template`), closed when the worker exits.

When a worker dies (the kernel's OOM killer, a segfault, a kill), the submissions it was grading
are known from their in-flight markers; they stay pending, their attempt count goes up, and the
run goes on in a fresh pool with every submission not yet graded. A submission that was in
flight when workers died ``MAX_ATTEMPTS`` times is recorded ungradable with that reason, so one
poisonous submission cannot stop every later run. Nothing is ever recorded as a zero because a
worker died.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

log = logging.getLogger(__name__)

#: How many worker deaths a submission may be in flight for before it is given up.
MAX_ATTEMPTS = 3
#: Address space of one grading process (the trusted side), in MiB.
DEFAULT_GRADER_MEMORY_MB = 4096


def _init_worker(memory_mb: int) -> None:
    from grader import template

    template.take()  # the template the command started for this process, if it did
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run(grade: Callable, student: str, inflight: Path):
    marker = inflight / student
    marker.write_text(str(os.getpid()))
    try:
        return grade(student)
    finally:
        marker.unlink(missing_ok=True)


class Attempts:
    """How often workers died while a submission was in flight (kept in the grading folder)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def count(self, student: str) -> int:
        try:
            return int((self.folder / student).read_text())
        except (OSError, ValueError):
            return 0

    def add(self, student: str) -> int:
        n = self.count(student) + 1
        (self.folder / student).write_text(str(n))
        return n

    def clear(self, student: str) -> None:
        (self.folder / student).unlink(missing_ok=True)


def run(
    grade: Callable,
    students: list[str],
    *,
    workers: int,
    state: Path,
    memory_mb: int = DEFAULT_GRADER_MEMORY_MB,
    on_result: Callable,
    on_give_up: Callable[[str, str], None],
    on_error: Callable[[str, BaseException], None],
    on_started: Callable[[], None] | None = None,
) -> None:
    """Grade ``students`` with ``grade`` (picklable) in ``workers`` processes.

    ``on_result(result)`` for each graded submission, ``on_give_up(student, reason)`` for one
    that killed its worker too often, ``on_error(student, exc)`` for one whose grading raised.
    ``on_started()`` once the first workers run, in this process, while they grade (work that
    the results will need, done meanwhile). ``state`` holds the in-flight markers and attempt
    counts.
    """
    inflight = state / "inflight"
    inflight.mkdir(parents=True, exist_ok=True)
    attempts = Attempts(state / "attempts")
    todo, suspects = list(students), []
    while todo or suspects:
        # Submissions that were in flight when a worker died are graded alone afterwards, so
        # that a death is blamed on the right one.
        batch, size = (todo, workers) if todo else ([suspects.pop(0)], 1)
        todo = [] if batch is todo else todo
        left = _round(
            grade, batch, size, memory_mb, inflight, on_result, on_error, attempts, on_started
        )
        on_started = None
        if not left:
            continue
        dead = ({m.name for m in inflight.iterdir()} & left) or set(left)
        log.warning(
            "a grading process died while grading %s; %d submission(s) not yet graded",
            ", ".join(sorted(dead)),
            len(left),
        )
        for student in sorted(left):
            if student not in dead:
                todo.append(student)
            elif attempts.add(student) >= MAX_ATTEMPTS:
                attempts.clear(student)
                on_give_up(
                    student,
                    f"the grading process died {MAX_ATTEMPTS} times while grading this "
                    "submission (out of memory or a crash); nothing was recorded for it before",
                )
            else:
                suspects.append(student)


def _round(
    grade, batch, workers, memory_mb, inflight, on_result, on_error, attempts, on_started=None
) -> set:
    """Grade ``batch`` in one pool; return the students left ungraded because it broke."""
    for marker in inflight.iterdir():
        marker.unlink(missing_ok=True)
    left = set(batch)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(batch)),
        # Forked (not Python 3.14's default forkserver): each worker inherits what this process
        # prepared for it (_preload, the templates offered, grader.template.offer).
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(memory_mb,),
    ) as executor:
        # The pool forks every worker at the first submission: from here on, this process may
        # import and start threads without a child inheriting a half-held lock.
        futures = {executor.submit(_run, grade, s, inflight): s for s in batch}
        if on_started is not None:
            on_started()
        for future in as_completed(futures):
            student = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                continue
            except Exception as exc:  # the grader failed on this submission
                left.discard(student)
                attempts.clear(student)
                on_error(student, exc)
                continue
            left.discard(student)
            attempts.clear(student)
            on_result(result)
    return left
