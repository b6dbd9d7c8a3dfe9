"""Plausible wrong answers (MUTANTS) and correct alternatives (ALTERNATIVES) for a5_frameworks.

Each entry is source code whose top-level classes and functions replace the reference ones of
the same name (see tests/mutation.py). The notebook's setup cell provides ``torch``, ``nn``,
``F``, ``np`` and ``math``.
"""

_RELU = """
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return FORWARD

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        BACKWARD
"""


def _relu(forward="torch.where(x > 0, x, torch.zeros_like(x))", backward=None):
    backward = backward or "return grad_output * (x > 0)"
    return _RELU.replace("FORWARD", forward).replace("BACKWARD", backward)


_LEAKY = """
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return FORWARD

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        BACKWARD
"""


def _leaky(forward="torch.where(x > 0, x, negative_slope * x)", backward=None):
    backward = backward or (
        "return torch.where(x > 0, grad_output, ctx.negative_slope * grad_output), None"
    )
    return _LEAKY.replace("FORWARD", forward).replace("BACKWARD", backward)


_MISH = """
class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return FORWARD

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        t = torch.tanh(F.softplus(x))
        BACKWARD
"""


def _mish(forward="x * torch.tanh(F.softplus(x))", backward=None):
    backward = backward or "return grad_output * (t + x * torch.sigmoid(x) * (1 - t * t))"
    return _MISH.replace("FORWARD", forward).replace("BACKWARD", backward)


_MLP = """
class MLP(nn.Module):
    def __init__(self, in_features=100, hidden=(64, 32), out_features=10, activation="relu"):
        super().__init__()
        modules = {
            "relu": nn.ReLU,
            "leaky_relu": nn.LeakyReLU,
            "elu": nn.ELU,
            "selu": nn.SELU,
            "gelu": nn.GELU,
            "silu": nn.SiLU,
            "mish": nn.Mish,
        }
        CHECK
        sizes = [in_features, *hidden, out_features]
        LAYERS
        ACTIVATIONS

    def forward(self, x):
        FORWARD
"""
_MLP_PARTS = {
    "CHECK": (
        "if activation not in modules:\n"
        '            raise ValueError(f"unknown activation {activation!r}")'
    ),
    "LAYERS": (
        "self.layers = nn.ModuleList(\n"
        "            [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]\n"
        "        )"
    ),
    "ACTIVATIONS": "self.activations = nn.ModuleList([modules[activation]() for _ in hidden])",
    "FORWARD": (
        "for layer, act in zip(self.layers[:-1], self.activations, strict=True):\n"
        "            x = act(layer(x))\n"
        "        return self.layers[-1](x)"
    ),
}


def _mlp(**parts):
    code = _MLP
    for key, default in _MLP_PARTS.items():
        code = code.replace(key, parts.get(key.lower(), default))
    return code


_INIT_STD = """
def init_std(nonlinearity, fan_in, negative_slope=0.01):
    gains = {
        "relu": math.sqrt(2.0),
        "leaky_relu": LEAKY,
        "tanh": 5.0 / 3.0,
        "selu": SELU,
        "linear": 1.0,
        "sigmoid": 1.0,
    }
    if nonlinearity not in gains:
        UNKNOWN
    return RESULT
"""


def _init_std(
    leaky="math.sqrt(2.0 / (1 + negative_slope**2))",
    selu="1.0",
    unknown='raise ValueError(f"unknown nonlinearity {nonlinearity!r}")',
    result="gains[nonlinearity] / math.sqrt(fan_in)",
):
    return (
        _INIT_STD.replace("LEAKY", leaky)
        .replace("SELU", selu)
        .replace("UNKNOWN", unknown)
        .replace("RESULT", result)
    )


_MONITOR = """
class DeadUnitMonitor:
    KINDS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish)

    def __init__(self, model):
        self.active = {}
        self.handles = []
        for name, module in model.named_modules():
            if SELECT:
                self.handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def hook(module, inputs, output):
            out = output.detach()
            ACTIVE
            if out.dim() == 1:
                active = active.unsqueeze(0)
            UNITS
            ACCUMULATE
            RETURN

        return hook

    def dead_fraction(self):
        return {n: 1.0 - a.float().mean().item() for n, a in self.active.items()}

    def reset(self):
        RESET

    def remove(self):
        REMOVE
"""
_MONITOR_PARTS = {
    "SELECT": "isinstance(module, self.KINDS)",
    "ACTIVE": "active = out > 0",
    "UNITS": "units = active.transpose(0, 1).reshape(active.shape[1], -1).any(dim=1)",
    "ACCUMULATE": (
        "self.active[name] = units | self.active[name] if name in self.active else units"
    ),
    "RETURN": "return None",
    "RESET": "self.active = {}",
    "REMOVE": "for h in self.handles:\n            h.remove()",
}


def _monitor(**parts):
    code = _MONITOR
    for key, default in _MONITOR_PARTS.items():
        code = code.replace(key, parts.get(key.lower(), default))
    return code


MUTANTS = {
    # ReLUFunction
    "relu_backward_mask_ge_zero": _relu(backward="return grad_output * (x >= 0)"),
    "relu_backward_ignores_grad_output": _relu(backward="return (x > 0).to(x.dtype)"),
    "relu_backward_masks_grad_output_in_place": _relu(
        backward="grad_output[x <= 0] = 0\n        return grad_output"
    ),
    "relu_backward_gradient_half_at_zero": _relu(
        backward="return grad_output * ((x > 0).to(x.dtype) + 0.5 * (x == 0).to(x.dtype))"
    ),
    "relu_forward_calls_torch_relu": _relu(forward="torch.relu(x)"),
    "relu_forward_via_nn_module": _relu(forward="nn.ReLU()(x)"),
    "relu_forward_clamps_x_in_place": _relu(forward="x.clamp_(min=0)"),
    # issue 10: the built-in reached under another name, captured before any blocker runs,
    # through the operator registry, or looked up by a string.
    "relu_forward_calls_captured_alias": "rectify = torch.relu\n" + _relu(forward="rectify(x)"),
    "relu_forward_calls_torch_ops": _relu(forward="torch.ops.aten.relu(x)"),
    "relu_forward_calls_getattr": _relu(forward='getattr(torch, "re" + "lu")(x)'),
    "leaky_relu_forward_imports_under_alias": "from torch.nn.functional import leaky_relu as lr\n"
    + _leaky(forward="lr(x, negative_slope)"),
    # LeakyReLUFunction
    "leaky_relu_backward_returns_one_gradient": _leaky(
        backward="return torch.where(x > 0, grad_output, ctx.negative_slope * grad_output)"
    ),
    "leaky_relu_gradient_one_at_zero": _leaky(
        backward=(
            "return torch.where(x >= 0, grad_output, ctx.negative_slope * grad_output), None"
        )
    ),
    "leaky_relu_backward_default_slope": _leaky(
        backward="return torch.where(x > 0, grad_output, 0.01 * grad_output), None"
    ),
    "leaky_relu_keras_default_slope": _LEAKY.replace("negative_slope=0.01", "negative_slope=0.3")
    .replace("FORWARD", "torch.where(x > 0, x, negative_slope * x)")
    .replace(
        "BACKWARD",
        "return torch.where(x > 0, grad_output, ctx.negative_slope * grad_output), None",
    ),
    "leaky_relu_forward_calls_f_leaky_relu": _leaky(forward="F.leaky_relu(x, negative_slope)"),
    "leaky_relu_backward_ignores_grad_output": _leaky(
        backward="return torch.where(x > 0, 1.0, ctx.negative_slope).to(x.dtype), None"
    ),
    # MishFunction
    "mish_backward_forgot_sigmoid_factor": _mish(
        backward="return grad_output * (t + x * (1 - t * t))"
    ),
    "mish_forward_calls_f_mish": _mish(forward="F.mish(x)"),
    "mish_backward_uses_saved_output": _MISH.replace(
        "ctx.save_for_backward(x)\n        return FORWARD",
        "y = x * torch.tanh(F.softplus(x))\n        ctx.save_for_backward(y)\n        return y",
    ).replace("BACKWARD", "return grad_output * (t + x * torch.sigmoid(x) * (1 - t * t))"),
    "mish_backward_closed_form_exp3x_nan": _mish(
        backward=(
            "e = torch.exp(x)\n"
            "        omega = 4 * (x + 1) + 4 * e**2 + e**3 + e * (4 * x + 6)\n"
            "        delta = 2 * e + e**2 + 2\n"
            "        return grad_output * e * omega / delta**2"
        )
    ),
    "mish_backward_ignores_grad_output": _mish(
        backward="return t + x * torch.sigmoid(x) * (1 - t * t)"
    ),
    "mish_backward_in_place_on_grad_output": _mish(
        backward="return grad_output.mul_(t + x * torch.sigmoid(x) * (1 - t * t))"
    ),
    # MLP
    "mlp_activation_after_last_layer": _mlp(
        activations=(
            "self.activations = nn.ModuleList([modules[activation]() for _ in hidden])\n"
            "        self.final = modules[activation]()"
        ),
        forward=(
            "for layer, act in zip(self.layers[:-1], self.activations, strict=True):\n"
            "            x = act(layer(x))\n"
            "        return self.final(self.layers[-1](x))"
        ),
    ),
    "mlp_shares_one_activation_module": _mlp(
        activations="self.activations = nn.ModuleList([modules[activation]()] * len(hidden))"
    ),
    "mlp_unknown_name_raises_key_error": _mlp(check="pass"),
    "mlp_unknown_name_falls_back_to_relu": _mlp(
        check="modules = dict(modules)\n        modules.setdefault(activation, nn.ReLU)"
    ),
    "mlp_layers_in_plain_list": _mlp(
        layers=(
            "self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]"
        )
    ),
    "mlp_relu_inplace": _mlp(
        activations=(
            "self.activations = nn.ModuleList(\n"
            "            [nn.ReLU(inplace=True) if activation == 'relu' else modules[activation]()"
            " for _ in hidden]\n"
            "        )"
        )
    ),
    "mlp_gelu_tanh_approximation": _mlp(
        activations=(
            "modules['gelu'] = lambda: nn.GELU(approximate='tanh')\n"
            "        self.activations = nn.ModuleList([modules[activation]() for _ in hidden])"
        )
    ),
    "mlp_activation_before_linear": _mlp(
        forward=(
            "for layer, act in zip(self.layers[:-1], self.activations, strict=True):\n"
            "            x = layer(act(x))\n"
            "        return self.layers[-1](x)"
        )
    ),
    # init_std
    "init_std_selu_pytorch_gain": _init_std(selu="0.75"),
    "init_std_leaky_relu_ignores_slope": _init_std(leaky="math.sqrt(2.0)"),
    "init_std_leaky_relu_slope_not_squared": _init_std(
        leaky="math.sqrt(2.0 / (1 + negative_slope))"
    ),
    "init_std_returns_variance": _init_std(result="gains[nonlinearity] ** 2 / fan_in"),
    "init_std_unknown_returns_lecun": _init_std(unknown="return 1.0 / math.sqrt(fan_in)"),
    "init_std_returns_tensor": _init_std(
        result="gains[nonlinearity] / torch.sqrt(torch.tensor(float(fan_in)))"
    ),
    "init_std_tanh_gain_one": _init_std().replace('"tanh": 5.0 / 3.0', '"tanh": 1.0'),
    # DeadUnitMonitor
    "monitor_counts_zero_as_active": _monitor(active="active = out >= 0"),
    "monitor_dead_means_exact_zero": _monitor(active="active = out != 0"),
    "monitor_per_batch_not_accumulated": _monitor(accumulate="self.active[name] = units"),
    "monitor_per_element_for_conv": _monitor(units="units = active.any(dim=0).reshape(-1)"),
    "monitor_last_axis_as_unit": _monitor(
        units="units = active.reshape(-1, active.shape[-1]).any(dim=0)"
    ),
    "monitor_remove_does_nothing": _monitor(remove="pass"),
    "monitor_reset_does_nothing": _monitor(reset="pass"),
    "monitor_only_relu_modules": _monitor(select="isinstance(module, nn.ReLU)"),
    "monitor_hooks_every_leaf_module": _monitor(select="not list(module.children())"),
    "monitor_hook_returns_detached_output": _monitor(**{"return": "return out"}),
    "monitor_alive_only_if_mostly_active": _monitor(
        units="units = active.transpose(0, 1).reshape(active.shape[1], -1).float().mean(1) > 0.5"
    ),
}

ALTERNATIVES = {
    "relu_clamp_mask_from_output": """
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.clamp(min=0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output.masked_fill(y <= 0, 0.0)
""",
    "relu_multiply_by_mask": _relu(forward="x * (x > 0).to(x.dtype)"),
    "leaky_relu_maximum_and_clone": """
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = float(negative_slope)
        return torch.maximum(x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad = grad_output.clone()
        grad[x <= 0] *= ctx.slope
        return grad, None
""",
    "mish_naive_softplus_saves_tanh": """
class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t = torch.tanh(torch.log1p(torch.exp(x)))
        ctx.save_for_backward(x, t)
        return x * t

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        return grad_output * (t + x * torch.sigmoid(x) * (1 - t**2))
""",
    "mish_f_softplus": _mish(),
    "mlp_lambdas_and_sequential_loop": """
class MLP(nn.Module):
    def __init__(self, in_features=100, hidden=(64, 32), out_features=10, activation="relu"):
        super().__init__()
        names = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "mish")
        classes = ("ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Mish")
        if activation not in names:
            raise ValueError(activation)
        cls = getattr(nn, classes[names.index(activation)])
        widths = [in_features, *hidden]
        self.layers = nn.ModuleList()
        self.activations = nn.ModuleList()
        for w_in, w_out in zip(widths, hidden, strict=False):
            self.layers.append(nn.Linear(w_in, w_out))
            self.activations.append(cls())
        self.layers.append(nn.Linear(widths[-1], out_features))

    def forward(self, x):
        n = len(self.layers)
        for i in range(n):
            x = self.layers[i](x)
            if i < n - 1:
                x = self.activations[i](x)
        return x
""",
    "init_std_calculate_gain": """
def init_std(nonlinearity, fan_in, negative_slope=0.01):
    if nonlinearity == "selu":
        return 1.0 / math.sqrt(fan_in)
    if nonlinearity not in ("relu", "leaky_relu", "tanh", "linear", "sigmoid"):
        raise ValueError(nonlinearity)
    gain = nn.init.calculate_gain(nonlinearity, negative_slope)
    return float(gain / fan_in**0.5)
""",
    "monitor_keeps_batches_and_uses_amax": """
class DeadUnitMonitor:
    def __init__(self, model):
        self.model = model
        self.seen = {}
        self.handles = []
        kinds = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish)
        for name, module in model.named_modules():
            if isinstance(module, kinds):
                handle = module.register_forward_hook(
                    lambda m, i, o, name=name: self.seen.setdefault(name, []).append(
                        o.detach().flatten(2).amax(dim=(0, 2)) if o.dim() > 2
                        else o.detach().reshape(-1, o.shape[-1]).amax(dim=0)
                    )
                )
                self.handles.append(handle)

    def dead_fraction(self):
        out = {}
        for name, maxima in self.seen.items():
            best = torch.stack(maxima).amax(dim=0)
            out[name] = float((best <= 0).sum()) / best.numel()
        return out

    def reset(self):
        self.seen.clear()

    def remove(self):
        while self.handles:
            self.handles.pop().remove()
""",
}
