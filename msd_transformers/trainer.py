"""MSDTrainer: a `transformers.Trainer` that computes the multi-sample dropout loss from the sample logits.

The per-sample losses are computed here, not in the model, so that label smoothing and class weights apply to each
dropout sample, the spread of the per-sample losses can be logged (`msd_loss_std`), the whole-network variant
(`msd_forward_passes`) works for any model of the four tasks, upstream ones included, and the samples can be asked to
agree (`msd_consistency`: R-Drop with two passes of an upstream model, head-only consistency with an MSD model).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import nn
from transformers import Trainer
from transformers.trainer_pt_utils import EvalLoopContainer, nested_gather

from .adapters import is_msd_peft_model, save_msd_adapter_config
from .architectures import MULTIPLE_CHOICE, POOLED_TASKS, QUESTION_ANSWERING, TOKEN_CLASSIFICATION
from .dropout import repeat_batch
from .loss import IGNORE_INDEX, consistency_loss, mask_choices, resolve_problem_type
from .montecarlo import MonteCarloDropout
from .registry import loss_mask_of, loss_style_of
from .tasks import CHOICE_MASK, loss_labels, task_of, task_sample_losses
from .training_args import MSDOptions, MSDTrainingArguments
from .uncertainty import predictive_logits, predictive_uncertainty

logger = logging.getLogger(__name__)

# The key under which a chunk of passes travels with its inputs from `training_step` to `compute_loss`.
_CHUNK = "_msd_chunk"

__all__ = ["MSDTrainer", "MSDTrainingArguments"]


class MSDTrainer(Trainer):
    """A `Trainer` that averages the per-sample losses of multi-sample dropout models, for every task.

    - The loss is computed from the model's sample fields (`sample_logits` `(K, B, ...)`, or `sample_start_logits`
      and `sample_end_logits`) with the upstream loss semantics of the model's task and architecture, per
      `config.msd_average` (mean of per-sample losses, or the loss of the mean logits). `label_smoothing_factor`
      (cross-entropy: single-label, tokens, choices) and `msd_class_weights` (sequence and token classes) apply to
      each sample.
    - Upstream models of the four tasks work too: they count as one sample.
    - `msd_forward_passes = M > 1` runs the whole-network variant: one forward over the batch repeated M times.
    - Gradient accumulation is exact: the loss is normalised by the number of labelled items in the whole accumulated
      batch (`num_items_in_batch`: examples, multi-label entries, or labelled tokens), so 2 x 4 accumulation gives the
      update of one batch of 8, also when the micro-batches hold different numbers of labelled tokens. Not with
      `msd_class_weights` on single-label classes: each micro-batch's loss is then a mean weighted by the class
      weights of its labels, and the micro-batches weigh by their counts of labelled items, not by the sums of those
      weights. Question answering, for which the Trainer counts no items: each micro-batch's loss (its mean over its
      examples) is divided by the accumulation steps, as Transformers' own Trainer does. That is exact when the
      micro-batches have the same size, every answer position inside the sequence and the same padded length
      (upstream's question-answering loss takes the softmax over every position of the padded row); otherwise the step
      is the one of the mean of the micro-batch means (6 rows as 4 + 2: the last 2 weigh as much as the first 4).
    - `msd_consistency = w > 0` adds `w * consistency_loss(...)` over all the samples of the step (K head samples x M
      passes; before averaging, with `msd_average="logits"`), on what the loss counts: the examples not labelled
      -100, per labelled token for token classification (R-Drop's token form: the mean over the labelled tokens of
      the divergence at each token; padding and -100 tokens do not count), and for question answering the mean of a
      start and an end term, each over the distributions the loss trains (the positions of the padded row) of the
      examples whose answer position is inside the sequence. Head-only consistency for an MSD model, R-Drop for an
      upstream model with M = 2. It is scaled for gradient accumulation like the loss. R-Drop's objective per example
      is NLL1 + NLL2 + alpha * (KL(P1||P2) + KL(P2||P1)) / 2; ours is (NLL1 + NLL2) / 2 + w * (KL(P1||P2) + KL(P2||P1))
      / 2, half of it with alpha = 2 w. R-Drop's official BERT code sums the KL over the batch but averages the
      cross-entropies: its weight 0.5 is w = 0.25 x batch size.
    - Multiple choice with any number of choices per example: a batch whose examples' choices are padded to its
      largest number carries a `choice_mask` `(B, C)` ([`CHOICE_MASK`], 1 at the real choices; not a model input).
      The padded choices count in no loss (training and eval; label smoothing spreads over each example's own
      choices), consistency term, prediction (their logits the dtype's lowest value: probability 0) or Monte-Carlo
      uncertainty: each example's results are those it has unpadded.
    - Logs `msd_loss_std`, the standard deviation of the per-sample (and per-pass) losses (with
      `msd_average="logits"`, of the losses the samples would have on their own), next to `loss`, and with
      `msd_consistency > 0` the unweighted term, `msd_consistency_loss`; both averaged over the logging interval.

    Evaluation and prediction are those of Transformers' Trainer (the model in eval mode, dropout off, the upstream
    logits), or, with `msd_eval_samples = N > 0`, Monte-Carlo dropout at the depth `msd_eval_layers`: the predictions
    are then the MC predictive logits (an array, as the Trainer's own predictions, so an ordinary `compute_metrics`
    works unchanged), the loss theirs, and the per-example uncertainty lands in [`mc_uncertainty`].

    Attributes:
        msd_args ([`MSDOptions`]): The multi-sample dropout options of the run (all off with plain
            `TrainingArguments`), read from `args` at each use: `trainer.args.msd_eval_samples = 16` after
            construction applies to the next `evaluate()`, checked as at construction.
        mc_uncertainty (`dict[str, np.ndarray]`, *optional*): After a Monte-Carlo `evaluate()` or `predict()`, the
            uncertainty of each example, in dataset order (see [`predictive_uncertainty`]): `probs`, `entropy` and
            `mutual_information` for classification (per label for multi-label), `mean` and `std` for regression.
            Multiple choice with a `choice_mask`: the entropies over each example's real choices, `probs` 0 at its
            padded choices and NaN past its batch's number of choices. Token classification: `entropy` and
            `mutual_information` per token, `(num_examples, max_len)`, NaN at the tokens that do not count (labelled
            -100 when the batch has labels, else padding and the special tokens of the trainer's `processing_class`)
            and where a batch was padded to a shorter length than the longest; plus `entropy_mean`, `entropy_max`,
            `mutual_information_mean`, `mutual_information_max` per sequence, over the tokens that count. Question
            answering: `start_entropy`, `start_mutual_information`, `end_entropy`, `end_mutual_information` per
            example, of the start and end distributions over the real positions (`attention_mask`), so that they do
            not depend on how far a batch is padded. `None` before.

    Example (Monte-Carlo evaluation; `compute_metrics` is the one written for Transformers' own Trainer):

    ```python
    >>> args = MSDTrainingArguments(output_dir="out", msd_eval_samples=16, msd_eval_layers="0")
    >>> trainer = MSDTrainer(model=model, args=args, eval_dataset=ds, compute_metrics=compute_metrics)
    >>> metrics = trainer.evaluate()  # compute_metrics gets p.predictions = the MC predictive logits, (n, C)
    >>> trainer.mc_uncertainty["mutual_information"].shape  # per example of ds, in order
    (n,)
    ```
    """

    # The loss of `compute_loss` is normalised over the whole accumulated batch (or divided by the accumulation steps
    # when no item count is available): the Trainer must not divide it again.
    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        model = self._unwrapped_model()
        self._task = task = task_of(model)
        self._loss_style = loss_style_of(model)
        self._loss_mask = loss_mask_of(model)
        config = model.config
        self._msd_options: MSDOptions | None = None
        self._logged: dict[str, list[torch.Tensor]] = {"msd_loss_std": [], "msd_consistency_loss": []}
        self._mc_container: EvalLoopContainer | None = None
        self.mc_uncertainty: dict[str, Any] | None = None
        self.msd_args  # noqa: B018  (checks the options against the model, before any training)
        # We compute the loss ourselves from the logits: have the Trainer count the labelled items of every
        # accumulated batch (`num_items_in_batch`), which it only does for models that "accept loss kwargs". The
        # count is used here, never passed to the model.
        self.model_accepts_loss_kwargs = True
        self.label_smoother = None  # label smoothing is applied per sample in `compute_loss`
        problem_type = resolve_problem_type(config, loss_style=self._loss_style) if task.name in POOLED_TASKS else None
        if self.args.label_smoothing_factor and (
            task.name == QUESTION_ANSWERING or problem_type in ("regression", "multi_label_classification")
        ):
            logger.warning(
                "label_smoothing_factor=%s applies to cross-entropy over classes (single-label, tokens, choices) "
                "only; it is ignored for %s.",
                self.args.label_smoothing_factor,
                problem_type or task.name,
            )

    @property
    def msd_args(self) -> MSDOptions:
        """The multi-sample dropout options, read from `self.args` at each use: a change to `trainer.args.msd_*`
        after construction (e.g. `trainer.args.msd_eval_samples = 16` before `evaluate()`) takes effect at the next
        step or evaluation, checked as at construction (`ValueError` for a bad value or one the model cannot take)."""
        options = MSDOptions.from_args(self.args)
        if options != self._msd_options:
            self._configure(options)
        return options

    def _configure(self, options: MSDOptions) -> None:
        """Check `options` against the model and set what depends on them."""
        model = self._unwrapped_model()
        config = model.config
        if options.eval_samples:  # the depth against the model, before any training
            MonteCarloDropout.for_evaluation(model, options.eval_samples, options.eval_layers)
        if options.consistency and getattr(config, "msd_num_samples", 1) * options.forward_passes == 1:
            raise ValueError(
                f"msd_consistency={options.consistency} compares the dropout samples of each example, but this model "
                "gives one (msd_num_samples=1 or an upstream model) and msd_forward_passes=1: nothing to compare. Use "
                "msd_forward_passes=2 (R-Drop) or an MSD model with msd_num_samples > 1 (head-only consistency)."
            )
        problem_type = (
            resolve_problem_type(config, loss_style=self._loss_style) if self._task.name in POOLED_TASKS else None
        )
        self._check_class_weights(options.class_weights, config, problem_type)
        weights = options.class_weights
        self._class_weights = torch.tensor(weights) if weights is not None else None  # moved to the model's device
        self._msd_options = options

    def _unwrapped_model(self) -> nn.Module:
        model = self.accelerator.unwrap_model(self.model)
        return model.get_base_model() if is_msd_peft_model(model) else model

    def _check_class_weights(self, weights: list[float] | None, config: Any, problem_type: str | None) -> None:
        if weights is None:
            return
        if self._task.name not in (*POOLED_TASKS, TOKEN_CLASSIFICATION):
            raise ValueError(
                "msd_class_weights apply to sequence, image, audio, video and token classes, not to "
                f"{self._task.name}."
            )
        if problem_type == "regression" or config.num_labels == 1:
            raise ValueError("msd_class_weights apply to classification; this model has one output (regression).")
        if len(weights) != config.num_labels:
            raise ValueError(
                f"msd_class_weights has {len(weights)} weights but the model has num_labels={config.num_labels}."
            )

    # ---------------------------------------------------------------------------------------------- training loss

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
        Eval: the upstream loss of the logits. A multiple-choice batch with a `choice_mask` (choices padded per
        batch): the padded choices are left out of the losses and of the returned logits ([`mask_choices`]).
        """
        inputs = dict(inputs)
        chunk = inputs.pop(_CHUNK, None)  # (passes in this forward, their share of the step's passes)
        choice_mask = inputs.pop(CHOICE_MASK, None)  # (B, C), not a model input
        task = self._task
        if not all(inputs.get(name) is not None for name in task.label_fields):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = loss_labels({name: inputs.pop(name) for name in task.label_fields}, inputs, self._loss_mask)
        training = model.training
        passes, weight = chunk or (self.msd_args.forward_passes, 1.0)
        if not training:
            passes, weight = 1, 1.0
        outputs = model(**repeat_batch(inputs, passes))
        samples = {}
        for name in task.logit_fields:
            value = outputs.get(f"sample_{name}") if training else None
            if value is None:
                value = outputs[name].unsqueeze(0)  # an upstream model, or eval: one sample
            # (K, M * B, ...) -> (K * M, B, ...): one row of losses per (sample, pass), each against the labels.
            samples[name] = value.reshape(value.shape[0] * passes, value.shape[1] // passes, *value.shape[2:])
        config = self._unwrapped_model().config
        averaged = samples
        if getattr(config, "msd_average", "loss") == "logits":
            averaged = {k: v.mean(0, keepdim=True) for k, v in samples.items()}  # (1, B, ...)
        losses = self._sample_losses(averaged, labels, config, choice_mask)  # (K * M,), or (1,), logits averaged
        loss = losses.mean()
        if training:
            if averaged is not samples:  # the spread of the losses the samples would have on their own
                with torch.no_grad():
                    detached = {k: v.detach() for k, v in samples.items()}
                    losses = self._sample_losses(detached, labels, config, choice_mask)
            self._logged["msd_loss_std"].append(losses.detach().std(correction=0))
            if self.msd_args.consistency:
                consistency = self._consistency(samples, labels, config, choice_mask)
                self._logged["msd_consistency_loss"].append(consistency.detach())
                loss = loss + self.msd_args.consistency * consistency
            loss = weight * self._scale_for_accumulation(loss, labels, num_items_in_batch)
        if return_outputs:
            if training:
                outputs = {k: v for k, v in outputs.items() if k not in task.sample_fields}
            if choice_mask is not None:
                outputs["logits"] = mask_choices(outputs["logits"], choice_mask)
            return loss, outputs
        return loss

    def _sample_losses(
        self,
        samples: dict[str, torch.Tensor],
        labels: dict[str, torch.Tensor],
        config: Any,
        choice_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        class_weights = self._class_weights
        if class_weights is not None:
            device = next(iter(samples.values())).device
            class_weights = self._class_weights = class_weights.to(device)
        return task_sample_losses(
            self._task.name,
            samples,
            labels,
            config,
            loss_style=self._loss_style,
            label_smoothing=self.args.label_smoothing_factor,
            class_weights=class_weights,
            choice_mask=choice_mask,
        )

    def _consistency(
        self,
        samples: dict[str, torch.Tensor],
        labels: dict[str, torch.Tensor],
        config: Any,
        choice_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The samples' consistency term: per example (sequences, choices: over the real ones), per labelled token,
        or the mean of the start and the end terms (spans: over the T positions, the distributions the loss trains),
        on what the loss counts (labels not -100; answer positions inside the sequence)."""
        task = self._task.name
        if task == QUESTION_ANSWERING:
            terms = []
            for name, field in (("start_logits", "start_positions"), ("end_logits", "end_positions")):
                scores = samples[name]  # (S, B, T)
                t = scores.shape[-1]
                counted = labels[field].reshape(-1).clamp(0, t).ne(t)  # (B,): as the loss, positions >= T ignored
                terms.append(consistency_loss(scores, "single_label_classification", mask=counted))
            return (terms[0] + terms[1]) / 2
        logits, targets = samples["logits"], labels["labels"]
        if task == TOKEN_CLASSIFICATION:
            s, b, t, c = logits.shape
            mask = targets.reshape(b * t).ne(IGNORE_INDEX)
            return consistency_loss(logits.reshape(s, b * t, c), "single_label_classification", mask=mask)
        if task == MULTIPLE_CHOICE:  # padded choices: probability 0 in every sample, no divergence
            logits = mask_choices(logits, choice_mask)
            return consistency_loss(logits, "single_label_classification", mask=targets.ne(IGNORE_INDEX))
        problem_type = resolve_problem_type(config, targets, loss_style=self._loss_style)
        mask = targets.ne(IGNORE_INDEX) if targets.dim() == 1 else None
        return consistency_loss(logits, problem_type, mask=mask)

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | int | None:
        """The Trainer's count of the labelled items of an accumulated batch, with the labels the loss counts (a row's
        `loss_mask` leaves out more tokens than the labels -100)."""
        if self._loss_mask is not None:
            batch_samples = [
                {**batch, **loss_labels({"labels": batch["labels"]}, batch, self._loss_mask)}
                if isinstance(batch, dict) and batch.get("labels") is not None
                else batch
                for batch in batch_samples
            ]
        return super()._get_num_items_in_batch(batch_samples, device)

    def _scale_for_accumulation(
        self, loss: torch.Tensor, labels: dict[str, torch.Tensor], num_items_in_batch: torch.Tensor | int | None
    ) -> torch.Tensor:
        """A per-micro-batch mean -> its share of the mean over the whole accumulated (and gathered) batch."""
        if num_items_in_batch is None or "labels" not in labels:
            return loss / getattr(self, "current_gradient_accumulation_steps", 1)
        local_items = labels["labels"].ne(IGNORE_INDEX).sum()
        loss = loss * local_items.to(loss.device) / torch.as_tensor(num_items_in_batch, device=loss.device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            # num_items_in_batch counts every process's items and DDP averages the gradients over processes.
            loss = loss * self.accelerator.num_processes
        return loss

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        if not self.msd_args.chunked:
            return super().training_step(model, inputs, num_items_in_batch)
        # Whole-network variant in chunks of passes: each chunk's loss is weighted by its share of the passes, so the
        # accumulated gradients equal those of one forward over all passes. Only the last chunk syncs across processes.
        passes, chunk = self.msd_args.forward_passes, self.msd_args.forward_chunk_size
        total = None
        starts = list(range(0, passes, chunk))
        for i, start in enumerate(starts):
            n = min(chunk, passes - start)
            sync = i == len(starts) - 1
            with contextlib.nullcontext() if sync else self.accelerator.no_sync(model):
                loss = super().training_step(model, {**inputs, _CHUNK: (n, n / passes)}, num_items_in_batch)
            total = loss if total is None else total + loss
        return total

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        model = self.accelerator.unwrap_model(self.model)
        if self.args.should_save and is_msd_peft_model(model):
            # A PEFT adapter names only its base checkpoint: the MSD fields go beside it, for
            # `AutoMSDPeftModelFor<Task>`.
            save_msd_adapter_config(model, output_dir if output_dir is not None else self.args.output_dir)

    # -------------------------------------------------------------------------------- Monte-Carlo evaluation

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        if not self.msd_args.eval_samples:
            return super().evaluation_loop(*args, **kwargs)
        self._mc_container = EvalLoopContainer(self.args.eval_do_concat_batches, padding_index=float("nan"))
        try:
            output = super().evaluation_loop(*args, **kwargs)
            self.mc_uncertainty = self._mc_container.get_arrays()
        finally:
            self._mc_container = None
        return output

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, Any, Any]:
        """The Trainer's own prediction step, or with `msd_eval_samples = N > 0` one under [`mc_dropout`] with N
        samples at the depth `msd_eval_layers`: the predictions are the MC predictive logits ([`predictive_logits`]; a
        tuple of the start and end scores for question answering, as the Trainer's own step gives), the loss their
        loss (the model's rules), and the batch's uncertainty goes to [`mc_uncertainty`]. `ignore_keys` do not
        apply.

        A multiple-choice batch with a `choice_mask` (choices padded per batch): the logits of the padded choices are
        the lowest value of their dtype in the predictions (probability 0) and count in no loss or uncertainty. The
        Trainer pads the predictions of batches with fewer choices with -100 when it concatenates them: the real
        choices of an example are its first ones, as many as it has."""
        options = self.msd_args
        if not options.eval_samples:
            choice_mask = inputs.get(CHOICE_MASK)
            has_labels = bool(self.label_names) and all(inputs.get(k) is not None for k in self.label_names)
            if choice_mask is None or has_labels:
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)  # via compute_loss
            # Without labels the Trainer calls the model itself: the mask is no model input.
            inputs = {k: v for k, v in inputs.items() if k != CHOICE_MASK}
            loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
            if isinstance(logits, tuple):  # more output fields: the logits first
                return loss, (mask_choices(logits[0], choice_mask), *logits[1:]), labels
            return loss, None if logits is None else mask_choices(logits, choice_mask), labels
        inputs = self._prepare_inputs(inputs)
        task, unwrapped = self._task, self._unwrapped_model()
        choice_mask = inputs.get(CHOICE_MASK)
        labels = {name: inputs[name] for name in task.label_fields if inputs.get(name) is not None}
        features = {k: v for k, v in inputs.items() if k not in (*task.label_fields, CHOICE_MASK)}
        mc = MonteCarloDropout(self.accelerator.unwrap_model(model), options.eval_samples, options.eval_layers)
        with torch.no_grad(), self.compute_loss_context_manager(), mc:
            outputs = model(**features)
        config = unwrapped.config
        samples = {name: outputs[f"sample_{name}"] for name in task.logit_fields}  # (N, B, ...)
        if choice_mask is not None:  # the padded choices: probability 0 in every sample
            samples = {name: mask_choices(v, choice_mask) for name, v in samples.items()}
        problem_type = "single_label_classification"
        if task.name in POOLED_TASKS:
            problem_type = resolve_problem_type(config, labels.get("labels"), loss_style=self._loss_style)
        predictive = {name: predictive_logits(v, problem_type).to(v.dtype) for name, v in samples.items()}
        if choice_mask is not None:  # log 0 at the padded choices, the dtype's lowest value (not -inf in half)
            predictive = {name: mask_choices(v, choice_mask) for name, v in predictive.items()}
        loss = None
        if len(labels) == len(task.label_fields):
            mean = {name: v.unsqueeze(0) for name, v in predictive.items()}
            counted = loss_labels(labels, features, self._loss_mask)
            loss = task_sample_losses(
                task.name, mean, counted, config, loss_style=self._loss_style, choice_mask=choice_mask
            )[0].detach()
        # Recorded on every path: `evaluate()` without `compute_metrics` asks for the loss only.
        self._record_uncertainty(samples, problem_type, labels, features)
        if prediction_loss_only:
            return loss, None, None
        predictions = tuple(predictive[name] for name in task.logit_fields)
        label_tensors = tuple(labels[name] for name in task.label_fields if name in labels)
        return (
            loss,
            predictions[0] if len(predictions) == 1 else predictions,
            (label_tensors[0] if len(label_tensors) == 1 else label_tensors) if label_tensors else None,
        )

    def _record_uncertainty(
        self,
        samples: dict[str, torch.Tensor],
        problem_type: str,
        labels: dict[str, torch.Tensor],
        features: dict[str, Any],
    ) -> None:
        """The batch's uncertainty, gathered across processes (token-level values padded with NaN along the
        sequence), into the evaluation's container."""
        task = self._task.name
        values: dict[str, torch.Tensor] = {}
        if task == QUESTION_ANSWERING:
            real = features.get("attention_mask")
            for name, prefix in (("start_logits", "start"), ("end_logits", "end")):
                scores = samples[name]  # (N, B, T)
                if real is not None:  # the distribution over the real positions, whatever the batch's padding
                    scores = scores.masked_fill(~real.bool(), torch.finfo(scores.dtype).min)
                u = predictive_uncertainty(scores, "single_label_classification")
                values.update({f"{prefix}_entropy": u.entropy, f"{prefix}_mutual_information": u.mutual_information})
        elif task == TOKEN_CLASSIFICATION:
            targets = labels.get("labels")
            logits = samples["logits"]
            if targets is not None:  # the labelled tokens
                masks = {"attention_mask": targets.ne(IGNORE_INDEX)}
            else:  # the real tokens that are not special tokens
                masks = {"attention_mask": features.get("attention_mask"), "special_tokens_mask": None}
                if masks["attention_mask"] is None:
                    masks["attention_mask"] = torch.ones(logits.shape[1:3], dtype=torch.bool, device=logits.device)
                special_ids = getattr(self.processing_class, "all_special_ids", None)
                if special_ids and features.get("input_ids") is not None:
                    ids = features["input_ids"]
                    masks["special_tokens_mask"] = torch.isin(ids, torch.tensor(special_ids, device=ids.device))
            u = predictive_uncertainty(logits, "single_label_classification", **masks)
            values = {k: v for k, v in u.items() if k != "probs"}  # probs per token: as large as the logits
        else:
            values = dict(predictive_uncertainty(samples["logits"], problem_type).items())
        values.update(self._sample_records(samples, features))
        for name, value in values.items():
            value = value.detach().float()
            if value.dim() > 1 and task in (TOKEN_CLASSIFICATION, QUESTION_ANSWERING):
                value = self.accelerator.pad_across_processes(value, dim=1, pad_index=float("nan"))
            values[name] = self.gather_function(value)
        if self._mc_container is not None:
            self._mc_container.add(values)

    def _sample_records(self, samples: dict[str, torch.Tensor], features: dict[str, Any]) -> dict[str, torch.Tensor]:
        """More per-example values of a Monte-Carlo batch for [`mc_uncertainty`], from the samples (`(N, B, ...)` per
        logit field) and the batch's inputs: none here; a subclass adds some (e.g. question answering's sample scores,
        `(B, T, N)`, padded along T across batches)."""
        return {}

    # --------------------------------------------------------------------------------------------------- logging

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            for name, values in self._logged.items():
                if values:
                    mean = torch.stack([v.to(values[0].device) for v in values]).mean().reshape(1)
                    logs[name] = round(nested_gather(mean, self.args.parallel_mode).mean().item(), 6)
                    values.clear()
        super().log(logs, *args, **kwargs)
