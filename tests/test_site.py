"""The built book in a real browser: every page loads cleanly, renders its math and images,
passes the accessibility rules that concern the content, and is screenshotted for review.

Each page is visited once (desktop width, then phone width); the tests below judge what the
visit recorded. Pages come from _toc.yml, so new chapters are covered without editing this file.
"""

from __future__ import annotations

import re
import time

import pytest

from tests import book
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = [f"{d}.html" for d in book.docnames()] + ["search.html", "genindex.html"]
SCREENSHOTS = ARTIFACTS / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}
AXE = book.REPO / "node_modules" / "axe-core" / "axe.min.js"

#: Errors every Jupyter Book 1.0.4 page shows (NOTES.md, "The site in a real browser"); nothing
#: else is tolerated. (kind, regular expression matched against "message | url").
KNOWN_ERRORS = [
    # sphinx-thebe and the theme both declare this constant.
    ("pageerror", r"Identifier 'THEBE_JS_URL' has already been declared"),
    # The theme logs this when no colour mode has been stored yet.
    ("console", r"Got invalid theme mode"),
    # No favicon is configured; the browser asks for one anyway.
    ("console", r"status of 404 .*\| http://127\.0\.0\.1:\d+/favicon\.ico$"),
    ("http", r"^404 \| http://127\.0\.0\.1:\d+/favicon\.ico$"),
]
#: axe-core rules failing on the theme's own markup, not on course content: printed, not failed.
#: label-content-name-mismatch: the theme's search buttons; region: its header and sidebars.
THEME_AXE_RULES = {"label-content-name-mismatch", "region"}
#: axe-core rules that judge the content and must pass on every page.
CONTENT_AXE_RULES = {"image-alt", "heading-order"}

_VISITS: dict[str, dict] = {}

_WAIT_JS = """async () => {
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
    new Promise(done => { img.onload = img.onerror = done; })));
  await document.fonts.ready;
  if (document.querySelector('script[src*="tex-mml-chtml"]')) {
    const start = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      if (Date.now() - start > 15000) return 'MathJax never started (15 s)';
      await new Promise(r => setTimeout(r, 50));
    }
    await MathJax.startup.promise;
    return 'typeset';
  }
  return 'no MathJax on this page';
}"""

_INSPECT_JS = """() => {
  const article = document.querySelector('article') || document.querySelector('main');
  const text = article.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, mjx-container, .highlight')
      .forEach(e => e.remove());
  return {
    math: article.querySelectorAll('.math').length,
    typeset: article.querySelectorAll('mjx-container').length,
    mathjaxErrors: article.querySelectorAll('mjx-merror').length,
    text: text.textContent,
    images: Array.from(document.images).map(img => ({
      src: img.currentSrc || img.src, width: img.naturalWidth,
      alt: (img.getAttribute('alt') || '').trim(), content: article.contains(img)})),
  };
}"""


#: All axe rules on the page except inside highlighted code blocks: their thousands of token
#: spans triple axe's time on a long chapter (colour contrast) and hold no headings or images.
_AXE_JS = """async () => {
  const result = await axe.run({exclude: [['div.highlight']]}, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}));
}"""


def _slug(page: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", page.removesuffix(".html")).strip("-")


def visit(browser, site_url: str, page: str) -> dict:
    """Load ``page`` once and record everything the tests judge."""
    if page in _VISITS:
        return _VISITS[page]
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    tab = context.new_page()
    events: list[tuple[str, str]] = []
    external: list[str] = []

    def route(r):  # the site must work offline: nothing may leave 127.0.0.1
        if r.request.url.startswith(site_url):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    tab.on(
        "console",
        lambda m: (
            m.type == "error"
            and events.append(("console", f"{m.text} | {m.location.get('url', '')}"))
        ),
    )
    tab.on("pageerror", lambda e: events.append(("pageerror", str(e))))
    tab.on("requestfailed", lambda r: events.append(("requestfailed", f"{r.failure} | {r.url}")))
    tab.on(
        "response", lambda r: r.status >= 400 and events.append(("http", f"{r.status} | {r.url}"))
    )
    clock = [time.perf_counter()]
    tab.goto(site_url + page, wait_until="load")
    mathjax = tab.evaluate(_WAIT_JS)
    record = tab.evaluate(_INSPECT_JS)
    record["mathjax"] = mathjax
    clock.append(time.perf_counter())
    if AXE.is_file():
        tab.add_script_tag(path=str(AXE))
        record["axe"] = tab.evaluate(_AXE_JS)
    clock.append(time.perf_counter())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {}
    for name, width in WIDTHS.items():
        tab.set_viewport_size({"width": width, "height": 900 if name == "desktop" else 844})
        tab.wait_for_timeout(150)  # let the responsive layout settle
        shots[name] = SCREENSHOTS / f"{_slug(page)}-{name}.jpg"
        tab.screenshot(path=str(shots[name]), full_page=True, type="jpeg", quality=80)
    context.close()
    clock.append(time.perf_counter())
    record["seconds"] = [round(b - a, 1) for a, b in zip(clock, clock[1:], strict=False)]
    print(
        f"{page}: load {record['seconds'][0]} s, axe {record['seconds'][1]} s, "
        f"screenshots {record['seconds'][2]} s"
    )
    record["events"] = [
        (kind, msg)
        for kind, msg in events
        if not any(kind == k and re.search(rx, msg) for k, rx in KNOWN_ERRORS)
    ]
    record["external"] = external
    record["screenshots"] = shots
    _VISITS[page] = record
    return record


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_without_errors(browser, site_url, page):
    record = visit(browser, site_url, page)
    assert not record["events"], f"{page}: console errors or failed requests:\n" + "\n".join(
        f"  {kind}: {msg}" for kind, msg in record["events"]
    )
    assert not record["external"], f"{page} requests other hosts (must work offline): " + str(
        record["external"]
    )


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(browser, site_url, page):
    record = visit(browser, site_url, page)
    assert not record["math"] or record["mathjax"] == "typeset", f"{page}: {record['mathjax']}"
    assert record["typeset"] >= record["math"], (
        f"{page}: {record['math']} math elements but only {record['typeset']} typeset by MathJax"
    )
    assert not record["mathjaxErrors"], f"{page}: {record['mathjaxErrors']} TeX errors"
    raw = [m for m in ("$$", "\\(", "\\)", "\\[", "\\begin{") if m in record["text"]]
    assert not raw, f"{page}: raw TeX {raw} left in the text (outside code)"


#: What typeset math never leaves in a page's visible text (code blocks and typeset math
#: excluded). A TeX command, a ``\\(`` or ``\\[`` delimiter or a ``$...$`` pair there means
#: that MathJax never saw the source as math: e.g. a formula broken across source lines where one
#: line starts with "+ " became a Markdown list item, splitting its ``$...$`` in two.
RAW_TEX = [
    (r"\\[A-Za-z]+", "a TeX command"),
    (r"\\[()\[\]]", "a TeX math delimiter"),
    (r"\$[^$\n]{0,300}(?:\n[^$\n]{0,300}){0,3}\$", "a $...$ pair"),
]


def raw_tex(text: str) -> list[str]:
    """The leftover TeX in ``text``: one line per finding, with its context."""
    found = []
    for pattern, what in RAW_TEX:
        for match in re.finditer(pattern, text):
            start, end = max(0, match.start() - 60), min(len(text), match.end() + 60)
            context = " ".join(text[start:end].split())
            found.append(f"{what} {match.group(0)[:40]!r} in: …{context}…")
    return found


def test_raw_tex_finder_knows_typeset_text_from_leftover_tex():
    """The finder itself: clean typeset text passes, the chapter-4 kind of breakage does not."""
    assert raw_tex("The tanh form uses u = √(2/π)(x + 0.044715x³); it costs $5 less.") == []
    broken = "with $u = \\sqrt{2/\\pi}\\,(x\n0.044715\\,x^3)$."
    assert len(raw_tex(broken)) >= 3, raw_tex(broken)
    assert raw_tex("\\(x^2\\) was not typeset")
    assert raw_tex("see \\begin{cases} here")


@pytest.mark.parametrize("page", PAGES)
def test_no_raw_tex_after_typesetting(browser, site_url, page):
    record = visit(browser, site_url, page)
    leftovers = raw_tex(record["text"])
    assert not leftovers, f"{page}: TeX left untypeset in the visible text:\n" + "\n".join(
        leftovers[:10]
    )


@pytest.mark.parametrize("page", PAGES)
def test_images_load_and_have_alt_text(browser, site_url, page):
    record = visit(browser, site_url, page)
    broken = [i["src"] for i in record["images"] if i["width"] == 0]
    assert not broken, f"{page}: images that did not load: {broken}"
    # docutils writes the file name as alt text when a figure has none: that counts as none.
    no_alt = [
        i["src"][:120]
        for i in record["images"]
        if i["content"] and (not i["alt"] or re.search(r"\.(png|jpe?g|svg|gif)$", i["alt"]))
    ]
    assert not no_alt, f"{page}: images without alt text (use :alt: or fig-alt): {no_alt}"


@pytest.mark.parametrize("page", PAGES)
def test_accessibility_of_the_content(browser, site_url, page):
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `bash scripts/install.sh test`", pytrace=False)
    record = visit(browser, site_url, page)
    for v in record["axe"]:
        if v["id"] not in CONTENT_AXE_RULES:
            where = "theme" if v["id"] in THEME_AXE_RULES else "NOT ALLOW-LISTED"
            print(f"axe {page}: {v['id']} ({where}, {len(v['nodes'])} nodes): {v['help']}")
    failing = [v for v in record["axe"] if v["id"] in CONTENT_AXE_RULES]
    assert not failing, f"{page}: " + "; ".join(
        f"{v['id']} ({v['help']}) at {v['nodes'][:5]}" for v in failing
    )


@pytest.mark.parametrize("page", PAGES)
def test_screenshots_are_saved(browser, site_url, page):
    record = visit(browser, site_url, page)
    for name, path in record["screenshots"].items():
        assert path.is_file() and path.stat().st_size > 1000, f"{page}: no {name} screenshot"


def test_a_chapter_screenshot_is_not_blank(browser, site_url):
    from PIL import Image, ImageStat

    written = [c for c in book.chapters() if not book.is_stub(c)] or book.chapters()
    record = visit(browser, site_url, f"{written[0]}.html")
    for name, path in record["screenshots"].items():
        with Image.open(path) as img:
            stddev = ImageStat.Stat(img.convert("L")).stddev[0]
            size = img.size
        print(f"{path.name}: {size[0]}x{size[1]} px, grey-level std dev {stddev:.1f}")
        # A page may be a little wider than the phone (the theme's heading anchors overflow).
        assert size[0] >= WIDTHS[name], f"{path.name} is {size[0]} px wide"
        assert stddev > 10, f"{path.name} looks blank (grey-level std dev {stddev:.1f})"


def test_search_finds_selu(browser, site_url):
    sources = [book.source(d) for d in book.docnames()]
    if not any("SELU" in p.read_text(encoding="utf-8") for p in sources):
        pytest.skip("no page of the book mentions SELU yet (chapters still being written)")
    context = browser.new_context()
    tab = context.new_page()
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith(site_url) else r.abort()
    )
    tab.goto(site_url + "search.html?q=SELU", wait_until="load")
    tab.wait_for_selector("#search-results ul.search li a", timeout=20_000)
    hits = tab.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(e => e.getAttribute('href'))"
    )
    context.close()
    print(f"search for SELU: {len(hits)} results: {hits[:8]}")
    assert hits, "searching the book for SELU found nothing"
