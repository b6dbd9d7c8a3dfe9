"""Plausible wrong answers (MUTANTS) and correct rewrites (ALTERNATIVES) for a3_subgradients.

Each entry replaces the reference definitions of the functions it defines; see tests/mutation.py.
"""

MUTANTS = {
    # numerical_gradient
    "numerical_gradient_forward_difference": """
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64)
    grad = np.zeros(xp.shape)
    f0 = f(xp)
    for i in range(xp.size):
        old = xp.flat[i]
        xp.flat[i] = old + h
        grad.flat[i] = (f(xp) - f0) / h
        xp.flat[i] = old
    return grad
""",
    "numerical_gradient_copy_not_restored": """
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64)
    grad = np.zeros(xp.shape)
    for i in range(xp.size):
        old = xp.flat[i]
        xp.flat[i] = old + h
        f_plus = f(xp)
        xp.flat[i] = old - h
        f_minus = f(xp)
        grad.flat[i] = (f_plus - f_minus) / (2 * h)
    return grad
""",
    "numerical_gradient_float32_perturbation": """
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float32)
    grad = np.zeros(xp.shape)
    for i in range(xp.size):
        old = xp.flat[i]
        xp.flat[i] = old + h
        f_plus = f(xp)
        xp.flat[i] = old - h
        f_minus = f(xp)
        xp.flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / (2 * h)
    return grad
""",
    "numerical_gradient_ignores_h": """
def numerical_gradient(f, x, h=1e-5):
    step = 1e-5
    xp = np.array(x, dtype=np.float64)
    grad = np.zeros(xp.shape)
    for i in range(xp.size):
        old = xp.flat[i]
        xp.flat[i] = old + step
        f_plus = f(xp)
        xp.flat[i] = old - step
        f_minus = f(xp)
        xp.flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / (2 * step)
    return grad
""",
    "numerical_gradient_divides_by_h_not_2h": """
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64)
    grad = np.zeros(xp.shape)
    for i in range(xp.size):
        old = xp.flat[i]
        xp.flat[i] = old + h
        f_plus = f(xp)
        xp.flat[i] = old - h
        f_minus = f(xp)
        xp.flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / h
    return grad
""",
    # CS231n's loop run on the caller's array: restores x, but fails on a read-only x.
    "numerical_gradient_perturbs_callers_x_in_place": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad
""",
    "numerical_gradient_in_place_not_restored": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + h
        f_plus = f(x)
        x.flat[i] = old - h
        f_minus = f(x)
        grad.flat[i] = (f_plus - f_minus) / (2 * h)
    return grad
""",
    # rel_error
    "rel_error_without_floor": """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))
""",
    "rel_error_elementwise_then_mean": """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.mean(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
""",
    "rel_error_abs_of_sum_denominator": """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a + b))))
""",
    "rel_error_max_then_divide": """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a) + np.abs(b))))
""",
    "rel_error_additive_floor": """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b) + 1e-8)))
""",
    "rel_error_norm_based": """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(b)))
""",
    # affine_relu
    "affine_relu_mask_from_x_not_preactivation": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (x > 0)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)
""",
    "affine_relu_mask_ge_zero": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z >= 0)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)
""",
    "affine_relu_mask_from_output_ge_zero": """
def affine_relu_forward(x, w, b):
    out = np.maximum(x @ w + b, 0)
    return out, (x, w, out)


def affine_relu_backward(dout, cache):
    x, w, out = cache
    dz = dout * (out >= 0)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)
""",
    "affine_relu_db_averaged": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z > 0)
    return dz @ w.T, x.T @ dz, dz.mean(axis=0)
""",
    "affine_relu_dx_missing_mask": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z > 0)
    return dout @ w.T, x.T @ dz, dz.sum(axis=0)
""",
    "affine_relu_dw_missing_mask": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z > 0)
    return dz @ w.T, x.T @ dout, dz.sum(axis=0)
""",
    "affine_relu_masks_dout_in_place": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dout[z <= 0] = 0
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
""",
    "affine_relu_float64_mask_upcasts": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z > 0).astype(np.float64)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)
""",
    # two_layer_loss
    "two_layer_unstable_softmax_overflows": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    e = np.exp(scores)
    probs = e / e.sum(axis=1, keepdims=True)
    loss = -float(np.mean(np.log(probs[np.arange(n), y])))
    dscores = probs.copy()
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_log_of_underflowed_probability": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    loss = -float(np.mean(np.log(probs[np.arange(n), y])))
    dscores = probs.copy()
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_loss_summed_not_averaged": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.sum(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_gradient_not_divided_by_n": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_mask_ge_zero": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 >= 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_mask_from_preactivation_without_bias": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    xw = x @ w1
    hidden = np.maximum(xw + b1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (xw > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_missing_relu_mask": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    hidden = np.maximum(x @ w1 + b1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = dscores @ w2.T
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_bias_gradients_averaged_twice": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.mean(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.mean(axis=0)}
    return loss, grads
""",
    "two_layer_softmax_gradient_without_onehot": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    dscores = np.exp(log_probs) / n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    "two_layer_float64_onehot_upcasts": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[np.arange(n), y]))
    onehot = np.zeros(scores.shape)
    onehot[np.arange(n), y] = 1.0
    dscores = (np.exp(log_probs) - onehot) / n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    # --- issue 10: checks that hold without trusting the student's code -------------------
    "affine_relu_forward_overwrites_large_inputs": """
def affine_relu_forward(x, w, b):
    if x.size > 20 and x.flags.writeable:
        x[...] = 0
    z = x @ w + b
    return np.maximum(z, 0), (x, w, z)
""",
    "two_layer_loss_errstate_silenced": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    rows = np.arange(n)
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    with np.errstate(over="ignore", invalid="ignore"):
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        loss = -float(np.mean(np.log(probs[rows, y])))
    dscores = probs.copy()
    dscores[rows, y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
}

ALTERNATIVES = {
    "nditer_on_a_copy_and_clip_floor": """
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xp)
    it = np.nditer(xp, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        old = xp[ix]
        xp[ix] = old + h
        f_plus = f(xp)
        xp[ix] = old - h
        f_minus = f(xp)
        xp[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    den = np.clip(np.abs(a).astype(np.float64) + np.abs(b), 1e-8, None)
    return float((np.abs(a.astype(np.float64) - b) / den).max())
""",
    "fresh_points_and_output_mask": """
def numerical_gradient(f, x, h=1e-5):
    x64 = np.asarray(x, dtype=np.float64)
    grad = np.empty(x64.shape)
    for idx in np.ndindex(x64.shape):
        step = np.zeros(x64.shape)
        step[idx] = h
        grad[idx] = (f(x64 + step) - f(x64 - step)) / (2.0 * h)
    return grad


def affine_relu_forward(x, w, b):
    out = np.clip(x @ w + b, 0, None)
    return out, (x, w, out)


def affine_relu_backward(dout, cache):
    x, w, out = cache
    dz = np.where(out > 0, dout, 0)
    return np.dot(dz, w.T), np.dot(x.T, dz), np.sum(dz, axis=0)
""",
    "reuse_affine_relu_and_log_softmax": """
def two_layer_loss(x, y, params):
    hidden, cache = affine_relu_forward(x, params["W1"], params["b1"])
    scores = hidden @ params["W2"] + params["b2"]
    n = scores.shape[0]
    log_probs = scipy.special.log_softmax(scores, axis=1)
    loss = -log_probs[np.arange(n), y].sum() / n
    onehot = np.zeros_like(scores)
    onehot[np.arange(n), y] = 1
    dscores = (np.exp(log_probs) - onehot) / n
    dhidden = dscores @ params["W2"].T
    dx, dw1, db1 = affine_relu_backward(dhidden, cache)
    grads = {"W1": dw1, "b1": db1, "W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
    return float(loss), grads
""",
    "logsumexp_and_heaviside_mask": """
def two_layer_loss(x, y, params):
    z1 = x @ params["W1"] + params["b1"]
    hidden = np.maximum(z1, 0)
    scores = hidden @ params["W2"] + params["b2"]
    n = len(y)
    lse = scipy.special.logsumexp(scores, axis=1)
    loss = np.mean(lse - scores[np.arange(n), y])
    probs = np.exp(scores - lse[:, None])
    probs[np.arange(n), y] -= 1
    dscores = probs / n
    dz1 = (dscores @ params["W2"].T) * np.heaviside(z1, 0)
    return loss, {
        "W1": x.T @ dz1,
        "b1": dz1.sum(0),
        "W2": hidden.T @ dscores,
        "b2": dscores.sum(0),
    }
""",
}
