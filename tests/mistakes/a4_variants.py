"""Mistakes a student makes in a4_variants, written as the student wrote them.

Each entry: ``code`` replaces the reference definitions of the same names (tests/mutation.py),
``flagged_by`` is the visible check that reports it before submission (None: only grading sees
it). tests/test_mistakes.py proves each claim.
"""

MISTAKES = {
    "leaky_relu_slope_one_at_zero": {
        "flagged_by": "leaky_relu_kink",
        "code": """
def leaky_relu_backward(dout, cache):
    x, negative_slope = cache
    return np.where(x >= 0, dout, negative_slope * dout)
""",
    },
    "leaky_relu_keras_default_slope": {
        "flagged_by": "leaky_relu_values",
        "code": """
def leaky_relu_forward(x, negative_slope=0.3):
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)
""",
    },
    "leaky_relu_backward_scales_dout_in_place": {
        "flagged_by": "leaky_relu_robust",
        "code": """
def leaky_relu_backward(dout, cache):
    x, negative_slope = cache
    dout[x <= 0] *= negative_slope
    return dout
""",
    },
    "prelu_alpha_on_the_last_axis": {
        "flagged_by": "prelu_values",
        "code": """
def prelu_forward(x, alpha):
    out = np.where(x > 0, x, alpha * x)
    return out, (x, alpha)


def prelu_backward(dout, cache):
    x, alpha = cache
    dx = np.where(x > 0, dout, alpha * dout)
    dalpha = np.where(x > 0, 0, x * dout).reshape(-1, alpha.size).sum(axis=0)
    return dx, dalpha.astype(alpha.dtype)
""",
    },
    "prelu_dalpha_summed_over_batch_only": {
        "flagged_by": "prelu_backward",
        "code": """
def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = np.where(x > 0, dout, a * dout)
    per_element = np.where(x > 0, 0, x * dout)
    if alpha.size > 1:
        dalpha = per_element.sum(axis=0)
    else:
        dalpha = per_element.sum().reshape(alpha.shape)
    return dx, dalpha.astype(alpha.dtype, copy=False)
""",
    },
    "rrelu_draws_only_for_negative_entries": {
        "flagged_by": "rrelu_training",
        "code": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    negative = x <= 0
    if training:
        slope = np.ones_like(x)
        slope[negative] = rng.uniform(lower, upper, size=int(negative.sum()))
    else:
        slope = (lower + upper) / 2
    out = np.where(negative, slope * x, x)
    return out, (x, slope)
""",
    },
    "rrelu_eval_uses_lower": {
        "flagged_by": "rrelu_eval",
        "code": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        slope = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
    else:
        slope = lower
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    },
    "rrelu_one_slope_for_the_batch": {
        "flagged_by": "rrelu_training",
        "code": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        slope = rng.uniform(lower, upper)
    else:
        slope = (lower + upper) / 2
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    },
    "elu_gradient_one_at_zero": {
        "flagged_by": "elu_kink",
        "code": """
def elu_backward(dout, cache):
    x, alpha = cache
    return np.where(x >= 0, dout, alpha * np.exp(np.minimum(x, 0)) * dout)
""",
    },
    "elu_exp_overflows_in_np_where": {
        "flagged_by": "elu_robust",
        "code": """
def elu_forward(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1)), (x, alpha)
""",
    },
    "elu_overflow_silenced_with_errstate": {
        "flagged_by": "elu_robust",
        "code": """
def elu_forward(x, alpha=1.0):
    with np.errstate(over="ignore"):
        out = np.where(x > 0, x, alpha * np.expm1(x))
    return out, (x, alpha)
""",
    },
    "selu_constants_from_the_paper_rounded": {
        "flagged_by": "selu_values",
        "code": """
def selu_forward(x):
    alpha, scale = 1.6733, 1.0507
    out = scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, alpha, scale)
""",
    },
    "celu_written_as_elu": {
        "flagged_by": "celu_values",
        "code": """
def celu_forward(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), (x, alpha)
""",
    },
    "celu_float64_alpha": {
        "flagged_by": "celu_robust",
        "code": """
def celu_forward(x, alpha=1.0):
    a = np.float64(alpha)
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0) / a)), (x, alpha)
""",
    },
    "gelu_ignores_tanh_approximation": {
        "flagged_by": "gelu_values",
        "code": """
def gelu_forward(x, approximate="none"):
    return 0.5 * x * scipy.special.erfc(-x / math.sqrt(2)), (x, approximate, None)
""",
    },
    "silu_sigmoid_overflows": {
        "flagged_by": "silu_robust",
        "code": """
def silu_forward(x):
    s = 1 / (1 + np.exp(-x))
    return x * s, (x, s)
""",
    },
    "mish_softplus_overflows": {
        "flagged_by": "mish_robust",
        "code": """
def mish_forward(x):
    t = np.tanh(np.log(1 + np.exp(x)))
    return x * t, (x, t)
""",
    },
    "softplus_beta_forgotten_in_backward": {
        "flagged_by": "softplus_backward",
        "code": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    out = np.where(z > threshold, x, np.logaddexp(0, z) / beta)
    return out, (x, z, threshold)


def softplus_backward(dout, cache):
    x, z, threshold = cache
    return np.where(z > threshold, dout, scipy.special.expit(x) * dout)
""",
    },
    "threshold_keeps_x_at_the_threshold": {
        "flagged_by": "threshold_kink",
        "code": """
def threshold_forward(x, threshold, value):
    keep = x >= threshold
    return np.where(keep, x, value), keep
""",
    },
    "relu6_gradient_one_at_six": {
        "flagged_by": "relu6_kink",
        "code": """
def relu6_backward(dout, cache):
    x = cache
    return np.where((x > 0) & (x <= 6), dout, 0)
""",
    },
    "hardswish_gradient_at_three": {
        "flagged_by": "hardswish_kink",
        "code": """
def hardswish_backward(dout, cache):
    x = cache
    middle = np.where(x <= 3, (2 * x + 3) / 6 * dout, dout)
    return np.where(x <= -3, 0, middle)
""",
    },
    "hardswish_backward_reads_global_x": {
        "flagged_by": "hardswish_robust",
        "code": """
def hardswish_forward(x):
    return x * np.clip(x + 3, 0, 6) / 6, None


def hardswish_backward(dout, cache):
    middle = np.where(x < 3, (2 * x + 3) / 6 * dout, dout)
    return np.where(x <= -3, 0, middle)
""",
    },
    "softplus_without_the_linear_region": {
        "flagged_by": "softplus_values",
        "code": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.logaddexp(0, z) / beta, (z, threshold)


def softplus_backward(dout, cache):
    z, threshold = cache
    return scipy.special.expit(z) * dout
""",
    },
    "gelu_tanh_backward_uses_the_exact_derivative": {
        "flagged_by": "gelu_backward",
        "code": """
def gelu_backward(dout, cache):
    x, approximate, t = cache
    cdf = 0.5 * scipy.special.erfc(-x / math.sqrt(2))
    xc = np.clip(x, -40, 40)
    pdf = np.exp(-0.5 * xc * xc) / math.sqrt(2 * math.pi)
    return dout * (cdf + x * pdf)
""",
    },
    "hardswish_float64_sixth": {
        "flagged_by": "hardswish_robust",
        "code": """
def hardswish_forward(x):
    return x * np.clip(x + 3, 0, 6) * np.float64(1 / 6), x
""",
    },
}
