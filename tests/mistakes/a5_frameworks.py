"""Mistakes a student makes in a5_frameworks, written as the student wrote them.

Each entry: ``code`` replaces the reference definitions of the same names (tests/mutation.py),
``flagged_by`` is the visible check that reports it before submission (None: only grading sees
it). tests/test_mistakes.py proves each claim.
"""


def _relu(forward: str, backward: str, preamble: str = "") -> str:
    return f"""{preamble}
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        {forward}

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        {backward}
"""


_RELU_BACKWARD = "return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))"
_RELU_FORWARD = "return torch.where(x > 0, x, torch.zeros_like(x))"


def _monitor(hook_body: str) -> str:
    return f"""
class DeadUnitMonitor:
    def __init__(self, model):
        self._ever_active = {{}}
        self._handles = []

        def make_hook(name):
            def hook(module, inputs, output):
{hook_body}

            return hook

        for name, module in model.named_modules():
            if isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU,
                                   nn.Mish)):
                self._handles.append(module.register_forward_hook(make_hook(name)))

    def dead_fraction(self):
        return {{n: float((~a).double().mean()) for n, a in self._ever_active.items()}}

    def reset(self):
        self._ever_active = {{}}

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []
"""


MISTAKES = {
    "relu_function_gradient_one_at_zero": {
        "flagged_by": "relu_function_gradient",
        "code": _relu(
            _RELU_FORWARD,
            "return torch.where(x >= 0, grad_output, torch.zeros_like(grad_output))",
        ),
    },
    "relu_function_masks_grad_output_in_place": {
        "flagged_by": "relu_function_grad_output",
        "code": _relu(_RELU_FORWARD, "grad_output[x <= 0] = 0\n        return grad_output"),
    },
    "relu_function_calls_torch_relu": {
        "flagged_by": "relu_function_no_builtin",
        "code": _relu("return torch.relu(x)", _RELU_BACKWARD),
    },
    "relu_function_calls_an_alias_of_torch_relu": {
        "flagged_by": "relu_function_no_builtin",
        "code": _relu("return rectify(x)", _RELU_BACKWARD, preamble="rectify = torch.relu"),
    },
    "relu_function_calls_torch_ops": {
        "flagged_by": "relu_function_no_builtin",
        "code": _relu("return torch.ops.aten.relu(x)", _RELU_BACKWARD),
    },
    "leaky_relu_function_forgets_the_slope_gradient_slot": {
        "flagged_by": "leaky_relu_function_gradient",
        "code": """
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad_output, grad_output * ctx.negative_slope)
""",
    },
    "leaky_relu_function_slope_one_at_zero": {
        "flagged_by": "leaky_relu_function_gradient",
        "code": """
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x >= 0, grad_output, grad_output * ctx.negative_slope), None
""",
    },
    "mish_function_naive_softplus_loses_float32_digits": {
        "flagged_by": "mish_function_values",
        "code": """
class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.tanh(torch.log(1 + torch.exp(x)))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        t = torch.tanh(torch.log(1 + torch.exp(x)))
        return grad_output * (t + x * torch.sigmoid(x) * (1 - t * t))
""",
    },
    "mlp_activation_after_the_last_layer": {
        "flagged_by": "mlp_forward",
        "code": """
class MLP(nn.Module):
    def __init__(self, in_features=100, hidden=(64, 32), out_features=10, activation="relu"):
        super().__init__()
        modules = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU,
                   "gelu": nn.GELU, "silu": nn.SiLU, "mish": nn.Mish}
        if activation not in modules:
            raise ValueError(f"unknown activation {activation!r}")
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(
            nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)
        )
        self.activations = nn.ModuleList(modules[activation]() for _ in hidden)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = self.activations[min(i, len(self.activations) - 1)](layer(x))
        return x
""",
    },
    "mlp_unknown_name_falls_back_to_relu": {
        "flagged_by": "mlp_unknown_activation",
        "code": """
class MLP(nn.Module):
    def __init__(self, in_features=100, hidden=(64, 32), out_features=10, activation="relu"):
        super().__init__()
        modules = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU,
                   "gelu": nn.GELU, "silu": nn.SiLU, "mish": nn.Mish}
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(
            nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)
        )
        self.activations = nn.ModuleList(modules.get(activation, nn.ReLU)() for _ in hidden)

    def forward(self, x):
        for i, activation in enumerate(self.activations):
            x = activation(self.layers[i](x))
        return self.layers[-1](x)
""",
    },
    "init_std_selu_uses_pytorch_gain": {
        "flagged_by": "init_std_other",
        "code": """
def init_std(nonlinearity, fan_in, negative_slope=0.01):
    gains = {"relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0 / (1.0 + negative_slope**2)),
             "tanh": 5.0 / 3.0, "selu": 0.75, "linear": 1.0, "sigmoid": 1.0}
    if nonlinearity not in gains:
        raise ValueError(nonlinearity)
    return gains[nonlinearity] / math.sqrt(fan_in)
""",
    },
    "init_std_leaky_relu_ignores_the_slope": {
        "flagged_by": "init_std_he",
        "code": """
def init_std(nonlinearity, fan_in, negative_slope=0.01):
    gains = {"relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0), "tanh": 5.0 / 3.0,
             "selu": 1.0, "linear": 1.0, "sigmoid": 1.0}
    if nonlinearity not in gains:
        raise ValueError(nonlinearity)
    return gains[nonlinearity] / math.sqrt(fan_in)
""",
    },
    "monitor_forgets_earlier_batches": {
        "flagged_by": "dead_unit_monitor_accumulates",
        "code": _monitor(
            "                active = output.detach() > 0\n"
            "                per_unit = active.transpose(0, 1).reshape(active.shape[1], -1)"
            ".any(dim=1)\n"
            "                self._ever_active[name] = per_unit"
        ),
    },
    "monitor_units_on_the_last_axis": {
        "flagged_by": "dead_unit_monitor_conv",
        "code": _monitor(
            "                active = output.detach() > 0\n"
            "                per_unit = active.reshape(-1, active.shape[-1]).any(dim=0)\n"
            "                seen = self._ever_active.get(name)\n"
            "                self._ever_active[name] = (\n"
            "                    per_unit if seen is None else seen | per_unit\n"
            "                )"
        ),
    },
}
