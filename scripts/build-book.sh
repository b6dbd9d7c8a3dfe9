#!/usr/bin/env bash
# Install everything and build the book strictly into _build/html (the main job).
#   bash scripts/build-book.sh           # incremental: re-executes only changed chapters
#   bash scripts/build-book.sh --all     # rebuild every page
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh book
.venv/bin/jupyter-book build . --warningiserror --nitpick --keep-going "$@"
echo "The book is in _build/html/index.html"
