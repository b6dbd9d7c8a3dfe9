"""Hostile PyTorch submissions (a5_frameworks): the grader's checks stay out of their reach.

Each attack is a wrong ``ReLUFunction`` (identity forward, pass-through backward) plus code that
tries to make the wrong answer pass: patching PyTorch's and numpy's comparisons, the notebook's
checking helpers and ``gradcheck``; returning a tensor subclass that claims to equal anything;
patching the sandbox's own wire code to lie about what it computed; exiting mid-backward. The
real assignment is graded with the course's engine; no attack may score more than the plain
wrong answer, and the reference still gets full marks. One attack is also graded by plain
nbgrader, to show that it does fool a grader that runs the tests in the student's kernel.
"""

from __future__ import annotations

import pytest

from grader.layout import Course
from grader.sandbox import bwrap_path
from tests.mutation import grade_variants

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (see test_hostile.py)"),
]

ASSIGNMENT = "a5_frameworks"
RELU_TESTS = [
    "relu_function_values",
    "relu_function_gradient",
    "relu_function_grad_output",
    "relu_function_no_builtin",
]
WRONG = """
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.clone()
"""

ATTACKS = {
    "patch_comparisons_and_helpers": """
import numpy as np
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
torch.autograd.gradcheck = lambda *a, **k: True
check_close = check_tensor = check_unchanged = check_gradcheck = lambda *a, **k: None
builtin_activations_blocked = __import__("contextlib").nullcontext
"""
    + WRONG,
    "tensor_subclass_equal_to_anything": """
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        class Liar(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if getattr(func, "__name__", "") in ("allclose", "equal", "isclose", "__eq__"):
                    return True
                return super().__torch_function__(func, types, args, kwargs or {})

        return x.clone().as_subclass(Liar)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.clone()
""",
    "lying_wire": """
import sys
_student = sys.modules.get("grader.student")
if _student is not None:
    _encode = _student._StudentCodec.encode
    def _lie(self, value, blobs):
        # Claim every tensor requires grad and every module is one of torch.nn's own.
        data = _encode(self, value, blobs)
        if isinstance(data, dict) and "tensor" in data:
            data["rg"] = True
            data["dtype"] = "torch.float64"
        if isinstance(data, dict) and "module" in data:
            data["module"]["genuine"] = True
        return data
    _student._StudentCodec.encode = _lie
"""
    + WRONG,
    "exit_during_backward": """
import os
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        os._exit(0)
""",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-torch")
    course = Course(workdir=root / "grading")
    variants = {"reference": None, "wrong": WRONG, **ATTACKS}
    return grade_variants(course, ASSIGNMENT, variants, root / "work", engine="sandbox")


def test_reference_gets_full_marks(graded):
    assert graded["reference"].score == graded["reference"].max_score


def test_wrong_answer_loses_the_relu_tests(graded):
    assert all(graded["wrong"].tests[t] == 0 for t in RELU_TESTS), graded["wrong"].tests


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_earns_nothing(graded, attack):
    result, wrong = graded[attack], graded["wrong"]
    assert result.status == "graded", result.reason
    earned = {t: p for t, p in result.tests.items() if t in RELU_TESTS and p > 0}
    assert not earned, f"{attack} earned {earned}"
    assert result.score <= wrong.score, (result.tests, wrong.tests)


def test_an_attack_that_fools_plain_nbgrader(tmp_path):
    """Why the checks must run outside the student's process: in its own kernel, patching the
    helpers turns the wrong answer's failed checks into passes."""
    course = Course(workdir=tmp_path / "grading")
    variants = {"wrong": WRONG, "attack": ATTACKS["patch_comparisons_and_helpers"]}
    plain = grade_variants(course, ASSIGNMENT, variants, tmp_path / "work", engine="nbgrader")
    assert plain["attack"].score > plain["wrong"].score, (plain["attack"].tests,)
