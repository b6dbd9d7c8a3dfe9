"""Plausible wrong answers (MUTANTS) and correct alternatives (ALTERNATIVES) for a1_rectifier.

Each value is source code that replaces the reference definitions of the same names (see
tests/mutation.py). Every mutant must lose points and every alternative must get full marks.
"""

MUTANTS = {
    # --- relu ------------------------------------------------------------------------------
    # The seed article's backward pass: dx is the caller's dout, zeroed in place.
    "relu_backward_inplace_dout": """
def relu_backward(dout, cache):
    x = cache
    dx = dout
    dx[x <= 0] = 0
    return dx
""",
    # The seeds' "f'(x) = 1 for x >= 0": a valid subgradient, but not PyTorch's choice.
    "relu_backward_mask_ge_zero": """
def relu_backward(dout, cache):
    x = cache
    return dout * (x >= 0)
""",
    "relu_backward_half_at_kink": """
def relu_backward(dout, cache):
    x = cache
    return dout * np.where(x > 0, 1.0, np.where(x == 0, 0.5, 0.0)).astype(x.dtype)
""",
    # Returns the local derivative and forgets the chain rule.
    "relu_backward_ignores_dout": """
def relu_backward(dout, cache):
    x = cache
    return (x > 0).astype(x.dtype)
""",
    "relu_backward_float64_mask": """
def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0).astype(np.float64)
""",
    # Caches a float mask and multiplies dout into it in place: right once, wrong twice.
    "relu_backward_accumulates_in_cache": """
def relu_forward(x):
    out = np.maximum(x, 0)
    mask = (x > 0).astype(x.dtype)
    return out, mask


def relu_backward(dout, cache):
    mask = cache
    mask *= dout
    return mask
""",
    # Rectifies in place to save memory: overwrites the caller's x (and fails when read-only).
    "relu_forward_mutates_x": """
def relu_forward(x):
    cache = x > 0
    out = np.maximum(x, 0, out=x)
    return out, cache


def relu_backward(dout, cache):
    return dout * cache
""",
    "relu_forward_int_cast": """
def relu_forward(x):
    out = np.maximum(x, 0).astype(int)
    return out, x
""",
    # NEP 50: a numpy float64 scalar is not "weak", so float32 input comes back as float64.
    "relu_forward_float64_upcast": """
def relu_forward(x):
    out = np.maximum(x, np.float64(0.0))
    return out, x
""",
    # --- threshold_linear ------------------------------------------------------------------
    "threshold_linear_backward_dtheta_sign": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = gain * float(np.sum(dout * active))
    dgain = float(np.sum(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    "threshold_linear_backward_dgain_not_summed": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * float(np.sum(dout * active))
    dgain = dout * np.maximum(x - theta, 0)
    return dx, dtheta, dgain
""",
    # Sums over the batch axis only, as for a per-feature parameter.
    "threshold_linear_backward_params_sum_axis0": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * np.sum(dout * active, axis=0)
    dgain = np.sum(dout * np.maximum(x - theta, 0), axis=0)
    return dx, dtheta, dgain
""",
    # np.sum returns a numpy scalar: np.float32 for float32 input is not a Python float.
    "threshold_linear_backward_numpy_scalars": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * np.sum(dout * active)
    dgain = np.sum(dout * np.maximum(x - theta, 0))
    return dx, dtheta, dgain
""",
    "threshold_linear_backward_mean_not_sum": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * float(np.mean(dout * active))
    dgain = float(np.mean(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    "threshold_linear_backward_mask_ge_theta": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x >= theta
    dx = dout * gain * active
    dtheta = -gain * float(np.sum(dout * active))
    dgain = float(np.sum(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    "threshold_linear_backward_dx_forgets_gain": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * active
    dtheta = -gain * float(np.sum(dout * active))
    dgain = float(np.sum(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    # Counts the active units instead of summing dout over them.
    "threshold_linear_backward_dtheta_ignores_dout": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * float(np.sum(active))
    dgain = float(np.sum(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    # Applies the threshold after the gain: max(0, gain * x - theta).
    "threshold_linear_forward_theta_after_gain": """
def threshold_linear_forward(x, theta=0.0, gain=1.0):
    out = np.maximum(gain * x - theta, 0)
    return out, (x, theta, gain)
""",
    "threshold_linear_forward_float64_params": """
def threshold_linear_forward(x, theta=0.0, gain=1.0):
    theta, gain = np.float64(theta), np.float64(gain)
    out = gain * np.maximum(x - theta, 0)
    return out, (x, theta, gain)
""",
    # --- lif_rate --------------------------------------------------------------------------
    # np.where evaluates the formula everywhere: divide-by-zero and log-of-negative warnings.
    "lif_rate_forward_where_warns": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    rate = np.where(I > v_th, 1.0 / (tau_ref + tau * np.log(I / (I - v_th))), 0.0)
    rate = rate.astype(I.dtype)
    return rate, (I, rate, tau, v_th)
""",
    # Masked, so no warnings, but ln of a ratio close to 1 loses digits (float32, large I).
    "lif_rate_forward_log_ratio_inaccurate": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    rate = np.zeros_like(I)
    cur = I[above]
    rate[above] = 1.0 / (tau_ref + tau * np.log(cur / (cur - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    "lif_rate_forward_log_difference": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    rate = np.zeros_like(I)
    cur = I[above]
    rate[above] = 1.0 / (tau_ref + tau * (np.log(cur) - np.log(cur - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    "lif_rate_forward_missing_tau_ref": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    rate = np.zeros_like(I)
    cur = I[above]
    rate[above] = 1.0 / (tau * np.log1p(v_th / (cur - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    # Converts the time constants to milliseconds: spikes per ms, not per second.
    "lif_rate_forward_rate_in_khz": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    rate = np.zeros_like(I)
    cur = I[above]
    rate[above] = 1.0 / (1000 * tau_ref + 1000 * tau * np.log1p(v_th / (cur - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    # Takes |I - v_th| to dodge the log of a negative number: positive rates below threshold.
    "lif_rate_forward_nonzero_below_threshold": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    defined = I != v_th
    rate = np.zeros_like(I)
    cur = I[defined]
    rate[defined] = 1.0 / (tau_ref + tau * np.log1p(v_th / np.abs(cur - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    "lif_rate_forward_zeros_float64": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    rate = np.zeros(np.shape(I))
    cur = I[above]
    rate[above] = 1.0 / (tau_ref + tau * np.log1p(v_th / (cur - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    "lif_rate_backward_missing_r_squared": """
def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    above = current > v_th
    dI = np.zeros_like(current)
    cur = current[above]
    dI[above] = dout[above] * (tau * v_th / (cur * (cur - v_th)))
    return dI
""",
    "lif_rate_backward_missing_v_th": """
def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    above = current > v_th
    dI = np.zeros_like(current)
    cur, r = current[above], rate[above]
    dI[above] = dout[above] * (r * r * tau / (cur * (cur - v_th)))
    return dI
""",
    # One minus sign lost: d/dI ln(I / (I - v)) = -v / (I (I - v)) is negative.
    "lif_rate_backward_sign_error": """
def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    above = current > v_th
    dI = np.zeros_like(current)
    cur, r = current[above], rate[above]
    dI[above] = -dout[above] * (r * r * tau * v_th / (cur * (cur - v_th)))
    return dI
""",
    "lif_rate_backward_ignores_dout": """
def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    above = current > v_th
    dI = np.zeros_like(current)
    cur, r = current[above], rate[above]
    dI[above] = r * r * tau * v_th / (cur * (cur - v_th))
    return dI
""",
    # 0 / 0 at I == v_th (rate 0) and at I == 0 warns, even though np.where discards it.
    "lif_rate_backward_where_warns": """
def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    grad = rate * rate * tau * v_th / (current * (current - v_th))
    return np.where(current > v_th, dout * grad, 0.0).astype(current.dtype)
""",
    # --- issue 10: checks that hold without trusting the student's code -------------------
    # Overwrites a large input with zeros, then answers consistently with what it wrote: a
    # hidden check that computed its expected value from x after the call would agree.
    "relu_forward_overwrites_large_inputs": """
def relu_forward(x):
    if x.size > 20 and x.flags.writeable:
        x[...] = 0
    return np.maximum(x, 0), x
""",
    "relu_backward_overwrites_large_dout": """
def relu_backward(dout, cache):
    x = cache
    if dout.size > 20 and dout.flags.writeable:
        dout[...] = 0
        return np.zeros_like(dout)
    return dout * (x > 0)
""",
    # np.where evaluates log(I / (I - v_th)) everywhere; np.errstate hides the warnings.
    "lif_rate_forward_errstate_silenced": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):
    with np.errstate(all="ignore"):
        rate = np.where(I > v_th, 1 / (tau_ref + tau * np.log(I / (I - v_th))), 0.0)
    rate = rate.astype(I.dtype)
    return rate, (I, rate, tau, v_th)
""",
    "lif_rate_forward_warnings_filtered": """
import warnings as _w


def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        rate = np.where(I > v_th, 1 / (tau_ref + tau * np.log(I / (I - v_th))), 0.0)
    rate = rate.astype(I.dtype)
    return rate, (I, rate, tau, v_th)
""",
    # Computes everywhere under np.errstate and lets np.where pick: the values are right, but a
    # silenced warning is still an out-of-domain evaluation, which the checks fail (issue 10).
    "lif_rate_errstate_where": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(I > v_th, 1.0 / (tau_ref + tau * np.log1p(v_th / (I - v_th))), 0.0)
    return rate.astype(I.dtype), (I, rate.astype(I.dtype), tau, v_th)


def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    with np.errstate(divide="ignore", invalid="ignore"):
        local = rate**2 * tau * v_th / (current * (current - v_th))
    return np.where(current > v_th, dout * local, 0.0).astype(current.dtype)
""",
}

ALTERNATIVES = {
    "relu_maximum_where": """
def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    return np.where(cache > 0, dout, 0.0)
""",
    "relu_multiply_by_mask": """
def relu_forward(x):
    return x * (x > 0), x


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)
""",
    # Caches the output: out > 0 exactly where x > 0.
    "relu_mask_from_output": """
def relu_forward(x):
    out = np.clip(x, 0, None)
    return out, out


def relu_backward(dout, cache):
    return dout * (cache > 0)
""",
    # The seed's backward, fixed by copying dout first.
    "relu_abs_and_copy": """
def relu_forward(x):
    return (x + np.abs(x)) / 2, x


def relu_backward(dout, cache):
    dx = np.array(dout, copy=True)
    dx[cache <= 0] = 0
    return dx
""",
    "relu_heaviside": """
def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * np.heaviside(cache, 0.0)
""",
    "threshold_linear_where_fsum": """
import math


def threshold_linear_forward(x, theta=0.0, gain=1.0):
    out = np.where(x > theta, gain * (x - theta), 0.0).astype(x.dtype)
    return out, (x, theta, gain, out)


def threshold_linear_backward(dout, cache):
    x, theta, gain, out = cache
    active = out > 0
    dx = np.where(active, gain * dout, 0.0).astype(x.dtype)
    dtheta = -gain * math.fsum(np.ravel(dout[active]).tolist())
    dgain = math.fsum(np.ravel(dout * np.maximum(x - theta, 0)).tolist())
    return dx, dtheta, dgain
""",
    "threshold_linear_clip_item": """
def threshold_linear_forward(x, theta=0.0, gain=1.0):
    shifted = np.clip(x - theta, 0, None)
    return gain * shifted, (shifted, x > theta, gain)


def threshold_linear_backward(dout, cache):
    shifted, active, gain = cache
    dx = gain * dout * active
    dtheta = -gain * np.sum(dout * active).item()
    dgain = np.vdot(dout, shifted).item()
    return dx, dtheta, dgain
""",
    # ln(I / (I - v)) = -ln(1 - v / I), also free of cancellation for large I.
    "lif_rate_log1p_of_minus_ratio": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    rate = np.zeros_like(I)
    cur = I[above]
    rate[above] = 1.0 / (tau_ref - tau * np.log1p(-v_th / cur))
    return rate, (I, tau, tau_ref, v_th)


def lif_rate_backward(dout, cache):
    current, tau, tau_ref, v_th = cache
    rate, _ = lif_rate_forward(current, tau, tau_ref, v_th)
    above = current > v_th
    dI = np.zeros_like(current)
    cur = current[above]
    dI[above] = dout[above] * rate[above] ** 2 * (tau * v_th) / (cur * (cur - v_th))
    return dI
""",
    "lif_rate_scipy_divide_where": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):  # noqa: E741
    above = I > v_th
    excess = np.subtract(I, v_th)
    ratio = np.divide(v_th, excess, out=np.zeros_like(I), where=above)
    period = tau_ref + tau * scipy.special.log1p(ratio)
    rate = np.divide(1.0, period, out=np.zeros_like(I), where=above)
    return rate, (I, rate, tau, v_th)


def lif_rate_backward(dout, cache):
    current, rate, tau, v_th = cache
    above = current > v_th
    denom = current * (current - v_th)
    local = np.divide(rate * rate * tau * v_th, denom, out=np.zeros_like(current), where=above)
    return dout * local
""",
}
