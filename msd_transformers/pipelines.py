"""`text-classification`, `token-classification`, `image-classification` and `audio-classification` pipelines whose
results carry the Monte-Carlo dropout uncertainty of each prediction."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers.pipelines.audio_classification import AudioClassificationPipeline
from transformers.pipelines.image_classification import ImageClassificationPipeline
from transformers.pipelines.text_classification import ClassificationFunction, TextClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy, TokenClassificationPipeline
from transformers.utils import ModelOutput

from .montecarlo import Layers, mc_dropout
from .uncertainty import predictive_logits, predictive_uncertainty

UNCERTAINTY_KEYS: tuple[str, ...] = ("entropy", "mutual_information", "std")
TOKEN_UNCERTAINTY_KEYS: tuple[str, ...] = ("entropy", "mutual_information")

# The per-sample scores of each score function, read as the problem type whose uncertainty they have: softmax
# probabilities (one distribution per example), sigmoid probabilities (one Bernoulli per output), raw values.
_PROBLEM_TYPE_OF_SCORES: dict[ClassificationFunction, str] = {
    ClassificationFunction.SOFTMAX: "single_label_classification",
    ClassificationFunction.SIGMOID: "multi_label_classification",
    ClassificationFunction.NONE: "regression",
}


class _MCDropoutParameters:
    """The Monte-Carlo parameters (`num_samples`, `layers`, `chunk_size`) of a pipeline: to the constructor or to each
    call, passed on to `_forward`."""

    def _sanitize_parameters(
        self,
        num_samples: int | None = None,
        layers: Layers | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> tuple[dict, dict, dict]:
        preprocess_params, _, postprocess_params = super()._sanitize_parameters(**kwargs)
        forward_params = {"num_samples": num_samples, "layers": layers, "chunk_size": chunk_size}
        return preprocess_params, {k: v for k, v in forward_params.items() if v is not None}, postprocess_params


class _MonteCarloForward(_MCDropoutParameters):
    """The pipelines' Monte-Carlo forward: the parameters go to [`mc_dropout`], and the forward gives the samples batch
    first, `sample_logits` `(B, N, C)`."""

    def _forward(
        self, model_inputs: dict[str, Any], num_samples: int | None = None, layers: Layers = 0, chunk_size=None
    ) -> dict[str, torch.Tensor]:
        with mc_dropout(self.model, num_samples=num_samples, layers=layers, chunk_size=chunk_size):
            outputs = super()._forward(model_inputs)
        # Batch first, so that the pipeline's unbatching splits the samples by example.
        return {"sample_logits": outputs["sample_logits"].transpose(0, 1)}  # (N, B, C) -> (B, N, C)


class MCDropoutTextClassificationPipeline(_MonteCarloForward, TextClassificationPipeline):
    """`text-classification` with Monte-Carlo dropout ([`mc_dropout`]): every result carries its uncertainty.

    The model runs inside `mc_dropout(model, num_samples, layers, chunk_size)`, which gives N sets of outputs per
    text. Each output is scored as Transformers' `text-classification` pipeline scores it (`function_to_apply`: by
    default softmax for several outputs, sigmoid for one output or `problem_type="multi_label_classification"`, none
    for `problem_type="regression"`), once per sample, and:

    - `score` is the mean of the N per-sample scores: the mean softmax probability, the mean sigmoid probability, or
      the mean output;
    - the uncertainty is that of the same per-sample scores ([`predictive_uncertainty`]): `entropy` and
      `mutual_information` of the example (softmax; the same in every dict of its top-k list), `entropy` and
      `mutual_information` of each output's Bernoulli (sigmoid), or `std`, the standard deviation of the N outputs
      (none).

    So score and uncertainty are always in one value space. A one-output regression model without `problem_type`
    scores as a sigmoid probability, as in Transformers; set `problem_type="regression"` in its config (or pass
    `function_to_apply="none"`) to get the mean output and its `std`.

    Use it through `pipeline(..., pipeline_class=...)`; `num_samples`, `layers` and `chunk_size` go to the constructor
    or to each call, with the pipeline's own `top_k` and `function_to_apply`. As Transformers' own pipeline, one text
    gives a list with one dict (its top label), several texts one dict each, and `top_k` a list of dicts per text.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline(
    ...     "text-classification", model=model, tokenizer=tokenizer,
    ...     pipeline_class=msd.MCDropoutTextClassificationPipeline, num_samples=32, layers=0,
    ... )
    >>> classifier("Shares of the chip maker rose 5% after the earnings call.")
    [{'label': 'business', 'score': 0.91, 'entropy': 0.37, 'mutual_information': 0.02}]
    ```
    """

    def _score_function(self, function_to_apply: ClassificationFunction | str | None = None) -> ClassificationFunction:
        """The function that turns an output into a score: `function_to_apply` when given, else Transformers'
        default for the model's config (its `TextClassificationPipeline.postprocess` rules)."""
        if isinstance(function_to_apply, str):
            return ClassificationFunction[function_to_apply.upper()]
        if function_to_apply is not None:
            return function_to_apply
        config = self.model.config
        if config.problem_type == "regression":
            return ClassificationFunction.NONE
        if config.problem_type == "multi_label_classification" or config.num_labels == 1:
            return ClassificationFunction.SIGMOID
        return ClassificationFunction.SOFTMAX

    def postprocess(
        self,
        model_outputs: dict[str, torch.Tensor],
        function_to_apply: ClassificationFunction | str | None = None,
        top_k: int | None = 1,
        _legacy: bool = True,
    ) -> Any:
        function = self._score_function(function_to_apply)
        samples = model_outputs["sample_logits"][0].float().unsqueeze(1)  # (N, C) -> (N, 1, C)
        if function == ClassificationFunction.SOFTMAX and samples.shape[-1] < 2:
            raise ValueError(
                "function_to_apply='softmax' on a model with one output scores every text 1.0: use 'sigmoid' or "
                "'none' (or set problem_type in the model's config)."
            )
        problem_type = _PROBLEM_TYPE_OF_SCORES[function]
        u = predictive_uncertainty(samples, problem_type)
        # Logits whose score (softmax, sigmoid or none) is the mean of the per-sample scores.
        mean = {"logits": predictive_logits(samples, problem_type)}  # (1, C)
        results = super().postprocess(mean, function_to_apply=function, top_k=top_k, _legacy=_legacy)
        label_ids = {name: i for i, name in self.model.config.id2label.items()}
        for result in [results] if isinstance(results, dict) else results:
            for key in UNCERTAINTY_KEYS:
                if u.get(key) is None:
                    continue
                value = u[key][0]  # () for the example, or (C,) per output
                result[key] = (value if value.dim() == 0 else value[label_ids[result["label"]]]).item()
        return results


class _MonteCarloPooledScores(_MonteCarloForward):
    """The postprocessing of the image and audio pipelines: each input's N sets of logits are scored as the upstream
    pipeline scores its logits (`function_to_apply`), once per sample; `score` is the mean per-sample score and
    `entropy` and `mutual_information` (softmax, sigmoid) or `std` (none) its uncertainty."""

    # The upstream pipeline's default for a one-output model without `problem_type`: the image pipeline applies a
    # sigmoid, the audio pipeline a softmax.
    one_output_sigmoid: bool = True

    def _score_function(self, function_to_apply: Any = None) -> ClassificationFunction:
        if function_to_apply is not None:
            return ClassificationFunction(getattr(function_to_apply, "value", function_to_apply).lower())
        config = self.model.config
        if config.problem_type == "regression":
            return ClassificationFunction.NONE
        if config.problem_type == "multi_label_classification" or (self.one_output_sigmoid and config.num_labels == 1):
            return ClassificationFunction.SIGMOID
        return ClassificationFunction.SOFTMAX

    def postprocess(self, model_outputs: dict[str, torch.Tensor], function_to_apply: Any = None, top_k: int = 5):
        function = self._score_function(function_to_apply)
        samples = model_outputs["sample_logits"][0].float().unsqueeze(1)  # (N, C) -> (N, 1, C)
        problem_type = _PROBLEM_TYPE_OF_SCORES[function]
        u = predictive_uncertainty(samples, problem_type)
        # Logits whose score (softmax, sigmoid or none) is the mean of the per-sample scores.
        mean = ModelOutput(logits=predictive_logits(samples, problem_type))  # (1, C)
        results = super().postprocess(mean, function_to_apply=function.value, top_k=top_k)
        label_ids = {name: i for i, name in self.model.config.id2label.items()}
        for result in results:
            for key in UNCERTAINTY_KEYS:
                if u.get(key) is not None:
                    value = u[key][0]  # () for the input, or (C,) per output
                    result[key] = (value if value.dim() == 0 else value[label_ids[result["label"]]]).item()
        return results


class MCDropoutImageClassificationPipeline(_MonteCarloPooledScores, ImageClassificationPipeline):
    """`image-classification` with Monte-Carlo dropout ([`mc_dropout`]): every result carries its uncertainty, as
    [`MCDropoutTextClassificationPipeline`] does for text.

    Each image's N sets of logits are scored as Transformers' `image-classification` pipeline scores its logits
    (`function_to_apply`: softmax for several outputs, sigmoid for one output or multi-label, none for regression),
    once per sample; `score` is the mean per-sample score and `entropy` and `mutual_information` (softmax, sigmoid) or
    `std` (none) its uncertainty. `num_samples`, `layers` and `chunk_size` go to the constructor or to each call, with
    the pipeline's own `top_k` (default 5) and `function_to_apply`.

    Example:

    ```python
    >>> classifier = pipeline(
    ...     "image-classification", model=model, image_processor=processor,
    ...     pipeline_class=msd.MCDropoutImageClassificationPipeline, num_samples=32,
    ... )
    >>> classifier(image, top_k=1)
    [{'label': 'cat', 'score': 0.88, 'entropy': 0.41, 'mutual_information': 0.03}]
    ```
    """


class MCDropoutAudioClassificationPipeline(_MonteCarloPooledScores, AudioClassificationPipeline):
    """`audio-classification` with Monte-Carlo dropout ([`mc_dropout`]): every result carries its uncertainty, as
    [`MCDropoutImageClassificationPipeline`] does for images.

    Each waveform's N sets of logits are scored as Transformers' `audio-classification` pipeline scores its logits
    (`function_to_apply`: softmax, or sigmoid for `problem_type="multi_label_classification"`, none for regression),
    once per sample; `score` is the mean per-sample score and `entropy` and `mutual_information` (softmax, sigmoid) or
    `std` (none) its uncertainty. `num_samples`, `layers` and `chunk_size` go to the constructor or to each call, with
    the pipeline's own `top_k` (default: every label) and `function_to_apply`.

    Example:

    ```python
    >>> classifier = pipeline(
    ...     "audio-classification", model=model, feature_extractor=feature_extractor,
    ...     pipeline_class=msd.MCDropoutAudioClassificationPipeline, num_samples=32,
    ... )
    >>> classifier(waveform, top_k=1)
    [{'label': 'yes', 'score': 0.93, 'entropy': 0.27, 'mutual_information': 0.01}]
    ```
    """

    one_output_sigmoid = False


class MCDropoutTokenClassificationPipeline(_MCDropoutParameters, TokenClassificationPipeline):
    """`token-classification` with Monte-Carlo dropout ([`mc_dropout`]): every entity carries its uncertainty.

    The model runs inside `mc_dropout(model, num_samples, layers, chunk_size)`; each token's `score` is the mean of
    the N samples' softmax probabilities (its tag the argmax of that mean), and [`predictive_uncertainty`] of the
    same samples gives each token's `entropy` and `mutual_information`, with the special tokens (`[CLS]`, `[SEP]`,
    ..., which the pipeline leaves out of its results) and the padding left out. The pipeline's own
    `aggregation_strategy` applies: per token (`"none"`), per word (`"first"`, `"average"`, `"max"`: the word's
    uncertainty is its first sub-token's, the token training labels) and per entity group (`"simple"` and the word
    strategies: the mean over the group's tokens or words).

    Use it through `pipeline("token-classification", ..., pipeline_class=...)`; `num_samples`, `layers` and
    `chunk_size` go to the constructor or to each call.

    Example:

    ```python
    >>> tagger = pipeline(
    ...     "token-classification", model=model, tokenizer=tokenizer,
    ...     pipeline_class=msd.MCDropoutTokenClassificationPipeline, num_samples=32, aggregation_strategy="first",
    ... )
    >>> tagger("Ada Lovelace lived in London")[0]
    {'entity_group': 'PER', 'score': 0.93, 'word': 'ada lovelace', 'start': 0, 'end': 12, 'entropy': 0.31,
     'mutual_information': 0.04}
    ```
    """

    def _forward(
        self, model_inputs: dict[str, Any], num_samples: int | None = None, layers: Layers = 0, chunk_size=None
    ) -> dict[str, Any]:
        special_tokens_mask = model_inputs["special_tokens_mask"]
        attention_mask = model_inputs.get("attention_mask")
        captured = []  # the samples of the pipeline's own forward
        handle = self.model.register_forward_hook(lambda module, args, out: captured.append(out["sample_logits"]))
        try:
            with mc_dropout(self.model, num_samples=num_samples, layers=layers, chunk_size=chunk_size):
                outputs = super()._forward(model_inputs)
        finally:
            handle.remove()
        samples = captured[0].float()  # (N, B, T, C)
        u = predictive_uncertainty(samples, attention_mask=attention_mask, special_tokens_mask=special_tokens_mask)
        # Logits whose softmax is the mean of the samples' probabilities; the uncertainty batch first, (B, T).
        outputs["logits"] = predictive_logits(samples, "single_label_classification")
        return {**outputs, **{key: u[key] for key in TOKEN_UNCERTAINTY_KEYS}}

    def postprocess(
        self, all_outputs: list[dict[str, Any]], aggregation_strategy=AggregationStrategy.NONE, ignore_labels=None
    ) -> list[dict[str, Any]]:
        # One (T,) array per key and chunk, taken by `gather_pre_entities` in the chunks' order.
        self._mc_chunks = [{key: out[key][0].numpy() for key in TOKEN_UNCERTAINTY_KEYS} for out in all_outputs]
        return super().postprocess(all_outputs, aggregation_strategy=aggregation_strategy, ignore_labels=ignore_labels)

    def gather_pre_entities(self, *args: Any, **kwargs: Any) -> list[dict]:
        self._mc_current = self._mc_chunks.pop(0)
        pre_entities = super().gather_pre_entities(*args, **kwargs)
        for entity in pre_entities:
            entity.update(self._token_uncertainty(entity["index"]))
        return pre_entities

    def _token_uncertainty(self, index: int) -> dict[str, float]:
        return {key: float(self._mc_current[key][index]) for key in TOKEN_UNCERTAINTY_KEYS}

    def aggregate(self, pre_entities: list[dict], aggregation_strategy: AggregationStrategy) -> list[dict]:
        entities = super().aggregate(pre_entities, aggregation_strategy)
        if aggregation_strategy == AggregationStrategy.NONE:  # per token
            for entity in entities:
                entity.update(self._token_uncertainty(entity["index"]))
        return entities

    def aggregate_word(self, entities: list[dict], aggregation_strategy: AggregationStrategy) -> dict:
        word = super().aggregate_word(entities, aggregation_strategy)
        word.update({key: entities[0][key] for key in TOKEN_UNCERTAINTY_KEYS})  # the first sub-token's
        return word

    def group_sub_entities(self, entities: list[dict]) -> dict:
        group = super().group_sub_entities(entities)
        for key in TOKEN_UNCERTAINTY_KEYS:
            values = [e[key] if key in e else self._token_uncertainty(e["index"])[key] for e in entities]
            group[key] = float(np.mean(values))
        return group
