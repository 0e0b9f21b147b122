"""Which windowed 1-D convolution hands its output only to a reader of its memory: the links
between the layers of a plain `nn.Sequential`.

Why: the windowed product (`train/eager_conv1d.py`) computes a convolution's output as
(batch, length, channels) memory. Handed on as a contiguous (batch, channels, length) tensor it
costs a transposing copy forward and another for its gradient, about a tenth of the benchmark
CNN's training step; and a max pooling layer with gradients runs 3-6 times faster on that
memory than on the contiguous layout (`train/rows_pool1d.py`). Whether an output may keep the
product's layout depends on everything that reads it: a windowed convolution or a switched
`nn.MaxPool1d` reads any strides, but a user's `.view(batch, -1)` needs the contiguous layout.

Only a plain `nn.Sequential` says for certain where an output goes: its forward calls its
layers in order, each on the one before's output, whatever the data, flags or random draws.
A user's own `forward` may take another path on any call than on the last (a random branch,
a keyword argument, a flag a callback flips), so its outputs keep the contiguous layout. A
link is a convolution or max pooling layer, then only element-wise layers and average pooling
(which keep their input's layout), then a convolution or max pooling layer, all consecutive
layers of one `nn.Sequential`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

# Layers that act on each value alone, or pool, and keep their input's strides.
PASS_THROUGH = (
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
    nn.AvgPool1d,
)
READERS = (nn.Conv1d, nn.MaxPool1d)


class LinkScope:
    """The `nn.Sequential` a set of links belongs to, set as its forward while they exist.

    The links hold only while its own forward runs (not for a layer called alone, or shared
    with another model), with its layers as they were, every module in training mode and no
    hook anywhere inside (a hook may `.view` what it sees, or a gradient of it). Copies of
    the switched layers hold no links (`_WindowedForward.__deepcopy__`), so a copy of the
    model (an averaged model, a snapshot) computes with the contiguous layout.
    """

    def __init__(self, root: nn.Sequential) -> None:
        self.root = root
        self.layers = tuple(root)
        self.modules = list(root.modules())
        self.depth = 0
        self.open = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.depth == 0:
            self.open = self._as_linked()
        self.depth += 1
        try:
            return type(self.root).forward(self.root, *args, **kwargs)
        finally:
            self.depth -= 1
            if self.depth == 0:
                self.open = False

    def _as_linked(self) -> bool:
        layers = tuple(self.root._modules.values())
        return (
            len(layers) == len(self.layers)
            and all(a is b for a, b in zip(layers, self.layers, strict=True))
            and all(m.training and not hooked(m) for m in self.modules)
        )


# a switched module → the layers its output passes on the way (its reader last), and the scope
Links = dict[nn.Module, tuple[tuple[nn.Module, ...], LinkScope]]


def layout_free_links(model: nn.Module, switched: list[nn.Module]) -> Links:
    """Each of the `switched` modules (only `nn.Conv1d` and `nn.MaxPool1d` ones count) whose
    output reaches another of them through `PASS_THROUGH` layers alone, within one plain
    `nn.Sequential`, mapped to the layers on the way (that reader last) and the scope."""
    candidates = {id(m) for m in switched if type(m) in READERS}
    links: Links = {}
    for seq in model.modules():
        if type(seq) is not nn.Sequential or "forward" in vars(seq):
            continue
        found = _links_in(list(seq), candidates)
        if found:
            scope = LinkScope(seq)
            links.update({producer: (on_the_way, scope) for producer, on_the_way in found})
    return links


def hooked(module: nn.Module) -> bool:
    """Whether a hook would see this module's input, output or their gradients."""
    hooks = nn.modules.module
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hooks._global_backward_hooks
        or hooks._global_backward_pre_hooks
    )


def _links_in(
    layers: list[nn.Module], candidates: set[int]
) -> list[tuple[nn.Module, tuple[nn.Module, ...]]]:
    found = []
    for i, producer in enumerate(layers):
        if id(producer) not in candidates or layers.count(producer) > 1:
            continue  # a layer used twice hands one output to an unknown reader
        j = i + 1
        while j < len(layers) and type(layers[j]) in PASS_THROUGH:
            j += 1
        if j < len(layers) and id(layers[j]) in candidates:
            found.append((producer, tuple(layers[i + 1 : j + 1])))
    return found
