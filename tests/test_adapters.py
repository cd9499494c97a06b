"""PEFT LoRA on MSD models: training with MSDTrainer, the head in `modules_to_save`, the adapter saved and reloaded
onto the MSD class (the trained head included: PEFT issues #310, #577, #1070), merge and export to the upstream
class."""

import inspect
import json
import logging
import re

import pytest
import torch
from conftest import EOS, VOCAB, make_inputs, row, tiny_config
from datasets import Dataset
from peft import AutoPeftModelForSequenceClassification, LoraConfig, PeftModelForSequenceClassification, get_peft_model
from transformers import AutoConfig, AutoModelForSequenceClassification
from transformers.utils import logging as transformers_logging

import msd_transformers as msd
from msd_transformers import MSDTrainer, MSDTrainingArguments

# The head's trainable copy in PEFT's `modules_to_save`, per kind of head.
HEAD_PARAMETERS = {
    "bert": ["classifier.modules_to_save.default.weight", "classifier.modules_to_save.default.bias"],
    "roberta": [  # the RoBERTa-style head is wrapped whole: its `dense` and `out_proj` are both trained
        "classifier.modules_to_save.default.dense.weight",
        "classifier.modules_to_save.default.dense.bias",
        "classifier.modules_to_save.default.out_proj.weight",
        "classifier.modules_to_save.default.out_proj.bias",
    ],
    "llama": ["score.modules_to_save.default.weight"],
    "bart": [  # PEFT's default misses `classification_head`: `lora_modules_to_save` names it
        f"classification_head.modules_to_save.default.{name}"
        for name in ("dense.weight", "dense.bias", "out_proj.weight", "out_proj.bias")
    ],
}


@pytest.fixture
def base_path(tmp_path, request):
    """A upstream checkpoint on disk: the adapter's `base_model_name_or_path`."""
    model_type = request.param
    upstream = row(model_type).model_class(tiny_config(model_type, num_labels=3))
    upstream.save_pretrained(tmp_path / "base")
    return model_type, str(tmp_path / "base")


def lora_model(model_type, path):
    model = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        path, msd_num_samples=4, msd_dropout=0.3, id2label={0: "a", 1: "b", 2: "c"}
    )
    lora = LoraConfig(
        task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=msd.lora_target_modules(model.config),
        modules_to_save=msd.lora_modules_to_save(model.config),
    )  # fmt: skip
    return get_peft_model(model, lora)


def dataset(n=16, seq_len=7):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, VOCAB, (n, seq_len), generator=g)
    ids[:, -1] = EOS  # as `make_inputs`: every row ends in the end-of-sequence token
    labels = torch.randint(0, 3, (n,), generator=g)
    return Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": [[1] * seq_len] * n, "labels": labels})


def eval_logits(model):
    with torch.no_grad():
        return model.eval()(**make_inputs(config=model.config)).logits


@pytest.mark.parametrize("base_path", ["bert", "roberta", "llama", "bart"], indirect=True)
def test_lora_trains_saves_and_reloads_as_msd(base_path, tmp_path):
    model_type, path = base_path
    model = lora_model(model_type, path)
    trainable = [n.removeprefix("base_model.model.") for n, p in model.named_parameters() if p.requires_grad]
    heads = [n for n in trainable if "lora_" not in n]
    assert sorted(heads) == sorted(HEAD_PARAMETERS[model_type]) and len(trainable) > len(heads)
    assert model.msd is model.get_base_model().msd and model.msd.num_samples == 4
    head_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n}

    args = MSDTrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, max_steps=2, learning_rate=0.05,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0,
    )  # fmt: skip
    trainer = MSDTrainer(model=model, args=args, train_dataset=dataset())
    trainer.train()
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert logged and all("msd_loss_std" in h and h["msd_loss_std"] > 0 for h in logged)  # per-sample losses
    for name, before in head_before.items():
        assert not torch.equal(dict(model.named_parameters())[name], before), name  # the head is trained
    trained = eval_logits(model)

    trainer.save_model(tmp_path / "adapter")
    saved = json.loads((tmp_path / "adapter" / msd.adapters.MSD_ADAPTER_CONFIG_NAME).read_text())
    assert saved["model_type"] == f"msd-{model_type}" and saved["msd_num_samples"] == 4
    assert saved["msd_dropout"] == 0.3 and saved["id2label"] == {"0": "a", "1": "b", "2": "c"}

    reloaded = msd.AutoMSDPeftModelForSequenceClassification.from_pretrained(tmp_path / "adapter")
    assert isinstance(reloaded, PeftModelForSequenceClassification) and msd.is_msd_model(reloaded.get_base_model())
    assert reloaded.msd.rates == (0.3,) * 4 and reloaded.config.id2label[2] == "c"
    torch.testing.assert_close(eval_logits(reloaded), trained, atol=1e-6, rtol=0)

    # PEFT's own auto class rebuilds the upstream class: same eval logits, but the multi-sample dropout is gone.
    upstream_reload = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "adapter", num_labels=3)
    assert type(upstream_reload.get_base_model()) is row(model_type).model_class
    # The MSD config beside the adapter does not make Transformers take the folder for a full checkpoint.
    with_adapter = AutoModelForSequenceClassification.from_pretrained(tmp_path / "adapter", num_labels=3)
    torch.testing.assert_close(eval_logits(with_adapter), trained, atol=1e-6, rtol=0)

    merged = reloaded.merge_and_unload()
    assert msd.is_msd_model(merged) and not any("lora_" in n for n, _ in merged.named_parameters())
    upstream = msd.to_vanilla(merged)
    assert type(upstream) is row(model_type).model_class
    torch.testing.assert_close(eval_logits(upstream), trained, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("base_path", ["llama"], indirect=True)
def test_plain_save_needs_the_fields_and_save_adapter_writes_them(base_path, tmp_path):
    model_type, path = base_path
    model = lora_model(model_type, path)
    expected = eval_logits(model)
    model.save_pretrained(tmp_path / "plain")  # PEFT's own save: no MSD config beside the adapter
    with pytest.raises(ValueError, match="has no msd_config.json .* e.g. from_pretrained\\(path, num_labels=2"):
        msd.AutoMSDPeftModelForSequenceClassification.from_pretrained(tmp_path / "plain")
    given = msd.AutoMSDPeftModelForSequenceClassification.from_pretrained(
        tmp_path / "plain", num_labels=3, msd_num_samples=2, msd_dropout=0.2
    )
    assert given.msd.rates == (0.2, 0.2)
    torch.testing.assert_close(eval_logits(given), expected, atol=1e-6, rtol=0)

    msd.save_adapter(model, tmp_path / "msd")
    reloaded = msd.AutoMSDPeftModelForSequenceClassification.from_pretrained(tmp_path / "msd", msd_num_samples=6)
    assert reloaded.msd.rates == (0.3,) * 6  # a field override on top of the saved ones
    torch.testing.assert_close(eval_logits(reloaded), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("base_path", ["qwen2"], indirect=True)
def test_adapter_saves_print_no_warning(base_path, tmp_path, capfd, caplog, monkeypatch):
    """PEFT reads the base checkpoint's (upstream) config through the MSD config class when it saves an adapter:
    neither `trainer.save_model` nor `save_adapter` may print Transformers' "You are using a model of type 'qwen2' to
    instantiate a model of type 'msd-qwen2'" (or any other warning) about a correct save."""
    model_type, path = base_path
    model = lora_model(model_type, path)
    args = MSDTrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True, save_strategy="no")
    trainer = MSDTrainer(model=model, args=args)
    monkeypatch.setattr(transformers_logging.get_logger(), "propagate", True)  # Transformers' records reach caplog
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        trainer.save_model(tmp_path / "trainer")
        msd.save_adapter(model, tmp_path / "direct")
    printed = capfd.readouterr()
    assert "You are using a model of type" not in printed.out + printed.err + caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    for folder in ("trainer", "direct"):
        saved = json.loads((tmp_path / folder / msd.adapters.MSD_ADAPTER_CONFIG_NAME).read_text())
        assert saved["model_type"] == "msd-qwen2" and saved["msd_num_samples"] == 4


def docstring_example(obj, marker: str) -> str:
    """The code of the first example in `obj`'s docstring that contains `marker`, without the `>>>` and `...`
    prompts."""
    blocks = re.findall(r"```python\n(.*?)```", inspect.getdoc(obj), re.S)
    block = next(b for b in blocks if marker in b)
    return "\n".join(line[4:] for line in block.splitlines() if line.startswith((">>> ", "... ")))


def test_upstream_reload_of_a_decoder_adapter_needs_the_trained_pad_token(tmp_path, monkeypatch):
    """A Qwen2 checkpoint names no padding token; training set `pad_token_id` in the MSD config, which is saved
    beside the adapter only. `AutoMSDPeftModelForSequenceClassification` reads it; PEFT's own auto class builds the
    base from the checkpoint and fails at batch > 1 unless it is given, as the adapters module's docstring says and
    shows: its example runs as written and gives the trained model."""
    upstream = row("qwen2").model_class(tiny_config("qwen2", num_labels=3, pad_token_id=None))
    upstream.save_pretrained(tmp_path / "base")
    model = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        tmp_path / "base", msd_num_samples=4, msd_dropout=0.3, pad_token_id=0,
        id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2},
    )  # fmt: skip
    lora = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=msd.lora_target_modules(model.config))
    model = get_peft_model(model, lora)
    with torch.no_grad():
        model.base_model.model.score.modules_to_save["default"].weight.normal_()  # a trained head, not the base's
    trained = eval_logits(model)  # a batch of 4, padded on the right and on the left
    msd.save_adapter(model, tmp_path / "out")

    reloaded = msd.AutoMSDPeftModelForSequenceClassification.from_pretrained(tmp_path / "out")
    torch.testing.assert_close(eval_logits(reloaded), trained, rtol=0, atol=1e-6)
    bare = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "out", num_labels=3)
    with pytest.raises(ValueError, match="Cannot handle batch sizes > 1 if no padding token is defined"):
        eval_logits(bare)

    monkeypatch.chdir(tmp_path)  # the example's adapter folder is "out"
    namespace: dict = {}
    exec(docstring_example(msd.adapters, "AutoPeftModelForSequenceClassification.from_pretrained"), namespace)
    upstream_reload = namespace["model"]
    assert type(upstream_reload.get_base_model()) is row("qwen2").model_class
    assert upstream_reload.config.id2label == {0: "a", 1: "b", 2: "c"} and upstream_reload.config.pad_token_id == 0
    torch.testing.assert_close(eval_logits(upstream_reload), trained, rtol=0, atol=1e-6)


def test_to_vanilla_of_a_peft_model_says_to_merge_first():
    model = msd.AutoMSDModelForSequenceClassification.from_config(tiny_config("bert", num_labels=3), msd_num_samples=2)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
    with pytest.raises(
        ValueError,
        match=r"got a PEFT PeftModelForSequenceClassification: merge the adapter first, "
        r"msd\.to_vanilla\(model\.merge_and_unload\(\)\)\.$",
    ):
        msd.to_vanilla(model)
    assert type(msd.to_vanilla(model.merge_and_unload())) is row("bert").model_class  # what the message says works


def test_lora_modules_to_save_name_the_heads_peft_misses():
    expected = {
        "bert": [], "roberta": [], "llama": [], "gpt2": [], "funnel": [], "modernbert-decoder": [],
        "bart": ["classification_head"], "t5": ["classification_head"], "layoutlmv3": [],
        "xlnet": ["sequence_summary", "logits_proj"], "xlm": ["sequence_summary"],
    }  # fmt: skip
    for model_type, names in expected.items():
        assert msd.lora_modules_to_save(tiny_config(model_type)) == names, model_type
    assert msd.lora_modules_to_save(AutoConfig.for_model("vit")) == []  # no row: PEFT's default


def test_lora_target_modules_follow_the_upstream_architecture():
    assert msd.lora_target_modules(msd.msd_config(tiny_config("llama"), msd_dropout=0.1)) == ["q_proj", "v_proj"]
    assert msd.lora_target_modules(msd.msd_config(tiny_config("bert"))) == ["query", "value"]
    assert msd.lora_target_modules(msd.msd_config(tiny_config("smollm3"), msd_dropout=0.1)) == "all-linear"


@pytest.mark.parametrize("base_path", ["llama"], indirect=True)
def test_monte_carlo_evaluation_of_a_lora_model(base_path, tmp_path):
    """`msd_eval_samples` on a LoRA decoder: Monte-Carlo dropout reaches the MSD model inside the adapter wrapper."""
    model_type, path = base_path
    model = lora_model(model_type, path)
    expected = eval_logits(model)
    args = MSDTrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to=[], use_cpu=True, disable_tqdm=True,
        msd_eval_samples=6,
    )  # fmt: skip
    inputs = make_inputs(config=model.config)
    ds = Dataset.from_dict({**{k: v.tolist() for k, v in inputs.items()}, "labels": [0, 1, 2, 0]})
    seen = []  # the model's own output inside the context: row 0 of the head, without dropout
    handle = model.get_base_model().register_forward_hook(lambda m, args, out: seen.append(out))
    trainer = MSDTrainer(model=model, args=args)
    out = trainer.predict(ds)
    handle.remove()
    # The samples come from the trained copy of the head inside PEFT's wrapper: its row 0 is the eval logits.
    torch.testing.assert_close(seen[0].logits, expected, atol=1e-5, rtol=0)
    samples = seen[0].sample_logits  # (6, 4, 3)
    predictive = msd.predictive_logits(samples, "single_label_classification")
    torch.testing.assert_close(torch.as_tensor(out.predictions), predictive, atol=1e-5, rtol=0)
    assert trainer.mc_uncertainty["probs"].shape == (4, 3) and (trainer.mc_uncertainty["mutual_information"] > 0).all()
