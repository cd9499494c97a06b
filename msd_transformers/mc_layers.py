"""What Monte-Carlo dropout samples in a network: which modules are dropout, and where the transformer layers are.

- [`is_dropout_module`]: `nn.Dropout`-family modules, and the attention modules whose attention dropout is functional
  and follows the module's own training flag ([`uses_functional_dropout`] reads their `forward`'s source).
- [`find_layers`]: the backbone and its list of transformer layers, for `mc_dropout(..., layers=k)`; `LAYER_LISTS`
  names the list (or says why there is none) where the one-list rule does not find it.
- [`dropout_rate_fields`]: the config fields that set the sampled rates, to name when every one of them is 0.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Iterator
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from .architectures import MODEL_TYPE_PREFIX
from .dropout import MultiSampleDropout

#: Where the transformer layers are, per upstream `model_type`, for `mc_dropout(..., layers=k)`: the path of their
#: `nn.ModuleList` inside the backbone (`model.base_model`), or `None` where the top layers cannot run alone. A family
#: not listed here uses the one `nn.ModuleList` of its backbone that holds `num_hidden_layers` modules.
LAYER_LISTS: dict[str, str | None] = {
    # One layer group (`encoder.albert_layer_groups`) applied num_hidden_layers times: the depths share weights.
    "albert": None,
    # The final character encoder takes the deterministic character encoding next to the upsampled deep layers.
    "canine": None,
    # Blocks of layers with pooling between them, and an upsampling decoder over the first block's output.
    "funnel": None,
    # A layer is four lists (attentions, layer_norm1, ffns, layer_norm2), not one module.
    "flaubert": None,
    "xlm": None,
    # Sequence-first layout (L, B, H): the batch is not the first dimension of the layers' inputs.
    "xlnet": None,
    # The language adapters take per-example language ids, a 1-D tensor the layers are not given repeated.
    "xmod": None,
    # The encoder calls each layer's `forward` method directly, past the hooks that repeat the rows.
    "squeezebert": None,
    # Encoder-decoders: the head reads the decoder's last state, so the top layers are the decoder's; the encoder runs
    # once, deterministically, also with every decoder layer sampled.
    **dict.fromkeys(("bart", "bigbird_pegasus", "mbart", "mvp", "plbart"), "decoder.layers"),
    **dict.fromkeys(("mt5", "t5", "umt5"), "decoder.block"),
    # Speech encoders: the transformer layers, not the convolutional feature extractor's layers (which a small config
    # can make as many).
    **dict.fromkeys(
        ("data2vec-audio", "hubert", "sew", "unispeech", "unispeech-sat", "wav2vec2", "wav2vec2-conformer"),
        "encoder.layers",
    ),
    "sew-d": "encoder.encoder.layer",
    # Each layer hands the next a relative position bias of shape (batch * heads, T, T), which is not per example.
    "wavlm": None,
    # The backbone reshapes the top layer's output to the shape of its input ids: the top layers cannot run on rows
    # repeated past the embeddings.
    "imagegpt": None,
    # Convolutional blocks, which `num_hidden_layers` counts (a multiple of the blocks' repeats), not a layer list.
    "efficientnet": None,
}

#: Keyword arguments of a transformer layer that are not per example although their first dimension may equal the
#: batch size: never repeated. DeBERTa-v2's relative position embeddings `(2 * span, H)` and positions `(1, L, L)`.
SHARED_LAYER_ARGUMENTS: frozenset[str] = frozenset({"rel_embeddings", "relative_pos"})

DROPOUT_MODULES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def _is_dropout_context(node: ast.AST) -> bool:
    """A node under which reading `self.training` switches dropout: a call of a function named `*dropout*`
    (`F.dropout(x, p, training=self.training)`), an argument named `*dropout*` (`dropout=0.0 if not self.training
    else p`), or an assignment to a `*dropout*` name."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return "dropout" in name.lower()
    if isinstance(node, ast.keyword):
        return node.arg is not None and "dropout" in node.arg.lower()
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets]
        return any("dropout" in name.lower() for name in names)
    return False


def _training_reads(node: ast.AST, in_dropout: bool = False) -> Iterator[bool]:
    """For every read of `self.training` under `node`: whether it sits in a dropout context."""
    if isinstance(node, ast.Attribute) and node.attr == "training" and getattr(node.value, "id", None) == "self":
        yield in_dropout
        return
    in_dropout = in_dropout or _is_dropout_context(node)
    for child in ast.iter_child_nodes(node):
        yield from _training_reads(child, in_dropout)


@functools.cache
def uses_functional_dropout(cls: type[nn.Module]) -> bool:
    """Whether `cls.forward` reads `self.training` only to switch a functional dropout.

    Transformers' attention modules apply their attention dropout functionally, `dropout=0.0 if not self.training
    else self.attention_dropout`: it follows the attention module's own training flag, not an `nn.Dropout` module.
    This reads the source of `forward` and answers `True` when every read of `self.training` sits in a dropout call,
    a `dropout` argument or a `dropout` assignment. A module that also reads it for anything else (MoE router jitter,
    layer drop, `if not self.training: ...`) answers `False`: switching it would change more than dropout.

    Args:
        cls (`type[nn.Module]`): The module class.

    Returns:
        `bool`: Whether putting the module in training mode turns on dropout and nothing else.
    """
    forward = getattr(cls, "forward", None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(forward)))
    except (OSError, TypeError, SyntaxError):  # no source (builtin, compiled): not analysable, never switched
        return False
    reads = list(_training_reads(tree))
    return bool(reads) and all(reads)


def is_dropout_module(module: nn.Module) -> bool:
    """Whether `module` is dropout: an `nn.Dropout`-family module, or a module whose training flag switches only a
    functional dropout ([`uses_functional_dropout`]). A `MultiSampleDropout` is not (its samples would add a
    dimension); MSD models sample through their `MultiSampleLinear`, which `mc_dropout` drives."""
    if isinstance(module, MultiSampleDropout):
        return False
    return isinstance(module, DROPOUT_MODULES) or uses_functional_dropout(type(module))


def find_layers(model: PreTrainedModel) -> tuple[nn.Module, nn.ModuleList]:
    """The backbone (`model.base_model`) and its list of transformer layers, for `mc_dropout(..., layers=k)`.

    The list comes from [`LAYER_LISTS`] for the families listed there, else it is the one `nn.ModuleList` in the
    backbone with `num_hidden_layers` modules (not counting lists nested inside another such list).

    Raises:
        `ValueError`: the layers cannot be separated (ALBERT), or no single layer list is found.
    """
    model_type = getattr(model.config, "model_type", "").removeprefix(MODEL_TYPE_PREFIX)
    options = "layers=0 (the head only, multi-sample dropout models) or layers='all' (every dropout)"
    backbone = model.base_model
    if backbone is model:
        raise ValueError(f"{type(model).__name__} has no backbone (base_model) to split; use {options}.")
    if model_type in LAYER_LISTS:
        path = LAYER_LISTS[model_type]
        if path is None:
            raise ValueError(
                f"The top layers of {model_type!r} models cannot be sampled alone (see "
                f"msd_transformers.mc_layers.LAYER_LISTS), so layers=k does not apply; use {options}."
            )
        return backbone, backbone.get_submodule(path)
    n = getattr(model.config.get_text_config(), "num_hidden_layers", None)
    if not isinstance(n, int):  # ResNet, ConvNeXt, EfficientNet, ...: stages of blocks, no num_hidden_layers
        raise ValueError(
            f"{type(model).__name__} has no stack of transformer layers to count (its config has no "
            f"num_hidden_layers), so layers=k does not apply; use {options}."
        )
    found = [(name, m) for name, m in backbone.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    found = [(name, m) for name, m in found if not any(name.startswith(f"{other}.") for other, _ in found)]
    if len(found) != 1:
        where = f"several ({', '.join(name for name, _ in found)})" if found else "none"
        raise ValueError(
            f"Cannot find the transformer layers of {model_type!r}: {where} of the nn.ModuleLists in "
            f"{type(backbone).__name__} hold num_hidden_layers={n} modules. Add the path of the layer list to "
            f"msd_transformers.mc_layers.LAYER_LISTS[{model_type!r}], or use {options}."
        )
    return backbone, found[0][1]


def dropout_rates(module: nn.Module) -> list[float]:
    """The dropout rates a dropout module applies: `p` of an `nn.Dropout`-family module; for an attention module
    with functional dropout, its float attributes named `*dropout*` (e.g. Llama's `attention_dropout`)."""
    if isinstance(module, DROPOUT_MODULES):
        return [float(module.p)]
    return [float(v) for k, v in vars(module).items() if "dropout" in k.lower() and isinstance(v, (int, float))]


def dropout_rate_fields(config: Any) -> list[str]:
    """The config fields (of the config and its text config) that name a dropout rate, e.g. `attention_dropout`."""
    names = []
    text_config = config.get_text_config()
    for c in [config] if text_config is config else [config, text_config]:
        names += [k for k, v in c.to_dict().items() if ("dropout" in k or k.endswith("pdrop")) and _is_rate(v)]
    return sorted(set(names))


def _is_rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
