"""The answer text of the course: lines of reference solutions and hidden tests.

Used to prove that nothing a student can see (the student notebooks, the built book) contains
any of it. A line counts as answer text when it sits inside a ``### BEGIN SOLUTION`` or
``### BEGIN HIDDEN TESTS`` region of a source notebook, is long enough to be distinctive, and
appears nowhere outside those regions in the sources (so shared boilerplate is not flagged).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

_BEGIN = re.compile(r"^\s*### BEGIN (SOLUTION|HIDDEN TESTS)\s*$")
_END = re.compile(r"^\s*### END (SOLUTION|HIDDEN TESTS)\s*$")
#: Shorter lines ("return out, cache") are too generic to prove a leak.
MIN_LENGTH = 24
#: PyTorch idioms that chapter 5 (and the figures' code) teaches on purpose; that a5's answers
#: and tests use them too is no leak. Keep this list short: each entry is one API idiom.
TAUGHT_IDIOMS = frozenset(
    {
        "ctx.save_for_backward(x)",
        "(x,) = ctx.saved_tensors",
        "for name, module in model.named_modules():",
        "nn.init.kaiming_normal_(",
        "for dtype in (torch.float32, torch.float64):",
        '"leaky_relu": nn.LeakyReLU,',
    }
)


def answer_lines(solutions_dir: Path) -> dict[str, str]:
    """Distinctive answer lines → the notebook they come from."""
    inside: dict[str, str] = {}
    outside: set[str] = set()
    for path in sorted(solutions_dir.glob("*/*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            depth = 0
            for raw in cell.source.splitlines():
                line = raw.strip()
                if _BEGIN.match(raw):
                    depth += 1
                elif _END.match(raw):
                    depth -= 1
                elif depth > 0:
                    inside.setdefault(line, path.name)
                else:
                    outside.add(line)
    return {
        line: where
        for line, where in inside.items()
        if len(line) >= MIN_LENGTH
        and line not in outside
        and line not in TAUGHT_IDIOMS
        and not line.startswith("#")
    }


def leaks(files: list[Path], lines: dict[str, str]) -> list[str]:
    """``file: line`` for every answer line found in one of ``files``."""
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            # Notebook JSON escapes quotes; compare against the parsed sources as well.
            nb = nbformat.reads(text, 4)
            text += "\n".join(c.source for c in nb.cells)
        found += [f"{path}: {line!r}" for line in lines if line in text]
    return found
