"""Mistakes a student makes in a3_subgradients, written as the student wrote them.

Each entry: ``code`` replaces the reference definitions of the same names (tests/mutation.py),
``flagged_by`` is the visible check that reports it before submission (None: only grading sees
it). tests/test_mistakes.py proves each claim.
"""

MISTAKES = {
    "numerical_gradient_forward_difference": {
        "flagged_by": "numerical_gradient_values",
        "code": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    fx = f(x)
    for i in range(x.size):
        xp = x.astype(np.float64)
        xp.flat[i] += h
        grad.flat[i] = (f(xp) - fx) / h
    return grad
""",
    },
    "numerical_gradient_ignores_h": {
        "flagged_by": "numerical_gradient_step",
        "code": """
def numerical_gradient(f, x, h=1e-5):
    step = 1e-5
    grad = np.zeros(x.shape)
    for i in range(x.size):
        xp = x.astype(np.float64)
        xp.flat[i] += step
        xm = x.astype(np.float64)
        xm.flat[i] -= step
        grad.flat[i] = (f(xp) - f(xm)) / (2 * step)
    return grad
""",
    },
    "numerical_gradient_forgets_to_restore": {
        "flagged_by": "numerical_gradient_points",
        "code": """
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
    },
    "numerical_gradient_perturbs_x_itself": {
        "flagged_by": "numerical_gradient_inputs",
        "code": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + h
        f_plus = f(x)
        x.flat[i] = old - h
        f_minus = f(x)
        x.flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / (2 * h)
    return grad
""",
    },
    "rel_error_without_the_floor": {
        "flagged_by": "rel_error_types",
        "code": """
def rel_error(a, b):
    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))
""",
    },
    "rel_error_averages": {
        "flagged_by": "rel_error_values",
        "code": """
def rel_error(a, b):
    return float(np.mean(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
""",
    },
    "rel_error_numpy_scalar": {
        "flagged_by": "rel_error_types",
        "code": """
def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
""",
    },
    "affine_db_is_a_mean": {
        "flagged_by": "affine_relu_backward_values",
        "code": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z > 0)
    return dz @ w.T, x.T @ dz, dz.mean(axis=0)
""",
    },
    "affine_gradient_at_zero_is_one": {
        "flagged_by": "affine_relu_backward_kink",
        "code": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z >= 0)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)
""",
    },
    "affine_backward_masks_dout_in_place": {
        "flagged_by": "affine_relu_inputs",
        "code": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dout[z <= 0] = 0
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
""",
    },
    "affine_forward_float64_zero": {
        "flagged_by": "affine_relu_inputs",
        "code": """
def affine_relu_forward(x, w, b):
    z = x @ w + b
    return np.maximum(z, np.float64(0)), (x, w, z)
""",
    },
    "affine_dw_transposed_wrong": {
        "flagged_by": "affine_relu_backward_values",
        "code": """
def affine_relu_backward(dout, cache):
    x, w, z = cache
    dz = dout * (z > 0)
    return dz @ w.T, (dz.T @ x).T[:, ::-1], dz.sum(axis=0)
""",
    },
    "two_layer_loss_summed_not_averaged": {
        "flagged_by": "two_layer_loss_values",
        "code": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    rows = np.arange(x.shape[0])
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.sum(log_probs[rows, y]))
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    },
    "two_layer_loss_softmax_not_shifted": {
        "flagged_by": "two_layer_loss_stable",
        "code": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    rows = np.arange(n)
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
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
    },
    "two_layer_gradients_not_divided_by_n": {
        "flagged_by": "two_layer_loss_grads",
        "code": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    rows = np.arange(x.shape[0])
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[rows, y]))
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dz1 = (dscores @ w2.T) * (z1 > 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    },
    "two_layer_hidden_gradient_at_zero": {
        "flagged_by": "two_layer_loss_kink",
        "code": """
def two_layer_loss(x, y, params):
    w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    rows = np.arange(n)
    z1 = x @ w1 + b1
    hidden = np.maximum(z1, 0)
    scores = hidden @ w2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probs[rows, y]))
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores /= n
    dz1 = (dscores @ w2.T) * (z1 >= 0)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": hidden.T @ dscores,
             "b2": dscores.sum(axis=0)}
    return loss, grads
""",
    },
}
