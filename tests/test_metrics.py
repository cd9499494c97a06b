"""The offline `evaluate` metrics and `build_compute_metrics`, against hand-computed and scikit-learn/scipy values."""

import socket

import evaluate
import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef
from transformers import EvalPrediction

import msd_transformers as msd
from msd_transformers.finetune.metrics import (
    DEFAULT_METRIC,
    GREATER_IS_BETTER,
    METRIC_NAMES,
    Accuracy,
    AreaUnderRiskCoverage,
    BrierScore,
    ExactMatch,
    ExpectedCalibrationError,
    MacroF1,
    MatthewsCorrelation,
    MeanSquaredError,
    MicroF1,
    NegativeLogLikelihood,
    PearsonCorrelation,
    SpearmanCorrelation,
    build_compute_metrics,
    build_metrics,
)

CALIBRATION_METRICS = [ExpectedCalibrationError, NegativeLogLikelihood, BrierScore, AreaUnderRiskCoverage]
ALL_METRICS = [
    *CALIBRATION_METRICS,
    Accuracy,
    MacroF1,
    MatthewsCorrelation,
    MeanSquaredError,
    PearsonCorrelation,
    SpearmanCorrelation,
    MicroF1,
    ExactMatch,
]

# 3 classes; the classifier never predicts class 1: accuracy 5/8, macro-F1 = (0.8 + 0 + 2/3) / 3.
REFS = [0, 0, 0, 0, 1, 1, 2, 2]
PREDS = [0, 0, 0, 0, 0, 0, 2, 1]


def test_accuracy_and_macro_f1_by_hand():
    assert Accuracy().compute(predictions=PREDS, references=REFS) == {"accuracy": pytest.approx(5 / 8)}
    f1 = MacroF1().compute(predictions=PREDS, references=REFS)["f1_macro"]
    assert f1 == pytest.approx((0.8 + 0.0 + 2 / 3) / 3)
    assert f1 != pytest.approx(5 / 8)
    assert f1 == pytest.approx(f1_score(REFS, PREDS, average="macro"))


def test_mcc_binary_by_hand_and_multiclass():
    refs = [1, 1, 1, 0, 0, 0, 0, 1, 0, 1]
    preds = [1, 1, 0, 0, 0, 1, 0, 1, 0, 0]
    tp, tn, fp, fn = 3, 4, 1, 2
    expected = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert MatthewsCorrelation().compute(predictions=preds, references=refs)["mcc"] == pytest.approx(expected)
    mcc = MatthewsCorrelation().compute(predictions=PREDS, references=REFS)["mcc"]
    assert mcc == pytest.approx(matthews_corrcoef(REFS, PREDS))
    assert MatthewsCorrelation().compute(predictions=[0, 0, 0], references=[0, 1, 1])["mcc"] == 0.0


def test_regression_metrics():
    refs = np.array([0.5, 1.0, 2.0, 3.5, 4.0])
    preds = np.array([0.7, 0.9, 2.5, 3.0, 5.0])
    mse = MeanSquaredError().compute(predictions=preds, references=refs)["mse"]
    assert mse == pytest.approx(np.mean((preds - refs) ** 2))
    pearson = PearsonCorrelation().compute(predictions=preds, references=refs)["pearson"]
    assert pearson == pytest.approx(np.corrcoef(preds, refs)[0, 1])
    assert pearson == pytest.approx(pearsonr(refs, preds)[0])
    # A monotone but non-linear prediction: Spearman 1, Pearson below 1.
    spearman = SpearmanCorrelation().compute(predictions=refs**3, references=refs)["spearman"]
    assert spearman == pytest.approx(1.0)
    assert PearsonCorrelation().compute(predictions=refs**3, references=refs)["pearson"] < 0.99
    swapped = np.array([0.5, 2.0, 1.0, 3.5, 4.0])
    assert SpearmanCorrelation().compute(predictions=swapped, references=refs)["spearman"] == pytest.approx(
        spearmanr(refs, swapped)[0]
    )
    assert np.isnan(PearsonCorrelation().compute(predictions=[1.0, 1.0, 1.0], references=[1.0, 2.0, 3.0])["pearson"])


def test_multi_label_metrics_by_hand():
    refs = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
    preds = [[1, 0, 1], [0, 1, 1], [1, 0, 0]]
    # tp 4, fp 1, fn 1 -> micro-F1 = 8 / 10; one of three rows exactly right.
    assert MicroF1().compute(predictions=preds, references=refs)["f1_micro"] == pytest.approx(0.8)
    assert ExactMatch().compute(predictions=preds, references=refs)["exact_match"] == pytest.approx(1 / 3)


def test_metric_info_and_combine():
    for cls in ALL_METRICS:
        metric = cls()
        assert metric.description and metric.citation and metric.inputs_description
        assert set(metric.features) == {"predictions", "references"}
    combined = evaluate.combine([Accuracy(), MacroF1(), MatthewsCorrelation()])
    result = combined.compute(predictions=PREDS, references=REFS)
    assert list(result) == METRIC_NAMES["single_label_classification"][:3]


def test_no_network_and_no_cache_files(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a metric tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    cache = tmp_path / "metrics-cache"
    for cls in ALL_METRICS:
        metric = cls(cache_dir=str(cache))
        multi = cls in (MicroF1, ExactMatch)
        if cls in CALIBRATION_METRICS:
            metric.add_batch(predictions=[[0.3, 0.7]], references=[0])
        else:
            metric.add_batch(predictions=[[1, 0]] if multi else [1], references=[[1, 1]] if multi else [0])
        metric.compute()
    assert not cache.exists()


def test_build_compute_metrics_single_label_tuple_predictions():
    logits = np.eye(3)[PREDS] * 2.0 - 0.5
    compute = build_compute_metrics("single_label_classification")
    result = compute(EvalPrediction(predictions=(logits, np.zeros((8, 4))), label_ids=np.array(REFS)))
    assert list(result) == METRIC_NAMES["single_label_classification"]
    assert result["accuracy"] == pytest.approx(5 / 8)
    assert result["f1_macro"] == pytest.approx(f1_score(REFS, PREDS, average="macro"))
    assert result["mcc"] == pytest.approx(matthews_corrcoef(REFS, PREDS))
    assert all(isinstance(v, float) for v in result.values())


def test_calibration_metrics_equal_the_functions():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=40)
    labels = rng.integers(0, 3, 40)
    for cls, fn, key in [
        (ExpectedCalibrationError, msd.expected_calibration_error, "ece"),
        (NegativeLogLikelihood, msd.negative_log_likelihood, "nll"),
        (BrierScore, msd.brier_score, "brier"),
        (AreaUnderRiskCoverage, msd.aurc, "aurc"),
    ]:
        assert cls().compute(predictions=probs, references=labels) == {key: pytest.approx(fn(probs, labels))}
    ece5 = ExpectedCalibrationError().compute(predictions=probs, references=labels, num_bins=5)["ece"]
    assert ece5 == pytest.approx(msd.expected_calibration_error(probs, labels, num_bins=5))


def test_build_compute_metrics_single_label_calibration_from_logits_and_mc_predictive_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 3)).astype(np.float32)
    compute = build_compute_metrics("single_label_classification")
    result = compute(EvalPrediction(predictions=logits, label_ids=np.array(REFS)))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert result["ece"] == pytest.approx(msd.expected_calibration_error(probs, REFS), rel=1e-5)
    assert result["nll"] == pytest.approx(msd.negative_log_likelihood(probs, REFS), rel=1e-5)
    assert result["brier"] == pytest.approx(msd.brier_score(probs, REFS), rel=1e-5)
    assert result["aurc"] == pytest.approx(msd.aurc(probs, REFS), rel=1e-5)
    # Monte-Carlo predictions (MSDTrainer with msd_eval_samples): the MC predictive logits, whose softmax is the mean
    # of the samples' probabilities: every metric is that of the mean probabilities.
    samples = torch.as_tensor(rng.normal(scale=3.0, size=(5, 8, 3)))  # (N, B, C)
    mc_probs = samples.softmax(-1).mean(0).numpy()  # (B, C)
    predictive = msd.predictive_logits(samples, "single_label_classification").numpy()
    result = compute(EvalPrediction(predictions=predictive, label_ids=np.array(REFS)))
    assert result["accuracy"] == pytest.approx((mc_probs.argmax(1) == np.array(REFS)).mean())
    for name, metric in (("nll", msd.negative_log_likelihood), ("brier", msd.brier_score), ("aurc", msd.aurc)):
        assert result[name] == pytest.approx(metric(mc_probs, REFS), rel=1e-9), name


def test_build_compute_metrics_regression():
    refs = np.array([0.5, 1.0, 2.0, 3.5], dtype=np.float32)
    logits = np.array([[0.4], [1.5], [1.9], [3.0]], dtype=np.float32)
    result = build_compute_metrics("regression")(EvalPrediction(predictions=logits, label_ids=refs))
    assert list(result) == METRIC_NAMES["regression"]
    assert result["mse"] == pytest.approx(np.mean((logits[:, 0] - refs) ** 2), rel=1e-5)
    assert result["pearson"] == pytest.approx(np.corrcoef(logits[:, 0], refs)[0, 1], rel=1e-5)
    assert result["spearman"] == pytest.approx(1.0)


def test_build_compute_metrics_multi_label_threshold():
    labels = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    logits = np.array([[2.0, -1.0, 0.3], [-2.0, 0.3, -0.1]], dtype=np.float32)
    result = build_compute_metrics("multi_label_classification")(EvalPrediction(predictions=logits, label_ids=labels))
    assert list(result) == METRIC_NAMES["multi_label_classification"]
    assert result == {"f1_micro": pytest.approx(1.0), "exact_match": pytest.approx(1.0)}
    # At threshold 0.5 the two 0.3 logits become negatives: tp 1, fn 2 -> micro-F1 0.5, no exact row.
    strict = build_compute_metrics("multi_label_classification", threshold=0.5)
    result = strict(EvalPrediction(predictions=logits, label_ids=labels))
    assert result == {"f1_micro": pytest.approx(0.5), "exact_match": 0.0}


def test_names_and_defaults():
    assert set(METRIC_NAMES) == set(DEFAULT_METRIC)
    for problem_type, names in METRIC_NAMES.items():
        assert DEFAULT_METRIC[problem_type] in names
        assert all(name in GREATER_IS_BETTER for name in names)
        assert len(build_metrics(problem_type)) == len(names)
    assert GREATER_IS_BETTER["mse"] is False and GREATER_IS_BETTER["accuracy"] is True
    with pytest.raises(ValueError, match="token_classification"):
        build_compute_metrics("token_classification")
