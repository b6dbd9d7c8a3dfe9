import sys

# jsonschema imports rfc3987_syntax when it is installed (jupyter-events requires it), and that
# module builds a Lark grammar as it is imported: about 0.9 s of every command. It serves only
# the "iri" format check, which nothing the grader runs uses (nbformat and nbgrader validate
# without format checkers).
sys.modules.setdefault("rfc3987_syntax", None)

from grader.cli import main  # noqa: E402

sys.exit(main())
