"""Token-level data and models for the token-classification and question-answering tests: examples of different
lengths, a collator that pads them per batch as a tokenizer's collator does, tiny MSD models of the two tasks and an
MSD head whose dropout masks are fixed."""

import torch
import torch.nn.functional as F
from conftest import EOS, VOCAB, pad_token_id, tiny_config
from datasets import Dataset
from torch import nn
from transformers import AutoModelForQuestionAnswering, AutoModelForTokenClassification

import msd_transformers as msd
from msd_transformers import MultiSampleLinear

TOKEN = "token-classification"
SPAN = "question-answering"
NUM_TAGS = 3


def token_dataset(lengths, num_labels=NUM_TAGS, seed=0, unlabelled=0.3):
    """One row per length: random token ids ending in `EOS`, a tag per token, -100 on the first token (as `[CLS]`)
    and on a random share `unlabelled` of the others (as continuation sub-tokens)."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "labels": []}
    for n in lengths:
        ids = torch.randint(4, VOCAB, (n,), generator=g)
        ids[-1] = EOS
        labels = torch.randint(0, num_labels, (n,), generator=g)
        labels[torch.rand(n, generator=g) < unlabelled] = -100
        labels[0] = -100
        rows["input_ids"].append(ids.tolist())
        rows["labels"].append(labels.tolist())
    return Dataset.from_dict(rows)


def span_dataset(lengths, seed=0):
    """One row per length: random token ids ending in `EOS`, and an answer span inside the row."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "start_positions": [], "end_positions": []}
    for n in lengths:
        ids = torch.randint(4, VOCAB, (n,), generator=g)
        ids[-1] = EOS
        start = int(torch.randint(1, n - 1, (), generator=g))
        rows["input_ids"].append(ids.tolist())
        rows["start_positions"].append(start)
        rows["end_positions"].append(start + int(torch.randint(0, n - 1 - start, (), generator=g)))
    return Dataset.from_dict(rows)


def pad_collator(pad_id=0, length=None):
    """A data collator: rows padded on the right to the longest of the batch (or to `length`), `attention_mask` 0 and
    token labels -100 on the padding, as `DataCollatorForTokenClassification`; other fields stacked."""

    def collate(features):
        t = length or max(len(f["input_ids"]) for f in features)
        out = {"input_ids": torch.full((len(features), t), pad_id), "attention_mask": torch.zeros(len(features), t)}
        out["attention_mask"] = out["attention_mask"].long()
        if "labels" in features[0]:
            out["labels"] = torch.full((len(features), t), -100)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            out["input_ids"][i, :n] = torch.tensor(f["input_ids"])
            out["attention_mask"][i, :n] = 1
            if "labels" in f:
                out["labels"][i, :n] = torch.tensor(f["labels"])
        for key in features[0]:
            if key not in out:
                out[key] = torch.tensor([f[key] for f in features])
        return out

    return collate


def collate(ds, config=None, length=None):
    """All rows of `ds` as one padded batch."""
    return pad_collator(pad_token_id(config), length)([ds[i] for i in range(len(ds))])


def token_model(model_type="bert", dropout=0.1, num_labels=NUM_TAGS, **kwargs):
    """A tiny MSD token classifier of `model_type` (`kwargs`: the MSD fields)."""
    cfg = msd.msd_config(tiny_config(model_type, dropout=dropout), num_labels=num_labels, task=TOKEN, **kwargs)
    return AutoModelForTokenClassification.from_config(cfg)


def span_model(model_type="bert", dropout=0.1, **kwargs):
    """A tiny MSD question-answering model of `model_type` (`kwargs`: the MSD fields; `msd_dropout` is required)."""
    cfg = msd.msd_config(tiny_config(model_type, dropout=dropout), task=SPAN, **kwargs)
    return AutoModelForQuestionAnswering.from_config(cfg)


def head_path(model, task):
    return msd.get_architecture(model.config.model_type.removeprefix("msd-"), task).classifier


class FixedSampleLinear(MultiSampleLinear):
    """An MSD head whose K dropout masks over the features are fixed, the same for every example and token: samples
    that differ but do not depend on how a batch is split or padded. (..., H) -> (K, ..., out) in training."""

    @classmethod
    def around(cls, linear: nn.Linear, num_samples: int, p: float = 0.5, seed: int = 0) -> "FixedSampleLinear":
        head = cls.from_linear(linear, num_samples, 0.0)
        g = torch.Generator().manual_seed(seed)
        head.register_buffer("masks", (torch.rand(num_samples, linear.in_features, generator=g) >= p) / (1 - p))
        return head

    def forward(self, x):
        if not self.training:
            return F.linear(x, self.weight, self.bias).unsqueeze(0)
        masks = self.masks.view(-1, *([1] * (x.dim() - 1)), x.shape[-1])  # (K, 1, ..., 1, H)
        return F.linear(x.unsqueeze(0) * masks, self.weight, self.bias)  # (K, ..., out)


def with_fixed_masks(model, task, num_samples):
    """`model` with its head's Linear swapped for a `FixedSampleLinear` of `num_samples` fixed masks, its weights at
    std 2 (logits far enough apart that the samples' differences weigh in a step)."""
    path = head_path(model, task)
    head = FixedSampleLinear.around(model.get_submodule(path), num_samples)
    nn.init.normal_(head.weight, std=2.0)
    model.set_submodule(path, head)
    return model


def sgd_step(model, init, loss_of, lr=0.5):
    """The weights after one plain SGD step (learning rate `lr`, no gradient clipping) from the weights `init` on the
    loss `loss_of(model)`, the model in training mode."""
    model.load_state_dict(init)
    model.train()
    loss_of(model).backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def uncertainty_alone_and_batched(model, ds, tmp_path, trainer_args, batch_size=6):
    """`trainer.mc_uncertainty` of a Monte-Carlo prediction of `ds` one example at a time, and in batches of
    `batch_size` padded to their longest example (`MSDTrainer`, 2 samples)."""
    scores = []
    for size in (1, batch_size):
        args = trainer_args(tmp_path, per_device_eval_batch_size=size, msd_eval_samples=2)
        trainer = msd.MSDTrainer(model=model, args=args, data_collator=pad_collator())
        trainer.predict(ds)
        scores.append(trainer.mc_uncertainty)
    return scores


def capture(model, *fields):
    """Record `fields` of every forward output of `model` (one tuple per forward, or the field alone)."""
    seen = []

    def hook(module, args, output):
        values = tuple(getattr(output, f) for f in fields)
        seen.append(values if len(fields) > 1 else values[0])

    model.register_forward_hook(hook)
    return seen
