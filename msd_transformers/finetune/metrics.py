"""Evaluation metrics that work offline, through the `evaluate` API.

`evaluate.load("accuracy")` fetches the metric script from the Hub, which fails without a network. The metrics here
are `evaluate.Metric` subclasses that are instantiated directly (like the Hub metrics, they compute with scikit-learn
and scipy), and `build_compute_metrics` turns them into a `compute_metrics` function for `transformers.Trainer`. The
calibration metrics (`ece`, `nll`, `brier`, `aurc`) take predicted probabilities and wrap the functions of
`msd_transformers.uncertainty`.

Example:

```python
>>> from msd_transformers.finetune.metrics import Accuracy
>>> Accuracy().compute(predictions=[0, 1, 1], references=[0, 1, 0])
{'accuracy': 0.6666666666666666}
```
"""

from __future__ import annotations

import os
from collections.abc import Callable

import datasets
import evaluate
import numpy as np
from scipy.special import softmax
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, mean_squared_error
from transformers import EvalPrediction

from ..calibration import aurc, brier_score, expected_calibration_error, negative_log_likelihood

__all__ = [
    "Accuracy",
    "MacroF1",
    "MatthewsCorrelation",
    "MeanSquaredError",
    "PearsonCorrelation",
    "SpearmanCorrelation",
    "MicroF1",
    "ExactMatch",
    "ExpectedCalibrationError",
    "NegativeLogLikelihood",
    "BrierScore",
    "AreaUnderRiskCoverage",
    "METRIC_NAMES",
    "DEFAULT_METRIC",
    "GREATER_IS_BETTER",
    "build_metrics",
    "build_compute_metrics",
]

_SINGLE_LABEL_INPUTS = """
Args:
    predictions (`list` of `int`): Predicted class ids.
    references (`list` of `int`): Ground-truth class ids.
"""
_REGRESSION_INPUTS = """
Args:
    predictions (`list` of `float`): Predicted values.
    references (`list` of `float`): Ground-truth values.
"""
_MULTI_LABEL_INPUTS = """
Args:
    predictions (`list` of `list` of `int`): Predicted multi-hot vectors (0/1), one per example.
    references (`list` of `list` of `int`): Ground-truth multi-hot vectors (0/1) of the same shape.
"""
_PROBABILITY_INPUTS = """
Args:
    predictions (`list` of `list` of `float`): Predicted class probabilities, one row per example (rows sum to 1).
    references (`list` of `int`): Ground-truth class ids.
"""
_SKLEARN_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B. and Grisel, O. and
          Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V. and Vanderplas, J. and Passos, A. and
          Cournapeau, D. and Brucher, M. and Perrot, M. and Duchesnay, E.},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
"""
_SCIPY_CITATION = """\
@article{2020SciPy-NMeth,
  author  = {Virtanen, Pauli and Gommers, Ralf and Oliphant, Travis E. and others},
  title   = {{SciPy} 1.0: Fundamental Algorithms for Scientific Computing in Python},
  journal = {Nature Methods},
  year    = {2020},
  volume  = {17},
  pages   = {261--272},
}
"""

_CALIBRATION_CITATION = """\
@inproceedings{guo2017calibration,
  title={On Calibration of Modern Neural Networks},
  author={Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle={International Conference on Machine Learning (ICML)},
  year={2017}
}
@inproceedings{geifman2018bias,
  title={Bias-Reduced Uncertainty Estimation for Deep Neural Classifiers},
  author={Geifman, Yonatan and Uziel, Guy and El-Yaniv, Ran},
  booktitle={International Conference on Learning Representations (ICLR)},
  year={2019}
}
"""

_SINGLE_LABEL_FEATURES = datasets.Features(
    {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
)
_REGRESSION_FEATURES = datasets.Features(
    {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
)
_PROBABILITY_FEATURES = datasets.Features(
    {"predictions": datasets.List(datasets.Value("float64")), "references": datasets.Value("int64")}
)
_MULTI_LABEL_FEATURES = datasets.Features(
    {"predictions": datasets.List(datasets.Value("int64")), "references": datasets.List(datasets.Value("int64"))}
)


def _info(description: str, inputs: str, features: datasets.Features, citation: str) -> evaluate.MetricInfo:
    return evaluate.MetricInfo(
        description=description, citation=citation, inputs_description=inputs, features=features
    )


class _LocalMetric(evaluate.Metric):
    """Base class: kept in memory by default, so neither instantiating nor computing writes to the cache folder."""

    def __init__(self, *args, keep_in_memory: bool = True, **kwargs) -> None:
        super().__init__(*args, keep_in_memory=keep_in_memory, **kwargs)

    def _build_data_dir(self) -> str:
        if self.keep_in_memory:  # evaluate creates this (then unused) folder eagerly
            return os.path.join(self._data_dir_root, self.name, self.config_name)
        return super()._build_data_dir()


class Accuracy(_LocalMetric):
    """Accuracy: the fraction of examples whose predicted class is the reference class. Returns `{"accuracy": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _SINGLE_LABEL_INPUTS, _SINGLE_LABEL_FEATURES, _SKLEARN_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"accuracy": float(accuracy_score(references, predictions))}


class MacroF1(_LocalMetric):
    """Macro-averaged F1: the unweighted mean of the per-class F1 scores over the classes present in the predictions
    or references. Returns `{"f1_macro": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _SINGLE_LABEL_INPUTS, _SINGLE_LABEL_FEATURES, _SKLEARN_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"f1_macro": float(f1_score(references, predictions, average="macro", zero_division=0))}


class MatthewsCorrelation(_LocalMetric):
    """Matthews correlation coefficient (multiclass form), in [-1, 1]; 0 for a constant prediction.
    Returns `{"mcc": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _SINGLE_LABEL_INPUTS, _SINGLE_LABEL_FEATURES, _SKLEARN_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"mcc": float(matthews_corrcoef(references, predictions))}


class MeanSquaredError(_LocalMetric):
    """Mean squared error between predicted and reference values. Returns `{"mse": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _REGRESSION_INPUTS, _REGRESSION_FEATURES, _SKLEARN_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"mse": float(mean_squared_error(references, predictions))}


class PearsonCorrelation(_LocalMetric):
    """Pearson correlation coefficient between predicted and reference values (NaN if either is constant).
    Returns `{"pearson": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _REGRESSION_INPUTS, _REGRESSION_FEATURES, _SCIPY_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        predictions, references = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
        if np.ptp(predictions) == 0 or np.ptp(references) == 0:  # scipy warns and returns NaN
            return {"pearson": float("nan")}
        return {"pearson": float(pearsonr(references, predictions)[0])}


class SpearmanCorrelation(_LocalMetric):
    """Spearman rank correlation coefficient between predicted and reference values (NaN if either is constant).
    Returns `{"spearman": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _REGRESSION_INPUTS, _REGRESSION_FEATURES, _SCIPY_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        predictions, references = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
        if np.ptp(predictions) == 0 or np.ptp(references) == 0:
            return {"spearman": float("nan")}
        return {"spearman": float(spearmanr(references, predictions)[0])}


class MicroF1(_LocalMetric):
    """Micro-averaged F1 over all (example, label) decisions of a multi-label task. Returns `{"f1_micro": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _MULTI_LABEL_INPUTS, _MULTI_LABEL_FEATURES, _SKLEARN_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        predictions, references = np.asarray(predictions), np.asarray(references)
        return {"f1_micro": float(f1_score(references, predictions, average="micro", zero_division=0))}


class ExactMatch(_LocalMetric):
    """Exact match (subset accuracy) of a multi-label task: the fraction of examples whose whole predicted label set
    equals the reference set. Returns `{"exact_match": ...}`."""

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _MULTI_LABEL_INPUTS, _MULTI_LABEL_FEATURES, _SKLEARN_CITATION)

    def _compute(self, predictions, references) -> dict[str, float]:
        predictions, references = np.asarray(predictions), np.asarray(references)
        return {"exact_match": float(accuracy_score(references, predictions))}


class _CalibrationMetric(_LocalMetric):
    """Base class of the metrics computed from predicted probabilities (`takes_probabilities`)."""

    takes_probabilities = True

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.__doc__, _PROBABILITY_INPUTS, _PROBABILITY_FEATURES, _CALIBRATION_CITATION)


class ExpectedCalibrationError(_CalibrationMetric):
    """Expected calibration error of the top label, 15 equal-width confidence bins (`num_bins` to change): the
    bin-size-weighted mean of |accuracy - mean confidence| over the bins. Lower is better. Returns `{"ece": ...}`."""

    def _compute(self, predictions, references, num_bins: int = 15) -> dict[str, float]:
        return {"ece": expected_calibration_error(predictions, references, num_bins=num_bins)}


class NegativeLogLikelihood(_CalibrationMetric):
    """Mean negative log-likelihood of the reference classes, in nats (probabilities clipped at 1e-12). Lower is
    better. Returns `{"nll": ...}`."""

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"nll": negative_log_likelihood(predictions, references)}


class BrierScore(_CalibrationMetric):
    """Brier score: the mean over examples of the squared distance between the probabilities and the one-hot
    reference. Lower is better. Returns `{"brier": ...}`."""

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"brier": brier_score(predictions, references)}


class AreaUnderRiskCoverage(_CalibrationMetric):
    """Area under the risk-coverage curve: the mean error rate of the k most confident predictions over k = 1..n
    (ties in confidence: the expectation over their orders). Lower is better. Returns `{"aurc": ...}`."""

    def _compute(self, predictions, references) -> dict[str, float]:
        return {"aurc": aurc(predictions, references)}


_METRIC_CLASSES: dict[str, list[type[evaluate.Metric]]] = {
    "single_label_classification": [
        Accuracy,
        MacroF1,
        MatthewsCorrelation,
        ExpectedCalibrationError,
        NegativeLogLikelihood,
        BrierScore,
        AreaUnderRiskCoverage,
    ],
    "regression": [MeanSquaredError, PearsonCorrelation, SpearmanCorrelation],
    "multi_label_classification": [MicroF1, ExactMatch],
}

#: The keys that `build_compute_metrics(problem_type)` returns, per problem type.
METRIC_NAMES: dict[str, list[str]] = {
    "single_label_classification": ["accuracy", "f1_macro", "mcc", "ece", "nll", "brier", "aurc"],
    "regression": ["mse", "pearson", "spearman"],
    "multi_label_classification": ["f1_micro", "exact_match"],
}

#: The metric to select the best checkpoint by (`TrainingArguments.metric_for_best_model`), per problem type.
DEFAULT_METRIC: dict[str, str] = {
    "single_label_classification": "accuracy",
    "regression": "pearson",
    "multi_label_classification": "f1_micro",
}

#: Whether a higher value is better (`TrainingArguments.greater_is_better`), per metric name.
GREATER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "f1_macro": True,
    "mcc": True,
    "mse": False,
    "pearson": True,
    "spearman": True,
    "f1_micro": True,
    "exact_match": True,
    "ece": False,
    "nll": False,
    "brier": False,
    "aurc": False,
}


def build_metrics(problem_type: str) -> list[evaluate.Metric]:
    """Instantiates the metrics of a problem type (no network, no cache file).

    Args:
        problem_type (`str`):
            `"single_label_classification"`, `"regression"` or `"multi_label_classification"`.

    Returns:
        `list[evaluate.Metric]`: The metric instances, in the order of `METRIC_NAMES[problem_type]`.

    Raises:
        `ValueError`: If `problem_type` is unknown.
    """
    if problem_type not in _METRIC_CLASSES:
        raise ValueError(f"Unknown problem_type {problem_type!r}; expected one of {list(_METRIC_CLASSES)}.")
    return [cls() for cls in _METRIC_CLASSES[problem_type]]


def build_compute_metrics(problem_type: str, threshold: float = 0.0) -> Callable[[EvalPrediction], dict[str, float]]:
    """Builds a `compute_metrics` function for `transformers.Trainer`.

    Logits become predictions by argmax (single-label), by squeezing the last dimension (regression), or by
    `logits > threshold` per label (multi-label; the default 0.0 is `sigmoid(logits) > 0.5`). Single-label runs also
    get the calibration metrics, from the softmax probabilities of the logits. With Monte-Carlo dropout
    (`MSDTrainer` with `msd_eval_samples > 0`) the predictions are the MC predictive logits, so every metric is that of
    the MC prediction unchanged: their softmax is the mean of the samples' probabilities (single-label), their sigmoid
    the mean per-label probability (multi-label), and they are the mean output (regression).

    Args:
        problem_type (`str`):
            `"single_label_classification"`, `"regression"` or `"multi_label_classification"`.
        threshold (`float`, *optional*, defaults to 0.0):
            The logit threshold of a positive label (multi-label only).

    Returns:
        `Callable[[EvalPrediction], dict[str, float]]`: A function returning the metrics named in
        `METRIC_NAMES[problem_type]`, e.g. `{"accuracy": ..., "f1_macro": ..., "mcc": ...}`.

    Raises:
        `ValueError`: If `problem_type` is unknown.
    """
    metrics = build_metrics(problem_type)

    def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
        outputs = eval_pred.predictions
        logits = np.asarray(outputs[0] if isinstance(outputs, (tuple, list)) else outputs)
        labels = np.asarray(eval_pred.label_ids)
        probs = None
        if problem_type == "single_label_classification":
            probs = softmax(logits.astype(np.float64), axis=-1)
            predictions, references = probs.argmax(axis=-1), labels.astype(np.int64)
        elif problem_type == "regression":
            predictions, references = logits.reshape(len(logits), -1)[:, 0], labels.reshape(-1).astype(np.float64)
        else:
            predictions, references = (logits > threshold).astype(np.int64), (labels > 0.5).astype(np.int64)
        result: dict[str, float] = {}
        for metric in metrics:
            inputs = probs if getattr(metric, "takes_probabilities", False) else predictions
            result.update(metric.compute(predictions=inputs, references=references))
        return result

    return compute_metrics
