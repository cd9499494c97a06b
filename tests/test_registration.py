"""register_architecture (the README's example as written), and from_config with config attributes."""

import dataclasses
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from conftest import VOCAB, make_inputs, readme_python_blocks, row, tiny_config
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
)
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import msd_transformers as msd
from msd_transformers import generated, registry


class MyConfig(BertConfig):
    """A user's own family: BERT with a head of its own, whose dropout rate is a config field."""

    model_type = "my-bert"
    head_dropout: float = 0.2


class MyHead(nn.Module):
    """pooled output -> dense -> GELU -> dropout -> out"""

    def __init__(self, config: MyConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(config.head_dropout)
        self.out = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.act(self.dense(x))))


class MyForSequenceClassification(BertForSequenceClassification):
    config: MyConfig

    def __init__(self, config: MyConfig):
        super().__init__(config)
        self.classifier = MyHead(config)  # BERT's forward: pooler output -> dropout -> classifier
        self.post_init()


@pytest.fixture
def scratch_table():
    """Rows registered by a test are removed afterwards, with the classes they made and the configs they registered
    with `AutoConfig` (the user's own `my-bert` and its `msd-my-bert`), so other tests see the built-in table and an
    AutoConfig that does not know the user's family."""
    tables = (registry._RESOLVED, registry._CONFIG_CLASSES, registry._MODEL_CLASSES)
    before = [dict(table) for table in tables]
    rows = {task: dict(table) for task, table in registry._ROWS.items()}
    configs = CONFIG_MAPPING._extra_content
    known = set(dict.keys(configs))
    members = set(vars(generated))
    yield
    for name in set(vars(generated)) - members:  # the classes the test's rows made
        delattr(generated, name)
    for table, saved in zip(tables, before, strict=True):
        table.clear()
        table.update(saved)
    for task, table in registry._ROWS.items():
        table.clear()
        table.update(rows[task])
    for key in set(dict.keys(configs)) - known:
        if registry._supported_family(key) is None:  # not an MSD config of a built-in family, made on first use
            configs.pop(key)


def my_row(**kwargs):
    return msd.MSDArchitecture(
        "my-bert",
        MyConfig,
        MyForSequenceClassification,
        **{"dropout": "classifier.dropout", "classifier": "classifier.out", **kwargs},
    )


def tiny_my_config(**kwargs):
    return MyConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        num_labels=3, **kwargs,
    )  # fmt: skip


def test_register_a_user_defined_family(scratch_table, tmp_path):
    """A family of the user's own (an upstream class with a custom head) registers from one row, and every entry point
    takes it: classes, Auto registration, msd_config, the user's checkpoints both ways, to_vanilla."""
    assert "my-bert" not in msd.supported_model_types()
    with pytest.raises(ValueError, match="does not support model_type 'my-bert'.*register_architecture"):
        msd.msd_config(tiny_my_config())
    config_cls, model_cls = msd.register_architecture(my_row())
    assert "my-bert" in msd.supported_model_types()
    assert msd.MSDMyForSequenceClassification is model_cls and "MSDMyForSequenceClassification" in dir(msd)
    assert msd.MSDMyConfig is config_cls and config_cls.model_type == "msd-my-bert"

    # Registering the row is enough: the family's own checkpoints load by name (AutoConfig knows `my-bert` now).
    assert type(AutoConfig.for_model("my-bert")) is MyConfig
    upstream = MyForSequenceClassification(tiny_my_config(head_dropout=0.3)).eval()
    upstream.save_pretrained(tmp_path / "upstream")
    model, info = msd.AutoMSDModelForSequenceClassification.from_pretrained(
        tmp_path / "upstream", msd_num_samples=4, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert type(model) is model_cls and type(AutoModelForSequenceClassification.from_config(model.config)) is model_cls
    # The samples replace the head's dropout (its rate, 0.3, is the default); BERT's dropout before the head stays.
    assert model.msd is model.classifier.out and model.msd.rates == (0.3,) * 4
    assert type(model.classifier.dropout) is nn.Identity and type(model.dropout) is nn.Dropout

    inputs, labels = make_inputs(config=model.config), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        ours, theirs = model.eval()(**inputs, labels=labels), upstream(**inputs, labels=labels)
    torch.testing.assert_close(ours.logits, theirs.logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.loss, theirs.loss, rtol=0, atol=1e-6)
    out = model.train()(**inputs, labels=labels)
    assert out.sample_logits.shape == (4, 4, 3) and not torch.allclose(out.sample_logits[0], out.sample_logits[1])
    expected = torch.stack([F.cross_entropy(s, labels) for s in out.sample_logits]).mean()
    torch.testing.assert_close(out.loss, expected)

    model.save_pretrained(tmp_path / "msd")
    back, info = MyForSequenceClassification.from_pretrained(tmp_path / "msd", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    upstream = msd.to_vanilla(model.eval())
    assert type(upstream) is MyForSequenceClassification and upstream.config.model_type == "my-bert"
    with torch.no_grad():
        for other in (back.eval(), upstream):
            torch.testing.assert_close(other(**inputs).logits, ours.logits, rtol=0, atol=1e-6)


# The code block of README.md's "Adding an architecture" section, character for character.
# The README's "Adding an architecture" example, read from the README.
README_EXAMPLE = next(block for block in readme_python_blocks() if "from my_models import" in block)


def test_readme_example_runs_as_written(scratch_table, tmp_path, monkeypatch):
    """The README's example, run as written: `my_models` holds this module's family, and the user's checkpoint is at
    the path the example names. Registering the row is all it takes (the user never calls `AutoConfig.register`)."""
    assert "my-bert" not in CONFIG_MAPPING  # Transformers does not know the family before the example runs
    my_models = types.ModuleType("my_models")
    my_models.MyConfig, my_models.MyForSequenceClassification = MyConfig, MyForSequenceClassification
    monkeypatch.setitem(sys.modules, "my_models", my_models)
    upstream = MyForSequenceClassification(tiny_my_config(head_dropout=0.3)).eval()
    upstream.save_pretrained(tmp_path / "path" / "to" / "my-checkpoint")
    monkeypatch.chdir(tmp_path)

    namespace: dict = {}
    exec(compile(README_EXAMPLE, "README.md", "exec"), namespace)

    model = namespace["model"].eval()
    assert type(model) is msd.MSDMyForSequenceClassification and model.msd is model.classifier.out
    assert model.msd.rates == (0.3,) * 8  # the head's own dropout rate, from the checkpoint's config
    inputs = make_inputs(config=model.config)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, upstream(**inputs).logits, rtol=0, atol=1e-6)


def test_register_architecture_refuses_a_duplicate(scratch_table):
    with pytest.raises(ValueError, match="already registered.*exist_ok=True"):
        msd.register_architecture(row("bert"))
    msd.register_architecture(my_row())
    with pytest.raises(ValueError, match="'my-bert' is already registered"):
        msd.register_architecture(my_row())
    msd.register_architecture(my_row(), exist_ok=True)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("not a row", "takes an MSDArchitecture"),
        (my_row(dropout="nope"), r"has no submodule 'nope' \(the row's `dropout`\)"),
        (my_row(dropout="classifier.out"), r"is a Linear, not a torch\.nn\.Dropout"),
        (my_row(classifier="classifier.dropout"), r"is a Dropout, not a torch\.nn\.Linear"),
        (my_row(head="bert"), r"lacks \['dense', 'dropout', 'out_proj'\]"),
        (my_row(head="classifier"), r"lacks \['out_proj'\]"),
        (my_row(loss_style="other"), "loss_style"),
        (my_row(head_activation="hidden_act"), r"head_activation .* needs a `head`"),
        (my_row(head_input="first"), "head_input of 'my-bert' must be 'sequence' or 'pooled', got 'first'"),
        (my_row(head_input="pooled"), "head_input='pooled' of 'my-bert' needs a `head`"),
        (msd.MSDArchitecture("bert", MyConfig, MyForSequenceClassification, "dropout", "classifier"),
         "has model_type 'my-bert', but the row says 'bert'"),
        (my_row().__class__("msd-x", MyConfig, MyForSequenceClassification, "a", "b"),
         "must be the upstream model_type"),
        (msd.MSDArchitecture("my-bert", MyConfig, torch.nn.Linear, "dropout", "classifier"),
         "must be a PreTrainedModel subclass"),
        (my_row(pooling="mean"), "pooling of 'my-bert' must be None or 'last_token', got 'mean'"),
        (my_row(task="summarization"), "Unknown task 'summarization'"),
        (my_row(classifier=""), "classifier of 'my-bert' must be the path of the head's Linear"),
        (my_row(pooled_head="classifier"), "pooled_head of 'my-bert' goes with pooling='last_token'"),
        (my_row(pooling="last_token", head="classifier"), "is for decoder sequence heads, without a `head`"),
        (my_row(pooling="last_token", task="token-classification"), "is for decoder sequence heads"),
        (my_row(pooling="last_token", pooled_head="nope"), r"'nope' \(the row's `pooled_head`\)"),
        (my_row(loss_mask="attention_mask"), r"loss_mask of 'my-bert' .* is for token-classification rows"),
        (my_row(resolve_head="keras"), "resolve_head of 'my-bert' must be None or 'timm', got 'keras'"),
        (my_row(resolve_head="timm"), r"resolves the dropout and the Linear from the model: give only `classifier`"),
    ],
)  # fmt: skip
def test_register_architecture_checks_the_row(scratch_table, row, match):
    with pytest.raises(ValueError, match=match):
        msd.register_architecture(row)
    assert "my-bert" not in msd.supported_model_types()


def test_head_activation_must_name_an_activation(scratch_table):
    bad = dataclasses.replace(row("roberta"), head_activation="no_such_attribute")
    with pytest.raises(ValueError, match=r"RobertaConfig\(\)\.no_such_attribute is None, not a name in ACT2FN"):
        msd.register_architecture(bad, exist_ok=True)
    assert row("roberta").head_activation is None


def test_from_config_takes_config_attributes():
    cfg = tiny_config("bert")
    model = msd.AutoMSDModelForSequenceClassification.from_config(
        cfg, num_labels=5, problem_type="multi_label_classification", msd_num_samples=3, dtype=torch.float64
    )
    assert model.num_labels == 5 and model.config.problem_type == "multi_label_classification"
    assert model.classifier.out_features == 5 and model.msd.num_samples == 3
    assert model.classifier.weight.dtype == torch.float64
    assert cfg.num_labels == 2 and cfg.problem_type is None  # the caller's config is not modified


def test_register_a_decoder_row_at_run_time(scratch_table):
    """A decoder head (last-token pooling, no dropout before `score`) registers from one row too."""

    class ToyGPT2Config(GPT2Config):
        model_type = "toy-gpt2"

    class ToyGPT2ForSequenceClassification(GPT2ForSequenceClassification):
        config_class = ToyGPT2Config

    msd.register_architecture(
        msd.MSDArchitecture(
            "toy-gpt2", ToyGPT2Config, ToyGPT2ForSequenceClassification, None, "score", pooling="last_token"
        )
    )
    cfg = ToyGPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=99, pad_token_id=0, num_labels=3)
    with pytest.raises(ValueError, match="msd_dropout must be set for 'toy-gpt2'"):
        msd.msd_config(cfg, task="sequence-classification")
    model = msd.AutoMSDModelForSequenceClassification.from_config(cfg, msd_dropout=0.2, msd_num_samples=4).eval()
    assert type(model).__name__ == "MSDToyGPT2ForSequenceClassification" and model.msd is model.score
    upstream = msd.to_vanilla(model).eval()
    inputs = make_inputs(config=cfg)
    inputs["input_ids"][0, -3:] = 0  # right padding
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, upstream(**inputs).logits, rtol=0, atol=1e-6)
    assert model.train()(**inputs).sample_logits.shape == (4, 4, 3)


def test_registered_family_is_a_member_of_the_generated_module(scratch_table):
    """A family added at run time: its classes are members of `msd_transformers.generated` (getfile, pickling of
    classes and models work), but have no class statement there, so `inspect.getsource` raises `OSError`; an unknown
    class name tells how to make a registered family's classes known."""
    import inspect
    import pickle

    config_cls, model_cls = msd.register_architecture(my_row())
    module = sys.modules[model_cls.__module__]
    assert vars(module)[model_cls.__qualname__] is model_cls and vars(module)[config_cls.__qualname__] is config_cls
    assert inspect.getfile(model_cls) == module.__file__
    assert pickle.loads(pickle.dumps(model_cls)) is model_cls
    model = model_cls(msd.msd_config(tiny_my_config(), msd_num_samples=4)).eval()
    inputs = make_inputs()
    with torch.no_grad():
        torch.testing.assert_close(pickle.loads(pickle.dumps(model))(**inputs).logits, model(**inputs).logits)
    with pytest.raises(OSError):
        inspect.getsource(model_cls)
    with pytest.raises(AttributeError, match="must be registered in this process"):
        module.MSDNoSuchForSequenceClassification  # noqa: B018
