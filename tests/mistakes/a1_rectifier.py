"""Mistakes a student makes in a1_rectifier, written as the student wrote them.

Each entry: ``code`` replaces the reference definitions of the same names (tests/mutation.py),
``flagged_by`` is the visible check that reports it before submission (None: only grading sees
it). tests/test_mistakes.py proves each claim.
"""

MISTAKES = {
    "relu_backward_passes_gradient_at_zero": {
        "flagged_by": "relu_backward_kink",
        "code": """
def relu_backward(dout, cache):
    x = cache
    return dout * (x >= 0)
""",
    },
    "relu_backward_zeroes_dout_like_the_tutorial": {
        "flagged_by": "relu_backward_inputs",
        "code": """
def relu_backward(dout, cache):
    x = cache
    dx = dout
    dx[x <= 0] = 0
    return dx
""",
    },
    "relu_forward_clips_x_in_place": {
        "flagged_by": "relu_forward_shapes",
        "code": """
def relu_forward(x):
    np.maximum(x, 0, out=x)
    return x, x > 0
""",
    },
    "relu_backward_without_cache_reads_global_x": {
        "flagged_by": "relu_backward_inputs",
        "code": """
def relu_forward(x):
    return np.maximum(x, 0), None


def relu_backward(dout, cache):
    return dout * (x > 0)
""",
    },
    "relu_forward_mask_as_float_upcasts": {
        "flagged_by": "relu_forward_shapes",
        "code": """
def relu_forward(x):
    out = x * (x > 0).astype(float)
    return out, x
""",
    },
    "threshold_linear_subtracts_theta_after_gain": {
        "flagged_by": "threshold_linear_forward_values",
        "code": """
def threshold_linear_forward(x, theta=0.0, gain=1.0):
    out = np.maximum(gain * x - theta, 0)
    return out, (x, theta, gain)
""",
    },
    "threshold_linear_dtheta_sign_forgotten": {
        "flagged_by": "threshold_linear_backward_params",
        "code": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = gain * float(np.sum(dout * active))
    dgain = float(np.sum(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    },
    "threshold_linear_dgain_averaged": {
        "flagged_by": "threshold_linear_backward_params",
        "code": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * float(np.sum(dout * active))
    dgain = float(np.mean(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    },
    "threshold_linear_numpy_scalars_not_floats": {
        "flagged_by": "threshold_linear_backward_params",
        "code": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x > theta
    dx = dout * gain * active
    dtheta = -gain * np.sum(dout * active)
    dgain = np.sum(dout * np.maximum(x - theta, 0))
    return dx, dtheta, dgain
""",
    },
    "threshold_linear_active_at_theta": {
        "flagged_by": "threshold_linear_backward_kink",
        "code": """
def threshold_linear_backward(dout, cache):
    x, theta, gain = cache
    active = x >= theta
    dx = dout * gain * active
    dtheta = -gain * float(np.sum(dout * active))
    dgain = float(np.sum(dout * np.maximum(x - theta, 0)))
    return dx, dtheta, dgain
""",
    },
    "lif_rate_np_where_evaluates_log_everywhere": {
        "flagged_by": "lif_rate_forward_threshold",
        "code": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):
    rate = np.where(I > v_th, 1 / (tau_ref + tau * np.log(I / (I - v_th))), 0.0).astype(I.dtype)
    return rate, (I, rate, tau, v_th)
""",
    },
    "lif_rate_warnings_silenced_with_errstate": {
        "flagged_by": "lif_rate_forward_threshold",
        "code": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(I > v_th, 1 / (tau_ref + tau * np.log(I / (I - v_th))), 0.0)
    rate = rate.astype(I.dtype)
    return rate, (I, rate, tau, v_th)
""",
    },
    "lif_rate_backward_forgets_the_square": {
        "flagged_by": "lif_rate_backward_values",
        "code": """
def lif_rate_backward(dout, cache):
    I, rate, tau, v_th = cache
    above = I > v_th
    dI = np.zeros_like(dout)
    dI[above] = dout[above] * rate[above] * tau * v_th / (I[above] * (I[above] - v_th))
    return dI
""",
    },
    "lif_rate_backward_writes_into_dout": {
        "flagged_by": "lif_rate_backward_inputs",
        "code": """
def lif_rate_backward(dout, cache):
    I, rate, tau, v_th = cache
    above = I > v_th
    dout[~above] = 0
    dout[above] *= rate[above] ** 2 * tau * v_th / (I[above] * (I[above] - v_th))
    return dout
""",
    },
    "lif_rate_forward_float64_zeros": {
        "flagged_by": "lif_rate_forward_shapes",
        "code": """
def lif_rate_forward(I, tau=0.02, tau_ref=0.002, v_th=1.0):
    above = I > v_th
    rate = np.zeros(I.shape)
    rate[above] = 1.0 / (tau_ref + tau * np.log1p(v_th / (I[above] - v_th)))
    return rate, (I, rate, tau, v_th)
""",
    },
}
