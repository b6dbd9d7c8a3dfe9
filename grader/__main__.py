import atexit
import contextlib
import os
import sys

# jsonschema imports the libraries of its optional format checks when they are installed
# (jupyter-events requires them): rfc3987_syntax builds a Lark grammar as it is imported (about
# 0.9 s of every command), isoduration imports arrow (30 ms), and so on. Nothing the grader runs
# checks formats (nbformat and nbgrader validate without format checkers), so they stay out.
for _checker in (
    "rfc3987_syntax", "isoduration", "rfc3986_validator", "rfc3339_validator", "webcolors",
    "uri_template", "fqdn",
):  # fmt: skip
    sys.modules.setdefault(_checker, None)

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
