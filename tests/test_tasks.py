"""Every token-classification, question-answering and multiple-choice family against its upstream class.

One test per (task, family) builds one tiny upstream model and runs every check on it:

- its checkpoint loads into the MSD class (`AutoMSDModelFor<Task>.from_pretrained`) and the MSD checkpoint into the
  upstream class, with no missing or unexpected keys, and `msd.to_vanilla` gives the upstream class of the same task;
- in eval, the outputs and the loss equal the upstream class's to 1e-6 (labels at padded and unlabelled tokens, answer
  positions outside the sequence);
- in training, the sample fields have the documented shapes, the samples differ, the upstream field is their mean, and
  the loss is the mean over the samples of the upstream loss computed here on each sample (and not the loss of the
  mean logits: the head's weights are scaled up so that the two differ); with every dropout off, each sample is its
  own example's eval output (no reshape mixes samples and examples);
- upstream, the row's dropout runs once per forward and feeds the row's Linear (the MSD class makes it the identity),
  and where the row has none, no dropout feeds that Linear.

The inputs pad row 0 on the right and row 1 on the left, so every decoder family runs with both paddings. Then: the
token-classification pipeline, and the loss masks of the families whose upstream token loss skips some tokens.
"""

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs, tiny_config, trainer_args
from datasets import Dataset
from transformers import pipeline

import msd_transformers as msd
from msd_transformers import MultiSampleLinear
from msd_transformers.architectures import MULTIPLE_CHOICE, QUESTION_ANSWERING, TOKEN_CLASSIFICATION

TASKS = (TOKEN_CLASSIFICATION, QUESTION_ANSWERING, MULTIPLE_CHOICE)
K = 4  # dropout samples
HEAD_SCALE = 20.0  # see `sharpened`
NUM_LABELS = 3  # token classes
BATCH, SEQ_LEN, CHOICES = 4, 9, 2  # multiple choice: BATCH // CHOICES examples of CHOICES choices
CASES = [(task, model_type) for task in TASKS for model_type in msd.supported_model_types(task)]
# Token heads whose upstream loss leaves out the tokens where an input is 0, as read in their modeling files
# (`active_loss = attention_mask.view(-1) == 1`; BROS: `logits.view(-1, C)[bbox_first_token_mask]`).
UPSTREAM_LOSS_MASKS = {
    "biogpt": "attention_mask", "mra": "attention_mask", "xlm-roberta-xl": "attention_mask", "yoso": "attention_mask",
    "bros": "bbox_first_token_mask",
}  # fmt: skip
# Question-answering heads fed by the decoder stack's `dropout`, which also drops the embeddings: it stays upstream's.
STACK_DROPOUT_FEEDS = {"t5", "mt5", "umt5"}


def auto_class(task):
    return {
        TOKEN_CLASSIFICATION: msd.AutoMSDModelForTokenClassification,
        QUESTION_ANSWERING: msd.AutoMSDModelForQuestionAnswering,
        MULTIPLE_CHOICE: msd.AutoMSDModelForMultipleChoice,
    }[task]


def family_inputs(model_type, config, task):
    """`make_inputs` (row 0 padded on the right, row 1 on the left) plus the inputs a family needs; multiple choice:
    `(BATCH // CHOICES, CHOICES, SEQ_LEN)`."""
    inputs = make_inputs(batch_size=BATCH, seq_len=SEQ_LEN, config=config)
    assert inputs["attention_mask"][0, -1] == 0 and inputs["attention_mask"][1, 0] == 0  # right and left padding
    if model_type == "bros":  # boxes are required: (B, T, 4) corners in [0, 1]
        g = torch.Generator().manual_seed(1)
        inputs["bbox"] = torch.rand(BATCH, SEQ_LEN, 4, generator=g).sort(-1).values
        if task == TOKEN_CLASSIFICATION:  # the loss counts these tokens only
            inputs["bbox_first_token_mask"] = inputs["attention_mask"].bool() & (torch.arange(SEQ_LEN) % 3 != 1)
    if model_type == "longformer" and task != TOKEN_CLASSIFICATION:  # else found from 3 separator tokens per row
        inputs["global_attention_mask"] = torch.zeros_like(inputs["input_ids"])
        inputs["global_attention_mask"][:, 0] = 1
    if task == MULTIPLE_CHOICE:
        inputs = {k: v.view(BATCH // CHOICES, CHOICES, *v.shape[1:]) for k, v in inputs.items()}
    return inputs


def task_labels(task, inputs):
    """Labels of `task`: token classes with -100 on the first token and labelled padding; answer spans with one start
    and one end outside the sequence (clamped and ignored upstream); the right choice."""
    g = torch.Generator().manual_seed(2)
    if task == TOKEN_CLASSIFICATION:
        labels = torch.randint(0, NUM_LABELS, (BATCH, SEQ_LEN), generator=g)
        labels[:, 0] = -100
        return {"labels": labels}
    if task == QUESTION_ANSWERING:
        return {
            "start_positions": torch.tensor([1, SEQ_LEN + 5, 2, 4]),
            "end_positions": torch.tensor([3, 6, SEQ_LEN + 2, 4]),
        }
    return {"labels": torch.tensor([1, 0])}


def logit_fields(task):
    return ("start_logits", "end_logits") if task == QUESTION_ANSWERING else ("logits",)


def upstream_loss(task, logits, labels, counted=None):
    """Upstream's loss of one sample, computed here: token cross-entropy over the labelled tokens (`counted`: where
    the upstream loss counts tokens at all); span `(CE(start) + CE(end)) / 2` with positions clamped to `[0, T]` and
    `T` ignored; cross-entropy over the choices."""
    if task == TOKEN_CLASSIFICATION:
        flat_logits, flat_labels = logits["logits"].reshape(-1, NUM_LABELS), labels["labels"].reshape(-1)
        if counted is not None:
            flat_logits, flat_labels = flat_logits[counted.reshape(-1).bool()], flat_labels[counted.reshape(-1).bool()]
        return F.cross_entropy(flat_logits, flat_labels)
    if task == QUESTION_ANSWERING:
        t = logits["start_logits"].shape[-1]
        start = labels["start_positions"].clamp(0, t)
        end = labels["end_positions"].clamp(0, t)
        return (
            F.cross_entropy(logits["start_logits"], start, ignore_index=t)
            + F.cross_entropy(logits["end_logits"], end, ignore_index=t)
        ) / 2
    return F.cross_entropy(logits["logits"], labels["labels"])


def sharpened(model, factor=HEAD_SCALE):
    """`model` with the weights of every Linear outside its backbone (the head) times `factor`: the samples of a tiny
    random model then differ enough that the mean of their losses is far from the loss of their mean logits."""
    backbone = model.base_model_prefix
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name.split(".")[0] != backbone:
                module.weight.mul_(factor)
    return model


def dropout_calls(model, arch, inputs):
    """A training forward of the upstream `model`: the outputs of the row's dropout, the inputs of the row's Linear,
    and the outputs of every `nn.Dropout`."""
    calls, linear_inputs, dropped = [], [], []  # dropped: (module, output) of every call of an nn.Dropout
    hooks = [model.get_submodule(arch.classifier).register_forward_pre_hook(lambda m, a: linear_inputs.append(a[0]))]
    if arch.dropout is not None:
        hooks.append(model.get_submodule(arch.dropout).register_forward_hook(lambda m, a, out: calls.append(out)))
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            hooks.append(module.register_forward_hook(lambda m, a, out: dropped.append((m, out))))
    try:
        model.train()(**inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return calls, linear_inputs, dropped


@pytest.mark.parametrize("task, model_type", CASES, ids=[f"{task}-{t}" for task, t in CASES])
def test_family_matches_upstream(task, model_type, tmp_path):
    arch = msd.get_architecture(model_type, task)
    # Question-answering heads read `num_labels` for the width of `qa_outputs` (2: start and end).
    config = tiny_config(model_type, dropout=0.1, num_labels=NUM_LABELS if task == TOKEN_CLASSIFICATION else 2)
    torch.manual_seed(0)
    upstream = sharpened(arch.model_class(config).eval())
    inputs = family_inputs(model_type, config, task)
    labels = task_labels(task, inputs)

    # Checkpoints both ways, no missing or unexpected keys.
    upstream.save_pretrained(tmp_path / "upstream")
    model, info = auto_class(task).from_pretrained(
        tmp_path / "upstream", msd_num_samples=K, msd_dropout=0.3, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert type(model).__name__ == f"MSD{arch.model_class.__name__}" and isinstance(model.msd, MultiSampleLinear)
    model.save_pretrained(tmp_path / "msd")
    back, info = arch.model_class.from_pretrained(tmp_path / "msd", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert type(msd.to_vanilla(model)) is arch.model_class

    # Eval: the upstream outputs and loss.
    model.eval(), back.eval()
    with torch.no_grad():
        expected = upstream(**inputs, **labels)
        for other in (model, back):
            out = other(**inputs, **labels)
            for name in logit_fields(task):
                torch.testing.assert_close(out[name], expected[name], atol=1e-6, rtol=0, msg=name)
            # the loss to 1e-6 relative as well: the sharpened T5 token losses are ~100 (float32 sums in another order)
            torch.testing.assert_close(out.loss, expected.loss, atol=1e-6, rtol=1e-6)
    if task == MULTIPLE_CHOICE:
        assert expected.logits.shape == (BATCH // CHOICES, CHOICES)

    # Training: K samples, their mean, and the mean of the per-sample upstream losses, which this check tells apart
    # from the loss of the mean logits (`msd_average="logits"`) in at least one of a few draws (where every sample
    # agrees on the answer, cross-entropy is nearly linear in the logits and the two are nearly equal).
    batch = BATCH // CHOICES if task == MULTIPLE_CHOICE else BATCH
    assert arch.loss_mask == UPSTREAM_LOSS_MASKS.get(model_type if task == TOKEN_CLASSIFICATION else None)
    counted = inputs.get(arch.loss_mask) if arch.loss_mask else None
    gaps = []
    for _ in range(3):
        out = model.train()(**inputs, **labels)
        for name in logit_fields(task):
            samples = out[f"sample_{name}"]
            shape = {TOKEN_CLASSIFICATION: (K, BATCH, SEQ_LEN, NUM_LABELS), MULTIPLE_CHOICE: (K, batch, CHOICES)}
            assert samples.shape == shape.get(task, (K, BATCH, SEQ_LEN)), (name, samples.shape)
            torch.testing.assert_close(out[name], samples.mean(0))
            assert not torch.allclose(samples[0], samples[1])
        per_sample = [
            upstream_loss(
                task, {name: out[f"sample_{name}"][k].detach() for name in logit_fields(task)}, labels, counted
            )
            for k in range(K)
        ]
        torch.testing.assert_close(out.loss, torch.stack(per_sample).mean(), atol=1e-6, rtol=1e-6)
        mean_logits = {name: out[name].detach() for name in logit_fields(task)}
        gaps.append((out.loss - upstream_loss(task, mean_logits, labels, counted)).item())
        if gaps[-1] > 1e-4:
            break
    assert max(gaps) > 1e-4, gaps
    out.loss.backward()
    assert model.msd.weight.grad.abs().sum() > 0

    # With every dropout off (the backbone in eval, the samples at rate 0), each sample is its own example's eval
    # output: nothing, upstream's reshapes included, mixes the sample dimension with the batch.
    for module in model.modules():
        module.train(module is model or module is model.msd)  # parents first: each module ends in its own mode
    model.msd.rates = (0.0,) * K
    with torch.no_grad():
        out = model(**inputs)
    for name in logit_fields(task):
        samples = out[f"sample_{name}"]
        torch.testing.assert_close(samples, expected[name].expand_as(samples), atol=1e-6, rtol=0, msg=name)

    # Upstream: the row's dropout runs once per forward (twice in a RoBERTa-style head) and feeds the row's Linear,
    # which runs once.
    calls, linear_inputs, dropped = dropout_calls(upstream, arch, inputs)
    assert len(linear_inputs) == 1
    if arch.dropout is not None:
        assert len(calls) == (2 if arch.head else 1) and linear_inputs[0] is calls[-1]
    else:  # no dropout feeds the Linear upstream, or one the backbone calls elsewhere too (so it cannot go)
        feeding = [m for m, out in dropped if out is linear_inputs[0]]
        if task == QUESTION_ANSWERING and model_type in STACK_DROPOUT_FEEDS:
            assert len(feeding) == 1 and sum(m is feeding[0] for m, _ in dropped) == 2
        else:
            assert not feeding


# ----------------------------------------------------------------------------------------------- pipelines
@pytest.mark.parametrize("model_type", ["bert", "llama", "yoso"])
def test_token_classification_pipeline_as_upstream(model_type, word_tokenizer):
    """`pipeline("token-classification")` gives the upstream model's results: the tags, scores, words and offsets of
    every token, one text at a time and batched (padded)."""
    labels = {0: "O", 1: "B-X", 2: "I-X"}
    config = tiny_config(model_type, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = msd.AutoMSDModelForTokenClassification.from_config(config, msd_dropout=0.2).eval()
    texts = ["w5 w6 w7 w8 w9 w10", "w11 w12 w13", "w14 w15 w16 w17 w18 w19 w20 w21"]
    results = {}
    for name, m in (("msd", model), ("upstream", msd.to_vanilla(model).eval())):
        tag = pipeline("token-classification", model=m, tokenizer=word_tokenizer, ignore_labels=[])
        results[name] = (tag(texts), tag(texts, batch_size=3))
    assert sum(len(r) for r in results["msd"][0]) == 6 + 3 + 8  # every word, none of the special tokens
    assert results["msd"][0][1][0]["word"] == "w11" and results["msd"][0][1][0]["start"] == 0
    for ours, theirs in zip(results["msd"], results["upstream"], strict=True):
        for text_ours, text_theirs in zip(ours, theirs, strict=True):
            assert [{**t, "score": pytest.approx(t["score"], abs=1e-6)} for t in text_theirs] == text_ours


def test_question_answering_pipeline_is_gone_upstream():
    """Transformers 5 removed the `question-answering` pipeline: it refuses MSD and upstream models alike."""
    model = msd.AutoMSDModelForQuestionAnswering.from_config(tiny_config("bert"), msd_dropout=0.2)
    for m in (model, msd.to_vanilla(model)):
        with pytest.raises(KeyError, match="The task question-answering has been removed from transformers"):
            pipeline("question-answering", model=m)


# ----------------------------------------------------------------------------------------------- loss masks
def test_loss_mask_in_trainer_and_monte_carlo(tmp_path):
    """YOSO's upstream token loss leaves out the padding tokens: so do the model, `MSDTrainer` (training, eval and
    Monte-Carlo evaluation) and `mc_dropout` at any depth."""
    config = tiny_config("yoso", num_labels=NUM_LABELS)
    model = msd.AutoMSDModelForTokenClassification.from_config(config, msd_num_samples=K, msd_dropout=0.3).eval()
    upstream = msd.to_vanilla(model).eval()
    inputs = make_inputs(batch_size=BATCH, seq_len=SEQ_LEN, config=config)
    labels = task_labels(TOKEN_CLASSIFICATION, inputs)["labels"]  # padded tokens labelled
    counted = inputs["attention_mask"].bool() & labels.ne(-100)
    batch = {**inputs, "labels": labels}

    def direct(logits):  # the cross-entropy over the counted tokens
        return F.cross_entropy(logits[counted], labels[counted])

    with torch.no_grad():
        expected = upstream(**batch).loss
        assert not torch.allclose(
            expected, F.cross_entropy(upstream(**inputs).logits.reshape(-1, 3), labels.reshape(-1))
        )
        trainer = msd.MSDTrainer(model=model, args=trainer_args(tmp_path, msd_eval_samples=K))
        torch.testing.assert_close(trainer.compute_loss(model, batch), expected, atol=1e-6, rtol=0)
        loss, predictive, _ = trainer.prediction_step(model, batch, prediction_loss_only=False)
        torch.testing.assert_close(loss, direct(predictive), atol=1e-6, rtol=0)
        for layers in (0, 1):
            with msd.mc_dropout(model, num_samples=K, layers=layers):
                out = model(**batch)
            torch.testing.assert_close(out.loss, direct(out.logits), atol=1e-6, rtol=0)
    model.train()
    torch.manual_seed(0)
    ours = trainer.compute_loss(model, batch)
    torch.manual_seed(0)
    torch.testing.assert_close(ours, model(**batch).loss)  # the model's loss: the mean of the per-sample losses


def test_loss_mask_of_another_shape_is_refused():
    config = tiny_config("bros", num_labels=NUM_LABELS)
    model = msd.AutoMSDModelForTokenClassification.from_config(config)
    inputs = family_inputs("bros", config, TOKEN_CLASSIFICATION)
    inputs["bbox_first_token_mask"] = inputs["bbox_first_token_mask"][:, :-1]
    labels = task_labels(TOKEN_CLASSIFICATION, inputs)
    with pytest.raises(ValueError, match=r"bbox_first_token_mask must have the shape of the token labels \(4, 9\)"):
        model(**inputs, **labels)


def test_loss_mask_in_a_trainer_step(tmp_path):
    """One MSDTrainer step on YOSO with labelled padding (dropout off) moves the weights as one SGD step on the
    upstream model's own loss: the items the loss is normalised by are the tokens upstream counts."""
    config = tiny_config("yoso", dropout=0.0, num_labels=NUM_LABELS)
    model = msd.AutoMSDModelForTokenClassification.from_config(config, msd_num_samples=2, msd_dropout=0.0)
    upstream = msd.to_vanilla(model)
    inputs = make_inputs(batch_size=BATCH, seq_len=SEQ_LEN, config=config)
    batch = {**inputs, **task_labels(TOKEN_CLASSIFICATION, inputs)}
    upstream(**batch).loss.backward()
    with torch.no_grad():
        expected = {name: p - 0.5 * p.grad for name, p in upstream.named_parameters()}
    trainer = msd.MSDTrainer(
        model=model,
        args=trainer_args(tmp_path, per_device_train_batch_size=BATCH, max_grad_norm=0.0),
        train_dataset=Dataset.from_dict({k: v.tolist() for k, v in batch.items()}),
    )
    trainer.train()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, expected[name], atol=1e-6, rtol=1e-5, msg=name)
