"""A `text-classification` pipeline whose results carry the Monte-Carlo dropout uncertainty of each prediction."""

from __future__ import annotations

from typing import Any

import torch
from transformers.pipelines.text_classification import TextClassificationPipeline

from .loss import resolve_problem_type
from .montecarlo import Layers, mc_dropout
from .uncertainty import predictive_logits, predictive_uncertainty

UNCERTAINTY_KEYS: tuple[str, ...] = ("entropy", "mutual_information", "std")


class MCDropoutTextClassificationPipeline(TextClassificationPipeline):
    """`text-classification` with Monte-Carlo dropout ([`mc_dropout`]): every result carries its uncertainty.

    The model runs inside `mc_dropout(model, num_samples, layers, chunk_size)`. Scores come from the MC predictive
    distribution (single-label: the mean softmax probabilities; multi-label: the mean sigmoid probabilities;
    regression: the mean), and each result dict gets the uncertainty of [`predictive_uncertainty`]: `entropy` and
    `mutual_information` (single-label: of the example, the same in every dict of its top-k list; multi-label: of
    each label), or `std` (regression). Use it through `pipeline(..., pipeline_class=...)`; `num_samples`, `layers`
    and `chunk_size` go to the constructor or to each call.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline(
    ...     "text-classification", model=model, tokenizer=tokenizer,
    ...     pipeline_class=msd.MCDropoutTextClassificationPipeline, num_samples=32, layers=0,
    ... )
    >>> classifier("Shares of the chip maker rose 5% after the earnings call.")
    {'label': 'business', 'score': 0.91, 'entropy': 0.37, 'mutual_information': 0.02}
    ```
    """

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

    def _forward(
        self, model_inputs: dict[str, Any], num_samples: int | None = None, layers: Layers = 0, chunk_size=None
    ) -> dict[str, torch.Tensor]:
        with mc_dropout(self.model, num_samples=num_samples, layers=layers, chunk_size=chunk_size):
            outputs = super()._forward(model_inputs)
        problem_type = resolve_problem_type(self.model.config)
        u = predictive_uncertainty(outputs["sample_logits"], problem_type)
        # Batch first, so that the pipeline's unbatching splits every field by example.
        return {"logits": predictive_logits(outputs["sample_logits"], problem_type), **u}  # (B, C), (B, ...)

    def postprocess(self, model_outputs: dict[str, torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        results = super().postprocess(model_outputs, *args, **kwargs)
        label_ids = {name: i for i, name in self.model.config.id2label.items()}
        for result in [results] if isinstance(results, dict) else results:
            for key in UNCERTAINTY_KEYS:
                if key not in model_outputs:
                    continue
                value = model_outputs[key][0]  # () for the example, or (C,) per label
                result[key] = (value if value.dim() == 0 else value[label_ids[result["label"]]]).item()
        return results
