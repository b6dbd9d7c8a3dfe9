"""The numbers the prose states are the numbers the code computed, at every build.

A chapter never types a measured value into its prose. The code cell that measures it glues it,
``glue("ch2_dead_relu_lr1e-02", value, display=False)`` (``from myst_nb import glue``), and the
prose shows it with ``{glue:text}`ch2_dead_relu_lr1e-02:.3f```, so the printed figure cannot
drift from the output. Where the prose also *describes* a value in words ("most of the layer",
"below the threshold", "the penalty lowers the test error"), or where a figure's alt text or
caption states a value (those cannot glue), ``CLAIMS`` below says so as a check on the glued
values, and the test fails the build's numbers when a new seed, library version or
edit makes the words untrue. Add a row for every such sentence (chapters/README.md).

The glued values are read from the executed notebooks of a book build
(``_build/jupyter_execute``): the newest of ``_build`` and ``artifacts/book/_build`` if it is
newer than every chapter source, otherwise the session's fresh build (``built_book``).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import book


@dataclass(frozen=True)
class Claim:
    chapter: str  #: docname, e.g. "chapters/02_sparsity"
    says: str  #: the claim as the prose makes it
    keys: tuple[str, ...]  #: glue keys the check reads
    check: Callable[..., bool]  #: called with the glued values, in the order of ``keys``


CH1, CH2, CH3 = "chapters/01_biology", "chapters/02_sparsity", "chapters/03_subgradients"

CLAIMS = [
    # Chapter 1
    Claim(
        CH1,
        "four linear layers are one affine map, up to 64-bit round-off",
        ("ch1_collapse_err",),
        lambda e: e < 1e-12,
    ),
    Claim(
        CH1,
        "with ReLUs the best affine imitation explains only part of the variance",
        ("ch1_relu_affine_explained",),
        lambda r2: 0.0 < r2 < 0.9,
    ),
    Claim(
        CH1,
        "the simulation counted N spikes in 0.2 s, i.e. 5 N Hz, close to the formula's "
        "41.7 Hz (a short window holds only whole spikes)",
        ("ch1_sim_spikes", "ch1_sim_rate"),
        lambda n, r: math.isclose(5 * n, r) and abs(r - 41.7) < 5,
    ),
    Claim(
        CH1,
        "the fitted ReLU puts its kink a little below the true threshold 1",
        ("ch1_relu_theta",),
        lambda t: 0.5 < t < 1.0,
    ),
    Claim(
        CH1,
        "a softplus fitted to the noise-free curve sharpens into a ReLU (large beta)",
        ("ch1_softplus_beta_det",),
        lambda b: b > 50,
    ),
    Claim(
        CH1,
        "with noisy input a softplus fits better than a ReLU",
        ("ch1_softplus_rmse_noisy", "ch1_relu_rmse_noisy"),
        lambda s, r: s < r,
    ),
    Claim(
        CH1,
        "the fitted line follows the noise-free rate within a few hertz (RMS)",
        ("ch1_relu_rmse",),
        lambda e: e < 10,
    ),
    # Chapter 2
    Claim(
        CH2,
        "the per-layer active fraction stays near one half up to layer 50",
        ("ch2_depth_active_min", "ch2_depth_active_max"),
        lambda lo, hi: 0.4 < lo <= hi < 0.6,
    ),
    Claim(
        CH2,
        "the fully active path fraction follows 2^-L (log2 near -50 at layer 50)",
        ("ch2_depth_log2_paths_last",),
        lambda v: -53 < v < -47,
    ),
    Claim(
        CH2,
        "representations become nearly collinear with depth (cosine towards 1)",
        ("ch2_depth_cosine_last",),
        lambda c: c > 0.9,
    ),
    Claim(
        CH2,
        "deep layers are increasingly made of dead and always-on units (alt text of "
        "fig-depth-active: both grow to roughly 0.35)",
        ("ch2_depth_dead_last", "ch2_depth_always_on_last"),
        lambda d, a: 0.25 < d < 0.45 and 0.25 < a < 0.45,
    ),
    Claim(
        CH2,
        "He keeps the scale (alt text of fig-depth-std: near 0.8); Xavier falls to about "
        "one thousandth, PyTorch's default to around 1e-8 by layer 20",
        ("ch2_std_he_20", "ch2_std_xavier_20", "ch2_std_default_20"),
        lambda he, xa, de: 0.6 < he < 1.0 and 3e-4 < xa < 3e-3 and 1e-9 < de < 1e-7,
    ),
    Claim(
        CH2,
        "exercise 2: 2^-9.5 and 6^-9.5 predict the measured shrinkage within tens of %",
        ("ch2_std_ratio_xavier", "ch2_std_ratio_default"),
        lambda xa, de: 0.5 < xa / 2**-9.5 < 1.5 and 0.5 < de / 6**-9.5 < 1.5,
    ),
    Claim(
        CH2,
        "at small learning rates almost no unit dies",
        ("ch2_dead_relu_lr1e-03", "ch2_dead_leaky_lr1e-03"),
        lambda r, lk: max(r, lk) < 0.05,
    ),
    Claim(
        CH2,
        "alt text of fig-dead-lr: few units die at 3e-3",
        ("ch2_dead_relu_lr3e-03", "ch2_dead_leaky_lr3e-03"),
        lambda r, lk: max(r, lk) < 0.1,
    ),
    Claim(
        CH2,
        "past a critical learning rate (1e-2) most of the layer dies",
        ("ch2_dead_relu_lr1e-02", "ch2_dead_relu_lr3e-02"),
        lambda a, b: a > 0.5 and b > 0.5,
    ),
    Claim(
        CH2,
        "Leaky ReLU's units are pushed below zero almost as often (not fewer than half "
        "as many) and not more often than ReLU's",
        ("ch2_dead_leaky_lr1e-02", "ch2_dead_relu_lr1e-02"),
        lambda lk, r: r / 2 < lk <= r,
    ),
    Claim(
        CH2,
        "the L1 penalty lowers the active fraction as lambda grows",
        ("ch2_l1_active_0", "ch2_l1_active_1", "ch2_l1_active_2"),
        lambda a0, a1, a2: a0 > a1 > a2,
    ),
    Claim(
        CH2,
        "the unpenalised network overfits: training error far below test error",
        ("ch2_l1_train_mse_0", "ch2_l1_test_mse_0"),
        lambda tr, te: tr < te / 3,
    ),
    Claim(
        CH2,
        "the penalty lowers the test error at lambda = 1e-2",
        ("ch2_l1_test_mse_2", "ch2_l1_test_mse_0"),
        lambda pen, plain: pen < plain,
    ),
    Claim(
        CH2,
        "a single layer of 16 units cannot exceed the hyperplane-arrangement bound",
        ("ch2_regions_shallow", "ch2_regions_shallow_bound"),
        lambda n, bound: 1 < n <= bound,
    ),
    Claim(
        CH2,
        "a random deep net (8+8 units) has about as many regions as the shallow one",
        ("ch2_regions_deep", "ch2_regions_shallow"),
        lambda d, s: s / 1.5 < d < 1.5 * s,
    ),
    Claim(
        CH2,
        "8 tent layers of 2 units make 2^8 linear pieces",
        ("ch2_tent_pieces_8",),
        lambda n: n == 256,
    ),
    # Chapter 3
    Claim(
        CH3,
        "the elementwise relative error puts correct ELU and tanh-GELU (float64) in the "
        "'uneasy' band 1e-4..1e-2",
        ("ch3_elementwise_elu64", "ch3_elementwise_gelu64"),
        lambda e, g: 1e-4 <= e < 1e-2 and 1e-4 <= g < 1e-2,
    ),
    Claim(
        CH3,
        "the norm-based error of correct float64 gradients stays tiny",
        ("ch3_norm_max64",),
        lambda v: v < 1e-9,
    ),
    Claim(
        CH3,
        "in float32 with h = 1e-5 every check looks bad",
        ("ch3_norm_min32",),
        lambda v: v > 1e-4,
    ),
    Claim(
        CH3,
        "sigmoid gradients vanish by many orders of magnitude towards the input (alt "
        "text of fig-grad-norm-depth: from about 1 at layer 30 to about 1e-18 at layer 1)",
        ("ch3_sigmoid_first", "ch3_sigmoid_last"),
        lambda first, last: 1e-19 < first < 1e-17 and 0.3 < last < 3,
    ),
    Claim(
        CH3,
        "tanh + Xavier is fine (alt text: flat between 0.2 and 0.5)",
        ("ch3_tanh_min", "ch3_tanh_max"),
        lambda lo, hi: 0.2 < lo <= hi < 0.5,
    ),
    Claim(
        CH3,
        "ReLU + Xavier gradients are uniformly tiny (within 10x of each other, << 1)",
        ("ch3_xavier_relu_min", "ch3_xavier_relu_max"),
        lambda lo, hi: hi < 1e-2 and hi < 10 * lo,
    ),
    Claim(
        CH3,
        "ReLU + He gradients are of order one in every layer (alt text: between 2 and 6)",
        ("ch3_he_relu_min", "ch3_he_relu_max"),
        lambda lo, hi: 2 < lo <= hi < 6,
    ),
    Claim(
        CH3,
        "ReLU + Xavier sits near 1e-4 (alt text of fig-grad-norm-depth)",
        ("ch3_xavier_relu_min", "ch3_xavier_relu_max"),
        lambda lo, hi: 3e-5 < lo <= hi < 3e-4,
    ),
    Claim(
        CH3,
        "ReLU + 1.2 x He lies between about 500 and 3000 (alt text)",
        ("ch3_gain12_min", "ch3_gain12_max"),
        lambda lo, hi: 300 < lo <= hi < 5000,
    ),
    Claim(
        CH3,
        "a 20% larger gain makes layer-1 gradients ~1.2^29 = 198 times larger",
        ("ch3_gain12_ratio_layer1",),
        lambda r: 198 / 3 < r < 198 * 3,
    ),
]


def _fresh_build() -> Path | None:
    """The newest existing build whose executed notebooks postdate every chapter source."""
    newest_source = max(book.source(c).stat().st_mtime for c in book.chapters())
    candidates = [book.REPO / "_build", book.REPO / "artifacts" / "book" / "_build"]
    fresh = []
    for build in candidates:
        notebooks = [build / "jupyter_execute" / f"{c}.ipynb" for c in book.chapters()]
        notebooks += [build / "html" / f"{c}.html" for c in book.chapters()]
        if all(nb.is_file() for nb in notebooks):
            oldest = min(nb.stat().st_mtime for nb in notebooks)
            if oldest >= newest_source:
                fresh.append((oldest, build))
    return max(fresh)[1] if fresh else None


@pytest.fixture(scope="module")
def executed(request) -> Path:
    """The ``jupyter_execute`` folder of an up-to-date build."""
    build = _fresh_build()
    if build is None:
        build = request.getfixturevalue("built_book").parent
    return build / "jupyter_execute"


def glued_values(executed: Path, chapter: str) -> dict[str, object]:
    """Every value a chapter glued at this build, by key (the Python literal it printed as).

    myst-nb keeps the glued outputs of ``chapters/NN_x`` in ``chapters/NN_x.glue.json`` beside
    the executed notebook (outputs glued with ``display=False`` are not in the notebook).
    """
    path = executed / f"{chapter}.glue.json"
    assert path.is_file(), f"{path} is missing: {chapter} glues nothing (or the build failed)"
    values = {}
    for name, output in json.loads(path.read_text(encoding="utf-8")).items():
        text = output.get("data", {}).get("text/plain", "")
        text = "".join(text) if isinstance(text, list) else text
        try:
            values[name] = ast.literal_eval(text)
        except (SyntaxError, ValueError):
            values[name] = text  # not a literal (e.g. np.float64(...)): the check will say
    return values


def _keys_in_prose(docname: str) -> set[str]:
    text = book.source(docname).read_text(encoding="utf-8")
    return set(re.findall(r"\{glue:text\}`([^`:]+)", text))


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.chapter.split('/')[-1]}-{c.keys[0]}")
def test_prose_claim_holds_for_the_glued_values(executed, claim):
    values = glued_values(executed, claim.chapter)
    missing = [k for k in claim.keys if k not in values]
    assert not missing, f"{claim.chapter}: nothing glued under {missing} (glue() in a code cell)"
    args = [values[k] for k in claim.keys]
    bad = [k for k, v in zip(claim.keys, args, strict=True) if not isinstance(v, int | float)]
    assert not bad, (
        f"{claim.chapter}: {bad} glued as {[values[k] for k in bad]!r}, not a plain number: "
        "glue float(value) or int(value)"
    )
    assert claim.check(*args), (
        f"{claim.chapter}: the prose says '{claim.says}', but this build computed "
        + ", ".join(f"{k} = {v!r}" for k, v in zip(claim.keys, args, strict=True))
    )


@pytest.mark.parametrize("chapter", sorted({c.chapter for c in CLAIMS}))
def test_every_number_shown_in_the_prose_is_glued_by_the_code(executed, chapter):
    shown = _keys_in_prose(chapter)
    assert shown, f"{chapter} shows no glued number at all"
    values = glued_values(executed, chapter)
    unknown = sorted(shown - values.keys())
    assert not unknown, f"{chapter} shows {unknown}, which no code cell glues"


def test_every_claim_reads_a_number_the_prose_shows():
    """A claim about a value the reader never sees checks nothing the prose says."""
    for claim in CLAIMS:
        source = book.source(claim.chapter).read_text(encoding="utf-8")
        assert any(f"`{key}" in source for key in claim.keys), (
            f"{claim.chapter}: none of {claim.keys} appears in a {{glue:text}} role"
        )
