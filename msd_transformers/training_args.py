"""`MSDTrainingArguments`: `TrainingArguments` plus the multi-sample dropout options of [`MSDTrainer`], and
[`MSDOptions`], the one view of those options that the trainer reads (defaults for plain `TrainingArguments`)."""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from transformers import TrainingArguments

from .dropout import check_positive_int


def parse_layers(value: Any, what: str = "msd_eval_layers") -> int | Literal["all"]:
    """A Monte-Carlo depth from an int, `"all"`, or the command line's string (`"0"`, `"2"`, `"all"`)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"{what} must be 0 (the head only), an int k >= 1 (the top k layers) or 'all', got {value!r}.")


@dataclass
class MSDTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the multi-sample dropout options of [`MSDTrainer`].

    Every field of Transformers' `TrainingArguments` applies as there; the `msd_*` fields below set the multi-sample
    dropout options (on the command line of `scripts/train.py` too: `--msd_eval_samples 16`). They are checked at
    construction and again by [`MSDTrainer`] at each use, so that one changed afterwards
    (`trainer.args.msd_eval_samples = 16`) takes effect at the next step or evaluation. A misspelt `msd_*` keyword is
    a `ValueError` naming the closest field.

    Args:
        msd_class_weights (`list[float]`, *optional*, defaults to `None`):
            One weight per label (numbers >= 0, at least one > 0; as many as `num_labels`), applied to each dropout
            sample's loss: a weighted mean for cross-entropy (as `CrossEntropyLoss(weight=...)`), per-label weights
            for the multi-label binary cross-entropy. Sequence and token classification; not for regression. `None`:
            unweighted.
        msd_forward_passes (`int`, *optional*, defaults to 1):
            Whole-network multi-sample dropout, an int >= 1: every dropout in the network is sampled this many times
            per example (one forward over the batch repeated M times) and the losses are averaged, for one optimizer
            step. Works for upstream models too; with `msd_consistency` and M = 2 it is R-Drop. 1: off.
        msd_forward_chunk_size (`int`, *optional*, defaults to `None`):
            With `msd_forward_passes` > 1, at most this many passes per forward/backward (an int >= 1), to bound
            memory; the chunks' gradients add up to the same update. `None`: all passes in one forward. Not below
            `msd_forward_passes` together with `msd_consistency`.
        msd_consistency (`float`, *optional*, defaults to 0.0):
            Weight (a number >= 0) of the consistency term added to the loss: the mean divergence over ordered pairs
            of the step's samples (KL for classification, squared difference for regression; per labelled token for
            tokens, over the start and end distributions for question answering). R-Drop's alpha is
            `2 * msd_consistency`. Needs more than one sample (an MSD model with K > 1, or `msd_forward_passes` > 1).
            0: off.
        msd_eval_samples (`int`, *optional*, defaults to 0):
            Monte-Carlo dropout in `evaluate()` and `predict()`: N > 0 dropout samples per example at the depth
            `msd_eval_layers`; the predictions are the MC predictive logits, the loss theirs, and the per-example
            uncertainty lands in `trainer.mc_uncertainty`. An int >= 0; 0: the deterministic evaluation.
        msd_eval_layers (`str`, *optional*, defaults to `"0"`):
            Where the Monte-Carlo samples are drawn: `0` the multi-sample dropout head only (MSD models; the encoder
            runs once), `k` >= 1 the top k layers and the head, `"all"` every dropout in the network. An int is
            accepted and stored as its string.
    """

    msd_class_weights: list[float] | None = field(
        default=None,
        metadata={
            "help": "Class weights, one per label, applied to each dropout sample's loss: a weighted mean for "
            "cross-entropy (as CrossEntropyLoss(weight=...)), per-label weights for multi-label BCE. Sequence and "
            "token classification; not for regression. Numbers >= 0 (at least one > 0), as many as num_labels. "
            "Default: None (unweighted)."
        },
    )
    msd_forward_passes: int = field(
        default=1,
        metadata={
            "help": "Whole-network multi-sample dropout: every dropout in the network is sampled this many times per "
            "example and the losses are averaged, for one optimizer step. Run as one batched forward over the batch "
            "repeated M times (see msd_forward_chunk_size). Works for upstream models too. An int >= 1; default 1 = "
            "off."
        },
    )
    msd_forward_chunk_size: int | None = field(
        default=None,
        metadata={
            "help": "With msd_forward_passes > 1: at most this many passes per forward/backward, to bound memory "
            "(the gradients of the chunks add up to the same update). An int >= 1; default None: all passes in one "
            "forward."
        },
    )
    msd_consistency: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the consistency term: the training loss becomes the mean per-sample loss plus "
            "msd_consistency * consistency_loss over all the samples of the step (the K head samples of an MSD model "
            "x msd_forward_passes), the mean divergence over ordered pairs of samples (KL for classification, "
            "squared difference for regression; per labelled token for token classification, over the start and end "
            "distributions for question answering). An upstream model with msd_forward_passes=2 is R-Drop: the "
            "paper's alpha (NLL1 + NLL2 + alpha * symmetric KL) is 2 * msd_consistency. An MSD model with one pass: "
            "head-only consistency. With msd_average='logits' the term sees the samples before averaging. A number "
            ">= 0; default 0 = off."
        },
    )
    msd_eval_samples: int = field(
        default=0,
        metadata={
            "help": "Monte-Carlo dropout in evaluate() and predict(): N > 0 dropout samples per example, at the depth "
            "msd_eval_layers (see msd_transformers.mc_dropout). The predictions are then the MC predictive logits "
            "(log of the mean probabilities), the loss theirs, and the per-example uncertainty goes to "
            "trainer.mc_uncertainty. An int >= 0; default 0 = the deterministic evaluation."
        },
    )
    msd_eval_layers: str = field(
        default="0",
        metadata={
            "help": "Where the Monte-Carlo samples are drawn: 0 = the multi-sample dropout head only (MSD models; the "
            "encoder runs once), k = the top k layers and the head (the lower layers run once), 'all' = every "
            "dropout in the network. 0, an int k >= 1 or 'all'; default 0."
        },
    )

    def __post_init__(self):
        self.check_msd_fields()
        super().__post_init__()

    def check_msd_fields(self) -> None:
        """Check the `msd_*` fields and normalise them in place (run at construction, and by [`MSDTrainer`] at each
        use, so that a field changed afterwards is checked too). Raises `ValueError` naming the field and the value."""
        samples = self.msd_eval_samples
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
            raise ValueError(f"msd_eval_samples must be an int >= 0 (0 = off), got {samples!r}.")
        self.msd_eval_layers = str(parse_layers(self.msd_eval_layers))
        check_positive_int(self.msd_forward_passes, "msd_forward_passes")
        if self.msd_forward_chunk_size is not None:
            check_positive_int(self.msd_forward_chunk_size, "msd_forward_chunk_size")
        value = self.msd_consistency
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"msd_consistency must be a number >= 0, got {value!r}.")
        self.msd_consistency = float(value)
        chunk, passes = self.msd_forward_chunk_size, self.msd_forward_passes
        if self.msd_consistency and chunk is not None and chunk < passes:
            raise ValueError(
                f"msd_consistency={self.msd_consistency} compares all the samples of a step, but "
                f"msd_forward_chunk_size={chunk} < msd_forward_passes={passes} splits the passes over several "
                "forwards. Leave msd_forward_chunk_size unset (or >= msd_forward_passes), or set msd_consistency=0."
            )
        if self.msd_class_weights is not None:
            weights = list(self.msd_class_weights)
            if not weights or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights):
                raise ValueError(f"msd_class_weights must be a non-empty list of numbers >= 0, got {weights!r}.")
            if not any(weights):
                raise ValueError(f"msd_class_weights must have a weight > 0, got {weights!r}.")
            self.msd_class_weights = [float(w) for w in weights]


def _check_names_init(init: Any) -> Any:
    """The dataclass `__init__` of [`MSDTrainingArguments`], with a misspelt `msd_*` keyword a `ValueError` that
    suggests the field (`msd_eval_sample=4` -> `msd_eval_samples`) instead of Python's TypeError."""

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        names = [f.name for f in fields(MSDTrainingArguments) if f.name.startswith("msd_")]
        unknown = sorted(k for k in kwargs if k.startswith("msd_") and k not in names)
        if unknown:
            hints = [
                f"{name!r} (did you mean {close[0]!r}?)"
                if (close := difflib.get_close_matches(name, names, n=1))
                else repr(name)
                for name in unknown
            ]
            raise ValueError(f"Unknown MSDTrainingArguments field(s) {', '.join(hints)}; the msd fields are {names}.")
        init(self, *args, **kwargs)

    return __init__


MSDTrainingArguments.__init__ = _check_names_init(MSDTrainingArguments.__init__)


@dataclass(frozen=True)
class MSDOptions:
    """The multi-sample dropout options of a run, as [`MSDTrainer`] reads them: from [`MSDTrainingArguments`], or
    the defaults (all off) for plain `TrainingArguments`."""

    class_weights: list[float] | None = None
    forward_passes: int = 1
    forward_chunk_size: int | None = None
    consistency: float = 0.0
    eval_samples: int = 0
    eval_layers: int | Literal["all"] = 0

    @classmethod
    def from_args(cls, args: TrainingArguments) -> MSDOptions:
        if not isinstance(args, MSDTrainingArguments):
            return cls()
        args.check_msd_fields()
        return cls(
            class_weights=args.msd_class_weights,
            forward_passes=args.msd_forward_passes,
            forward_chunk_size=args.msd_forward_chunk_size,
            consistency=args.msd_consistency,
            eval_samples=args.msd_eval_samples,
            eval_layers=parse_layers(args.msd_eval_layers),
        )

    @property
    def chunked(self) -> bool:
        """Whether the passes of a step run in several forwards."""
        chunk = self.forward_chunk_size
        return self.forward_passes > 1 and chunk is not None and chunk < self.forward_passes
