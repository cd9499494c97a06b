"""The README's Python examples run as written, in order, in one namespace (offline: they load the MiniLM-L6 that the
`train` extra installs). The example that registers a family of one's own ("Adding an architecture") runs here too,
in a namespace of its own, with `my_models` and its checkpoint made by the test."""

import re
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


class MyConfig(BertConfig):
    model_type = "my-bert"


class MyHead(nn.Module):
    """pooled output -> dense -> GELU -> dropout -> out, as the README's comment says."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(0.2)
        self.out = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, x):
        return self.out(self.dropout(self.act(self.dense(x))))


class MyForSequenceClassification(BertForSequenceClassification):
    config: MyConfig

    def __init__(self, config):
        super().__init__(config)
        self.classifier = MyHead(config)
        self.post_init()


@pytest.fixture
def my_models(tmp_path, monkeypatch):
    """The `my_models` module the README imports, and a checkpoint at its path ("path/to/my-checkpoint")."""
    module = types.ModuleType("my_models")
    module.MyConfig, module.MyForSequenceClassification = MyConfig, MyForSequenceClassification
    monkeypatch.setitem(sys.modules, "my_models", module)
    monkeypatch.chdir(tmp_path)
    config = MyConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    MyForSequenceClassification(config).save_pretrained(tmp_path / "path" / "to" / "my-checkpoint")
    yield
    from msd_transformers import registry

    for table in registry._ROWS.values():  # the README's row is not a built-in one
        table.pop("my-bert", None)
    for table in (registry._RESOLVED, registry._MODEL_CLASSES):
        for key in [k for k in table if k[1] == "my-bert"]:
            table.pop(key)
    registry._CONFIG_CLASSES.pop("my-bert", None)


def test_readme_python_examples_run_as_written(my_models):
    blocks = python_blocks()
    assert len(blocks) == 7  # use, the pieces, every head, LoRA, a family of one's own, MSDTrainer, uncertainty
    namespace: dict = {}
    for i, block in enumerate(blocks):
        # The family of one's own is an example apart: its `model` is not the one the later examples use.
        scope = dict(namespace) if "my_models" in block else namespace
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), scope)
        except Exception as err:  # noqa: BLE001  (the block that failed, with its text)
            raise AssertionError(f"README.md python block {i + 1} failed: {err!r}\n{block}") from err
    # What the examples say they give.
    assert namespace["logits"].shape == (8, 4, 2) and namespace["samples"].shape == (8, 4, 384)
    assert namespace["out"].sample_logits.shape[0] == 8 and type(namespace["model"]).__name__.startswith("MSDBert")
    assert type(namespace["upstream"]).__name__ == "BertForSequenceClassification"
    assert namespace["u"].probs.shape == (2, 2) and torch.all(namespace["u"].mutual_information >= 0)
