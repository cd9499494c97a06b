"""The generated documents: the architecture tables (`msd_transformers/architectures.md`) and the class statements of
the generated classes (at the end of `msd_transformers/generated.py`).

    python -m msd_transformers.docs            # rewrite both files from the registry
    python -m msd_transformers.docs --check    # exit 1 if either is out of date (a test runs this check)

The default rate of each row is found, not written down: the upstream model is built from its default config on the
meta device (one layer, no weight init: fast, no memory), once as is and once with every dropout-like config attribute
at its own value, so the rate of the replaced dropout names the attribute it comes from.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.initialization import no_init_weights

from .architectures import TASKS, MSDArchitecture
from .modeling import dropout_rate
from .registry import class_names, excluded_model_types, get_architecture, supported_model_types
from .tasks import get_task

PACKAGE_DIR = Path(__file__).resolve().parent
ARCHITECTURES_DOC = PACKAGE_DIR / "architectures.md"
GENERATED = PACKAGE_DIR / "generated.py"
# The class statements of `generated.py` lie between these two lines.
STATEMENTS_START = "    # Class statements, written by `python -m msd_transformers.docs`:\n"
STATEMENTS_END = "    # (end of the class statements)\n"

# `config.classifier_dropout`, `getattr(config, "cls_dropout", None)`: dropout attributes a class reads.
_CONFIG_DROPOUT = re.compile(r"""config\.(\w*drop\w*)|getattr\(\s*(?:self\.)?config,\s*["'](\w*drop\w*)["']""")


def _meta_model(arch: MSDArchitecture, attributes: dict[str, Any]) -> nn.Module | None:
    """The upstream model from its default config with `attributes` set, on the meta device, or `None` if that
    config does not build."""
    config = arch.config_class()
    try:
        config.num_hidden_layers = 1  # the head does not depend on the depth; one layer builds fast
    except (AttributeError, ValueError, NotImplementedError):  # e.g. Funnel: set through block_sizes only
        pass
    if getattr(config, "vocab_size", 0) is None:  # ESM's default config has no vocabulary
        config.vocab_size = 8
    try:
        for name, value in attributes.items():
            setattr(config, name, value)
        with torch.device("meta"), no_init_weights():
            return arch.model_class(config)
    except Exception:  # noqa: BLE001  (values this config or model refuses: no rate to read)
        return None


@functools.cache
def _config_dropouts_read_in(path: str) -> frozenset[str]:
    with open(path, encoding="utf-8") as f:
        return frozenset(a or b for a, b in _CONFIG_DROPOUT.findall(f.read()))


def rate_source(arch: MSDArchitecture) -> tuple[list[str], float | None]:
    """Where the default rate of a row comes from: the rate of the dropout it replaces, in the upstream default config.

    Args:
        arch (`MSDArchitecture`): A resolved row with a `dropout`.

    Returns:
        `tuple`: the config attributes that set the rate, the one that wins first (e.g. `["classifier_dropout",
        "hidden_dropout_prob"]`: `classifier_dropout`, or `hidden_dropout_prob` when it is `None`), and the rate in
        the default config. `([], None)` if the upstream model does not build from a default config.
    """
    model = _meta_model(arch, {})
    if model is None:
        return [], None
    rate = dropout_rate(model, arch)
    # Candidates: the config's dropout-like attributes, and those the modeling files of the classes on the
    # dropout's path read (DeBERTa reads `cls_dropout`, which its config does not declare).
    candidates = {name for name in model.config.to_dict() if "drop" in name}
    parts = arch.dropout.split(".")
    for path in ["", *(".".join(parts[:i]) for i in range(1, len(parts)))]:
        for cls in type(model.get_submodule(path)).__mro__:  # with the generic heads' own files
            if cls.__module__.startswith("transformers."):
                candidates |= _config_dropouts_read_in(inspect.getsourcefile(cls))
    # Rates only: unset (None) or a number, not a flag such as ESM's `token_dropout`.
    candidates = {
        name
        for name in candidates
        if (value := getattr(model.config, name, None)) is None
        or (isinstance(value, (int, float)) and not isinstance(value, bool))
    }
    found: list[str] = []
    while True:
        values = {name: None if name in found else 0.01 * (i + 1) for i, name in enumerate(sorted(candidates))}
        probe = _meta_model(arch, values)
        probe_rate = dropout_rate(probe, arch) if probe is not None else None
        winners = [name for name, value in values.items() if value is not None and value == probe_rate]
        if not winners:
            return found, rate
        found.append(winners[0])


def _row_markdown(arch: MSDArchitecture) -> str:
    if arch.resolve_head == "timm":  # the paths and the rate are the wrapped timm architecture's
        return (
            f"| `{arch.model_type}` | `MSD{arch.model_class.__name__}` | the timm head's dropout (`head_drop`, "
            f"`head.drop`, or `F.dropout` at `drop_rate`) | `{arch.classifier}.get_classifier()` | "
            "`model_args['drop_rate']` (0 by default: `msd_dropout` required) |"
        )
    if arch.dropout is None:  # no dropout before the Linear upstream, so no rate to inherit
        replaces, rate_text = "none (added)", "none: `msd_dropout` required"
    else:
        replaces = f"`{arch.dropout}`, 2nd call" if arch.head else f"`{arch.dropout}`"
        names, rate = rate_source(arch)
        rate_text = " or ".join(f"`{name}`" for name in names) or "—"
        if rate is not None:
            rate_text += f" ({rate:g})"
    if arch.pooling == "last_token":
        replaces += ", on the last non-padding token"
    if arch.loss_mask:
        replaces += f"; loss masked by `{arch.loss_mask}`"
    if arch.loss_style == "cross_entropy":
        replaces += "; cross-entropy loss only"
    return (
        f"| `{arch.model_type}` | `MSD{arch.model_class.__name__}` | {replaces} | `{arch.classifier}` | {rate_text} |"
    )


def task_markdown(task: str) -> str:
    """The supported model types of `task` (one line per row, sorted) and the excluded ones with their reasons."""
    lines = [
        "| model type | MSD class | the samples replace | through | default rate |",
        "|---|---|---|---|---|",
        *(_row_markdown(get_architecture(model_type, task)) for model_type in supported_model_types(task)),
    ]
    excluded = excluded_model_types(task)
    if excluded:
        lines += ["", "| model type | why it has no MSD class |", "|---|---|"]
        lines += [f"| `{model_type}` | {reason} |" for model_type, reason in excluded.items()]
    return "\n".join(lines) + "\n"


def architectures_document() -> str:
    """`msd_transformers/architectures.md`: every task's table, generated from the registry."""
    counts = ", ".join(f"{task} {len(supported_model_types(task))}" for task in TASKS)
    parts = [
        "# Supported architectures\n",
        "Generated by `python -m msd_transformers.docs` from the table in `msd_transformers/architectures.py` and the "
        "installed Transformers; a test checks that this file is up to date. Model types per task: "
        f"{counts}.\n",
        "Each MSD class is the upstream class with its dropout before the head's Linear turned into the identity and "
        'the Linear into a `MultiSampleLinear` (the same parameters), which draws the K samples. "2nd call": a '
        "RoBERTa-style head that calls one dropout module before `dense` and before `out_proj`; only the second "
        'becomes the samples. "none (added)": upstream has no dropout there, so `msd_dropout` must be set. '
        '"loss masked by `x`": the upstream token loss leaves out the tokens where the input `x` is 0, and so does '
        "the MSD loss. "
        '"cross-entropy loss only": the upstream loss is single-label cross-entropy whatever `problem_type`, and so '
        "is the MSD loss.\n",
    ]
    for task in TASKS:
        parts += [
            f"## {task} (`{get_task(task).auto_class.replace('AutoModel', 'AutoMSDModel')}`)\n",
            task_markdown(task),
        ]
    return "\n".join(parts)


def _class_statement(name: str, mixin: str, upstream: str, doc: str) -> list[str]:
    """One class statement inside `if TYPE_CHECKING:`, as `ruff format` writes it (bases wrapped past 119 columns)."""
    head = f"    class {name}({mixin}, transformers.{upstream}):"
    if len(head) > 119:
        head = f"    class {name}(\n        {mixin}, transformers.{upstream}\n    ):"
    return ["", head, f'        """{doc}"""']


def class_statements() -> str:
    """The class statements of `msd_transformers/generated.py`: one per generated class of the table, for editors,
    type checkers and `inspect.getsource`."""
    lines = []
    for name, (model_type, task) in sorted(class_names().items()):
        if task is None:
            lines += _class_statement(name, "MSDConfigMixin", name.removeprefix("MSD"), f"`msd-{model_type}`")
        else:
            upstream = get_task(task).mapping_names.get(model_type, name.removeprefix("MSD"))
            lines += _class_statement(name, "MSDModelMixin", upstream, f"{task}, `msd-{model_type}`")
    return "\n".join(lines[1:]) + "\n\n"  # a blank line before the end line, as `ruff format` writes it


def generated_module(current: str) -> str:
    """`current` (the text of `msd_transformers/generated.py`) with its class statements rewritten."""
    start = current.index(STATEMENTS_START) + len(STATEMENTS_START)
    end = current.index(STATEMENTS_END, start)
    return current[:start] + class_statements() + current[end:]


def write(check: bool = False) -> list[Path]:
    """Write (or, with `check`, compare) the generated files; returns the ones that were out of date."""
    stale = []
    module = generated_module(GENERATED.read_text(encoding="utf-8"))
    for path, text in ((ARCHITECTURES_DOC, architectures_document()), (GENERATED, module)):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    return stale


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the generated architecture tables and class statements.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args()
    stale = write(check=args.check)
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'written'}")
    sys.exit(1 if args.check and stale else 0)
