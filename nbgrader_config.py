# Configuration for plain nbgrader, run at the repository root (`nbgrader autograde ...`).
# The settings themselves live in grader/layout.py (Course.nbgrader_config), the single source
# shared with `python -m grader`; grading state goes to grading/ (git-ignored).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grader.layout import Course  # noqa: E402

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file
c.merge(Course.at(Path(__file__).resolve().parent).nbgrader_config())
