"""Chapters 4-6 say only what their code measured, and every page's math is real math.

Two kinds of checks:

- on the sources (no build needed): no chapter leaves TeX outside math (a line inside ``$...$``
  that starts with ``+ `` becomes a Markdown bullet and the formula is printed raw); chapters
  4-6 hold at least three labelled exercises, each with a solution;
- on the executed chapters of the strict build (``built_book``): every claim the prose makes
  about a measured value agrees with the value glued by the code beside it, and no output shows
  a traceback or a path of the build machine.

Part B of issue 14; the lead merges this table into ``tests/test_book_numbers.py``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from tests import book

#: Directives whose body is Markdown (parsed again); code and math bodies are not prose.
_NOT_PROSE = {"code-cell", "code", "code-block", "math", "raw", "glue:figure", "bibliography"}
_TEX = re.compile(r"\$|\\[A-Za-z]+")
_OPTION = re.compile(r"^:[\w-]+:.*$", re.M)
_PATHS = re.compile(r"(/home/|/root/|/work/|/tmp/|site-packages|\.venv/)")


def _parser():
    extensions = set(book.config()["parse"]["myst_enable_extensions"])
    return create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)


def raw_tex(markdown: str) -> list[tuple[int, str]]:
    """(line, text) for every piece of prose that still holds ``$`` or a TeX command."""
    found = []
    md = _parser()

    def walk(text: str, offset: int) -> None:
        for tok in md.parse(text):
            line = offset + (tok.map[0] if tok.map else 0) + 1
            for child in tok.children or []:
                if child.type == "text" and _TEX.search(child.content):
                    found.append((line, child.content.strip()))
            if tok.type in ("fence", "colon_fence") and tok.info.startswith("{"):
                name = tok.info[1:].split("}")[0]
                if name not in _NOT_PROSE:
                    body = re.sub(r"\A---\n.*?\n---\n", "", tok.content, flags=re.S)
                    walk(_OPTION.sub("", body), line)

    walk(markdown, 0)
    return found


def test_the_raw_tex_check_catches_a_formula_broken_by_a_bullet():
    broken = "Here $u = \\sqrt{2}\\,(x\n+ 0.04\\,x^3)$ ends.\n"
    inside = ":::{exercise}\n:label: x\n\nHere $a\n- b$.\n:::\n"
    assert raw_tex(broken), "a '+ ' line inside inline math must be reported"
    assert raw_tex(inside), "the same inside an exercise directive must be reported"
    assert not raw_tex("Here $u = \\sqrt{2}\\,(x + 0.04\\,x^3)$ ends.\n"), "valid math flagged"


@pytest.mark.parametrize("chapter", book.chapters())
def test_no_tex_is_left_outside_math(chapter):
    found = raw_tex(book.source(chapter).read_text(encoding="utf-8"))
    assert not found, (
        f"{chapter}: TeX outside math (a line starting with '+ ', '- ', '* ' or '1. ' inside "
        f"$...$ turns into a list; re-wrap the line): {found[:5]}"
    )


@pytest.mark.parametrize("number", [4, 5, 6])
def test_chapter_has_three_exercises_each_with_a_solution(number):
    (chapter,) = [c for c in book.chapters() if re.match(rf"chapters/0*{number}_", c)]
    text = book.source(chapter).read_text(encoding="utf-8")
    labels = re.findall(r"^:::+\{exercise\}\n:label: (\S+)$", text, re.M)
    solved = set(re.findall(r"^[:`]{3,}\{solution(?:-start)?\} (\S+)$", text, re.M))
    assert len(labels) >= 3, f"{chapter}: {len(labels)} exercises, at least 3 wanted"
    assert all(re.fullmatch(rf"ch{number}-ex\d+", lab) for lab in labels), (
        f"{chapter}: labels must read ch{number}-ex<k>: {labels}"
    )
    assert set(labels) <= solved, (
        f"{chapter}: exercises without a solution: {set(labels) - solved}"
    )


# --- the executed chapters -------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(built_book) -> Path:
    folder = built_book.parent / "jupyter_execute" / "chapters"
    assert folder.is_dir(), f"no executed chapters in {folder}"
    return folder


def glued(executed: Path, chapter: str) -> dict:
    """Every value a chapter glued, as Python objects (from ``<chapter>.glue.json``)."""
    path = executed / f"{chapter}.glue.json"
    assert path.is_file(), f"{path.name} missing: the chapter glues nothing"
    raw = json.loads(path.read_text())
    return {key: ast.literal_eval(out["data"]["text/plain"]) for key, out in raw.items()}


def names(text: str) -> set[str]:
    return set() if text == "none" else set(text.split(", "))


def test_ch4_cost_claims_follow_the_quartiles(executed):
    g = glued(executed, "04_variants")
    q = g["ch4_cost_quartiles"]
    relu_q1, _, relu_q3 = q["ReLU"]
    dearer = {n for n, (q1, _, _) in q.items() if q1 > relu_q3}
    same = {n for n, (q1, _, q3) in q.items() if n != "ReLU" and q1 <= relu_q3 and q3 >= relu_q1}
    assert names(g["ch4_cost_dearer"]) == dearer, "prose 'dearer than ReLU' != quartiles"
    assert names(g["ch4_cost_same"]) == same, "prose 'cannot be told apart' != quartiles"
    assert all(n in g["ch4_cost_same_text"] for n in same), g["ch4_cost_same_text"]
    assert g["ch4_cost_same_text"].startswith("No ") == (not same), g["ch4_cost_same_text"]
    cheaper = {n for n, (_, _, q3) in q.items() if q3 < relu_q1}
    said = g["ch4_cost_cheaper"]
    assert (
        set(said.split(" of ")[1].split(":")[0].split(", ")) if cheaper else set()
    ) == cheaper, said
    assert all(q1 <= med <= q3 for q1, med, q3 in q.values()), "quartiles out of order"


def test_ch6_timing_claims_follow_the_quartiles(executed):
    g = glued(executed, "06_choosing")
    q = g["ch6_op_quartiles"]
    relu_q1, relu_med, relu_q3 = q["ReLU"]
    medians = {n: v[1] for n, v in q.items()}
    assert names(g["ch6_op_dearer"]) == {n for n, v in q.items() if v[0] > relu_q3}
    assert names(g["ch6_op_same"]) == {
        n for n, v in q.items() if n != "ReLU" and v[0] <= relu_q3 and v[2] >= relu_q1
    }
    same = names(g["ch6_op_same"])
    assert all(n in g["ch6_op_same_text"] for n in same), g["ch6_op_same_text"]
    assert g["ch6_op_same_text"].startswith("No ") == (not same), g["ch6_op_same_text"]
    cheaper = {n for n, v in q.items() if v[2] < relu_q1}
    said = g["ch6_op_cheaper"]
    assert (set(said[len("Those of ") :].split(" even")[0].split(", ")) if cheaper else set()) == (
        cheaper
    ), said
    assert g["ch6_op_dearest"] == max(medians, key=medians.get)
    assert g["ch6_op_ratio"] == pytest.approx(medians[g["ch6_op_dearest"]] / relu_med)
    # "Per epoch the times differ by at most ..., because ...": a smaller spread than alone.
    spread_alone = max(medians.values()) / min(medians.values())
    assert g["ch6_epoch_ratio"] < spread_alone, (
        f"per-epoch spread {g['ch6_epoch_ratio']:.2f} is not below the spread of the "
        f"activations alone {spread_alone:.2f}: the prose's 'because' no longer holds"
    )


def test_ch6_accuracy_claims_follow_the_ranges(executed):
    g = glued(executed, "06_choosing")
    ranges = g["ch6_acc_ranges"]

    def disjoint(a, b):
        return ranges[a][1] < ranges[b][0] or ranges[b][1] < ranges[a][0]

    overlap_said = "do not overlap" not in g["ch6_best_worst_overlap"]
    assert overlap_said == (not disjoint(g["ch6_best"], g["ch6_worst"])), (
        f"prose says overlap={overlap_said} for {g['ch6_best']} vs {g['ch6_worst']}: {ranges}"
    )
    pairs = [(a, b) for i, a in enumerate(ranges) for b in list(ranges)[i + 1 :]]
    n_disjoint = sum(disjoint(a, b) for a, b in pairs)
    text = g["ch6_separated"]
    if n_disjoint == 0:
        assert text.startswith("no two"), text
    else:
        assert text.startswith(f"{n_disjoint} of the {len(pairs)} pairs"), text


def test_ch6_activations_are_within_a_few_points(executed):
    g = glued(executed, "06_choosing")
    assert 0 <= g["ch6_gap"] < 5, (
        f"prose: every activation within a few points of the others; gap {g['ch6_gap']:.1f}"
    )


def test_ch6_dead_units_are_the_systematic_difference(executed):
    g = glued(executed, "06_choosing")
    assert g["ch6_relu_dead"] > g["ch6_smooth_dead_max"], (
        "prose calls dead units the one large, systematic difference, but a smooth activation "
        f"has as many as ReLU: {g['ch6_smooth_dead_max']:.1f}% vs {g['ch6_relu_dead']:.1f}%"
    )


def test_ch6_irnn_claims(executed):
    g = glued(executed, "06_choosing")
    assert g["ch6_irnn10_worst"] < 0.2 and g["ch6_tanh10_worst"] < 0.2, (
        "prose: 'At T = 10 both networks learn the task'"
    )
    assert g["ch6_tanh50_best"] > 0.8, "prose: the tanh RNN at T = 50 does about as well as 0"
    assert g["ch6_irnn50_worst"] < 0.2 < g["ch6_tanh50_best"], (
        "prose: every IRNN run at T = 50 remembers, no tanh run does"
    )
    runs = g["ch6_rnn_runs"]
    assert max(runs["IRNN T=50"]) == pytest.approx(g["ch6_irnn50_worst"])
    assert min(runs["tanh RNN T=50"]) == pytest.approx(g["ch6_tanh50_best"])


@pytest.mark.parametrize("chapter", book.chapters())
def test_outputs_show_no_traceback_and_no_build_path(executed, chapter):
    nb = json.loads((executed / f"{Path(chapter).name}.ipynb").read_text())
    problems = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                # An error shown on purpose (a raises-exception cell) must stay short and
                # path-free, as the site test requires of the rendered page.
                lines = "\n".join(out.get("traceback", [])).splitlines()
                if len(lines) > 8 or _PATHS.search("\n".join(lines)):
                    problems.append((i, f"error output {out.get('ename')}, {len(lines)} lines"))
                continue
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            text = "".join(text) if isinstance(text, list) else text
            if "Traceback" in text or _PATHS.search(text):
                problems.append((i, text[:200]))
    assert not problems, f"{chapter}: tracebacks or machine paths in outputs: {problems[:3]}"
