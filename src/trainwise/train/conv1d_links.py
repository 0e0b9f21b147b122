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
from collections import Counter
from copy import deepcopy

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

Links = dict[nn.Module, tuple[nn.Module, ...]]


def layout_free_links(model: nn.Module, switched: list[nn.Module]) -> Links:
    """Each of the `switched` modules (only `nn.Conv1d` and `nn.MaxPool1d` ones count) whose
    output reaches another of them through element-wise steps alone, mapped to the modules on
    the way, that reader last."""
    candidates = {id(m) for m in switched if type(m) in (nn.Conv1d, nn.MaxPool1d)}
    links: Links = {}
    _collect(model, candidates, links)
    return links


def hooked(module: nn.Module) -> bool:
    """Whether a forward hook would see this module's input or output: a user's hook may
    `.view` what it is given."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or nn.modules.module._global_forward_hooks
        or nn.modules.module._global_forward_pre_hooks
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
    links.update(_links_in(graph, dict(module.named_modules()), candidates))


def _traced(module: nn.Module) -> fx.Graph | None:
    tensors = [*module.parameters(), *module.buffers()]
    if sum(t.numel() for t in tensors) > MAX_COPIED_VALUES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # in training mode: the trace follows the branches a training step takes
            return fx.Tracer().trace(deepcopy(module).train())
    except Exception:  # data-dependent control flow, an uncopyable attribute: no links here
        return None


def _links_in(graph: fx.Graph, named: dict[str, nn.Module], candidates: set[int]) -> Links:
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    links: Links = {}
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
