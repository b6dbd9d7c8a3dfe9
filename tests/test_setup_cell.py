"""The setup cell's helpers (solutions/setup_cell.py, and a5's own setup cell) behave as the
authoring guide says: plain-number messages, facts about the student's code read from its
source, hidden inputs from a secret, inputs guarded against overwriting."""

from __future__ import annotations

import sys

import nbformat
import numpy as np
import pytest

from grader.layout import Course

COURSE = Course()
SETUP = (COURSE.source_dir / "setup_cell.py").read_text()


def _a5_setup() -> str:
    nb = nbformat.read(COURSE.source_dir / "a5_frameworks" / "a5_frameworks.ipynb", 4)
    return next(
        c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"
    )


@pytest.fixture
def setup():
    blockers = list(sys.meta_path)
    namespace = {"__name__": "__main__"}
    exec(compile(SETUP, "<setup>", "exec"), namespace)
    yield namespace
    sys.meta_path[:] = blockers  # the setup cell blocks framework imports, here too


def _failure(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_messages_show_plain_numbers_and_the_input(setup):
    message = _failure(
        setup["check_close"],
        np.array([0.0, 1.0, 3.0]),
        [0.0, 2.0, 3.0],
        call="f(x)",
        section="S",
        given={"x": np.array([-1.0, 0.5, 3.0])},
    )
    assert "at index 1 for x = 0.5: expected 2.0, got 1.0 (1 of 3 values differ)" in message
    scalar = _failure(setup["check_close"], np.float64(-6.0), 6.0, call="g()", section="S")
    assert "np.float64" not in scalar and "index" not in scalar, scalar
    assert "expected 6.0, got -6.0" in scalar, scalar


def test_each_failure_kind_has_its_own_hint(setup):
    dtype = _failure(
        setup["check_array"], np.zeros(2), like=np.zeros(2, np.float32), call="f", section="S"
    )
    assert "float32 in, float32 out" in dtype and "rules at the top" in dtype, dtype
    nan = _failure(setup["check_close"], [np.nan], [1.0], call="f", section="S")
    assert "overflow, 0/0" in nan, nan
    moved = _failure(
        setup["check_unchanged"],
        np.ones(2),
        np.array([1.0, 0.0]),
        name="dout",
        call="b",
        section="S",
    )
    assert "dout at index 1 was 1.0 before the call and is 0.0 after it" in moved, moved
    hints = {
        key: setup["_warning_message"]("f", RuntimeWarning(f"{key} encountered"), "S")
        for key in ("overflow", "invalid value", "divide by zero")
    }
    assert len(set(hints.values())) == 3, hints


def test_grading_seed_depends_on_the_secret(setup, monkeypatch):
    monkeypatch.delenv("RELU_GRADING_SECRET", raising=False)
    public = setup["grading_seed"]("relu_forward_values")
    assert public == setup["grading_seed"]("relu_forward_values")
    assert 0 <= public < 2**64 and public != setup["grading_seed"]("relu_backward_values")
    monkeypatch.setenv("RELU_GRADING_SECRET", "course secret")
    assert setup["grading_seed"]("relu_forward_values") != public


def test_student_code_skips_setup_and_test_cells(setup):
    setup["_STUDENT_CODE"] = [
        "# Setup (read-only): ...\nnp.seterr(all='ignore')",
        "# relu_forward_values: ...\nnp.seterr(all='ignore')",
        "def relu_forward(x):\n    return x, x",
    ]
    assert setup["student_code"]() == ["def relu_forward(x):\n    return x, x"]
    assert setup["silenced_warnings"]() == []


SILENT_F = "def f(x):\n    with np.errstate(over='ignore'):\n        return x"


@pytest.mark.parametrize(
    "code, call, found",
    [
        ("np.seterr(all='ignore')", "relu_forward(x)", ["seterr"]),
        ("with np.errstate(all='ignore'):\n    y = np.log(0.0)", "relu_forward(x)", []),
        (
            "def f(x):\n    with np.errstate(over='ignore'):\n        return x",
            "f(x)",
            ["errstate"],
        ),
        ("def f(x):\n    with np.errstate(over='ignore'):\n        return x", "g(x)", []),
        ("def h(x):\n    return f(x)\ndef f(x):\n    np.seterr(all='ignore')", "h(x)", ["seterr"]),
        ("import warnings as w\nw.filterwarnings('ignore')", "f(x)", ["filterwarnings"]),
        ("import sys, io\nsys.stderr = io.StringIO()", "f(x)", ["stderr"]),
        ("print('debug', file=sys.stderr)", "f(x)", []),
    ],
)
def test_silenced_warnings_are_found_where_they_act(setup, code, call, found):
    setup["_STUDENT_CODE"] = [code]
    assert setup["silenced_warnings"](call) == found


def test_silenced_warnings_follow_the_code_as_it_grows_cell_by_cell(setup):
    """Each cell is analysed once and remembered; what the cells say together is worked out
    again for every question, as the code grows and as definitions replace earlier ones."""
    silent_g = "def g(x):\n    np.seterr(all='ignore')\n    return x"
    calls_g = "def f(x):\n    return g(x)"
    plain_g = "def g(x):\n    return x"
    code = setup["_STUDENT_CODE"] = []
    assert setup["silenced_warnings"]("f(x)") == []
    code.append(silent_g)
    assert setup["silenced_warnings"]("f(x)") == []
    assert setup["silenced_warnings"]("g(x)") == ["seterr"]
    code.append(calls_g)  # f silences through g, defined a cell before
    assert setup["silenced_warnings"]("f(x)") == ["seterr"]
    code.append(plain_g)  # g defined again, without the silencer
    assert setup["silenced_warnings"]("f(x)") == []
    assert setup["silenced_warnings"]("g(x)") == []
    # The same cells again, in another notebook's order: nothing from the closure above stuck.
    setup["_STUDENT_CODE"] = [calls_g, plain_g]
    assert setup["silenced_warnings"]("f(x)") == []
    setup["_STUDENT_CODE"] = [
        calls_g,
        "def g(x):\n    with np.errstate(all='ignore'):\n        return x",
    ]
    assert setup["silenced_warnings"]("f(x)") == ["errstate"]
    setup["_STUDENT_CODE"] = [calls_g, plain_g, "x = (", silent_g]  # a cell that does not parse
    assert setup["silenced_warnings"]("f(x)") == ["seterr"]


def test_no_warnings_fails_silenced_code(setup):
    setup["_STUDENT_CODE"] = ["def f(x):\n    with np.errstate(all='ignore'):\n        return x"]
    message = _failure(lambda: setup["no_warnings"]("f(x)", "S").__enter__())
    assert "a silenced warning is still an out-of-domain evaluation" in message, message


def test_check_vectorized_finds_loops_in_the_named_function(setup):
    setup["_STUDENT_CODE"] = [
        "def dead_units(a):\n    return np.array([not any(c > 0) for c in a.T])",
        "def mlp(x):\n    for w in x:\n        pass",
    ]
    assert "ListComp" in _failure(setup["check_vectorized"], "dead_units", section="S")
    setup["check_vectorized"]("mlp_activation_rates", section="S")  # not defined: nothing to say


def test_inputs_guarded_fails_a_call_that_overwrites_its_input(setup):
    def overwrite(x, cache):
        x[...] = 0
        return x

    namespace = {"overwrite": overwrite}
    with setup["inputs_guarded"](namespace, "overwrite"):
        message = _failure(namespace["overwrite"], np.ones(3), (np.ones(2), 1.0))
    assert "overwrite modified its argument 1 in place" in message, message
    assert namespace["overwrite"] is overwrite, "the guard must be removed after the block"
    with setup["inputs_guarded"](namespace, "overwrite"):
        cache = [np.ones(2)]
        message = _failure(lambda: namespace["overwrite"](np.ones(1), cache) or cache[0].fill(5))
    assert "argument 1" in message


def test_visible_check_records_and_propagates_outside_a_kernel(setup):
    with pytest.raises(AssertionError, match="boom"):
        with setup["visible_check"]("f_values", points=2, section="S"):
            raise AssertionError("boom")
    part, points, passed, _ = setup["_VERDICTS"]["f_values"]
    assert (part, points, passed) == ("f", 2, False)


@pytest.fixture(scope="module")
def a5_setup():
    pytest.importorskip("torch")
    namespace = {"__name__": "__main__"}
    exec(compile(_a5_setup(), "<a5 setup>", "exec"), namespace)
    return namespace


_Named = type("ReLUFunction", (), {})  # stands for the class the check is asked about


_CLASS = """
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return {forward}

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
"""


@pytest.mark.parametrize(
    "code, reaches",
    [
        (_CLASS.format(forward="torch.where(x > 0, x, torch.zeros_like(x))"), None),
        (_CLASS.format(forward="torch.clamp(x, min=0)"), None),
        (_CLASS.format(forward="torch.relu(x)"), "torch.relu"),
        (_CLASS.format(forward="x.relu()"), "x.relu"),
        (_CLASS.format(forward="torch.ops.aten.relu(x)"), "torch.ops"),
        (_CLASS.format(forward='getattr(torch, "relu")(x)'), "getattr"),
        ("r = torch.relu\n" + _CLASS.format(forward="r(x)"), "r"),
        ("from torch.nn.functional import relu as r\n" + _CLASS.format(forward="r(x)"), "r"),
        ("def helper(x):\n    return F.relu(x)\n" + _CLASS.format(forward="helper(x)"), "helper"),
        ("g = nn.ReLU()\n" + _CLASS.format(forward="g(x)"), "g"),
    ],
)
def test_a5_builtin_check_reads_the_source(a5_setup, code, reaches):
    a5_setup["_STUDENT_CODE"] = [code, "class MLP(nn.Module):\n    act = nn.ReLU"]
    check = a5_setup["check_no_builtin_names"]
    if reaches is None:
        check(_Named, ["relu", "relu_", "threshold", "threshold_"], section="S")
        return
    message = _failure(check, _Named, ["relu", "relu_", "threshold", "threshold_"], section="S")
    assert f"through {reaches}" in message, message


def test_setup_says_what_to_do_under_numpy_1(monkeypatch):
    monkeypatch.setattr(np, "__version__", "1.26.4")
    blockers = list(sys.meta_path)
    try:
        with pytest.raises(RuntimeError, match=r"needs NumPy 2 .* %pip install --upgrade"):
            exec(compile(SETUP, "<setup>", "exec"), {"__name__": "__main__"})
    finally:
        sys.meta_path[:] = blockers
