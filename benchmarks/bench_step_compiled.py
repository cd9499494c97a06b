"""Compiled rows of the step benchmark: the MSD head against the one-sample upstream head, both under
`torch.compile(model, fullgraph=True)`.

Two tables (`compiled` in the result), each `plain` (the upstream class) against `msd8` (the package's class, K = 8),
with the same weights:

- `sequence`: the sequence rows' batch (MiniLM-L6, 16 x 128 BBC News tokens), `BertForSequenceClassification`
  against `MSDBertForSequenceClassification` (rate 0.1, MiniLM's dropout);
- `token`: the token rows' `minilm` shape (16 x 256 random tokens, 13 labels), `BertForTokenClassification` against
  `MSDBertForTokenClassification` (`msd_dropout=0.1`).

Every model is compiled with `fullgraph=True` (a graph break would be an error) and the backend of
`--compile-backend` (Inductor by default; `eager`, Dynamo's graph capture alone, with `--quick`). Under compilation
the MSD head draws its masks with `torch.randint` and keeps them for the backward pass as bool tensors (see
`msd_transformers.sampled_linear`), where the eager head redraws them from a saved generator state. The first step of
each variant (compilation included) is timed on its own (`first_step_s`); then warm-up rounds, interleaved repeats
and memory as in `bench_measure.measure`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import bench_step_token
import torch
from bench_common import autocast_factory, msd_model, seed_everything, upstream_model
from bench_measure import State, Step, measure, training_steps
from torch import nn

NUM_SAMPLES = 8


def compiled_steps(
    models: dict[str, nn.Module], loss: Callable[[nn.Module], torch.Tensor], backend: str, device: str, dtype: str
) -> tuple[dict[str, Step], State]:
    """The steps of `models` (in training mode), each through `torch.compile(model, fullgraph=True)`: `loss(compiled)`
    is one forward's loss; the optimizer holds the model's own parameters."""
    variants = {}
    for name, model in models.items():
        compiled = torch.compile(model.to(device).train(), fullgraph=True, backend=backend)
        variants[name] = (model, [lambda compiled=compiled: loss(compiled)])
    return training_steps(variants, autocast_factory(device, dtype), lr=2e-5)


def first_steps(steps: dict[str, Step]) -> dict[str, float]:
    """Seconds of each variant's first step: compilation and one optimizer step."""
    seconds = {}
    for name, step in steps.items():
        t0 = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - t0
        print(f"compiled {name}: first step (compilation) {seconds[name]:.1f}s", flush=True)
    return seconds


def run_compiled(
    args: Any, inputs: dict[str, torch.Tensor], labels: torch.Tensor, num_labels: int, warmup: int, repeats: int
) -> dict[str, Any]:
    """The `compiled` part: the sequence table on the sequence rows' batch (`inputs`, `labels`) and the token table
    on the token rows' `minilm` shape."""
    tiny, device = args.quick, args.device
    backend = args.compile_backend or ("eager" if tiny else "inductor")
    torch._dynamo.reset()
    result: dict[str, Any] = {
        "settings": {
            "backend": backend,
            "fullgraph": True,
            "num_samples": NUM_SAMPLES,
            "warmup_rounds": warmup,
            "repeats": repeats,
            "torch": torch.__version__,
        }
    }
    seed_everything(0)
    plain = upstream_model(num_labels, tiny=tiny)
    msd8 = msd_model(num_labels, tiny=tiny, msd_num_samples=NUM_SAMPLES)
    msd8.load_state_dict(plain.state_dict())
    batch = {**inputs, "labels": labels}
    tables = {"sequence": ({"plain": plain, "msd8": msd8}, batch, dict(batch_size=len(labels)))}
    models = bench_step_token.token_models("minilm", tiny)
    batch_size, seq_len = bench_step_token.QUICK_SHAPE if tiny else bench_step_token.SHAPES["minilm"]
    vocab_size = models["plain"].config.vocab_size
    token_inputs, token_labels = bench_step_token.token_batch(vocab_size, batch_size, seq_len, device)
    tables["token"] = (
        {"plain": models["plain"], "msd8": models["msd8"]},
        {**token_inputs, "labels": token_labels},
        dict(batch_size=batch_size, rate=bench_step_token.RATE, num_labels=bench_step_token.NUM_LABELS),
    )
    for name, (variants, table_batch, settings) in tables.items():
        steps, state = compiled_steps(
            variants, lambda model, b=table_batch: model(**b).loss, backend, device, args.dtype
        )
        first = first_steps(steps)
        rows = measure(steps, state, warmup, repeats, device, tag=f"compiled {name}")
        for row in rows:
            row["first_step_s"] = first[row["variant"]]
        result[name] = {
            "settings": {
                "model": bench_step_token.shape_name("minilm", tiny),
                "seq_len": table_batch["input_ids"].shape[1],
                "parameters": sum(p.numel() for p in state["plain"][0].parameters()),
                **settings,
            },
            "rows": rows,
        }
        del steps, state
    return result
