"""The published site and the students' environments: links, launch buttons, the offline copy,
no answer text anywhere in the site, the deployment workflow and Binder's pins."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import subprocess
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


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tracked(path: Path) -> bool:
    proc = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
    )
    return proc.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("chapter", book.chapters())
def test_chapter_page_opens_a_notebook_in_colab_and_binder(built_book, chapter):
    """Colab opens only notebooks: every launch link of a chapter targets a committed .ipynb."""
    hrefs = [h.replace("&amp;", "&") for h in _hrefs(_html(built_book, chapter))]
    repo_url = book.config()["repository"]["url"].rstrip("/")
    branch = book.config()["repository"].get("branch", "main")
    github = urllib.parse.urlsplit(repo_url).path.strip("/")
    colab_prefix = f"https://colab.research.google.com/github/{github}/blob/{branch}/"
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
    binder = [h for h in hrefs if h.startswith("https://mybinder.org/")]
    assert colab, f"{chapter}: no 'open in Colab' link (launch_buttons.colab_url)"
    assert binder, f"{chapter}: no Binder link (launch_buttons.binderhub_url)"
    targets = []
    for link in colab:
        assert link.startswith(colab_prefix), (
            f"{chapter}: Colab link {link} is not {colab_prefix}…"
        )
        targets.append(link.removeprefix(colab_prefix))
    for link in binder:
        url = urllib.parse.urlsplit(link)
        assert url.path == f"/v2/gh/{github}/{branch}", f"{chapter}: {link}"
        targets.append(urllib.parse.parse_qs(url.query)["urlpath"][0].split("/", 1)[1])
    for target in targets:
        assert target.endswith(".ipynb"), (
            f"{chapter}: a launch button opens {target}; Colab opens only notebooks "
            "(scripts/chapter_notebooks.py writes chapters/NN_name.ipynb beside the source)"
        )
        path = REPO / target
        assert path.is_file(), f"{chapter}: {target} does not exist (run the book build)"
        assert _tracked(path), f"{chapter}: {target} is not committed, so GitHub cannot serve it"
        assert nbformat.read(path, 4).cells, f"{target} has no cells"


def test_chapter_notebooks_are_in_sync_with_their_sources():
    stale = _load_script("chapter_notebooks").stale()
    assert not stale, (
        f"{[str(p.relative_to(REPO)) for p in stale]} differ from their .md source: run "
        "`.venv/bin/python scripts/chapter_notebooks.py` (the book build does) and commit them"
    )


def test_chapter_notebook_installs_what_colab_lacks(tmp_path):
    """A chapter that imports myst_nb gets a first code cell that installs the pinned myst-nb."""
    module = _load_script("chapter_notebooks")
    source = tmp_path / "07_demo.md"
    source.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "# Demo\n\n```{code-cell} ipython3\nimport numpy as np, myst_nb.core\n"
        "from myst_nb import glue\n```\n",
        encoding="utf-8",
    )
    notebook = nbformat.reads(module.render(source), 4)
    assert module.imported_modules(notebook) >= {"numpy", "myst_nb"}
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code", "code"]
    assert "myst-nb==" in notebook.cells[1].source, notebook.cells[1].source
    assert [c["id"] for c in notebook.cells] == ["cell-0", "cell-1", "cell-2"]
    assert module.render(source) == module.render(source), "render must be deterministic"


def _requirement_closure(names: set[str]) -> set[str]:
    """The distributions that installing ``names`` brings in (dependency closure, no extras)."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen, todo = set(), [norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(norm(req.name))
    return seen


def _imported_by_students() -> dict[str, set[str]]:
    """Top-level module -> the chapters and exercise notebooks that import it."""
    import jupytext

    module = _load_script("chapter_notebooks")
    users: dict[str, set[str]] = {}
    sources = [book.source(c) for c in book.chapters()]
    sources += sorted(REPO.glob("exercises/*/*.ipynb"))
    for path in sources:
        notebook = jupytext.read(path) if path.suffix == ".md" else nbformat.read(path, 4)
        for name in module.imported_modules(notebook):
            users.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return users


def test_binder_provides_every_module_the_chapters_and_notebooks_import():
    import importlib.metadata as md
    import sys

    binder = set(_pins(REPO / "binder/requirements.txt"))
    provided = _requirement_closure(binder)
    by_module = md.packages_distributions()
    users = _imported_by_students()
    assert {"numpy", "torch"} <= users.keys(), f"import scan found only {sorted(users)}"
    missing = {}
    for name, where in sorted(users.items()):
        if name in sys.stdlib_module_names:
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in by_module.get(name, [])}
        assert dists, f"{name} (imported by {sorted(where)}) is not installed here at all"
        if not dists & provided:
            missing[name] = (sorted(dists), sorted(where))
    assert not missing, (
        "binder/requirements.txt does not provide (directly or as a dependency) "
        + "; ".join(f"{m} from {d}, imported by {w}" for m, (d, w) in missing.items())
    )


# --- No tracebacks or build-machine paths on the pages ------------------------------------------

#: Paths of the machine that built the site: a page showing one leaks the build environment.
BUILD_PATHS = ["/work/", "/root/", "/tmp/", ".venv", "site-packages"]
#: The longest traceback a page may show (an intended error, trimmed to its last lines).
MAX_TRACEBACK_LINES = 8


def _built_pages(built_book: Path) -> list[Path]:
    return sorted(
        p
        for p in built_book.rglob("*.html")
        if "_static" not in p.parts and p.name != "search.html"
    )


@pytest.mark.slow
def test_no_page_shows_a_long_traceback_or_a_build_machine_path(built_book):
    import html as html_lib

    problems = []
    for page in _built_pages(built_book):
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(built_book)
        for marker in BUILD_PATHS:
            if marker in text:
                at = text.index(marker)
                context = re.sub(r"<[^>]+>", "", text[max(0, at - 80) : at + 80])
                problems.append(f"{rel}: shows the build path {marker!r}: …{context.strip()}…")
        for block in re.findall(
            r'<div class="[^"]*\btraceback\b[^"]*">.*?<pre>(.*?)</pre>', text, flags=re.S
        ):
            lines = html_lib.unescape(re.sub(r"<[^>]+>", "", block)).strip().splitlines()
            if len(lines) > MAX_TRACEBACK_LINES:
                problems.append(
                    f"{rel}: a traceback of {len(lines)} lines (at most {MAX_TRACEBACK_LINES}; "
                    f"catch the error and print its message): {lines[-1][:100]}"
                )
    assert not problems, "\n".join(problems)


def test_intro_names_the_chapters_that_have_an_assignment():
    text = book.source(book.docnames()[0]).read_text(encoding="utf-8")
    match = re.search(r"Chapters 1 to (\d+) each come with an assignment", text)
    assert match, "intro.md must say which chapters come with an assignment"
    numbered = [int(re.match(r"chapters/0*(\d+)_", c).group(1)) for c in book.chapters()]
    with_assignment = [
        n for n, c in zip(numbered, book.chapters(), strict=True) if book.assignment_of(c)
    ]
    assert with_assignment == list(range(1, int(match.group(1)) + 1)), (
        f"intro.md says chapters 1 to {match.group(1)} have assignments; "
        f"_toc.yml pairs chapters {with_assignment} with one"
    )
    for n in sorted(set(numbered) - set(with_assignment)):
        assert re.search(rf"Chapter {n}\b[^.]*has no assignment", text), (
            f"intro.md must say that chapter {n} has no assignment"
        )


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
