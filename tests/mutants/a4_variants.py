"""Plausible wrong answers (MUTANTS) and correct alternatives (ALTERNATIVES) for a4_variants.

Each entry replaces the named definitions of the reference solution (see tests/mutation.py).
A replaced backward function receives the reference forward's cache, whose layout is:
leaky_relu (x, negative_slope); prelu (x, alpha, alpha reshaped for broadcasting);
rrelu (x, slope); elu and celu (x, alpha); selu (x, alpha, scale); gelu (x, approximate, t);
silu (x, sigmoid(x)); mish (x, tanh(softplus(x))); softplus (beta * x, threshold);
threshold (the mask x > threshold); relu6 and hardswish x.
"""

MUTANTS = {
    # ------------------------------------------------------------------ Leaky ReLU
    "leaky_relu_backward_gradient_one_at_zero": """
def leaky_relu_backward(dout, cache):
    x, negative_slope = cache
    return np.where(x >= 0, dout, negative_slope * dout)
""",
    "leaky_relu_forward_float64_slope_upcasts": """
def leaky_relu_forward(x, negative_slope=0.01):
    s = np.float64(negative_slope)
    return np.where(x > 0, x, s * x), (x, s)
""",
    "leaky_relu_keras_default_slope_0_3": """
def leaky_relu_forward(x, negative_slope=0.3):
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)
""",
    "leaky_relu_forward_writes_into_x": """
def leaky_relu_forward(x, negative_slope=0.01):
    out = x
    out[x < 0] *= negative_slope
    return out, (x.copy(), negative_slope)
""",
    "leaky_relu_backward_seed_inplace_dout": """
def leaky_relu_backward(dout, cache):
    x, negative_slope = cache
    dx = dout
    dx[x <= 0] *= negative_slope
    return dx
""",
    # ------------------------------------------------------------------ PReLU
    "prelu_dalpha_summed_over_axis0_only": """
def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = np.where(x > 0, dout, a * dout)
    per_element = np.where(x > 0, 0, x * dout)
    if alpha.size > 1:
        return dx, per_element.sum(axis=0)
    return dx, per_element.sum().reshape(alpha.shape)
""",
    "prelu_dalpha_mean_instead_of_sum": """
def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = np.where(x > 0, dout, a * dout)
    per_element = np.where(x > 0, 0, x * dout)
    if alpha.size > 1:
        axes = tuple(i for i in range(x.ndim) if i != 1)
        return dx, per_element.mean(axis=axes)
    return dx, per_element.mean().reshape(alpha.shape)
""",
    "prelu_alpha_broadcast_on_last_axis": """
def prelu_forward(x, alpha):
    a = alpha if alpha.size > 1 else alpha.reshape(())
    return np.where(x > 0, x, a * x), (x, alpha, a)
""",
    "prelu_dalpha_uses_x_not_min_x_0": """
def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = np.where(x > 0, dout, a * dout)
    per_element = x * dout
    if alpha.size > 1:
        axes = tuple(i for i in range(x.ndim) if i != 1)
        return dx, per_element.sum(axis=axes)
    return dx, per_element.sum().reshape(alpha.shape)
""",
    "prelu_dalpha_forgets_dout": """
def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = np.where(x > 0, dout, a * dout)
    per_element = np.minimum(x, 0)
    if alpha.size > 1:
        axes = tuple(i for i in range(x.ndim) if i != 1)
        return dx, per_element.sum(axis=axes)
    return dx, per_element.sum().reshape(alpha.shape)
""",
    "prelu_backward_gradient_one_at_zero": """
def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = np.where(x >= 0, dout, a * dout)
    per_element = np.where(x > 0, 0, x * dout)
    if alpha.size > 1:
        axes = tuple(i for i in range(x.ndim) if i != 1)
        return dx, per_element.sum(axis=axes)
    return dx, per_element.sum().reshape(alpha.shape)
""",
    # ------------------------------------------------------------------ RReLU
    "rrelu_one_slope_per_call": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        rng = np.random.default_rng() if rng is None else rng
        slope = rng.uniform(lower, upper)
    else:
        slope = (lower + upper) / 2
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    "rrelu_paper_divisor_u3_8": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        rng = np.random.default_rng() if rng is None else rng
        slope = (1 / rng.uniform(1 / upper, 1 / lower, size=x.shape)).astype(x.dtype)
    else:
        slope = 2 / (1 / lower + 1 / upper)
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    "rrelu_eval_still_random": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    slope = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    "rrelu_training_gradient_uses_mean_slope": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        rng = np.random.default_rng() if rng is None else rng
        slope = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
    else:
        slope = (lower + upper) / 2
    return np.where(x > 0, x, slope * x), (x, (lower + upper) / 2)
""",
    "rrelu_slopes_drawn_for_negatives_only": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    slope = np.full(x.shape, (lower + upper) / 2, dtype=x.dtype)
    if training:
        rng = np.random.default_rng() if rng is None else rng
        neg = x <= 0
        slope[neg] = rng.uniform(lower, upper, size=int(neg.sum()))
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    "rrelu_training_slopes_float64_upcast": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        rng = np.random.default_rng() if rng is None else rng
        slope = rng.uniform(lower, upper, size=x.shape)
    else:
        slope = (lower + upper) / 2
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    "rrelu_training_ignores_given_rng": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        slope = np.random.default_rng().uniform(lower, upper, size=x.shape).astype(x.dtype)
    else:
        slope = (lower + upper) / 2
    return np.where(x > 0, x, slope * x), (x, slope)
""",
    # ------------------------------------------------------------------ ELU
    "elu_backward_gradient_one_at_zero": """
def elu_backward(dout, cache):
    x, alpha = cache
    return np.where(x >= 0, dout, alpha * np.exp(np.minimum(x, 0)) * dout)
""",
    "elu_backward_forgot_alpha": """
def elu_backward(dout, cache):
    x, alpha = cache
    return np.where(x > 0, dout, np.exp(np.minimum(x, 0)) * dout)
""",
    "elu_forward_mask_multiply_exp_overflows": """
def elu_forward(x, alpha=1.0):
    return x * (x > 0) + alpha * (np.exp(x) - 1) * (x <= 0), (x, alpha)
""",
    "elu_forward_where_unclamped_exp_warns": """
def elu_forward(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1)), (x, alpha)
""",
    # ------------------------------------------------------------------ SELU
    "selu_five_digit_constants": """
def selu_forward(x):
    alpha, scale = 1.67326, 1.0507
    out = scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, alpha, scale)
""",
    "selu_float32_rounded_constants": """
def selu_forward(x):
    alpha, scale = 1.6732632, 1.050701
    out = scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, alpha, scale)
""",
    "selu_backward_scale_at_zero": """
def selu_backward(dout, cache):
    x, alpha, scale = cache
    return scale * np.where(x >= 0, dout, alpha * np.exp(np.minimum(x, 0)) * dout)
""",
    "selu_backward_forgot_scale_on_negative_side": """
def selu_backward(dout, cache):
    x, alpha, scale = cache
    return np.where(x > 0, scale * dout, alpha * np.exp(np.minimum(x, 0)) * dout)
""",
    # ------------------------------------------------------------------ CELU
    "celu_forward_is_elu": """
def celu_forward(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), (x, alpha)
""",
    "celu_backward_extra_alpha_factor": """
def celu_backward(dout, cache):
    x, alpha = cache
    return np.where(x > 0, dout, alpha * np.exp(np.minimum(x, 0) / alpha) * dout)
""",
    "celu_backward_exp_without_division": """
def celu_backward(dout, cache):
    x, alpha = cache
    return np.where(x > 0, dout, np.exp(np.minimum(x, 0)) * dout)
""",
    # ------------------------------------------------------------------ GELU
    "gelu_tanh_form_passed_off_as_exact": """
def gelu_forward(x, approximate="none"):
    t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
    return 0.5 * x * (1 + t), (x, "tanh", t)
""",
    "gelu_backward_missing_x_phi_term": """
def gelu_backward(dout, cache):
    x, approximate, t = cache
    if approximate == "tanh":
        du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    return dout * 0.5 * scipy.special.erfc(-x / math.sqrt(2))
""",
    "gelu_sigmoid_1702_approximation": """
def gelu_forward(x, approximate="none"):
    if approximate == "tanh":
        t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + t), (x, approximate, t)
    return x * scipy.special.expit(1.702 * x), (x, approximate, None)
""",
    "gelu_np_sqrt2_upcasts_float32": """
def gelu_forward(x, approximate="none"):
    if approximate == "tanh":
        t = np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + t), (x, approximate, t)
    return 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2))), (x, approximate, None)
""",
    "gelu_tanh_backward_missing_3_factor": """
def gelu_backward(dout, cache):
    x, approximate, t = cache
    if approximate == "tanh":
        du = math.sqrt(2 / math.pi) * (1 + 0.044715 * x * x)
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    cdf = 0.5 * scipy.special.erfc(-x / math.sqrt(2))
    pdf = np.exp(-0.5 * np.minimum(x * x, 2000)) / math.sqrt(2 * math.pi)
    return dout * (cdf + x * pdf)
""",
    # ------------------------------------------------------------------ SiLU
    "silu_forward_naive_exp_ratio_overflows": """
def silu_forward(x):
    e = np.exp(x)
    s = e / (1 + e)
    return x * s, (x, s)
""",
    "silu_backward_sigmoid_derivative": """
def silu_backward(dout, cache):
    x, s = cache
    return dout * s * (1 - s)
""",
    "silu_backward_forgot_product_rule": """
def silu_backward(dout, cache):
    x, s = cache
    return dout * s
""",
    # ------------------------------------------------------------------ Mish
    "mish_backward_closed_form_exp3x_overflows": """
def mish_backward(dout, cache):
    x, t = cache
    e = np.exp(x)
    omega = 4 * (x + 1) + 4 * np.exp(2 * x) + np.exp(3 * x) + e * (4 * x + 6)
    delta = 2 * e + np.exp(2 * x) + 2
    return dout * e * omega / delta**2
""",
    "mish_backward_forgot_sigmoid_factor": """
def mish_backward(dout, cache):
    x, t = cache
    return dout * (t + x * (1 - t * t))
""",
    "mish_forward_naive_softplus_overflows": """
def mish_forward(x):
    t = np.tanh(np.log1p(np.exp(x)))
    return x * t, (x, t)
""",
    # ------------------------------------------------------------------ Softplus
    "softplus_forward_naive_log_exp_overflows": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z > threshold, x, np.log(1 + np.exp(z)) / beta), (z, threshold)
""",
    "softplus_backward_ignores_beta": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    out = np.where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)
    return out, (x, beta, threshold)


def softplus_backward(dout, cache):
    x, beta, threshold = cache
    return np.where(beta * x > threshold, dout, scipy.special.expit(x) * dout)
""",
    "softplus_forward_forgot_division_by_beta": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z > threshold, x, np.logaddexp(0, z)), (z, threshold)
""",
    "softplus_threshold_ge_instead_of_gt": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z >= threshold, x, np.logaddexp(0, z) / beta), (z, threshold)
""",
    "softplus_no_linear_region": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.logaddexp(0, z) / beta, (z, np.inf)
""",
    "softplus_threshold_compares_x_not_beta_x": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    out = np.where(x > threshold, x, np.logaddexp(0, beta * x) / beta)
    return out, (x, beta, threshold)


def softplus_backward(dout, cache):
    x, beta, threshold = cache
    return np.where(x > threshold, dout, scipy.special.expit(beta * x) * dout)
""",
    # ------------------------------------------------------------------ Threshold
    "threshold_forward_ge_instead_of_gt": """
def threshold_forward(x, threshold, value):
    keep = x >= threshold
    return np.where(keep, x, value), keep
""",
    "threshold_forward_ignores_value": """
def threshold_forward(x, threshold, value):
    keep = x > threshold
    return np.where(keep, x, 0), keep
""",
    "threshold_backward_ignores_dout": """
def threshold_backward(dout, cache):
    return cache.astype(dout.dtype)
""",
    # ------------------------------------------------------------------ ReLU6
    "relu6_backward_inclusive_at_zero": """
def relu6_backward(dout, cache):
    x = cache
    return np.where((x >= 0) & (x < 6), dout, 0)
""",
    "relu6_backward_inclusive_at_six": """
def relu6_backward(dout, cache):
    x = cache
    return np.where((x > 0) & (x <= 6), dout, 0)
""",
    "relu6_forward_forgot_cap": """
def relu6_forward(x):
    return np.maximum(x, 0), x
""",
    "relu6_backward_seed_inplace_dout": """
def relu6_backward(dout, cache):
    x = cache
    dx = dout
    dx[(x <= 0) | (x >= 6)] = 0
    return dx
""",
    # ------------------------------------------------------------------ Hardswish
    "hardswish_backward_middle_branch_at_minus_3": """
def hardswish_backward(dout, cache):
    x = cache
    middle = np.where(x < 3, (2 * x + 3) / 6 * dout, dout)
    return np.where(x < -3, 0, middle)
""",
    "hardswish_backward_middle_branch_at_plus_3": """
def hardswish_backward(dout, cache):
    x = cache
    middle = np.where(x <= 3, (2 * x + 3) / 6 * dout, dout)
    return np.where(x <= -3, 0, middle)
""",
    "hardswish_backward_forgot_product_rule": """
def hardswish_backward(dout, cache):
    x = cache
    middle = np.where(x < 3, (x + 3) / 6 * dout, dout)
    return np.where(x <= -3, 0, middle)
""",
    # --- issue 10: checks that hold without trusting the student's code -------------------
    "elu_forward_overwrites_large_inputs": """
def elu_forward(x, alpha=1.0):
    if x.size > 20 and x.flags.writeable:
        x[...] = 0
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), (x, alpha)
""",
    "silu_backward_overwrites_large_dout": """
def silu_backward(dout, cache):
    x, s = cache
    if dout.size > 20 and dout.flags.writeable:
        dout[...] = 0
        return np.zeros_like(dout)
    return dout * (s * (1 + x * (1 - s)))
""",
    "elu_forward_errstate_silenced": """
def elu_forward(x, alpha=1.0):
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(x > 0, x, alpha * np.expm1(x))
    return out, (x, alpha)
""",
    "softplus_forward_seterr_silenced": """
np.seterr(over="ignore")


def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    out = np.where(z > threshold, x, np.log1p(np.exp(z)) / beta)
    return out, (z, threshold)
""",
}

ALTERNATIVES = {
    "leaky_relu_maximum_form": """
def leaky_relu_forward(x, negative_slope=0.01):
    return np.maximum(x, negative_slope * x), (x > 0, negative_slope)


def leaky_relu_backward(dout, cache):
    positive, negative_slope = cache
    return dout * np.where(positive, 1, negative_slope).astype(dout.dtype)
""",
    "elu_gradient_from_output": """
def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x > 0, out, alpha)


def elu_backward(dout, cache):
    positive, out, alpha = cache
    return np.where(positive, dout, (out + alpha) * dout)
""",
    "softplus_log1p_form": """
def softplus_forward(x, beta=1.0, threshold=20.0):
    z = beta * x
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, x, smooth), (z, threshold)


def softplus_backward(dout, cache):
    z, threshold = cache
    e = np.exp(-np.abs(z))
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return np.where(z > threshold, dout, sig * dout)
""",
    "mish_rational_tanh_of_softplus": """
def mish_forward(x):
    # tanh(ln(1 + e^x)) = n / (n + 2) with n = e^x (e^x + 2); equal to 1 in floats beyond x = 20
    e = np.exp(np.minimum(x, 20))
    n = e * (e + 2)
    t = n / (n + 2)
    return x * t, (x, t)


def mish_backward(dout, cache):
    x, t = cache
    return dout * (t + x * (1 - t * t) * scipy.special.expit(x))
""",
    "gelu_erf_with_math_sqrt": """
def gelu_forward(x, approximate="none"):
    if approximate == "tanh":
        t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + t), (x, approximate, t)
    return 0.5 * x * (1 + scipy.special.erf(x / math.sqrt(2))), (x, approximate, None)


def gelu_backward(dout, cache):
    x, approximate, t = cache
    if approximate == "tanh":
        du = math.sqrt(2 / math.pi) * (1 + 0.134145 * x * x)
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    phi = np.exp(-0.5 * np.minimum(x * x, 1e4)) / math.sqrt(2 * math.pi)
    return dout * (0.5 * (1 + scipy.special.erf(x / math.sqrt(2))) + x * phi)
""",
    "prelu_moveaxis_reshape_sum": """
def prelu_forward(x, alpha):
    a = alpha.reshape((1, -1) + (1,) * (x.ndim - 2)) if alpha.size > 1 else alpha[0]
    return np.maximum(x, 0) + a * np.minimum(x, 0), (x, alpha, a)


def prelu_backward(dout, cache):
    x, alpha, a = cache
    dx = dout * np.where(x > 0, 1, a)
    g = np.minimum(x, 0) * dout
    if alpha.size > 1:
        dalpha = np.moveaxis(g, 1, 0).reshape(alpha.size, -1).sum(axis=1)
    else:
        dalpha = np.atleast_1d(g.sum())
    return dx, dalpha.astype(alpha.dtype)
""",
    "silu_stable_sigmoid_by_hand": """
def silu_forward(x):
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return x * s, (x, s)
""",
    "threshold_copy_and_mask": """
def threshold_forward(x, threshold, value):
    out = np.array(x, copy=True)
    out[~(x > threshold)] = value
    return out, x > threshold


def threshold_backward(dout, cache):
    dx = np.array(dout, copy=True)
    dx[~cache] = 0
    return dx
""",
    "relu6_clip_and_mask_product": """
def relu6_forward(x):
    return np.clip(x, 0, 6), x


def relu6_backward(dout, cache):
    x = cache
    return dout * ((x > 0) & (x < 6))
""",
    "hardswish_piecewise_where": """
def hardswish_forward(x):
    return np.where(x <= -3, 0, np.where(x >= 3, x, x * (x + 3) / 6)), x


def hardswish_backward(dout, cache):
    x = cache
    return dout * np.where(x <= -3, 0, np.where(x >= 3, 1, x / 3 + 0.5))
""",
    "rrelu_slopes_everywhere_via_mask": """
def rrelu_forward(x, lower=1 / 8, upper=1 / 3, training=False, rng=None):
    if training:
        rng = np.random.default_rng() if rng is None else rng
        slope = np.asarray(rng.uniform(lower, upper, size=x.shape), dtype=x.dtype)
    else:
        slope = np.asarray((lower + upper) / 2, dtype=x.dtype)
    grad = np.where(x > 0, np.ones((), dtype=x.dtype), slope)
    return grad * x, grad


def rrelu_backward(dout, cache):
    return cache * dout
""",
}
