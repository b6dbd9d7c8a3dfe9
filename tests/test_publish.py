"""The published site and the students' environments: links, launch buttons, the offline copy,
no answer text anywhere in the site, the deployment workflow and Binder's pins."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import tarfile
import urllib.parse
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from tests import book
from tests.answers import answer_lines, leaks

REPO = book.REPO
DOWNLOADS = ["downloads/relu-course-site.zip", "downloads/relu-course-notebooks.zip"]
BUILD_COMMAND = "bash scripts/build-book.sh"


def _html(built_book: Path, docname: str) -> str:
    return (built_book / f"{docname}.html").read_text(encoding="utf-8")


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


# --- Pages link to each other and offer the notebooks -------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("chapter", book.chapters())
def test_chapter_links_to_its_assignment(built_book, chapter):
    assignment = book.assignment_of(chapter)
    if assignment is None:
        pytest.skip(f"{chapter} has no assignment")
    if book.is_stub(chapter):
        pytest.skip(f"{chapter} is still a placeholder")
    page = built_book / f"{chapter}.html"
    targets = {
        (page.parent / urllib.parse.urlsplit(h).path).resolve()
        for h in _hrefs(page.read_text(encoding="utf-8"))
        if "://" not in h
    }
    assert (built_book / f"{assignment}.html").resolve() in targets, (
        f"{chapter} does not link to its assignment {assignment} "
        f"(add {{doc}}`../{assignment}` in its 'Assignment' section)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("exercise", book.exercises())
def test_exercise_page_offers_download_colab_and_binder(built_book, exercise):
    html = _html(built_book, exercise)
    hrefs = _hrefs(html)
    page = built_book / f"{exercise}.html"
    notebook = REPO / f"{exercise}.ipynb"

    downloads = [h for h in hrefs if h.endswith(".ipynb") and "://" not in h]
    assert downloads, f"{exercise}: no download link for the notebook"
    served = (page.parent / downloads[0]).resolve()
    assert served.is_file(), f"{exercise}: the download link {downloads[0]} is broken"
    assert nbformat.read(served, 4) == nbformat.read(notebook, 4), (
        f"{exercise}: the downloadable notebook differs from {notebook.relative_to(REPO)}"
    )

    repo_url = book.config()["repository"]["url"].rstrip("/")
    branch = book.config()["repository"].get("branch", "main")
    github = urllib.parse.urlsplit(repo_url).path.strip("/")
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
    binder = [h for h in hrefs if h.startswith("https://mybinder.org/")]
    assert colab, f"{exercise}: no 'open in Colab' link (launch_buttons.colab_url)"
    assert binder, f"{exercise}: no Binder link (launch_buttons.binderhub_url)"
    prefix = f"https://colab.research.google.com/github/{github}/blob/{branch}/"
    assert colab[0].startswith(prefix), f"{exercise}: Colab link {colab[0]} is not {prefix}..."
    assert (REPO / colab[0].removeprefix(prefix)).is_file(), f"{colab[0]}: no such file"
    binder_url = urllib.parse.urlsplit(binder[0].replace("&amp;", "&"))
    assert binder_url.path == f"/v2/gh/{github}/{branch}", f"{exercise}: {binder[0]}"
    target = urllib.parse.parse_qs(binder_url.query)["urlpath"][0].split("/", 1)[1]
    assert (REPO / target).is_file(), f"{binder[0]}: {target} is not in the repository"


# --- The offline copy ---------------------------------------------------------------------------


@pytest.mark.slow
def test_offline_copy_is_linked_and_valid(built_book):
    hrefs = _hrefs((built_book / f"{book.docnames()[0]}.html").read_text(encoding="utf-8"))
    for link in DOWNLOADS:
        assert link in hrefs, f"the front page does not link to {link}"
        with zipfile.ZipFile(built_book / link) as zf:
            assert zf.testzip() is None, f"{link} is corrupt"
            names = zf.namelist()
        if "notebooks" in link:
            wanted = {
                f"relu-course-notebooks/{Path(d).relative_to('exercises')}.ipynb"
                for d in book.exercises()
            }
            assert wanted <= set(names), f"{link} lacks {sorted(wanted - set(names))}"
        else:
            for doc in book.docnames():
                assert f"relu-course-site/{doc}.html" in names, f"{link} lacks {doc}.html"
            assert "relu-course-site/mathjax/es5/tex-mml-chtml.js" in names, (
                f"{link} lacks MathJax: math would not render offline"
            )


# --- No answer text in anything published -------------------------------------------------------


@pytest.mark.slow
def test_site_contains_no_answer_text(built_book, tmp_path):
    lines = answer_lines(REPO / "solutions")
    files = [p for p in built_book.rglob("*") if p.is_file()]
    binary = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".zip", ".inv"}
    scanned = [p for p in files if p.suffix not in binary]
    for archive in built_book.rglob("*.zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if Path(name).suffix not in binary and not name.startswith(
                    "relu-course-site/mathjax/"
                ):
                    scanned.append(Path(zf.extract(name, tmp_path / archive.stem)))
    found = leaks(scanned, lines)
    print(f"scanned {len(scanned)} files of the site for {len(lines)} answer lines")
    assert not found, "answer text in the built site:\n" + "\n".join(found[:20])
    marked = [str(p) for p in scanned if "BEGIN SOLUTION" in p.read_text(errors="replace")]
    assert not marked, f"solution markers in {marked}"


# --- Publishing and students' environments -------------------------------------------------------


def test_deploy_workflow_builds_with_the_readme_command_and_uploads_the_site():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "main" in triggers["push"]["branches"]
    assert {"pages": "write", "id-token": "write"}.items() <= workflow["permissions"].items()
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for action in (
        "actions/checkout",
        "actions/setup-python",
        "actions/configure-pages",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    ):
        assert action in uses, f"deploy.yml does not use {action}"
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert any(BUILD_COMMAND in s.get("run", "") for s in steps), (
        f"deploy.yml must build with the README's command `{BUILD_COMMAND}`"
    )
    assert BUILD_COMMAND in (REPO / "README.md").read_text()
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"].rstrip("/") == "_build/html"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_binder_requirements_agree_with_constraints():
    binder, constraints = _pins(REPO / "binder/requirements.txt"), _pins(REPO / "constraints.txt")
    for package in ("numpy", "scipy", "matplotlib", "torch"):
        assert package in binder, f"binder/requirements.txt does not pin {package}"
    for package, version in binder.items():
        assert package in constraints, f"{package} is pinned for Binder but not in constraints"
        assert version.split("+")[0] == constraints[package], (
            f"binder pins {package}=={version}, constraints.txt {constraints[package]}"
        )
    text = (REPO / "binder/requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text, "CPU torch index"
    assert (REPO / "binder/runtime.txt").read_text().strip() == "python-3.11"


def test_launch_buttons_are_configured():
    buttons = book.config()["launch_buttons"]
    assert buttons["colab_url"] == "https://colab.research.google.com"
    assert buttons["binderhub_url"] == "https://mybinder.org"


def test_npm_fetch_refuses_a_tarball_that_does_not_match_the_registry(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "npm_fetch", REPO / "scripts" / "install.d" / "npm_fetch.py"
    )
    npm_fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(npm_fetch)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/es5/tex-mml-chtml.js")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"//"))
    good = buffer.getvalue()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(good).digest()).decode()
    meta = json.dumps({"dist": {"integrity": integrity, "tarball": "T"}}).encode()
    served = {"meta": meta, "T": good}
    monkeypatch.setattr(npm_fetch, "_get", lambda url: served["T" if url == "T" else "meta"])
    npm_fetch.fetch("mathjax", "3.2.2", tmp_path / "ok", ["es5/"])
    assert (tmp_path / "ok" / "es5" / "tex-mml-chtml.js").read_bytes() == b"//"
    served["T"] = good + b"tampered"
    with pytest.raises(SystemExit, match="sha512 mismatch"):
        npm_fetch.fetch("mathjax", "3.2.2", tmp_path / "bad", ["es5/"])
    assert not (tmp_path / "bad").exists()
