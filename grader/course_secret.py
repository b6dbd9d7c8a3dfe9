"""The course secret: where hidden tests get their random inputs.

Hidden tests draw their inputs from ``grading_seed(label)`` (defined in each assignment's setup
cell), which hashes the ``RELU_GRADING_SECRET`` environment variable with the label. The grader
sets that variable, for both engines, to a value derived from

* a course secret: 32 random bytes made on first use and kept in the grading folder
  (``<workdir>/course-secret``, readable by the instructor only), and
* the submission itself (assignment, student id, the notebook's bytes),

so the hidden inputs are reproducible for the instructor (same secret, same file: same inputs)
but not predictable by a student from the public notebook, and different for every
resubmission: whatever a submission learns about its hidden inputs (from its own feedback) is
useless for the next one. The student's sandboxed process never sees the variable (its
environment is built from scratch).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

ENV = "RELU_GRADING_SECRET"
FILENAME = "course-secret"


def course_secret(workdir: Path) -> str:
    """The course secret of a grading folder, made on first use."""
    path = Path(workdir) / FILENAME
    if not path.exists():
        _write(path, secrets.token_hex(32))
    return path.read_text().strip()


def _write(path: Path, secret: str) -> None:
    """Write a secret readable by its owner only (never briefly readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)


def share(source_workdir: Path, workdir: Path) -> None:
    """Give ``workdir`` the course secret of ``source_workdir`` (made there if missing): two
    grading folders that must draw the same hidden inputs, as when certification grades the
    same submissions with both engines, each in a folder of its own."""
    secret = course_secret(source_workdir)
    path = Path(workdir) / FILENAME
    if path.exists() and path.read_text().strip() == secret:
        return
    path.unlink(missing_ok=True)
    _write(path, secret)


def submission_secret(secret: str, assignment: str, student: str, notebooks: list[Path]) -> str:
    """The value of ``RELU_GRADING_SECRET`` while one submission is graded."""
    digest = hashlib.sha256(f"{secret}\0{assignment}\0{student}\0".encode())
    for path in sorted(notebooks):
        digest.update(path.name.encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@contextlib.contextmanager
def grading_secret(value: str | None) -> Iterator[None]:
    """Set ``RELU_GRADING_SECRET`` for the code inside (the grader's tests, or a kernel it
    starts), and restore what was there after."""
    if value is None:
        yield
        return
    before = os.environ.get(ENV)
    os.environ[ENV] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
