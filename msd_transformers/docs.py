"""The README's architecture tables, generated from `ARCHITECTURES` and `EXCLUDED_ARCHITECTURES`.

`python -m msd_transformers.docs` prints them; `python -m msd_transformers.docs --readme README.md` writes them into
the README (a test checks that the README's tables are the generated ones). The default rate of each row is found,
not written down: the upstream model is built from its default config on the meta device (one layer, no weight
init: fast, no memory), once as is and once with every dropout-like config attribute at its own value, so the rate
of the replaced dropout names the attribute it comes from.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.initialization import no_init_weights

from .modeling import ARCHITECTURES, EXCLUDED_ARCHITECTURES, MSD_MODEL_CLASSES, MSDArchitecture

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


def _replaced_rate(arch: MSDArchitecture, model: nn.Module) -> float:
    dropout = model.get_submodule(arch.dropout)
    return dropout.p if isinstance(dropout, nn.Dropout) else 0.0  # nn.Identity: a rate-0 dropout


@functools.cache
def _config_dropouts_read_in(path: str) -> frozenset[str]:
    with open(path, encoding="utf-8") as f:
        return frozenset(a or b for a, b in _CONFIG_DROPOUT.findall(f.read()))


def rate_source(arch: MSDArchitecture) -> tuple[list[str], float | None]:
    """Where the default rate of a row comes from: the rate of the dropout it replaces, in the upstream default config.

    Args:
        arch (`MSDArchitecture`): A table row.

    Returns:
        `tuple`: the config attributes that set the rate, the one that wins first (e.g. `["classifier_dropout",
        "hidden_dropout_prob"]`: `classifier_dropout`, or `hidden_dropout_prob` when it is `None`), and the rate in
        the default config. `([], None)` if the upstream model does not build from a default config.
    """
    model = _meta_model(arch, {})
    if model is None:
        return [], None
    rate = _replaced_rate(arch, model)
    # Candidates: the config's dropout-like attributes, and those the modeling files of the classes on the
    # dropout's path read (DeBERTa reads `cls_dropout`, which its config does not declare).
    candidates = {name for name in model.config.to_dict() if "drop" in name}
    parts = arch.dropout.split(".")
    for path in ["", *(".".join(parts[:i]) for i in range(1, len(parts)))]:
        candidates |= _config_dropouts_read_in(inspect.getsourcefile(type(model.get_submodule(path))))
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
        probe_rate = _replaced_rate(arch, probe) if probe is not None else None
        winners = [name for name, value in values.items() if value is not None and value == probe_rate]
        if not winners:
            return found, rate
        found.append(winners[0])


def _row_markdown(arch: MSDArchitecture) -> str:
    if arch.dropout is None:  # decoder LLMs: no dropout before the classifier upstream, so no rate to inherit
        replaces, rate_text = "none (added)", "none: `msd_dropout` required"
    else:
        replaces = f"`{arch.dropout}`, 2nd call" if arch.head else f"`{arch.dropout}`"
        names, rate = rate_source(arch)
        rate_text = " or ".join(f"`{name}`" for name in names) or "—"
        if rate is not None:
            rate_text += f" ({rate:g})"
    if arch.pooling == "last_token":
        replaces += ", on the last non-padding token"
    model_cls = MSD_MODEL_CLASSES[arch.model_type].__name__
    return f"| `{arch.model_type}` | `{model_cls}` | {replaces} | `{arch.classifier}` | {rate_text} |"


def architectures_markdown() -> str:
    """The supported model types (one line per `ARCHITECTURES` row, sorted) and the excluded ones with their reasons,
    as Markdown.

    Returns:
        `str`: two Markdown tables.

    Example:

    ```python
    >>> from msd_transformers.docs import architectures_markdown
    >>> print(architectures_markdown())
    | model type | MSD class | the samples replace | before | default rate |
    |---|---|---|---|---|
    | `albert` | `MSDAlbertForSequenceClassification` | `dropout` | `classifier` | `classifier_dropout_prob` (0.1) |
    ...
    ```
    """
    lines = [
        "| model type | MSD class | the samples replace | before | default rate |",
        "|---|---|---|---|---|",
        *(_row_markdown(ARCHITECTURES[model_type]) for model_type in sorted(ARCHITECTURES)),
        "",
        "| model type | why it has no MSD class |",
        "|---|---|",
        *(
            f"| `{model_type}` | {EXCLUDED_ARCHITECTURES[model_type]} |"
            for model_type in sorted(EXCLUDED_ARCHITECTURES)
        ),
    ]
    return "\n".join(lines) + "\n"


README_START = "<!-- architectures:start -->"
README_END = "<!-- architectures:end -->"


def write_readme_tables(readme: str | Path) -> bool:
    """Put [`architectures_markdown`] between the `<!-- architectures:start -->` and `<!-- architectures:end -->`
    markers of `readme`.

    Args:
        readme (`str` or `Path`): The Markdown file (the project's README).

    Returns:
        `bool`: whether the file changed.

    Raises:
        `ValueError`: the file lacks the markers.
    """
    path = Path(readme)
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {README_START} ... {README_END} markers.")
    new = text[: start + len(README_START)] + "\n" + architectures_markdown() + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Print the architecture tables, or write them into a README.")
    parser.add_argument("--readme", help="write the tables between the architectures markers of this file")
    args = parser.parse_args()
    if args.readme:
        print(f"{args.readme}: {'updated' if write_readme_tables(args.readme) else 'already up to date'}")
    else:
        print(architectures_markdown(), end="")
