"""The convergence benchmark's token regime against direct computations: its training loss is `MSDTrainer`'s for each
variant, and its evaluation gives upstream's token loss of the whole validation split, seqeval's entity scores and the
word accuracy of the same predictions. (The `--quick` run itself is covered in `test_benchmarks.py`.)"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from seqeval.metrics import f1_score, precision_score, recall_score
from torch import nn

from msd_transformers import MSDTrainer, MSDTrainingArguments

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_convergence_token as bt  # noqa: E402
from bench_convergence import CONSISTENCY, regimes  # noqa: E402

pytestmark = pytest.mark.xdist_group("benchmarks")


@pytest.fixture(scope="module")
def data() -> bt.TokenData:
    """The quick regime's WNUT-16 slice (64 training and 32 validation tweets), tokenized."""
    return bt.TokenData(regimes(quick=True)["token"])


def _passes(variant: str) -> tuple[int, float]:
    return (2 if variant in ("whole2", "rdrop") else 1), (CONSISTENCY if variant == "rdrop" else 0.0)


@pytest.mark.parametrize("variant", ["plain", "msd8", "fp5", "whole2", "rdrop"])
def test_token_objective_is_the_trainers_loss(variant: str, data: bt.TokenData, tmp_path: Path) -> None:
    """Same model, same batch (padded, with unlabelled sub-tokens), same dropout masks: the benchmark's training loss
    equals `MSDTrainer.compute_loss` with `msd_forward_passes` and `msd_consistency` set as the variant says."""
    model = bt.build_token_model(variant, data, tiny=True, seed=0).train()
    batch = data.collate(data.train[:6])
    labels = batch.pop("labels")
    assert batch["attention_mask"].eq(0).any() and labels.eq(-100).any()
    passes, weight = _passes(variant)
    torch.manual_seed(5)
    ours = bt.token_objective(model, batch, labels, passes, weight)
    args = MSDTrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, msd_forward_passes=passes, msd_consistency=weight
    )
    trainer = MSDTrainer(model=model, args=args)
    torch.manual_seed(5)
    expected = trainer.compute_loss(model, {**batch, "labels": labels})
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


def test_token_variants(data: bt.TokenData) -> None:
    """The variants' heads: K=8 at 0.1, the Feedback Prize rates; R-Drop's loss is the two passes' loss plus the
    consistency term, which is positive (the passes' dropout masks differ)."""
    msd8, fp5 = (bt.build_token_model(v, data, tiny=True, seed=0) for v in ("msd8", "fp5"))
    assert (msd8.config.msd_num_samples, msd8.config.msd_dropout) == (8, 0.1)
    assert fp5.config.msd_num_samples == 5 and fp5.msd.rates == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5))
    model = bt.build_token_model("rdrop", data, tiny=True, seed=0).train()
    batch = data.collate(data.train[:6])
    labels = batch.pop("labels")
    torch.manual_seed(5)
    rdrop = bt.token_objective(model, batch, labels, 2, CONSISTENCY)
    torch.manual_seed(5)
    whole2 = bt.token_objective(model, batch, labels, 2, 0.0)
    assert rdrop > whole2 + 1e-6


def test_eval_loss_is_upstreams_loss_of_the_split(data: bt.TokenData) -> None:
    """The eval loss of the length-sorted validation batches equals the upstream model's loss of all validation tweets
    as one padded batch (the cross-entropy averaged over every labelled token)."""
    model = bt.build_token_model("plain", data, tiny=True, seed=0)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)  # logits far from uniform
    metrics = bt.evaluate_tokens(model, data.eval_batches(), data.tag_info.label_names, "IOB2")
    assert model.training  # back in training mode after the evaluation
    model.eval()
    with torch.no_grad():
        expected = model(**data.collate(data.val)).loss
    assert metrics["eval_loss"] == pytest.approx(expected.item(), abs=1e-5)


class _Oracle(nn.Module):
    """A stand-in model whose logits favour the reference tag of each validation token, with a seeded share of
    positions given a random tag: entity scores strictly between 0 and 1."""

    def __init__(self, data: bt.TokenData, num_labels: int):
        super().__init__()
        self.gold = {tuple(e["input_ids"]): e["labels"] for e in data.val}
        self.num_labels = num_labels
        self.g = torch.Generator().manual_seed(0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> SimpleNamespace:
        rows = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            gold = torch.tensor(self.gold[tuple(ids[mask.bool()].tolist())]).clamp(min=0)  # (t,)
            noisy = torch.where(torch.rand(len(gold), generator=self.g) < 0.3,
                                torch.randint(0, self.num_labels, (len(gold),), generator=self.g), gold)  # fmt: skip
            logits = 4.0 * F.one_hot(noisy, self.num_labels).float()  # (t, C)
            rows.append(F.pad(logits, (0, 0, 0, len(ids) - len(gold))))
        return SimpleNamespace(logits=torch.stack(rows))  # (B, T, C)


def test_entity_scores_and_accuracy_are_seqevals(data: bt.TokenData) -> None:
    """Entity precision, recall and F1 are seqeval's (default, conlleval-compatible chunking) of the words' predicted
    and reference tags; the accuracy is the share of labelled words predicted right; the ECE is in [0, 1]."""
    names = data.tag_info.label_names
    model = _Oracle(data, len(names))
    batches = data.eval_batches()
    metrics = bt.evaluate_tokens(model, batches, names, "IOB2")
    model.g.manual_seed(0)  # the same random tags again, batch by batch in the same order
    references, predicted, right, total = [], [], 0, 0
    for batch in batches:
        pred = model(**batch).logits.argmax(-1)  # (B, T)
        for p, y in zip(pred, batch["labels"], strict=True):
            keep = y != -100
            references.append([names[i] for i in y[keep].tolist()])
            predicted.append([names[i] for i in p[keep].tolist()])
            right += int((p[keep] == y[keep]).sum())
            total += int(keep.sum())
    assert 0 < metrics["eval_f1"] < 1
    assert metrics["eval_f1"] == pytest.approx(f1_score(references, predicted))
    assert metrics["eval_precision"] == pytest.approx(precision_score(references, predicted))
    assert metrics["eval_recall"] == pytest.approx(recall_score(references, predicted))
    assert metrics["eval_accuracy"] == pytest.approx(right / total)
    assert 0 <= metrics["eval_ece"] <= 1
