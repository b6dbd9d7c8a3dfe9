"""Certify the sandbox engine for an assignment: it grades as nbgrader does, or it is not used.

The sandbox engine decides scores outside the student's kernel, so for each assignment it must
be shown to reach nbgrader's scores. ``certify`` grades, with both engines (the sandbox engine
and plain nbgrader in a kernel):

- the reference solution (the source notebooks' answers, in the released notebooks),
- the untouched released notebooks,
- where ``tests/mutants/<assignment>.py`` exists, every mutant and alternative it lists,

and compares the points cell by cell. The outcome is written to
``<workdir>/certificates/<assignment>.json``, keyed by a digest of the assignment's source
folder and of the sandbox engine's code; ``autograde --engine auto`` uses the sandbox engine
only when that certificate says the engines agreed, for exactly this source and this code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from grader import course_secret, intake, results
from grader.layout import Course
from grader.variants import UNTOUCHED, build_submission, load_catalogue

log = logging.getLogger(__name__)

#: The modules whose code decides sandbox scores (grader.student runs in the sandbox): these and
#: every grader module they import.
ENGINE_ROOTS = ("grader.judge", "grader.student", "grader.autograde", "grader.gradebook")
#: Cells that differ are listed in a certificate's summary up to this many.
SHOWN = 3


@dataclass
class Certificate:
    """Whether both engines gave every certification submission the same points per cell."""

    assignment: str
    source_digest: str
    engine_digest: str
    certified: bool
    #: Submissions graded by both engines (reference, untouched, mutants, alternatives).
    submissions: list[str] = field(default_factory=list)
    #: Every graded cell (result key) seen.
    cells: list[str] = field(default_factory=list)
    #: One entry per (submission, cell) where the engines differ.
    differences: list[dict] = field(default_factory=list)
    created: str = ""

    def summary(self) -> str:
        if self.certified:
            return (
                f"sandbox engine certified for {self.assignment}: {len(self.cells)} graded "
                f"cells agree with nbgrader on {len(self.submissions)} submissions"
            )
        differing = sorted({d["cell"] for d in self.differences})
        shown = "; ".join(
            f"{d['cell']}: sandbox {d['sandbox']}, nbgrader {d['nbgrader']} ({d['submission']})"
            for d in _first_per_cell(self.differences)[:SHOWN]
        )
        if len(differing) > SHOWN:
            shown += "; ..."
        return (
            f"sandbox engine not certified for {self.assignment}: {len(differing)} of "
            f"{len(self.cells)} graded cells differ ({shown})"
        )


def _first_per_cell(differences: list[dict]) -> list[dict]:
    seen, first = set(), []
    for d in differences:
        if d["cell"] not in seen:
            seen.add(d["cell"])
            first.append(d)
    return first


def certificate_path(course: Course, assignment: str) -> Path:
    return course.workdir / "certificates" / f"{assignment}.json"


def source_digest(course: Course, assignment: str) -> str:
    """A digest of every file in ``solutions/<assignment>/`` (names and contents)."""
    folder = course.source_dir / assignment
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def engine_modules() -> list[Path]:
    """The grader's source files that decide sandbox scores (the roots and their imports)."""
    import ast

    package = Path(__file__).resolve().parent
    todo, seen = list(ENGINE_ROOTS), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = package / f"{name.split('.', 1)[1]}.py"
        if not path.is_file():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "grader":
                    todo += [f"grader.{a.name}" for a in node.names]
                elif node.module.startswith("grader."):
                    todo.append(node.module)
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("grader.")]
    return sorted(
        package / f"{n.split('.', 1)[1]}.py"
        for n in seen
        if (package / f"{n.split('.', 1)[1]}.py").is_file()
    )


@functools.cache
def engine_digest() -> str:
    """A digest of the sandbox engine's code and of the interpreter it runs on.

    Computed once per process: the code this process runs is the code it loaded.
    """
    digest = hashlib.sha256(sys.version.encode())
    for path in engine_modules():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_certificate(course: Course, assignment: str) -> Certificate | None:
    path = certificate_path(course, assignment)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Certificate(**data)
    except (ValueError, TypeError):
        return None


def check(course: Course, assignment: str) -> tuple[bool, str]:
    """Whether the sandbox engine may grade ``assignment`` now, and why (one line)."""
    cert = load_certificate(course, assignment)
    run = f"run `python -m grader certify {assignment}`"
    if cert is None:
        return False, f"sandbox engine not certified for {assignment}: no certificate ({run})"
    if cert.source_digest != source_digest(course, assignment):
        return False, (
            f"sandbox engine not certified for {assignment}: its source changed since it was "
            f"certified ({run})"
        )
    if cert.engine_digest != engine_digest():
        return False, (
            f"sandbox engine not certified for {assignment}: the engine's code changed since "
            f"it was certified ({run})"
        )
    return cert.certified, cert.summary()


def variants_for(course: Course, assignment: str) -> dict[str, str | None]:
    """The certification submissions: reference, untouched and the catalogue's variants."""
    variants: dict[str, str | None] = {"reference": None, "untouched": UNTOUCHED}
    catalogue = load_catalogue(course, assignment)
    if catalogue is not None:
        variants |= {f"mutant_{k}": v for k, v in getattr(catalogue, "MUTANTS", {}).items()}
        variants |= {f"alt_{k}": v for k, v in getattr(catalogue, "ALTERNATIVES", {}).items()}
    return variants


def grade_both(
    course: Course, assignment: str, variants: dict[str, str | None], scratch: Path, workers: int
) -> dict[str, dict[str, results.Result]]:
    """engine → submission name → result, each engine in its own workdir under ``scratch``."""
    from grader.autograde import autograde

    inbox = scratch / "inbox"
    ids = {}
    for name, code in variants.items():
        student = intake.normalise_student_id(name)
        ids[name] = student
        folder = inbox / student
        folder.mkdir(parents=True, exist_ok=True)
        for nb_name, nb in build_submission(course, assignment, code).items():
            nbformat.write(nb, folder / nb_name)
    graded = {}
    for engine in ("nbgrader", "sandbox"):
        work = Course(root=course.root, workdir=scratch / engine)
        # Both engines draw the same hidden inputs: the course's own secret.
        course_secret.share(course.workdir, work.workdir)
        intake.collect(course=work, assignment=assignment, source=inbox)
        autograde(course=work, assignment=assignment, engine=engine, workers=workers)
        by_id = {r.student_id: r for r in results.load_results(work, assignment)}
        graded[engine] = {name: by_id.get(student) for name, student in ids.items()}
    return graded


def compare(graded: dict[str, dict[str, results.Result]]) -> tuple[list[str], list[dict]]:
    """Every cell seen, and one entry per (submission, cell) where the engines differ."""
    cells: set[str] = set()
    differences = []
    for name, kernel in graded["nbgrader"].items():
        sandbox = graded["sandbox"][name]
        if held_for_review(sandbox) and kernel and kernel.score < kernel.max_score:
            # Code that can reach the grader's own code earns nothing until reviewed
            # (grader.audit): stricter than the kernel on purpose, for a submission that loses
            # points there too. A correct one held for review is a difference.
            continue
        k_tests = kernel.tests if kernel else {}
        s_tests = sandbox.tests if sandbox else {}
        cells |= set(k_tests) | set(s_tests)
        for cell in sorted(set(k_tests) | set(s_tests)):
            k, s = k_tests.get(cell), s_tests.get(cell)
            if k != s:
                differences.append(
                    {"submission": name, "cell": cell, "sandbox": _show(s), "nbgrader": _show(k)}
                )
        k_status = kernel.status if kernel else "missing"
        s_status = sandbox.status if sandbox else "missing"
        if k_status != s_status:
            differences.append(
                {"submission": name, "cell": "(status)", "sandbox": s_status, "nbgrader": k_status}
            )
    return sorted(cells), differences


def held_for_review(result: results.Result | None) -> bool:
    """Whether the sandbox engine held this submission for review (and gave it nothing)."""
    from grader.judge import REVIEW_PREFIX

    return bool(result and REVIEW_PREFIX in result.reason and result.score == 0)


def _show(points: float | None) -> str:
    return "not graded" if points is None else f"{points:g}"


def certify(
    *, course: Course, assignment: str, workers: int = 2, force: bool = False
) -> Certificate:
    """Certify (or refuse) the sandbox engine for ``assignment``; write and return the result.

    A certificate for the same source and engine code is reused unless ``force``.
    """
    course.check_assignment(assignment)
    src, eng = source_digest(course, assignment), engine_digest()
    old = load_certificate(course, assignment)
    if old and not force and old.source_digest == src and old.engine_digest == eng:
        return old
    variants = variants_for(course, assignment)
    with tempfile.TemporaryDirectory(prefix=f"relu-certify-{assignment}-") as tmp:
        graded = grade_both(course, assignment, variants, Path(tmp), workers)
    cells, differences = compare(graded)
    cert = Certificate(
        assignment=assignment,
        source_digest=src,
        engine_digest=eng,
        certified=not differences,
        submissions=sorted(variants),
        cells=cells,
        differences=differences,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    path = certificate_path(course, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(cert), indent=1, sort_keys=True), encoding="utf-8")
    log.info("%s", cert.summary())
    return cert


__all__ = ["Certificate", "certify", "check", "engine_digest", "source_digest"]
