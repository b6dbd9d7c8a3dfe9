"""Where the course keeps things: every path the grader reads or writes is defined here.

The repository holds the instructor's sources (``solutions/``) and the student notebooks
generated from them (``exercises/``). Everything created while grading lives in one folder, the
*workdir* (``grading/`` by default, git-ignored), so that deleting it resets all grading state
and nothing else.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from grader.errors import GraderError

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRNAME = "solutions"
RELEASE_DIRNAME = "exercises"
DEFAULT_WORKDIR = "grading"

#: Seconds a single notebook cell may run under plain nbgrader before it is interrupted.
CELL_TIMEOUT_S = 30

_ASSIGNMENT_RE = re.compile(r"^a\d+_[a-z0-9_]+$")


@dataclass(frozen=True)
class Course:
    """The course repository and the grading workdir that belongs to it.

    Parameters
    ----------
    root : Path
        The repository root (holds ``solutions/`` and ``exercises/``).
    workdir : Path
        The folder for all grading state; relative paths are taken from the current directory.
    """

    root: Path = REPO_ROOT
    workdir: Path = REPO_ROOT / DEFAULT_WORKDIR

    @classmethod
    def at(cls, root: Path | str | None = None, workdir: Path | str | None = None) -> Course:
        """Build a course from optional command-line values, resolving them to absolute paths."""
        root_path = Path(root).resolve() if root is not None else REPO_ROOT
        work = Path(workdir).resolve() if workdir is not None else root_path / DEFAULT_WORKDIR
        if not (root_path / SOURCE_DIRNAME).is_dir():
            raise GraderError(
                f"{root_path} is not a course repository: it has no {SOURCE_DIRNAME}/ folder"
            )
        return cls(root=root_path, workdir=work)

    # The instructor's side (in the repository).
    @property
    def source_dir(self) -> Path:
        return self.root / SOURCE_DIRNAME

    @property
    def release_dir(self) -> Path:
        return self.root / RELEASE_DIRNAME

    # The grading side (in the workdir).
    @property
    def submitted_dir(self) -> Path:
        return self.workdir / "submitted"

    @property
    def autograded_dir(self) -> Path:
        return self.workdir / "autograded"

    @property
    def feedback_dir(self) -> Path:
        return self.workdir / "feedback"

    @property
    def quarantine_dir(self) -> Path:
        return self.workdir / "quarantine"

    @property
    def results_dir(self) -> Path:
        return self.workdir / "results"

    @property
    def gradebook_path(self) -> Path:
        return self.workdir / "gradebook.db"

    @property
    def db_url(self) -> str:
        # A generous busy timeout: several grading processes may share the gradebook.
        return f"sqlite:///{self.gradebook_path}?timeout=60"

    def assignments(self) -> list[str]:
        """The assignments in ``solutions/``, in course order."""
        return sorted(
            p.name
            for p in self.source_dir.iterdir()
            if p.is_dir() and _ASSIGNMENT_RE.match(p.name) and any(p.glob("*.ipynb"))
        )

    def check_assignment(self, assignment: str) -> str:
        """Return ``assignment`` if the course has it, else raise a :class:`GraderError`."""
        known = self.assignments()
        if assignment not in known:
            raise GraderError(
                f"unknown assignment {assignment!r}; this course has: {', '.join(known)}"
            )
        return assignment

    def source_notebooks(self, assignment: str) -> list[Path]:
        """The instructor's source notebooks of ``assignment``."""
        return sorted((self.source_dir / self.check_assignment(assignment)).glob("*.ipynb"))

    def nbgrader_config(self) -> Config:
        """nbgrader's configuration for this course: the single source of its settings.

        The repository's ``nbgrader_config.py`` loads this too, so plain ``nbgrader`` commands
        run at the repository root see the same layout as ``python -m grader``.
        """
        # nbgrader runs its gradebook migrations through the `alembic` command, which lives
        # beside this interpreter even when the virtual environment is not activated.
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        c = Config()
        c.CourseDirectory.root = str(self.root)
        c.CourseDirectory.source_directory = str(self.source_dir)
        c.CourseDirectory.release_directory = str(self.release_dir)
        c.CourseDirectory.submitted_directory = str(self.submitted_dir)
        c.CourseDirectory.autograded_directory = str(self.autograded_dir)
        c.CourseDirectory.feedback_directory = str(self.feedback_dir)
        c.CourseDirectory.db_url = self.db_url
        # Nothing but notebooks is copied next to a submission (no data files hide answers).
        c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.py", "*.json"]
        c.ExecutePreprocessor.timeout = CELL_TIMEOUT_S
        c.Execute.timeout = CELL_TIMEOUT_S
        # A student who deletes a test cell does not escape it: nbgrader puts it back.
        c.OverwriteCells.add_missing_cells = True
        c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
        return c
