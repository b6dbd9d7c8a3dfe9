# Setup (read-only): the imports and the helpers the checks below use. Run this cell first.
import contextlib
import importlib.util
import math  # noqa: F401  (for the answers and tests)
import subprocess
import sys
import warnings

# In Colab or Binder, install what the notebook needs only if it is missing (usually nothing).
_missing = [name for name in ("numpy", "scipy") if importlib.util.find_spec(name) is None]
if _missing:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *_missing])

import numpy as np  # noqa: E402
import scipy.special  # noqa: E402, F401  (for the answers and tests)


class _NumpyOnly:
    """This assignment is about numpy: importing a deep-learning framework fails on purpose."""

    blocked = ("torch", "tensorflow", "jax", "keras")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ImportError(
                f"import {name}: answers in this assignment may use numpy, math and "
                "scipy.special only (frameworks come in the PyTorch assignment)"
            )
        return None


sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_NumpyOnly"]
sys.meta_path.insert(0, _NumpyOnly())


def check_close(actual, expected, *, call, section, rtol=1e-7, atol=1e-12):
    """Fail with a helpful message unless ``actual`` matches ``expected`` (shape and values)."""
    actual_arr = np.asarray(actual)
    expected_arr = np.asarray(expected)
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(
            f"{call} returned shape {actual_arr.shape}, expected shape {expected_arr.shape}. "
            f"See {section}."
        )
    if not np.allclose(actual_arr, expected_arr, rtol=rtol, atol=atol):
        bad = ~np.isclose(actual_arr, expected_arr, rtol=rtol, atol=atol)
        where = np.argwhere(bad)[0] if actual_arr.ndim else ()
        raise AssertionError(
            f"{call} is wrong at index {tuple(int(i) for i in where)}: expected "
            f"{expected_arr[tuple(where)]!r}, got {actual_arr[tuple(where)]!r} "
            f"({int(bad.sum())} of {bad.size} values differ). See {section}."
        )


def check_array(actual, *, like, call, section):
    """Fail unless ``actual`` is a numpy array with the shape and dtype of ``like``."""
    if not isinstance(actual, np.ndarray):
        raise AssertionError(
            f"{call} returned a {type(actual).__name__}, expected a numpy array. See {section}."
        )
    if actual.shape != np.shape(like) or actual.dtype != np.asarray(like).dtype:
        raise AssertionError(
            f"{call} returned shape {actual.shape} and dtype {actual.dtype}, expected shape "
            f"{np.shape(like)} and dtype {np.asarray(like).dtype}. See {section}."
        )


def check_unchanged(before, after, *, name, call, section):
    """Fail if the argument ``name`` was modified in place by ``call``."""
    if not np.array_equal(before, after):
        raise AssertionError(
            f"{call} modified its argument {name} in place; compute a new array instead. "
            f"See {section}."
        )


@contextlib.contextmanager
def no_warnings(call, section):
    """Turn numpy's overflow and invalid-value warnings into a failure naming ``call``."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            yield
        except (RuntimeWarning, FloatingPointError) as exc:
            raise AssertionError(
                f"{call} raised the warning {exc!r}: evaluate each branch only where it "
                f"applies (np.where evaluates both). See {section}."
            ) from None
