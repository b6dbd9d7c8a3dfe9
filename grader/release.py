"""Generate the student notebooks (``exercises/``) from the instructor's sources (``solutions/``).

nbgrader's ``generate_assignment`` removes the solution code and the hidden tests. The result
replaces ``exercises/<assignment>/`` entirely, so a stale file can never linger there; a test
checks that the committed folder equals a fresh release.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI

from grader.errors import GraderError
from grader.layout import Course

log = logging.getLogger(__name__)


def generate(course: Course, assignment: str, release_dir: Path, db_url: str) -> Path:
    """Run nbgrader's ``generate_assignment`` for one assignment into ``release_dir``.

    The gradebook at ``db_url`` receives the assignment's source cells (hidden tests included).
    Returns the folder holding the generated notebooks.
    """
    from grader import gradebook

    gradebook.faster_nbgrader()
    config = course.nbgrader_config()
    config.CourseDirectory.release_directory = str(release_dir)
    config.CourseDirectory.db_url = db_url
    api = NbGraderAPI(config=config)
    # nbgrader reads a course-wide autotests.yml from the working directory (the course root,
    # where its own commands run); an assignment's own autotests.yml takes precedence.
    with contextlib.chdir(course.root):
        outcome = api.generate_assignment(course.check_assignment(assignment), force=True)
    if not outcome["success"]:
        detail = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
        raise GraderError(
            f"nbgrader could not generate {assignment} from {course.source_dir / assignment}: "
            f"{detail[-1] if detail else 'no details'}"
        )
    return release_dir / assignment


def release(*, course: Course, assignments: list[str] | None = None) -> list[Path]:
    """Regenerate ``exercises/<assignment>/`` for each assignment (all of them by default).

    Returns the student notebooks written.
    """
    written: list[Path] = []
    for assignment in assignments or course.assignments():
        with tempfile.TemporaryDirectory(prefix="relu-release-") as tmp:
            tmp_path = Path(tmp)
            fresh = generate(
                course, assignment, tmp_path / "release", f"sqlite:///{tmp_path}/gb.db"
            )
            for nb_path in sorted(fresh.glob("*.ipynb")):
                # Rewrite through nbformat so the committed JSON has one canonical layout.
                nbformat.write(nbformat.read(nb_path, as_version=4), nb_path)
            dest = course.release_dir / assignment
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(fresh, dest)
            written.extend(sorted(dest.glob("*.ipynb")))
            log.info("released %s -> %s", assignment, dest)
    return written
