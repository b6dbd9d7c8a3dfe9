#!/usr/bin/env bash
# Install the course's pinned Python environment into .venv (idempotent).
#   bash scripts/install.sh          # what building the book needs
#   bash scripts/install.sh test     # plus the test tools and the system packages tests use
# Re-running is cheap: nothing is reinstalled unless pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
mode=${1:-book}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "install.sh: need root to run: $*" >&2; return 1; fi; }

apt_install() {  # apt_install PACKAGE...: install the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { echo "install.sh: install ${missing[*]} by hand" >&2; return 1; }
  echo "install.sh: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
fi

extras=""; [ "$mode" = test ] && extras="[test]"
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-$mode"
# A test install is a superset of a book install.
if [ ! -f "$stamp" ] && ! { [ "$mode" = book ] && [ -f "${stamp%-book}-test" ]; }; then
  echo "install.sh: installing pinned Python packages into .venv (about 2 minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".$extras"
  touch "$stamp"
fi

if [ "$mode" = test ]; then
  # System tools the tests drive: a sandbox for student code, a browser for the built site.
  for hook in scripts/install.d/*.sh; do [ -e "$hook" ] && source "$hook"; done
fi
