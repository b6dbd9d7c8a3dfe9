"""Book build times: a cold build (empty execution cache) and a cached rebuild.

    .venv/bin/python benchmarks/book_build.py

Both builds are strict (the README's build command) and go to a temporary folder, so the
repository's own _build/ is left alone. Target (issue 3): a cold build under 10 minutes on a
2-core machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(out: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["bash", "scripts/build-book.sh", "--path-output", str(out), *extra],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="relu-book-") as tmp:
        cold = build(Path(tmp))
        print(f"cold build (every chapter executed): {cold:6.1f} s")
        cached = build(Path(tmp), "--all")
        print(f"cached rebuild (--all, outputs from jupyter-cache): {cached:6.1f} s")
        pages = len(list((Path(tmp) / "_build" / "html").rglob("*.html")))
        print(f"{pages} HTML pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
