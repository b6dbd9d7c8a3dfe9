# Setup (read-only): the imports and the helpers the checks below use. Run this cell first.
import ast
import contextlib
import hashlib
import importlib.util
import math  # noqa: F401  (for the answers and tests)
import os
import re
import subprocess
import sys
import time
import warnings

# In Colab or Binder, install what the notebook needs only if it is missing (usually nothing).
_missing = [name for name in ("numpy", "scipy") if importlib.util.find_spec(name) is None]
if _missing:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *_missing])

import numpy as np  # noqa: E402

if int(np.__version__.split(".")[0]) < 2:
    raise RuntimeError(
        f"This notebook needs NumPy 2 or later; this kernel has NumPy {np.__version__}. The "
        "dtype rules (float32 in, float32 out) and the checks assume NumPy 2's type promotion. "
        "Run  %pip install --upgrade 'numpy>=2' scipy  in a new cell, restart the kernel "
        "(Colab: Runtime > Restart session; Jupyter: Kernel > Restart), then Run All again."
    )

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

RULES = "the rules at the top of this notebook"


def grading_seed(label):
    """The seed of the hidden checks' random inputs: secret when graded, fixed otherwise."""
    secret = os.environ.get("RELU_GRADING_SECRET", "")
    return int.from_bytes(hashlib.sha256(f"{secret}:{label}".encode()).digest()[:8], "big")


def _in_a_kernel():
    """Whether this runs in a notebook kernel (Jupyter, Colab, nbgrader), not in the grader."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


_TEST_HEADER = re.compile(r"# [a-z][a-z0-9_]*: ")


def student_code():
    """The source of the student's own code cells (not this cell, not the test cells)."""
    if _in_a_kernel():  # a notebook: the kernel's input history
        cells = list(sys.modules["IPython"].get_ipython().history_manager.input_hist_parsed)
    else:  # the course grader provides the submission's cells
        frame, cells = sys._getframe(), []
        while frame is not None:
            if "_STUDENT_CODE" in frame.f_globals:
                cells = list(frame.f_globals["_STUDENT_CODE"])
                break
            frame = frame.f_back
    own = []
    for source in cells:
        first = str(source).lstrip().split("\n", 1)[0]
        if first.startswith("# Setup (read-only)") or _TEST_HEADER.match(first):
            continue
        own.append(str(source))
    return own


def _syntax_trees(sources):
    for source in sources:
        try:
            yield ast.parse(source)
        except SyntaxError:  # magics (%pip ...) or half-written code: nothing to read there
            continue


#: What switches warnings off (or hides what a check prints) instead of avoiding them.
_SILENCERS = frozenset(
    {"errstate", "seterr", "seterrcall", "filterwarnings", "simplefilter", "catch_warnings"}
    | {"resetwarnings", "showwarning", "redirect_stderr", "stderr"}
)


def _silencers_in(node):
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            name = sub.attr
        elif isinstance(sub, ast.Name):
            name = sub.id
        elif isinstance(sub, ast.alias):
            name = sub.name.rsplit(".", 1)[-1]
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            name = sub.value
        else:
            continue
        if name in _SILENCERS:
            found.add(name)
    return found


#: Calls that switch warnings off for good (not only inside a with block).
_LASTING = frozenset({"seterr", "seterrcall", "filterwarnings", "simplefilter", "resetwarnings"})


def _lasting_silencers(node):
    """Silencers in top-level code that outlast the statement (a with block does not)."""
    if isinstance(node, ast.With | ast.AsyncWith):
        return set().union(*(_lasting_silencers(n) for n in node.body))
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = getattr(sub.func, "attr", getattr(sub.func, "id", None))
            if name in _LASTING:
                found.add(name)
        targets = getattr(sub, "targets", None) or [getattr(sub, "target", None)]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in ("stderr", "showwarning"):
                found.add(target.attr)
    return found


def silenced_warnings(call=None):
    """What in the student's code switches warnings off for ``call``, e.g. ['errstate'].

    Code inside a function counts for the calls that name it (or a function that calls it);
    code outside any function counts for every call when its effect lasts (np.seterr, a
    warnings filter, a replaced sys.stderr), not a with block around a few lines.
    """
    everywhere, inside = _silencers_by_function(tuple(student_code()))
    found = set(everywhere)
    for name, silencers in inside.items():
        if call is None or re.search(rf"\b{re.escape(name)}\b", call):
            found |= silencers
    return sorted(found)


#: Each cell's analysis, by its source: a check asks about the code for every call it makes,
#: and the code grows a cell at a time (past 256 cells it starts over).
_ANALYSED = {}


def _cell_silencers(source):
    """(lasting silencers outside any function, silencers per function, names each function
    uses) of one cell."""
    if source not in _ANALYSED:
        if len(_ANALYSED) >= 256:
            _ANALYSED.clear()
        everywhere, inside, calls = set(), {}, {}
        for tree in _syntax_trees([source]):
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    inside[node.name] = frozenset(_silencers_in(node))
                    calls[node.name] = frozenset(
                        n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                    )
                else:
                    everywhere |= _lasting_silencers(node)
        _ANALYSED[source] = frozenset(everywhere), inside, calls
    return _ANALYSED[source]


def _silencers_by_function(sources):
    """(silencers outside any function, silencers per function) of ``sources``."""
    everywhere, inside, calls = set(), {}, {}
    for source in sources:
        cell_everywhere, cell_inside, cell_calls = _cell_silencers(source)
        everywhere |= cell_everywhere
        for name, silencers in cell_inside.items():  # a later definition replaces the earlier
            inside[name], calls[name] = set(silencers), cell_calls[name]
    changed = True
    while changed:  # a function that calls a silencing function silences too
        changed = False
        for name, names in calls.items():
            for other in names & set(inside):
                if inside[other] - inside[name]:
                    inside[name] |= inside[other]
                    changed = True
    return everywhere, inside


def _num(value):
    """A number as plain text: 0.5, -6.0, 3, True, nan (never np.float64(...))."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return repr(value)


def _nums(values, limit=8):
    """An array as plain numbers: [0.0, 0.5, 1.0] (long arrays shortened)."""
    flat = np.asarray(values).ravel()
    text = ", ".join(_num(v) for v in flat[:limit])
    return f"[{text}{', ...' if flat.size > limit else ''}]"


def _where(index, shape):
    if not shape:
        return ""
    if len(shape) == 1:
        return f" at index {index[0]}"
    return f" at index {tuple(int(i) for i in index)}"


def _plain(value):
    """A tensor (detached, on the CPU, in float64) or anything else as a numpy array."""
    if hasattr(value, "detach") and hasattr(value, "is_floating_point"):
        value = value.detach().cpu()
        value = (value.double() if value.is_floating_point() else value).numpy()
    return np.asarray(value)


def _as_numbers(value, call, section):
    try:
        if hasattr(value, "detach"):
            value = _plain(value)
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{call} returned {value!r:.200}, expected numbers (a numpy array or a float). "
            f"See {section}."
        ) from None


def check_close(actual, expected, *, call, section, rtol=1e-7, atol=1e-12, given=None, hint=""):
    """Fail with a helpful message unless ``actual`` matches ``expected`` (shape and values).

    ``given`` maps input names to arrays of the shape of ``expected`` (or broadcastable), so
    that the message can say which input value went wrong; ``hint`` says what usually causes
    a wrong value here.
    """
    actual_arr = _as_numbers(actual, call, section)
    expected_arr = np.asarray(_plain(expected), dtype=np.float64)
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(
            f"{call} returned shape {actual_arr.shape}, expected shape {expected_arr.shape}: "
            f"the result has the shape of the input (no reduction, no flattening). "
            f"See {section}."
        )
    bad = ~np.isclose(actual_arr, expected_arr, rtol=rtol, atol=atol)
    if not bad.any():
        return
    index = tuple(np.argwhere(bad)[0]) if actual_arr.ndim else ()
    got, want = actual_arr[index], expected_arr[index]
    inputs = ""
    for name, value in (given or {}).items():
        value = np.broadcast_to(np.asarray(value), expected_arr.shape)
        inputs += f"{', ' if inputs else ' for '}{name} = {_num(value[index])}"
    count = f" ({int(bad.sum())} of {bad.size} values differ)" if bad.size > 1 else ""
    if not np.isfinite(got):
        hint = (
            f"{_num(got)} comes from an overflow, 0/0 or inf - inf: evaluate each branch only "
            "where it applies (np.where computes both branches everywhere)."
        )
    raise AssertionError(
        f"{call} is wrong{_where(index, actual_arr.shape)}{inputs}: expected {_num(want)}, "
        f"got {_num(got)}{count}.{' ' + hint if hint else ''} See {section}."
    )


def check_array(actual, *, like, call, section):
    """Fail unless ``actual`` is a numpy array with the shape and dtype of ``like``."""
    like = np.asarray(like)
    if not isinstance(actual, np.ndarray):
        raise AssertionError(
            f"{call} returned a {type(actual).__name__}, expected a numpy array of shape "
            f"{like.shape} and dtype {like.dtype}: wrap a scalar result with np.asarray(..., "
            f"dtype=x.dtype). See {RULES}."
        )
    if actual.shape != like.shape:
        raise AssertionError(
            f"{call} returned shape {actual.shape}, expected {like.shape} (the input's shape). "
            f"See {section}."
        )
    if actual.dtype != like.dtype:
        raise AssertionError(
            f"{call} returned dtype {actual.dtype}, expected {like.dtype}: float32 in, float32 "
            "out. A np.float64 constant, np.zeros(shape) without dtype=, np.sqrt(2.0) or "
            f".astype(float) turns float32 into float64 under NumPy 2. See {RULES}."
        )


def check_unchanged(before, after, *, name, call, section):
    """Fail if the argument ``name`` was modified in place by ``call``."""
    before, after = _plain(before), _plain(after)
    if before.shape == after.shape and np.array_equal(before, after, equal_nan=True):
        return
    index = tuple(np.argwhere(before != after)[0]) if before.shape == after.shape else ()
    change = (
        f": {name}{_where(index, before.shape)} was {_num(before[index])} before the call and "
        f"is {_num(after[index])} after it"
        if before.shape == after.shape
        else ""
    )
    raise AssertionError(
        f"{call} modified its argument {name} in place{change}. Build a new array "
        f"(dx = dout * mask), never write into an input (dout[...] = 0, dout *= ...). "
        f"See {section}."
    )


def _first(value):
    """dx from what a backward pass returns (dx alone, or a tuple that starts with dx)."""
    return value[0] if isinstance(value, tuple | list) else value


def check_forward_rules(forward, x, *, params=(), elementwise=True):
    """What every forward pass keeps, on the float32 array ``x`` (2-d): a read-only x works
    and stays unchanged; out has x's shape and dtype; for elementwise layers a 0-d x and a
    transposed (non-contiguous) x work too."""
    name = forward.__name__
    x = np.array(x, dtype=np.float32)
    x.setflags(write=False)
    before = x.copy()
    call = f"{name}(x{', ...' if params else ''}) for the read-only float32 x = {_nums(x)}"
    try:
        out, _ = forward(x, *params)
    except ValueError as exc:
        if "read-only" not in str(exc):
            raise
        raise AssertionError(f"{call} raised {exc}: it writes into x. See {RULES}.") from None
    check_unchanged(before, x, name="x", call=call, section=RULES)
    if not elementwise:  # out has its own shape; it still has x's dtype
        check_array(out, like=np.zeros(np.shape(out), x.dtype), call=call, section=RULES)
        return
    check_array(out, like=x, call=call, section=RULES)
    zero_d = np.array(x.flat[0], dtype=np.float32)
    call = f"{name}(x) for the 0-d float32 x = np.array({_num(zero_d)}, dtype=np.float32)"
    check_array(np.asarray(forward(zero_d, *params)[0]), like=zero_d, call=call, section=RULES)
    call = f"{name}(x.T) for a transposed (non-contiguous) float32 x of shape {x.T.shape}"
    out_t, _ = forward(x.T, *params)
    check_array(out_t, like=x.T, call=call, section=RULES)
    check_close(out_t, np.asarray(out).T, call=call, section=RULES, rtol=0, atol=0)


def check_backward_rules(forward, backward, x, *, params=(), section):
    """What every backward pass keeps, on the float32 array ``x`` (2-d): dout unchanged, dx of
    x's shape and dtype, the same dx when called twice, a broadcast (read-only) dout works."""
    x = np.array(x, dtype=np.float32)
    out, cache = forward(x, *params)
    shape = np.shape(out)
    dout = np.linspace(-1.5, 2.5, math.prod(shape), dtype=np.float32).reshape(shape)
    dout_before = dout.copy()
    call = f"{backward.__name__}(dout, cache) for float32 x = {_nums(x)}, dout = {_nums(dout)}"
    dx = _first(backward(dout, cache))
    check_unchanged(dout_before, dout, name="dout", call=call, section=section)
    check_array(dx, like=x, call=call, section=RULES)
    again = _first(backward(dout, cache))
    check_close(again, dx, call=call + " called a second time", section=section, rtol=0, atol=0)
    row = np.broadcast_to(dout[:1], dout.shape)
    call = f"{backward.__name__}(dout, cache) for a broadcast (read-only) dout"
    try:
        dx_row = _first(backward(row, cache))
    except ValueError as exc:
        raise AssertionError(
            f"{call} raised {exc}: never write into dout. See {section}."
        ) from None
    expected_row = _first(backward(np.array(row), cache))
    check_close(dx_row, expected_row, call=call, section=section, rtol=0, atol=0)


_LOOPS = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def check_vectorized(name, *, section):
    """Fail if the student's function ``name`` loops in Python (for, while, comprehensions)."""
    found = [
        node
        for tree in _syntax_trees(student_code())
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    loops = [n for n in ast.walk(found[-1]) if isinstance(n, _LOOPS)] if found else []
    if loops:
        raise AssertionError(
            f"{name} runs a Python loop ({type(loops[0]).__name__} on line {loops[0].lineno} of "
            "its cell): answers are vectorized numpy, which works on whole arrays at once "
            f"(comparisons, np.sum, np.any and their axis= argument). See {section}."
        )


def _snapshot(value):
    """A copy of the arrays in ``value`` (also inside tuples, lists and dicts); None if none."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, tuple | list):
        return [_snapshot(v) for v in value]
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return None


def _unchanged(before, after):
    if isinstance(before, np.ndarray):
        return (
            isinstance(after, np.ndarray)
            and before.shape == after.shape
            and np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")
        )
    if isinstance(before, list):
        return len(before) == len(after) and all(map(_unchanged, before, after))
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(
            _unchanged(before[k], after[k]) for k in before
        )
    return True


def _guarded(function, name):
    def guarded(*args, **kwargs):
        given = [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())
        copies = [(label, _snapshot(value), value) for label, value in given]
        result = function(*args, **kwargs)
        for label, before, value in copies:
            if not _unchanged(before, value):
                raise AssertionError(
                    f"{name} modified its {label} in place (an array it was given, or one "
                    f"inside its cache): never write into an input. See {RULES}."
                )
        return result

    guarded.__name__ = guarded.__qualname__ = name
    return guarded


class inputs_guarded:
    """Within this block, calling one of the functions ``names`` (looked up in ``namespace``)
    fails if the call changes an array it was given: the checks copy every input before the
    call, so an answer that overwrites its inputs cannot make them agree with it."""

    def __init__(self, namespace, *names):
        self.namespace, self.names = namespace, names

    def __enter__(self):
        self.saved = {n: self.namespace[n] for n in self.names if n in self.namespace}
        for name, function in self.saved.items():
            self.namespace[name] = _guarded(function, name)
        return self

    def __exit__(self, kind, exc, traceback):
        self.namespace.update(self.saved)
        return False


_WARNING_HINTS = {
    "overflow": "a huge intermediate (exp or cosh of a large argument, x**2 of a large x): "
    "compute it only where the argument is small, e.g. np.exp(np.minimum(x, 0)), "
    "np.logaddexp or scipy.special",
    "invalid value": "0/0, inf - inf, 0 * inf or a root or log of a negative number: mask the "
    "input before the operation, not its result afterwards",
    "divide by zero": "a division by zero or log(0): evaluate it only where the argument is "
    "nonzero (np.divide(..., where=...) or a masked input)",
    "underflow": "an underflow: use a formula that does not form the tiny intermediate",
}


def _warning_message(call, warning, section):
    text = str(warning)
    hint = next(
        (h for key, h in _WARNING_HINTS.items() if key in text),
        "write the code so that it warns on no finite input",
    )
    return (
        f"{call} printed the warning '{type(warning).__name__}: {text}'. Grading counts a "
        f"printed warning as a failed check: {hint}. See {section}."
    )


_SILENCED = (
    "a silenced warning is still an out-of-domain evaluation: evaluate each branch only where "
    "it applies"
)


@contextlib.contextmanager
def no_warnings(call, section):
    """Turn numpy's overflow and invalid-value warnings into a failure naming ``call``.

    Code that switches warnings off (np.errstate, np.seterr, warnings filters) fails too.
    """
    silenced = silenced_warnings(call)
    if silenced:
        raise AssertionError(
            f"{call}: your code switches warnings off ({', '.join(silenced)}): {_SILENCED}. "
            f"Remove it, restart the kernel and Run All. See {RULES}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            yield
        except (RuntimeWarning, FloatingPointError) as exc:
            raise AssertionError(_warning_message(call, exc, section)) from None


#: Every visible check run so far: grade_id -> (part, points, passed, section).
_VERDICTS = {}


def _part(grade_id):
    for cut in ("_forward_", "_backward_"):
        if cut in grade_id:
            return grade_id.split(cut)[0]
    return grade_id.rsplit("_", 1)[0]


def _exception_message(exc):
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError):
        return "not answered yet: replace the line raise NotImplementedError() in the answer cell"
    if isinstance(exc, ValueError) and "read-only" in str(exc):
        return f"your code raised {text}: it writes into an input array; build a new array"
    if isinstance(exc, ValueError | TypeError) and "unpack" in str(exc):
        return f"your code raised {text}: NAME_forward returns a pair (out, cache)"
    if isinstance(exc, NameError):
        return (
            f"{text}: run the cells above first; a backward function reads only its "
            "arguments (keep what it needs in the cache)"
        )
    return f"your code raised {text}"


class try_it:
    """Run a "try it" cell without stopping Run All where an answer is not written yet."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if isinstance(exc, Exception):
            print(f"(this cell stopped: {_exception_message(exc)})")
            return True
        return False


class visible_check:
    """Run one test cell's visible checks and show the verdict without stopping "Run All".

    In a notebook kernel (Jupyter, Colab, nbgrader) a failure (a failed check, an exception
    from the answer, or a printed warning) is printed on stderr, which is what grading counts as
    a failed test cell, and recorded for summary(). In the course grader (no kernel) it only
    records: failures propagate, and the grader counts the warnings the answer printed.
    """

    def __init__(self, grade_id, *, points, section, part=None):
        self.grade_id, self.points, self.section = grade_id, points, section
        self.part = part or _part(grade_id)

    def __enter__(self):
        self._started = time.process_time()
        self._catcher, self._caught = None, []
        if _in_a_kernel():
            self._catcher = warnings.catch_warnings(record=True)
            self._caught = self._catcher.__enter__()
            warnings.simplefilter("always", RuntimeWarning)
        return self

    def __exit__(self, kind, exc, traceback):
        if self._catcher is not None:
            self._catcher.__exit__(None, None, None)
        self.seconds = time.process_time() - self._started  # CPU time, for the timing test
        if exc is not None and not isinstance(exc, Exception):
            return False  # KeyboardInterrupt and the like stop the run
        if exc is None and self._caught:
            message = _warning_message(
                f"code run by {self.grade_id}", self._caught[0].message, self.section
            )
        elif isinstance(exc, AssertionError):
            message = str(exc) or "a check failed"
        elif exc is not None:
            message = f"{_exception_message(exc)}. See {self.section}."
        else:
            message = None
        _VERDICTS[self.grade_id] = (self.part, self.points, message is None, self)
        if not _in_a_kernel():
            return False  # the course grader: a failure propagates and scores the test 0
        points = f"{self.points:g} point{'s' if self.points != 1 else ''}"
        if message is not None:
            print(f"FAILED {self.grade_id} ({points}): {message}", file=sys.stderr)
        else:
            print(f"passed {self.grade_id} ({points} at stake in the hidden checks too)")
        return True


def summary():
    """What the visible checks found so far, part by part, and what to reread."""
    if not _VERDICTS:
        print("No visible check has run yet: run all cells (Run All) first.")
        return
    parts = {}
    for part, points, passed, check in _VERDICTS.values():
        entry = parts.setdefault(part, [0, 0, 0.0, 0.0, []])
        entry[0] += passed
        entry[1] += 1
        entry[2] += points
        if not passed:
            entry[3] += points
            entry[4].append(check)
    passed = sum(p for _, _, p, _ in _VERDICTS.values())
    print(f"Visible checks passed: {passed} of {len(_VERDICTS)}.")
    for part, (ok, total, points, at_stake, failed) in parts.items():
        line = f"  {part}: {ok} of {total} checks passed"
        if failed:
            names = ", ".join(c.grade_id for c in failed)
            line += f"; {at_stake:g} of {points:g} points at stake ({names})"
        print(line)
    reread = {}
    for _, _, ok, check in _VERDICTS.values():
        if not ok:
            reread.setdefault(check.section, []).append(check.grade_id)
    if reread:
        print("Reread before you submit:")
        for section, ids in reread.items():
            print(f"  - {section} (for {', '.join(ids)})")
    print(
        "After you submit, hidden checks in the same cells test more inputs: passing every "
        "visible check is necessary, not sufficient."
    )
