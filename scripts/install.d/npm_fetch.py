"""Fetch one file tree of a pinned npm package, without node or npm (Python's standard library).

    python scripts/install.d/npm_fetch.py PACKAGE VERSION DEST [MEMBER...]

Downloads ``https://registry.npmjs.org/PACKAGE/-/PACKAGE-VERSION.tgz``, checks it against the
sha512 ``dist.integrity`` the registry publishes for that version, and extracts the package
files under each MEMBER prefix (relative to the package root, e.g. ``es5/``; all files when none
is given) into DEST, keeping their relative paths. DEST gets a ``.gitignore`` of ``*`` so it
never enters git, and a stamp; a second run with the same arguments does nothing (no network).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path, PurePosixPath

REGISTRY = "https://registry.npmjs.org"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def fetch(package: str, version: str, dest: Path, members: list[str]) -> None:
    stamp = dest / ".npm-fetch"
    wanted = json.dumps([package, version, sorted(members)])
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    meta = json.loads(_get(f"{REGISTRY}/{package}/{version}"))
    integrity = meta["dist"]["integrity"]
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"npm_fetch: {package}@{version}: unexpected integrity {integrity!r}")
    data = _get(meta["dist"]["tarball"])
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"npm_fetch: {package}@{version}: sha512 mismatch, download refused")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / ".gitignore").write_text("# Fetched by scripts/install.d/npm_fetch.py\n*\n")
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar.getmembers():
            parts = PurePosixPath(info.name).parts[1:]  # drop the tarball's "package/" folder
            rel = PurePosixPath(*parts) if parts else None
            if not info.isfile() or rel is None or ".." in parts:
                continue
            if members and not any(str(rel).startswith(m) for m in members):
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(info).read())
            count += 1
    if count == 0:
        raise SystemExit(f"npm_fetch: {package}@{version}: nothing matched {members}")
    stamp.write_text(wanted)
    print(f"npm_fetch: {package}@{version} ({count} files, sha512 verified) -> {dest}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    fetch(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4:])
