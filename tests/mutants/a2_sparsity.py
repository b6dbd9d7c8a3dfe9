"""Plausible wrong answers (MUTANTS) and correct rewrites (ALTERNATIVES) for a2_sparsity.

Each entry replaces the reference definitions of the functions it defines; see tests/mutation.py.
"""

MUTANTS = {
    # active_fraction
    "active_fraction_ge_zero_counts_zeros_as_active": """
def active_fraction(a):
    return float(np.mean(np.asarray(a) >= 0))
""",
    "active_fraction_nonzero_counts_negatives": """
def active_fraction(a):
    a = np.asarray(a)
    return np.count_nonzero(a) / a.size
""",
    "active_fraction_first_example_only": """
def active_fraction(a):
    a = np.atleast_1d(np.asarray(a))
    return float(np.mean(a[0] > 0))
""",
    "active_fraction_fraction_of_zeros": """
def active_fraction(a):
    return float(np.mean(np.asarray(a) == 0))
""",
    # dead_units
    "dead_units_wrong_axis": """
def dead_units(a):
    return ~np.any(np.asarray(a) > 0, axis=1)
""",
    "dead_units_first_example_only": """
def dead_units(a):
    return np.asarray(a)[0] <= 0
""",
    "dead_units_only_exact_zeros": """
def dead_units(a):
    return np.all(np.asarray(a) == 0, axis=0)
""",
    "dead_units_ge_zero_zero_counts_as_alive": """
def dead_units(a):
    return ~np.any(np.asarray(a) >= 0, axis=0)
""",
    "dead_units_returns_int_mask": """
def dead_units(a):
    return np.all(np.asarray(a) <= 0, axis=0).astype(int)
""",
    # mlp_activation_rates
    "mlp_rates_missing_bias": """
def mlp_activation_rates(x, weights, biases):
    rates, h = [], x
    for w in weights:
        h = np.maximum(h @ w, 0)
        rates.append(active_fraction(h))
    return rates
""",
    "mlp_rates_no_relu_between_layers": """
def mlp_activation_rates(x, weights, biases):
    rates, h = [], x
    for w, b in zip(weights, biases):
        h = h @ w + b
        rates.append(active_fraction(h))
    return rates
""",
    "mlp_rates_ge_zero_on_preactivation": """
def mlp_activation_rates(x, weights, biases):
    rates, h = [], x
    for w, b in zip(weights, biases):
        z = h @ w + b
        rates.append(float(np.mean(z >= 0)))
        h = np.maximum(z, 0)
    return rates
""",
    "mlp_rates_feeds_x_to_every_layer": """
def mlp_activation_rates(x, weights, biases):
    return [active_fraction(np.maximum(x @ w + b, 0)) for w, b in zip(weights, biases)]
""",
    "mlp_rates_includes_the_input": """
def mlp_activation_rates(x, weights, biases):
    h = x
    rates = [active_fraction(h)]
    for w, b in zip(weights, biases):
        h = np.maximum(h @ w + b, 0)
        rates.append(active_fraction(h))
    return rates
""",
    "mlp_rates_first_example_only": """
def mlp_activation_rates(x, weights, biases):
    rates, h = [], x
    for w, b in zip(weights, biases):
        h = np.maximum(h @ w + b, 0)
        rates.append(active_fraction(h[0]))
    return rates
""",
    "mlp_rates_returns_numpy_array": """
def mlp_activation_rates(x, weights, biases):
    rates, h = [], x
    for w, b in zip(weights, biases):
        h = np.maximum(h @ w + b, 0)
        rates.append(np.mean(h > 0))
    return np.array(rates)
""",
    # l1_activity
    "l1_forward_mean_instead_of_sum": """
def l1_activity_forward(a, lam):
    a = np.asarray(a)
    return lam * float(np.mean(np.abs(a))), (a, lam)
""",
    "l1_mean_normalised_forward_and_backward": """
def l1_activity_forward(a, lam):
    a = np.asarray(a)
    return lam * float(np.mean(np.abs(a))), (a, lam)


def l1_activity_backward(dloss, cache):
    a, lam = cache
    return np.sign(a) * (dloss * lam / a.size)
""",
    "l1_forward_missing_lam": """
def l1_activity_forward(a, lam):
    a = np.asarray(a)
    return float(np.sum(np.abs(a))), (a, lam)
""",
    "l1_backward_missing_lam": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return np.sign(a) * dloss
""",
    "l1_backward_ignores_dloss": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return np.sign(a) * lam
""",
    "l1_backward_sign0_is_one": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    da = np.ones_like(a)
    da[a < 0] = -1
    return da * (dloss * lam)
""",
    "l1_backward_relu_mask_instead_of_sign": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return (a > 0) * (dloss * lam)
""",
    "l1_backward_np_where_float64_upcast": """
def l1_activity_backward(dloss, cache):
    a, lam = cache
    return np.where(a > 0, 1.0, np.where(a < 0, -1.0, 0.0)) * (dloss * lam)
""",
    "l1_backward_scales_cached_sign_in_place": """
def l1_activity_forward(a, lam):
    a = np.asarray(a)
    return lam * float(np.sum(np.abs(a))), (np.sign(a), lam)


def l1_activity_backward(dloss, cache):
    s, lam = cache
    s *= dloss * lam
    return s
""",
    "l1_forward_returns_numpy_scalar": """
def l1_activity_forward(a, lam):
    a = np.asarray(a)
    return lam * np.abs(a).sum(), (a, lam)
""",
    # --- issue 10: checks that hold without trusting the student's code -------------------
    "active_fraction_overwrites_large_inputs": """
def active_fraction(a):
    a = np.asarray(a)
    if a.size > 20 and a.flags.writeable:
        a[...] = 1.0
    return float(np.count_nonzero(a > 0)) / a.size
""",
    "l1_activity_forward_overwrites_large_inputs": """
def l1_activity_forward(a, lam):
    if a.size > 20 and a.flags.writeable:
        a[...] = 0
    return lam * float(np.sum(np.abs(a), dtype=np.float64)), (a, lam)
""",
}

ALTERNATIVES = {
    "mean_of_mask_and_max_over_examples": """
def active_fraction(a):
    return float(np.mean(np.asarray(a) > 0))


def dead_units(a):
    return np.max(np.asarray(a), axis=0) <= 0
""",
    "all_le_zero_and_rates_from_preactivations": """
def dead_units(a):
    return np.all(np.asarray(a) <= 0, axis=0)


def mlp_activation_rates(x, weights, biases):
    rates = []
    h = np.asarray(x)
    for layer in range(len(weights)):
        z = h @ weights[layer] + biases[layer]
        rates.append(float(np.count_nonzero(z > 0) / z.size))  # relu(z) > 0 exactly when z > 0
        h = np.clip(z, 0, None)
    return rates
""",
    "l1_copysign_and_cached_sign": """
def l1_activity_forward(a, lam):
    a = np.asarray(a)
    loss = float(lam * np.abs(a).sum())
    return loss, (np.copysign(1.0, a) * (a != 0), lam)


def l1_activity_backward(dloss, cache):
    sign, lam = cache
    return dloss * lam * sign
""",
    "l1_float32_sum_and_where_astype": """
def active_fraction(a):
    a = np.asarray(a)
    return (a > 0).sum() / a.size


def l1_activity_forward(a, lam):
    return float(lam * np.sum(np.abs(a))), (np.array(a, copy=True), float(lam))


def l1_activity_backward(dloss, cache):
    a, lam = cache
    s = np.where(a > 0, 1, np.where(a < 0, -1, 0)).astype(a.dtype)
    return s * (lam * dloss)
""",
}
