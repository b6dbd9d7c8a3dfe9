#!/usr/bin/env bash
# Install everything and build the book strictly into _build/html (the main job).
#   bash scripts/build-book.sh           # incremental: re-executes only changed chapters
#   bash scripts/build-book.sh --all     # rebuild every page
#   bash scripts/build-book.sh --path-output DIR   # build into DIR/_build/html instead
# Besides the pages, the site gets its own copy of MathJax (math renders offline) and an offline
# copy for download: <html>/downloads/relu-course-site.zip and relu-course-notebooks.zip.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --path-output) out=$2; shift 2 ;;
    --path-output=*) out=${1#--path-output=}; shift ;;
    *) shift ;;
  esac
done

bash scripts/install.sh book
source scripts/install.d/mathjax.sh
# Each chapter's notebook form (chapters/NN_name.ipynb, committed): Colab opens only notebooks.
.venv/bin/python scripts/chapter_notebooks.py
.venv/bin/jupyter-book build . --warningiserror --nitpick --keep-going "${args[@]}"

# The offline copy: every student notebook, and the whole site (which links to both).
html="$out/_build/html"
.venv/bin/python - "$html" <<'EOF'
import sys
import zipfile
from pathlib import Path

html = Path(sys.argv[1])
downloads = html / "downloads"
downloads.mkdir(exist_ok=True)
ZIP = {"compression": zipfile.ZIP_DEFLATED}
with zipfile.ZipFile(downloads / "relu-course-notebooks.zip", "w", **ZIP) as zf:
    for path in sorted(Path("exercises").rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            zf.write(path, Path("relu-course-notebooks") / path.relative_to("exercises"))
site = downloads / "relu-course-site.zip"
partial = site.with_suffix(".zip.part")
with zipfile.ZipFile(partial, "w", **ZIP) as zf:
    for path in sorted(html.rglob("*")):
        rel = path.relative_to(html)
        if path.is_file() and rel.parts[0] != ".doctrees" and rel.name not in (site.name, partial.name):
            zf.write(path, Path("relu-course-site") / rel)
partial.replace(site)
print(f"Offline copy: {site} ({site.stat().st_size // 1024} KiB)")
EOF
echo "The book is in $html/index.html"
