"""The family tables: every sequence-classification family of Transformers is supported or excluded with a reason,
the generated README tables, pipelines on every family, heads that need care (rate-0 dropouts, activations), and the
encoder-decoders' outputs and rules."""

import logging
from pathlib import Path

import pytest
import torch
import transformers
from conftest import make_inputs, msd_class, row, tiny_config
from datasets import Dataset
from transformers import T5GemmaConfig, Trainer, pipeline

import msd_transformers as msd
from msd_transformers import TASKS
from msd_transformers.docs import task_markdown, write
from msd_transformers.registry import excluded_model_types
from msd_transformers.tasks import MSDSeq2SeqSequenceClassifierOutput, get_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("task", TASKS)
def test_every_family_is_supported_or_excluded(task):
    """Every family of the installed Transformers' mapping for the task has a row or a stated reason: a release with
    a new family fails here until it gets one (generic and default heads cover most families)."""
    families = set(get_task(task).mapping_names)
    supported, excluded = set(msd.supported_model_types(task)), set(excluded_model_types(task))
    assert not supported & excluded
    assert families - supported - excluded == set(), "add a row to architectures.py or a reason to EXCLUDED"
    assert supported | excluded <= families  # no stale entries
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in excluded_model_types(task).values())


def test_generated_documents_are_up_to_date():
    """`architectures.md` and the class statements in `generated.py` are what `python -m msd_transformers.docs`
    writes."""
    assert write(check=True) == [], "run: python -m msd_transformers.docs"


def test_excluded_family_error_gives_the_reason():
    with pytest.raises(
        ValueError, match=r"does not support model_type 't5gemma' for sequence-classification \(encoder-decoder whose"
    ):
        msd.msd_config(T5GemmaConfig(), task="sequence-classification")
    msd.msd_config(T5GemmaConfig(), task="token-classification")  # its token head has a row


def test_architectures_markdown_lists_every_row_and_exclusion():
    text = task_markdown("sequence-classification")
    lines = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    assert len(lines) == len(text.splitlines()) - 5  # two headers, two separators, one blank line
    assert set(lines) == set(msd.supported_model_types()) | set(excluded_model_types())
    for model_type in msd.supported_model_types():
        arch = row(model_type)
        assert f"`{msd_class(model_type).__name__}`" in lines[model_type]
        assert f"| `{arch.classifier}` |" in lines[model_type] and "—" not in lines[model_type]  # a rate found
    # The default rate: the attribute(s) the upstream class reads for the replaced dropout, and its default value.
    expected = {
        "bert": "`classifier_dropout` or `hidden_dropout_prob` (0.1)",
        "deberta-v2": "`cls_dropout` or `hidden_dropout_prob` (0.1)",
        "distilbert": "`seq_classif_dropout` (0.2)",
        "albert": "`classifier_dropout_prob` (0.1)",
        "modernbert": "`classifier_dropout` (0)",
        "longformer": "`hidden_dropout_prob` (0.1)",
        "xlnet": "`summary_last_dropout` (0.1)",
        "xlm": "`summary_first_dropout` (0.1)",
        "funnel": "`hidden_dropout` (0.1)",
    }
    for model_type, rate in expected.items():
        assert lines[model_type].endswith(f"| {rate} |"), lines[model_type]
    assert "| `roberta` | `MSDRobertaForSequenceClassification` | `classifier.dropout`, 2nd call |" in text


def test_text_classification_pipeline(model_type, word_tokenizer):
    model = msd.AutoMSDModelForSequenceClassification.from_config(
        tiny_config(model_type),
        num_labels=3,
        msd_dropout=0.1,  # decoders have no architecture rate
    ).eval()
    classify = pipeline("text-classification", model=model, tokenizer=word_tokenizer, top_k=None)
    texts = ["w5 w6 w7 w8 w9 w10", "w11 w12 w13"]
    results = classify(texts)
    with torch.no_grad():  # one text at a time, as the pipeline runs them: no padding
        probs = [model(**word_tokenizer(text, return_tensors="pt")).logits[0].softmax(-1) for text in texts]
    for result, p in zip(results, probs, strict=True):
        scores = {r["label"]: r["score"] for r in result}
        torch.testing.assert_close(torch.tensor([scores[f"LABEL_{i}"] for i in range(3)]), p, atol=1e-5, rtol=0)


def test_rate_zero_dropout_left_out_upstream(caplog):
    """XLNet builds an nn.Identity for `summary_last_dropout=0`: the MSD default rate is 0; `msd_dropout` sets one."""
    config = tiny_config("xlnet", summary_last_dropout=0.0)
    assert isinstance(row("xlnet").model_class(config).sequence_summary.last_dropout, torch.nn.Identity)
    with caplog.at_level(logging.WARNING, logger="msd_transformers.dropout"):
        model = msd.AutoMSDModelForSequenceClassification.from_config(config, num_labels=3)
    assert model.msd.rates == (0.0,) * 8 and "samples are identical" in caplog.text
    model = msd.AutoMSDModelForSequenceClassification.from_config(config, num_labels=3, msd_dropout=0.3).eval()
    upstream = msd.to_vanilla(model).eval()
    inputs = make_inputs(config=config)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, upstream(**inputs).logits, atol=1e-6, rtol=0)
    samples = model.train()(**inputs).sample_logits
    assert model.msd.rates == (0.3,) * 8 and not torch.allclose(samples[0], samples[1])


@pytest.mark.parametrize("model_type", ["roberta", "electra", "roformer", "big_bird"])
def test_dense_head_activation_is_upstream(model_type):
    """The MSD head applies the upstream head's activation: tanh, ELECTRA's GELU module, ACT2FN[config.hidden_act]."""
    config = tiny_config(model_type, num_labels=3, hidden_act="relu")  # not the heads' tanh / gelu defaults
    upstream = row(model_type).model_class(config).eval()
    model = msd.AutoMSDModelForSequenceClassification.from_config(config).eval()
    model.load_state_dict(upstream.state_dict())
    expected = {"roberta": torch.nn.Tanh, "electra": transformers.activations.GELUActivation}
    assert isinstance(model.classifier.activation, expected.get(model_type, torch.nn.ReLU))
    inputs = make_inputs(config=config)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, upstream(**inputs).logits, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------------------------- encoder-decoders
@pytest.mark.parametrize("model_type", ["bart", "t5"])
def test_encoder_decoder_outputs_and_rules_are_upstream(model_type):
    """The Seq2Seq output fields pass through (both stacks' hidden states, the encoder's last state, the cache), and
    the upstream forward's rules hold: the end-of-sequence pooling and its error."""
    config = tiny_config(model_type, num_labels=3)
    upstream = row(model_type).model_class(config).eval()
    model = msd.AutoMSDModelForSequenceClassification.from_config(config, msd_num_samples=4, msd_dropout=0.2).eval()
    model.load_state_dict(upstream.state_dict())
    inputs = make_inputs(config=config)
    with torch.no_grad():
        ours, theirs = model(**inputs, output_hidden_states=True), upstream(**inputs, output_hidden_states=True)
    assert type(ours) is MSDSeq2SeqSequenceClassifierOutput and set(ours.keys()) == set(theirs.keys())
    assert "cache" in ours.keys() and "cache" in model.config.keys_to_ignore_at_inference
    for key in ("logits", "encoder_last_hidden_state", "decoder_hidden_states", "encoder_hidden_states"):
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-6, rtol=0)
    labels = torch.tensor([0, 1, 2, 0])
    loss, logits, *_, samples = model.train()(**inputs, labels=labels, return_dict=False)
    assert samples.shape == (4, 4, 3) and loss.dim() == 0
    bad = inputs["input_ids"].clone()
    bad[0, -4] = 5  # row 0 loses its end-of-sequence token
    with pytest.raises(ValueError, match="must have the same number of <eos> tokens"):
        model(input_ids=bad, attention_mask=inputs["attention_mask"], labels=labels)


def test_encoder_decoder_trainer_predictions_as_upstream(tmp_path):
    """Trainer predictions without labels: the logits and the encoder's last state, as the upstream Trainer gives them
    for the upstream class with the same weights (the key/value cache left out)."""
    config = tiny_config("bart", num_labels=3)
    upstream = row("bart").model_class(config).eval()
    model = msd.AutoMSDModelForSequenceClassification.from_config(config, msd_dropout=0.2).eval()
    model.load_state_dict(upstream.state_dict())
    inputs = make_inputs(config=config)
    ds = Dataset.from_dict({k: v.tolist() for k, v in inputs.items()})
    args = msd.MSDTrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to=[], use_cpu=True, disable_tqdm=True
    )
    ours = msd.MSDTrainer(model=model, args=args).predict(ds).predictions
    theirs = Trainer(model=upstream, args=args).predict(ds).predictions
    assert isinstance(ours, tuple) and len(ours) == len(theirs) == 2
    for mine, upstream_field in zip(ours, theirs, strict=True):  # the logits, then the encoder's last hidden state
        torch.testing.assert_close(torch.as_tensor(mine), torch.as_tensor(upstream_field), atol=1e-6, rtol=0)
