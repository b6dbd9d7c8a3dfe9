"""The instructor's toolkit for the course "ReLU and its variants".

The command line (``python -m grader``) is a thin layer over this package: every command is a
keyword-only function in a module named after what it handles (``release``, ``intake``,
``autograde``, ``export``), and all of them share one :class:`~grader.layout.Course`.
"""

from grader.errors import GraderError
from grader.layout import Course

__all__ = ["Course", "GraderError"]
