import atexit
import contextlib
import os
import sys

# jsonschema imports rfc3987_syntax when it is installed (jupyter-events requires it), and that
# module builds a Lark grammar as it is imported: about 0.9 s of every command. It serves only
# the "iri" format check, which nothing the grader runs uses (nbformat and nbgrader validate
# without format checkers).
sys.modules.setdefault("rfc3987_syntax", None)

from grader.cli import main  # noqa: E402

status = main()
# Python's own shutdown then tears every module down (torch's among them): 0.3 to 0.7 s that
# do nothing a command needs. Everything it wrote is closed (files, the gradebook), its grading
# processes have ended, and the exit handlers run here first; then it leaves at once.
atexit._run_exitfuncs()
for stream in (sys.stdout, sys.stderr):
    with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
        stream.flush()
os._exit(status if isinstance(status, int) else 1)
