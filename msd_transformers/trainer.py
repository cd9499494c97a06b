"""MSDTrainer: a `transformers.Trainer` that computes the multi-sample dropout loss from the sample logits.

The per-sample losses are computed here, not in the model, so that label smoothing and class weights apply to each
dropout sample, the spread of the per-sample losses can be logged (`msd_loss_std`), the whole-network variant
(`msd_forward_passes`) works for any `*ForSequenceClassification` model, stock ones included, and the samples can be
asked to agree (`msd_consistency`: R-Drop with two passes of a stock model, head-only consistency with an MSD model).
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainingArguments
from transformers.trainer_pt_utils import nested_gather

from .adapters import is_msd_peft_model, save_msd_adapter_config
from .dropout import repeat_batch
from .loss import IGNORE_INDEX, consistency_loss, infer_problem_type, sample_losses
from .modeling import ARCHITECTURES, MODEL_TYPE_PREFIX
from .uncertainty import mc_dropout, predictive_uncertainty, resolve_problem_type, validate_mc_dropout

logger = logging.getLogger(__name__)


@dataclass
class MSDTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the multi-sample dropout options of [`MSDTrainer`]."""

    msd_class_weights: list[float] | None = field(
        default=None,
        metadata={
            "help": "Class weights, one per label, applied to each dropout sample's loss: a weighted mean for "
            "cross-entropy (as CrossEntropyLoss(weight=...)), per-label weights for multi-label BCE. Not for "
            "regression."
        },
    )
    msd_forward_passes: int = field(
        default=1,
        metadata={
            "help": "Whole-network multi-sample dropout: every dropout in the network is sampled this many times per "
            "example and the losses are averaged, for one optimizer step. Run as one batched forward over the batch "
            "repeated M times (see msd_forward_chunk_size). Works for stock models too. 1 = off."
        },
    )
    msd_forward_chunk_size: int | None = field(
        default=None,
        metadata={
            "help": "With msd_forward_passes > 1: at most this many passes per forward/backward, to bound memory "
            "(the gradients of the chunks add up to the same update). Default: all passes in one forward."
        },
    )
    msd_consistency: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the consistency term: the training loss becomes the mean per-sample loss plus "
            "msd_consistency * consistency_loss over all the samples of the step (the K head samples of an MSD model "
            "x msd_forward_passes), the mean divergence over ordered pairs of samples (KL for classification, "
            "squared difference for regression). A stock model with msd_forward_passes=2 is R-Drop: the paper's "
            "alpha (NLL1 + NLL2 + alpha * symmetric KL) is 2 * msd_consistency. An MSD model with one pass: head-only "
            "consistency. With msd_average='logits' the term sees the samples before averaging. 0 = off."
        },
    )

    msd_eval_samples: int = field(
        default=0,
        metadata={
            "help": "Monte-Carlo dropout in evaluate() and predict(): N > 0 dropout samples per example, at the depth "
            "msd_eval_layers (see msd_transformers.mc_dropout). Metrics then come from the mean probabilities, and "
            "predictions carry them with the per-example uncertainty. 0 = the deterministic evaluation."
        },
    )
    # Typed `str` for the command line (HfArgumentParser turns `int | str` into int); an int is kept as an int.
    msd_eval_layers: str = field(
        default=0,
        metadata={
            "help": "Where the Monte-Carlo samples are drawn: 0 = the multi-sample dropout head only (MSD models; the "
            "encoder runs once), k = the top k layers and the head (the lower layers run once), 'all' = every "
            "dropout in the network."
        },
    )

    def __post_init__(self):
        samples = self.msd_eval_samples
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
            raise ValueError(f"msd_eval_samples must be an int >= 0 (0 = off), got {samples!r}.")
        if isinstance(self.msd_eval_layers, str) and self.msd_eval_layers.strip().isdigit():
            self.msd_eval_layers = int(self.msd_eval_layers)
        layers = self.msd_eval_layers
        if layers != "all" and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 0):
            raise ValueError(f"msd_eval_layers must be 0 (the head only), an int k >= 1 or 'all', got {layers!r}.")
        for name in ("msd_forward_passes", "msd_forward_chunk_size"):
            value = getattr(self, name)
            if value is None and name == "msd_forward_chunk_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        value = self.msd_consistency
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"msd_consistency must be a number >= 0, got {value!r}.")
        self.msd_consistency = float(value)
        if self.msd_class_weights is not None:
            weights = list(self.msd_class_weights)
            if not weights or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights):
                raise ValueError(f"msd_class_weights must be a non-empty list of numbers >= 0, got {weights!r}.")
            if not any(weights):
                raise ValueError(f"msd_class_weights must have a weight > 0, got {weights!r}.")
            self.msd_class_weights = [float(w) for w in weights]
        super().__post_init__()


class MSDTrainer(Trainer):
    """A `Trainer` that averages the per-sample losses of multi-sample dropout models.

    - The loss is computed from the model's `sample_logits` (K, B, C) with the upstream loss semantics of the model's
      architecture, per `config.msd_average` (mean of per-sample losses, or the loss of the mean logits).
      `label_smoothing_factor` (single-label cross-entropy only) and `msd_class_weights` apply to each sample.
    - Stock `*ForSequenceClassification` models work too: they count as one sample.
    - `msd_forward_passes = M > 1` runs the whole-network variant: one forward over the batch repeated M times.
    - Gradient accumulation is exact: the loss is normalised by the number of labelled items in the whole accumulated
      batch (`num_items_in_batch`), so 2 x 4 accumulation gives the update of one batch of 8.
    - `msd_consistency = w > 0` adds `w * consistency_loss(...)` over all the samples of the step (K head samples x M
      passes; before averaging, with `msd_average="logits"`), on the examples not labelled -100: head-only
      consistency for an MSD model, R-Drop for a stock model with M = 2. It is scaled for gradient accumulation like
      the loss, so accumulation stays exact. R-Drop's objective per example is NLL1 + NLL2 + alpha * (KL(P1||P2) +
      KL(P2||P1)) / 2; ours is (NLL1 + NLL2) / 2 + w * (KL(P1||P2) + KL(P2||P1)) / 2, half of it with alpha = 2 w
      (Adam-type optimizers are nearly invariant to the factor 1/2, except where `max_grad_norm` clips; SGD takes a
      half step). R-Drop's official BERT code sums the KL over the batch but averages the cross-entropies: its weight
      0.5 is alpha = 0.5 x batch size per example, i.e. w = 0.25 x batch size.
    - Logs `msd_loss_std`, the standard deviation of the per-sample (and per-pass) losses, next to `loss`, and with
      `msd_consistency > 0` the unweighted term, `msd_consistency_loss`; both averaged over the logging interval.

    Evaluation and prediction are the stock Trainer's (the model in eval mode, dropout off, the upstream logits), or,
    with `msd_eval_samples = N > 0`, Monte-Carlo dropout at the depth `msd_eval_layers` (see [`prediction_step`]).
    """

    # The loss of `compute_loss` is normalised over the whole accumulated batch (or divided by the accumulation steps
    # when no item count is available): the Trainer must not divide it again.
    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, MSDTrainingArguments):
            # Plain TrainingArguments: the MSD options take their defaults.
            self.args.msd_class_weights = getattr(self.args, "msd_class_weights", None)
            self.args.msd_forward_passes = getattr(self.args, "msd_forward_passes", 1)
            self.args.msd_forward_chunk_size = getattr(self.args, "msd_forward_chunk_size", None)
            self.args.msd_consistency = getattr(self.args, "msd_consistency", 0.0)
            self.args.msd_eval_samples = getattr(self.args, "msd_eval_samples", 0)
            self.args.msd_eval_layers = getattr(self.args, "msd_eval_layers", 0)
        if self.args.msd_eval_samples:  # the depth against the model, before any training
            validate_mc_dropout(self.model, num_samples=self.args.msd_eval_samples, layers=self.args.msd_eval_layers)
        # We compute the loss ourselves from the logits: have the Trainer count the labelled items of every
        # accumulated batch (`num_items_in_batch`), which it only does for models that "accept loss kwargs". The
        # count is used here, never passed to the model.
        self.model_accepts_loss_kwargs = True
        self.label_smoother = None  # label smoothing is applied per sample in `compute_loss`
        config = self._unwrapped_config()
        problem_type = getattr(config, "problem_type", None)
        weights = self.args.msd_class_weights
        if weights is not None:
            if problem_type == "regression" or config.num_labels == 1:
                raise ValueError("msd_class_weights apply to classification; this model has one output (regression).")
            if len(weights) != config.num_labels:
                raise ValueError(
                    f"msd_class_weights has {len(weights)} weights but the model has num_labels={config.num_labels}."
                )
        if self.args.label_smoothing_factor and (problem_type in ("regression", "multi_label_classification")):
            logger.warning(
                "label_smoothing_factor=%s applies to single-label cross-entropy only; it is ignored for %s.",
                self.args.label_smoothing_factor,
                problem_type,
            )
        self._check_consistency(config)
        model_type = getattr(config, "model_type", "").removeprefix(MODEL_TYPE_PREFIX)
        self._loss_style = ARCHITECTURES[model_type].loss_style if model_type in ARCHITECTURES else "default"
        self._class_weights = torch.tensor(weights) if weights is not None else None  # moved to the model's device
        self._passes: tuple[int, float] | None = None  # (passes in this forward, weight) while chunking
        self._msd_std_sum = torch.zeros(())
        self._msd_std_count = 0
        self._consistency_sum = torch.zeros(())
        self._consistency_count = 0

    def _unwrapped_config(self):
        return self.accelerator.unwrap_model(self.model).config

    def _check_consistency(self, config) -> None:
        """`msd_consistency > 0` needs at least two samples per example, all in one forward."""
        weight, passes, chunk = (
            self.args.msd_consistency,
            self.args.msd_forward_passes,
            self.args.msd_forward_chunk_size,
        )
        if not weight:
            return
        samples = getattr(config, "msd_num_samples", 1)  # a stock model: one sample per pass
        if samples * passes == 1:
            raise ValueError(
                f"msd_consistency={weight} compares the dropout samples of each example, but this model gives one "
                "(msd_num_samples=1 or a stock model) and msd_forward_passes=1: nothing to compare. Use "
                "msd_forward_passes=2 (R-Drop) or an MSD model with msd_num_samples > 1 (head-only consistency)."
            )
        if chunk is not None and chunk < passes:
            raise ValueError(
                f"msd_consistency={weight} compares all the samples of a step, but msd_forward_chunk_size={chunk} < "
                f"msd_forward_passes={passes} splits the passes over several forwards. Leave msd_forward_chunk_size "
                "unset (or >= msd_forward_passes), or set msd_consistency=0."
            )

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """The multi-sample dropout loss of one (micro-)batch.

        Training: the mean over dropout samples (and forward passes) of the upstream loss, plus `msd_consistency`
        times the samples' `consistency_loss`, normalised by `num_items_in_batch` for exact gradient accumulation.
        Eval: the upstream loss of the logits.
        """
        if "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        training = model.training
        passes, weight = self._passes or (self.args.msd_forward_passes, 1.0)
        if not training:
            passes, weight = 1, 1.0
        outputs = model(**repeat_batch(inputs, passes))
        sample_logits = outputs.get("sample_logits") if training else None
        if sample_logits is None:
            sample_logits = outputs["logits"].unsqueeze(0)  # a stock model, or eval: one sample
        k, mb, c = sample_logits.shape
        b = mb // passes
        # (K, M * B, C) -> (K * M, B, C): one row of losses per (sample, pass), each against the original labels.
        all_samples = sample_logits = sample_logits.view(k * passes, b, c)
        config = self.accelerator.unwrap_model(model).config
        if getattr(config, "msd_average", "loss") == "logits":
            sample_logits = sample_logits.mean(0, keepdim=True)  # (1, B, C)
        problem_type = config.problem_type
        if problem_type is None and self._loss_style == "default":
            problem_type = config.problem_type = infer_problem_type(config.num_labels, labels)
        class_weights = self._class_weights
        if class_weights is not None and class_weights.device != sample_logits.device:
            class_weights = self._class_weights = class_weights.to(sample_logits.device)
        losses = sample_losses(
            sample_logits,
            labels,
            num_labels=config.num_labels,
            problem_type=problem_type,
            loss_style=self._loss_style,
            label_smoothing=self.args.label_smoothing_factor,
            class_weights=class_weights,
        )  # (K * M,) or (1,)
        loss = losses.mean()
        if training:
            self._msd_std_sum = self._msd_std_sum.to(losses.device) + losses.detach().std(correction=0)
            self._msd_std_count += 1
            if self.args.msd_consistency:
                # A per-example mean over the examples the Trainer counts (labels != -100): scaled below with the
                # loss, by the micro-batch's share of the accumulated batch, it stays exact under accumulation.
                consistency = consistency_loss(
                    all_samples,
                    problem_type or ("regression" if config.num_labels == 1 else "single_label_classification"),
                    mask=labels.ne(IGNORE_INDEX) if labels.dim() == 1 else None,
                )
                self._consistency_sum = self._consistency_sum.to(consistency.device) + consistency.detach()
                self._consistency_count += 1
                loss = loss + self.args.msd_consistency * consistency
            loss = weight * self._scale_for_accumulation(loss, labels, num_items_in_batch)
        if return_outputs:
            if training:
                outputs = {key: value for key, value in outputs.items() if key != "sample_logits"}
            return loss, outputs
        return loss

    def _scale_for_accumulation(
        self, loss: torch.Tensor, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None
    ) -> torch.Tensor:
        """A per-micro-batch mean -> its share of the mean over the whole accumulated (and gathered) batch."""
        if num_items_in_batch is None:
            return loss / getattr(self, "current_gradient_accumulation_steps", 1)
        local_items = labels.ne(-100).sum()
        loss = loss * local_items.to(loss.device) / torch.as_tensor(num_items_in_batch, device=loss.device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            # num_items_in_batch counts every process's items and DDP averages the gradients over processes.
            loss = loss * self.accelerator.num_processes
        return loss

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        passes, chunk = self.args.msd_forward_passes, self.args.msd_forward_chunk_size
        if passes == 1 or chunk is None or chunk >= passes:
            return super().training_step(model, inputs, num_items_in_batch)
        # Whole-network variant in chunks of passes: each chunk's loss is weighted by its share of the passes, so the
        # accumulated gradients equal those of one forward over all passes. Only the last chunk syncs across processes.
        total = None
        starts = list(range(0, passes, chunk))
        for i, start in enumerate(starts):
            n = min(chunk, passes - start)
            self._passes = (n, n / passes)
            sync = i == len(starts) - 1
            context = contextlib.nullcontext() if sync else self.accelerator.no_sync(model)
            try:
                with context:
                    loss = super().training_step(model, inputs, num_items_in_batch)
            finally:
                self._passes = None
            total = loss if total is None else total + loss
        return total

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        model = self.accelerator.unwrap_model(self.model)
        if self.args.should_save and is_msd_peft_model(model):
            # A PEFT adapter names only its base checkpoint: the MSD fields go beside it, for
            # `AutoMSDPeftModelForSequenceClassification`.
            save_msd_adapter_config(model, output_dir if output_dir is not None else self.args.output_dir)

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, Any, torch.Tensor | None]:
        """The stock prediction step, or with `msd_eval_samples = N > 0` one under [`mc_dropout`] with N samples at the
        depth `msd_eval_layers`.

        With Monte-Carlo dropout the predictions of each batch are a dict (concatenated and gathered across processes
        by the Trainer like a tensor; `PredictionOutput.predictions` is then a dict of arrays):

        - `logits` `(B, C)`: the model's logits inside `mc_dropout` (the unchanged eval logits with `layers=0`, the
          MC predictive logits with `layers` k or `"all"`);
        - single-label: `probs` `(B, C)` (the mean probabilities), `entropy` and `mutual_information` `(B,)`;
          multi-label: `probs`, `entropy` and `mutual_information` `(B, C)`, per label; regression: `mean` and
          `std` `(B, C)` (see [`predictive_uncertainty`]).

        The loss is the model's loss of `logits`, as in the deterministic evaluation. `ignore_keys` do not apply.
        """
        if not self.args.msd_eval_samples:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        mc = mc_dropout(
            self.accelerator.unwrap_model(model),
            num_samples=self.args.msd_eval_samples,
            layers=self.args.msd_eval_layers,
        )
        with torch.no_grad(), self.compute_loss_context_manager(), mc:
            if labels is not None:
                loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
                loss = loss.detach().mean()
            else:
                loss, outputs = None, model(**inputs)
        if prediction_loss_only:
            return loss, None, None
        problem_type = resolve_problem_type(self._unwrapped_config(), labels)
        uncertainty = predictive_uncertainty(outputs["sample_logits"], problem_type)
        return loss, {"logits": outputs["logits"].detach(), **uncertainty}, labels

    def _interval_mean(self, total: torch.Tensor, count: int) -> float:
        """The mean of a per-micro-batch value over the logging interval, averaged over the processes."""
        return round(nested_gather((total / count).reshape(1), self.args.parallel_mode).mean().item(), 6)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._msd_std_count:
            logs["msd_loss_std"] = self._interval_mean(self._msd_std_sum, self._msd_std_count)
            self._msd_std_sum = torch.zeros(())
            self._msd_std_count = 0
        if "loss" in logs and self._consistency_count:
            logs["msd_consistency_loss"] = self._interval_mean(self._consistency_sum, self._consistency_count)
            self._consistency_sum = torch.zeros(())
            self._consistency_count = 0
        super().log(logs, *args, **kwargs)
