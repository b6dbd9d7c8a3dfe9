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

#: How this course names its own assignments (a1_rectifier ... a5_frameworks). Only these are
#: held to the course's authoring conventions (tests/test_notebooks.py); the grader itself takes
#: any assignment nbgrader takes.
OWN_ASSIGNMENT_RE = re.compile(r"^a\d+_[a-z0-9_]+$")


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
        """Every assignment in ``solutions/``: each folder holding a notebook, whatever its name.

        nbgrader takes any folder name without ``+`` (``ps1``, ``Week 3``); hidden folders and
        ``__pycache__`` are not assignments.
        """
        return sorted(
            p.name
            for p in self.source_dir.iterdir()
            if p.is_dir()
            and not p.name.startswith((".", "_"))
            and "+" not in p.name
            and any(p.glob("*.ipynb"))
        )

    def own_assignments(self) -> list[str]:
        """The course's own assignments (``a<N>_<name>``), held to its authoring conventions."""
        return [a for a in self.assignments() if OWN_ASSIGNMENT_RE.match(a)]

    def check_assignment(self, assignment: str) -> str:
        """Return ``assignment`` if the course has it, else raise a :class:`GraderError`."""
        known = self.assignments()
        if assignment not in known:
            folder = self.source_dir / assignment
            why = (
                f"{folder} holds no notebook"
                if folder.is_dir()
                else f"there is no folder {folder}"
                if "+" not in assignment
                else "nbgrader does not allow '+' in an assignment name"
            )
            raise GraderError(
                f"unknown assignment {assignment!r} ({why}); "
                f"this course has: {', '.join(known) or 'none'}"
            )
        return assignment

    def source_notebooks(self, assignment: str) -> list[Path]:
        """The instructor's source notebooks of ``assignment``."""
        return sorted((self.source_dir / self.check_assignment(assignment)).glob("*.ipynb"))

    def multi_notebook(self, assignment: str) -> bool:
        """Whether ``assignment`` has several notebooks (result keys then name the notebook)."""
        return len(self.source_notebooks(assignment)) > 1

    def result_key(self, assignment: str, notebook: str, grade_id: str) -> str:
        """The key of one graded cell in results and exports.

        ``grade_id`` for a one-notebook assignment; ``<notebook stem>/<grade_id>`` when it has
        several, so that two notebooks' cells with the same ``grade_id`` never overwrite each
        other. ``notebook`` is the notebook's stem (nbgrader's notebook name).
        """
        return f"{notebook}/{grade_id}" if self.multi_notebook(assignment) else grade_id

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
        # sqlite cannot create the gradebook's folder: make it, so that plain `nbgrader` works
        # at the repository root on a fresh clone with no extra step.
        self.gradebook_path.parent.mkdir(parents=True, exist_ok=True)
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
        # Plain `nbgrader autograde` needs the assignment's source cells in the gradebook: load
        # them first (skipped when the gradebook already holds this exact source), so that no
        # `nbgrader generate_assignment` (which would rewrite exercises/) is needed beforehand.
        c.Autograde.pre_convert_hook = self._load_gradebook_hook
        return c

    def _load_gradebook_hook(self, *, assignment: str, student: str, notebooks: list) -> None:
        from grader.autograde import prepare_gradebook

        prepare_gradebook(self, assignment)
