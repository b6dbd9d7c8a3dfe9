"""Bring a folder of student submissions into the grading workdir, checking every file.

A submission folder looks like ``SOURCE/<student_id>/<notebook>.ipynb``; an LMS download, a
zip file, holds either such folders or flat files named ``<student_id>_<anything>.ipynb``
(the student id is the text before the first underscore). Good notebooks are
copied to nbgrader's ``submitted/<student_id>/<assignment>/``; a file that cannot be graded
(empty, not JSON, not a notebook, missing) is copied to ``quarantine/`` and gets a recorded
zero with its reason. The source folder is only read, never changed.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from grader import results
from grader.errors import GraderError
from grader.layout import Course

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class Intake:
    """What happened to one student's submission."""

    student_id: str
    accepted: bool
    message: str


def normalise_student_id(name: str) -> str:
    """A safe, stable student id from a folder name: lower case, ``[a-z0-9_.-]`` only.

    >>> normalise_student_id(" Ada Lovelace ")
    'ada_lovelace'
    """
    cleaned = _UNSAFE.sub("_", name.strip().lower()).strip("_.")
    if not cleaned:
        raise GraderError(f"cannot make a student id from the folder name {name!r}")
    return cleaned


def notebook_problem(path: Path) -> str | None:
    """Why ``path`` is not a gradable notebook, or ``None`` when it is one."""
    raw = path.read_bytes()
    if not raw.strip():
        return "the file is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"the file is not valid JSON ({exc})"
    if not isinstance(data, dict) or "cells" not in data:
        return "the file is JSON but not a Jupyter notebook (no 'cells')"
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the notebook does not follow the notebook format ({first})"
    return None


def unpack_zip(zip_path: Path, dest: Path) -> Path:
    """Extract an LMS download safely; return a folder laid out as ``<student_id>/*.ipynb``."""
    raw = dest / "raw"
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts:
                raise GraderError(f"{zip_path}: refusing the unsafe path {info.filename!r}")
        zf.extractall(raw)
    entries = [p for p in raw.iterdir() if p.name != "__MACOSX"]
    if (
        len(entries) == 1
        and entries[0].is_dir()
        and not any(p.is_dir() for p in entries[0].iterdir())
    ):
        entries = list(entries[0].iterdir())  # one folder holding flat files
    grouped = dest / "students"
    grouped.mkdir()
    for entry in entries:
        if entry.is_dir():
            shutil.move(str(entry), grouped / entry.name)
        elif entry.suffix == ".ipynb":
            student = entry.name.split("_", 1)[0] if "_" in entry.name else entry.stem
            (grouped / student).mkdir(exist_ok=True)
            shutil.move(str(entry), grouped / student / entry.name)
    return grouped


def _student_notebooks(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file()
    )


def collect(*, course: Course, assignment: str, source: Path) -> list[Intake]:
    """Copy every student's submission of ``assignment`` from ``source`` into the workdir.

    Returns one :class:`Intake` per student folder, in order of student id.
    """
    course.check_assignment(assignment)
    source = Path(source)
    if source.is_file() and zipfile.is_zipfile(source):
        with tempfile.TemporaryDirectory(prefix="relu-collect-") as tmp:
            return collect(
                course=course, assignment=assignment, source=unpack_zip(source, Path(tmp))
            )
    if not source.is_dir():
        raise GraderError(
            f"submission folder {source} does not exist or is not a folder (or a zip file)"
        )
    expected = [p.name for p in course.source_notebooks(assignment)]
    max_score = assignment_max_score(course, assignment)

    outcomes: list[Intake] = []
    seen: dict[str, Path] = {}
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        student = normalise_student_id(folder.name)
        if student in seen:
            raise GraderError(
                f"folders {seen[student].name!r} and {folder.name!r} both map to the student id "
                f"{student!r}; rename one of them"
            )
        seen[student] = folder
        outcomes.append(_collect_one(course, assignment, student, folder, expected, max_score))
    if not seen:
        raise GraderError(
            f"{source} has no student folders (expected SOURCE/<student_id>/*.ipynb)"
        )
    return outcomes


def _collect_one(
    course: Course,
    assignment: str,
    student: str,
    folder: Path,
    expected: list[str],
    max_score: float,
) -> Intake:
    found = _student_notebooks(folder)
    by_name = {p.name: p for p in found}
    chosen: dict[str, Path] = {}
    notes: list[str] = []
    for name in expected:
        if name in by_name:
            chosen[name] = by_name.pop(name)
    leftovers = sorted(by_name.values())
    missing = [n for n in expected if n not in chosen]
    if len(missing) == 1 and len(leftovers) == 1:
        chosen[missing[0]] = leftovers[0]
        notes.append(f"notebook {leftovers[0].name!r} was renamed; graded as {missing[0]!r}")
        missing = []

    problems = [f"no notebook named {n!r} was submitted" for n in missing]
    for path in chosen.values():
        problem = notebook_problem(path)
        if problem:
            problems.append(f"{path.name}: {problem}")

    dest = course.submitted_dir / student / assignment
    if dest.exists():
        shutil.rmtree(dest)
    results.forget(course, assignment, student)
    if problems:
        quarantine = course.quarantine_dir / assignment / student
        if quarantine.exists():
            shutil.rmtree(quarantine)
        quarantine.mkdir(parents=True)
        for path in found:
            shutil.copy2(path, quarantine / path.name)
        reason = "; ".join(problems)
        (quarantine / "REASON.txt").write_text(reason + "\n", encoding="utf-8")
        results.Result.ungradable(student, assignment, max_score, reason).save(course)
        log.warning("%s: quarantined (%s)", student, reason)
        return Intake(student, False, reason)

    dest.mkdir(parents=True)
    for name, path in chosen.items():
        shutil.copy2(path, dest / name)
    write_timestamp(folder, dest, list(chosen.values()))
    return Intake(student, True, "; ".join(notes) or "collected")


def write_timestamp(folder: Path, dest: Path, notebooks: list[Path]) -> None:
    """nbgrader's ``timestamp.txt``: the submission's own (in the student's folder or beside
    the notebooks, as nbgrader's exchange leaves it), else its newest notebook's time.

    nbgrader's ``collect`` writes one; formgrader shows it and late penalties use it.
    """
    for own in [folder / "timestamp.txt", *(p.parent / "timestamp.txt" for p in notebooks)]:
        if own.is_file() and own.read_text(encoding="utf-8", errors="replace").strip():
            shutil.copy2(own, dest / "timestamp.txt")
            return
    newest = max(p.stat().st_mtime for p in notebooks)
    when = datetime.datetime.fromtimestamp(newest, tz=datetime.UTC)
    (dest / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def assignment_max_score(course: Course, assignment: str) -> float:
    """Total points of the assignment's graded cells and tasks, as nbgrader counts them."""
    total = 0.0
    for path in course.source_notebooks(assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("task"):
                total += float(meta.get("points", 0))
    return total
