"""Mistakes a student makes in a2_sparsity, written as the student wrote them.

Each entry: ``code`` replaces the reference definitions of the same names (tests/mutation.py),
``flagged_by`` is the visible check that reports it before submission (None: only grading sees
it). tests/test_mistakes.py proves each claim.
"""

MISTAKES = {
    "active_fraction_counts_zeros_as_active": {
        "flagged_by": "active_fraction_values",
        "code": """
def active_fraction(a):
    return float(np.mean(a >= 0))
""",
    },
    "active_fraction_python_loop": {
        "flagged_by": "active_fraction_types",
        "code": """
def active_fraction(a):
    count = 0
    for value in np.asarray(a).ravel():
        if value > 0:
            count += 1
    return count / np.asarray(a).size
""",
    },
    "active_fraction_per_example": {
        "flagged_by": "active_fraction_values",
        "code": """
def active_fraction(a):
    return np.mean(a > 0, axis=-1)
""",
    },
    "active_fraction_float32_scalar": {
        "flagged_by": "active_fraction_types",
        "code": """
def active_fraction(a):
    return np.sum(a > 0, dtype=np.asarray(a).dtype) / np.asarray(a).size
""",
    },
    "dead_units_per_example_instead_of_per_unit": {
        "flagged_by": "dead_units_values",
        "code": """
def dead_units(a):
    return np.all(a <= 0, axis=1)
""",
    },
    "dead_units_any_instead_of_all": {
        "flagged_by": "dead_units_values",
        "code": """
def dead_units(a):
    return np.any(a <= 0, axis=0)
""",
    },
    "dead_units_returns_zeros_and_ones": {
        "flagged_by": "dead_units_types",
        "code": """
def dead_units(a):
    return 1 - np.any(a > 0, axis=0).astype(int)
""",
    },
    "dead_units_list_comprehension": {
        "flagged_by": "dead_units_types",
        "code": """
def dead_units(a):
    return np.array([not np.any(a[:, j] > 0) for j in range(a.shape[1])])
""",
    },
    "mlp_rates_forget_the_bias": {
        "flagged_by": "mlp_activation_rates_values",
        "code": """
def mlp_activation_rates(x, weights, biases):
    rates = []
    h = x
    for w in weights:
        h = np.maximum(h @ w, 0)
        rates.append(active_fraction(h))
    return rates
""",
    },
    "mlp_rates_count_pre_activations_at_zero": {
        "flagged_by": "mlp_activation_rates_kink",
        "code": """
def mlp_activation_rates(x, weights, biases):
    rates = []
    h = x
    for w, b in zip(weights, biases):
        z = h @ w + b
        rates.append(float(np.mean(z >= 0)))
        h = np.maximum(z, 0)
    return rates
""",
    },
    "mlp_rates_as_array": {
        "flagged_by": "mlp_activation_rates_types",
        "code": """
def mlp_activation_rates(x, weights, biases):
    rates = []
    h = x
    for w, b in zip(weights, biases):
        h = np.maximum(h @ w + b, 0)
        rates.append(active_fraction(h))
    return np.array(rates)
""",
    },
    "l1_loss_is_a_mean": {
        "flagged_by": "l1_activity_forward_values",
        "code": """
def l1_activity_forward(a, lam):
    return lam * float(np.mean(np.abs(a))), (a, lam)
""",
    },
    "l1_backward_ignores_dloss": {
        "flagged_by": "l1_activity_backward_values",
        "code": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return lam * np.sign(a)
""",
    },
    "l1_backward_sign_of_zero_is_one": {
        "flagged_by": "l1_activity_backward_kink",
        "code": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return np.where(a >= 0, 1.0, -1.0).astype(a.dtype) * (dloss * lam)
""",
    },
    "l1_loss_numpy_float32": {
        "flagged_by": "l1_activity_dtype",
        "code": """
def l1_activity_forward(a, lam):
    return lam * np.sum(np.abs(a)), (a, lam)
""",
    },
    "l1_backward_float64": {
        "flagged_by": "l1_activity_dtype",
        "code": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return np.sign(a) * np.float64(dloss * lam)
""",
    },
}
