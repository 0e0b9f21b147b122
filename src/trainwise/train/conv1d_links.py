"""Which windowed 1-D convolution hands its output only to a reader of its memory: read from the
traced model.

Why: the windowed product (`train/eager_conv1d.py`) computes a convolution's output as
(batch, length, channels) memory. Handed on as a contiguous (batch, channels, length) tensor it
costs a transposing copy forward and another for its gradient, about a tenth of the benchmark
CNN's training step; and a max pooling layer with gradients runs 3-6 times faster on that
memory than on the contiguous layout (`train/rows_pool1d.py`). Whether an output may keep the
product's layout depends on everything that reads it: a windowed convolution or a switched
`nn.MaxPool1d` reads any strides, but a user's `.view(batch, -1)` needs the contiguous layout.
`torch.fx`'s symbolic trace records where each module's output goes, through a user's own
`forward` as well as an `nn.Sequential`: a link is a convolution or pooling layer called
once, then only element-wise steps or pooling that keeps its input's layout (each the sole
reader of the one before), then another windowed convolution or pooling layer. Everything
else (a model that cannot be traced, an output read twice, a normalisation layer between)
keeps the contiguous layout.
"""

from __future__ import annotations

import warnings
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

# Steps that act on each value alone and keep their input's strides.
ELEMENTWISE_MODULES = (
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardtanh,
    nn.Tanh,
    nn.Sigmoid,
    nn.Dropout,
)
ELEMENTWISE_FUNCTIONS = {
    F.relu,
    F.relu6,
    F.leaky_relu,
    F.elu,
    F.selu,
    F.celu,
    F.gelu,
    F.silu,
    F.mish,
    F.hardswish,
    F.hardtanh,
    F.dropout,
    torch.relu,
    torch.tanh,
    torch.sigmoid,
}
ELEMENTWISE_METHODS = {"relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_"}
# Pooling that reads any strides and gives its output its input's layout: a step on the way too.
POOLING_MODULES = (nn.AvgPool1d,)
POOLING_FUNCTIONS = {F.max_pool1d, F.avg_pool1d, torch.max_pool1d}
# The trace runs on a copy (a user's forward may store what it computes on the module); above
# this many parameter and buffer values (64 MiB of float32) the copy costs more than it saves.
MAX_COPIED_VALUES = 2**24


class LinkScope:
    """The traced module a set of links belongs to. The links hold only while its own forward
    runs (not for a part called alone, or a layer shared with another model), with every
    module in training mode (the pass the trace followed) and no hook anywhere inside (a
    hook on an enclosing block sees what crosses its boundary)."""

    def __init__(self, root: nn.Module) -> None:
        self.root = root
        self.modules = list(root.modules())
        self.depth = 0
        self.open = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The root's forward while the links exist: opens the scope around the real one."""
        if self.depth == 0:
            self.open = all(m.training and not hooked(m) for m in self.modules)
        self.depth += 1
        try:
            return type(self.root).forward(self.root, *args, **kwargs)
        finally:
            self.depth -= 1
            if self.depth == 0:
                self.open = False


# a switched module → the modules its output passes on the way (its reader last), and the scope
Links = dict[nn.Module, tuple[tuple[nn.Module, ...], LinkScope]]


def layout_free_links(model: nn.Module, switched: list[nn.Module]) -> Links:
    """Each of the `switched` modules (only `nn.Conv1d` and `nn.MaxPool1d` ones count) whose
    output reaches another of them through element-wise steps and layout-keeping pooling
    alone, mapped to the modules on the way (that reader last) and the traced module whose
    forward the link belongs to."""
    candidates = {id(m) for m in switched if type(m) in (nn.Conv1d, nn.MaxPool1d)}
    links: Links = {}
    _collect(model, candidates, links)
    return links


def hooked(module: nn.Module) -> bool:
    """Whether a hook would see this module's input, output or their gradients: a user's hook
    may `.view` what it is given."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or _global_hooks()
    )


def _global_hooks() -> bool:
    hooks = nn.modules.module
    return bool(
        hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hooks._global_backward_hooks
        or hooks._global_backward_pre_hooks
    )


def _collect(module: nn.Module, candidates: set[int], links: Links) -> None:
    """Trace the outermost modules that can be traced and hold two candidates or more."""
    if sum(id(m) in candidates for m in module.modules()) < 2:
        return
    graph = _traced(module)
    if graph is None:  # a forward the trace cannot follow: its parts may still be traceable
        for child in module.children():
            _collect(child, candidates, links)
        return
    found = _links_in(graph, dict(module.named_modules()), candidates)
    if found and "forward" not in vars(module):  # the scope sets the root's forward
        scope = LinkScope(module)
        links.update({producer: (on_the_way, scope) for producer, on_the_way in found.items()})


def _traced(module: nn.Module) -> fx.Graph | None:
    """The graph of the module's forward in training mode, traced on a copy: a user's forward
    may store what it computes (`self.features = h`), and a trace passes it tracing values.
    None where the trace cannot follow the forward, or where the forward keeps a value the
    graph does not show (on a module, in a list): that value could reach anything."""
    if _global_hooks():  # they would run on the tracing values
        return None
    try:
        tensors = [*module.parameters(), *module.buffers()]
        if sum(t.numel() for t in tensors) > MAX_COPIED_VALUES:
            return None
        with _hooks_set_aside(module), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copy = deepcopy(module)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = fx.Tracer().trace(copy.train())  # the branches a training step takes
    except Exception:  # data-dependent control flow, an uncopyable attribute, a lazy module
        return None
    if any(_holds_proxy(vars(m)) for m in copy.modules()):
        return None
    return graph


@contextmanager
def _hooks_set_aside(module: nn.Module) -> Iterator[None]:
    """The module's hooks out of the way while it is copied: the copy must not run a user's
    hook on tracing values, and a hook's owner (a bound method's object) must not be copied."""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    kept = [(m, name, getattr(m, name)) for m in module.modules() for name in names]
    for m, name, _ in kept:
        setattr(m, name, OrderedDict())
    try:
        yield
    finally:
        for m, name, hooks in kept:
            setattr(m, name, hooks)


def _holds_proxy(value: Any, depth: int = 0) -> bool:
    """Whether a tracing value was kept here, in containers up to three levels down."""
    if isinstance(value, fx.Proxy):
        return True
    if depth >= 3:
        return False
    if isinstance(value, dict):
        return any(_holds_proxy(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_holds_proxy(v, depth + 1) for v in value)
    return False


def _links_in(
    graph: fx.Graph, named: dict[str, nn.Module], candidates: set[int]
) -> dict[nn.Module, tuple[nn.Module, ...]]:
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    links: dict[nn.Module, tuple[nn.Module, ...]] = {}
    for node in graph.nodes:
        if node.op != "call_module" or calls[node.target] != 1:
            continue  # a module called twice hands one output to an unknown reader
        producer = named[str(node.target)]
        if id(producer) not in candidates:
            continue
        on_the_way: list[nn.Module] = []
        current = node
        while len(current.users) == 1:
            (reader,) = current.users
            module = named.get(str(reader.target)) if reader.op == "call_module" else None
            if module is not None and id(module) in candidates:
                links[producer] = (*on_the_way, module)
                break
            if module is not None and type(module) in (*ELEMENTWISE_MODULES, *POOLING_MODULES):
                on_the_way.append(module)
            elif not _passes_through(reader):
                break
            current = reader
    return links


def _passes_through(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in ELEMENTWISE_FUNCTIONS or node.target in POOLING_FUNCTIONS
    return node.op == "call_method" and node.target in ELEMENTWISE_METHODS
