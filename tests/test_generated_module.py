"""What Transformers, pickle, inspect and torch.export expect of a model class, checked on the MSD classes: they are
members of a real module (`msd_transformers.generated`), pickle, have source, switch their attention and experts
implementations as the upstream classes do, save and load as remote code, export, and initialise from the meta
device. (Transformers' own tests that read these: `test_all_tensors_are_parameter_or_buffer`,
`test_can_init_all_missing_weights`, `test_torch_export`, `test_moe_models_record_router_logits`.)"""

import copy
import inspect
import json
import os
import pickle
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch
from conftest import make_inputs, msd_class, row, tiny_config
from transformers import AutoModelForSequenceClassification, PreTrainedModel, set_seed

import msd_transformers as msd

# One encoder, one decoder, and a decoder with sparse experts; each built tiny.
FAMILIES = ["bert", "llama"]
MOE = "qwen2_moe"


def msd_and_upstream(model_type: str, **config_kwargs) -> tuple[PreTrainedModel, PreTrainedModel]:
    """A tiny MSD sequence classifier of `model_type` and the upstream class with the same weights, both in eval."""
    config = msd.msd_config(tiny_config(model_type), num_labels=3, msd_num_samples=4, msd_dropout=0.1)
    config.update(config_kwargs)
    model = msd_class(model_type)(config).eval()
    upstream = row(model_type).model_class(tiny_config(model_type, num_labels=3, **config_kwargs)).eval()
    upstream.load_state_dict(model.state_dict())
    return model, upstream


@pytest.mark.parametrize(
    "name", ["MSDBertConfig", "MSDBertForSequenceClassification", "MSDLlamaForSequenceClassification",
             "MSDBertForTokenClassification"],
)  # fmt: skip
def test_generated_classes_are_members_of_their_module(name):
    """Each class is an attribute of the module its `__module__` names, under its `__qualname__`; inspect finds the
    module, its file, and the class statement in it."""
    cls = getattr(msd, name)
    module = sys.modules[cls.__module__]
    assert module.__name__ == "msd_transformers.generated" and cls.__qualname__ == name
    assert vars(module)[name] is cls and getattr(module, cls.__qualname__) is cls
    assert inspect.getmodule(cls) is module
    assert inspect.getfile(cls) == module.__file__ and module.__file__.endswith("msd_transformers/generated.py")
    source = inspect.getsource(cls)
    upstream = name.removeprefix("MSD")
    mixin = "MSDConfigMixin" if name.endswith("Config") else "MSDModelMixin"
    assert source.lstrip().startswith(f"class {name}({mixin}, transformers.{upstream}):"), source
    assert name in dir(module)


def test_generated_module_is_imported_with_the_first_class():
    """A fresh process: importing the package leaves the module unimported (import cost), making one class imports
    it, and the class is its member; `dir` of the module lists only the classes made (not the whole table)."""
    code = (
        "import sys, msd_transformers as m\n"
        "assert 'msd_transformers.generated' not in sys.modules\n"
        "c = m.MSDBertConfig\n"
        "g = sys.modules['msd_transformers.generated']\n"
        "assert vars(g)['MSDBertConfig'] is c\n"
        "assert 'MSDBertForSequenceClassification' not in dir(g) and 'MSDBertForSequenceClassification' in dir(m)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("model_type", FAMILIES)
def test_attention_implementation_switches_as_upstream(model_type, tmp_path):
    """`set_attn_implementation` switches eager <-> sdpa on the MSD class exactly as on the upstream class (same
    answer to `_can_set_attn_implementation`, same implementation afterwards, same eval logits), and `from_pretrained`
    takes `attn_implementation`."""
    cls = msd_class(model_type)
    upstream_cls = row(model_type).model_class
    assert cls._can_set_attn_implementation() is upstream_cls._can_set_attn_implementation() is True
    model, upstream = msd_and_upstream(model_type)
    inputs = make_inputs(config=model.config)
    for implementation in ("eager", "sdpa", "eager"):
        model.set_attn_implementation(implementation)
        upstream.set_attn_implementation(implementation)
        assert model.config._attn_implementation == upstream.config._attn_implementation == implementation
        with torch.no_grad():
            torch.testing.assert_close(model(**inputs).logits, upstream(**inputs).logits, rtol=0, atol=1e-6)
    model.save_pretrained(tmp_path)
    for implementation in ("sdpa", "eager"):
        loaded = cls.from_pretrained(tmp_path, attn_implementation=implementation)
        assert loaded.config._attn_implementation == implementation
        auto = AutoModelForSequenceClassification.from_pretrained(tmp_path, attn_implementation=implementation)
        assert type(auto) is cls and auto.config._attn_implementation == implementation


@pytest.mark.parametrize("model_type", [*FAMILIES, "deberta-v2"])
def test_attention_switching_support_is_upstreams_answer(model_type):
    """Transformers decides from the source of a class's module whether its attention implementation can be switched;
    the MSD class gives its upstream class's answer (True for BERT and Llama, False for DeBERTa-v2)."""
    cls, upstream = msd_class(model_type), row(model_type).model_class
    assert cls._can_set_attn_implementation() is upstream._can_set_attn_implementation()
    assert cls._can_set_experts_implementation() is upstream._can_set_experts_implementation() is False


def test_experts_implementation_switches_as_upstream():
    """An MoE family: the MSD class answers `_can_set_experts_implementation` as upstream (True), switches between
    experts implementations with the same eval logits as upstream, and records the router logits as upstream does."""
    cls, upstream_cls = msd_class(MOE), row(MOE).model_class
    assert cls._can_set_experts_implementation() is upstream_cls._can_set_experts_implementation() is True
    model, upstream = msd_and_upstream(MOE)
    inputs = make_inputs(config=model.config)
    for implementation in ("eager", "batched_mm"):
        model.set_experts_implementation(implementation)
        upstream.set_experts_implementation(implementation)
        assert model.config._experts_implementation == upstream.config._experts_implementation == implementation
        with torch.no_grad():
            torch.testing.assert_close(model(**inputs).logits, upstream(**inputs).logits, rtol=0, atol=1e-6)

    def recordable(m):
        return set().union(
            *((s._can_record_outputs or {}).keys() for s in m.modules() if isinstance(s, PreTrainedModel))
        )

    assert "router_logits" in recordable(model) and recordable(model) == recordable(upstream)


@pytest.fixture
def auto_class_registered():
    """MSD BERT's sequence class (and so its config class) registered for the Auto classes, undone afterwards so that
    other tests' checkpoints carry no remote code."""
    cls = msd_class("bert")
    classes = (cls, cls.config_class)
    before = [vars(c).get("_auto_class", KeyError) for c in classes]
    cls.register_for_auto_class("AutoModelForSequenceClassification")
    yield cls
    for c, value in zip(classes, before, strict=True):
        if value is not KeyError:
            c._auto_class = value
        elif "_auto_class" in vars(c):
            delattr(c, "_auto_class")


def test_register_for_auto_class_round_trips_as_remote_code(auto_class_registered, tmp_path):
    """`register_for_auto_class` + `save_pretrained` writes `generated.py` and an `auto_map` for the model and its
    config; a fresh process that has not imported msd_transformers loads the checkpoint with
    `AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)` into the same class (the
    installed package's), with equal eval logits."""
    cls = auto_class_registered
    model, _ = msd_and_upstream("bert")
    model.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "generated.py").read_text() == open(inspect.getfile(cls)).read()
    saved = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert saved["auto_map"] == {
        "AutoConfig": "generated.MSDBertConfig",
        "AutoModelForSequenceClassification": "generated.MSDBertForSequenceClassification",
    }
    inputs = make_inputs(config=model.config)
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        expected = model(**inputs).logits
    code = (
        "import sys, torch\n"
        "from transformers import AutoModelForSequenceClassification\n"
        f"model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path / 'ckpt')!r}, "
        "trust_remote_code=True).eval()\n"
        "import msd_transformers\n"
        "assert type(model) is msd_transformers.MSDBertForSequenceClassification, type(model)\n"
        "assert type(model.config) is msd_transformers.MSDBertConfig and model.config.msd_num_samples == 4\n"
        f"inputs = torch.load({str(tmp_path / 'inputs.pt')!r})\n"
        "with torch.no_grad():\n"
        f"    torch.save(model(**inputs).logits, {str(tmp_path / 'logits.pt')!r})\n"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), expected, rtol=0, atol=0)
    assert cls._auto_class == "AutoModelForSequenceClassification"


@pytest.mark.parametrize("model_type", FAMILIES)
def test_torch_export_equals_eager(model_type):
    """Transformers' exporter (`DynamoExporter`, `torch.export.export` inside; what Transformers' `test_torch_export`
    runs, after switching to sdpa) exports the MSD model in eval: the exported program gives the eager logits. The
    exporter walks `inspect.getmodule(model)` for the model's cache classes: the generated module."""
    from transformers.exporters.exporter_dynamo import DynamoConfig, DynamoExporter

    model, _ = msd_and_upstream(model_type)
    assert inspect.getmodule(model) is sys.modules["msd_transformers.generated"]
    model.set_attn_implementation("sdpa")
    inputs = make_inputs(config=model.config)
    with torch.no_grad():
        expected = model(**copy.deepcopy(inputs)).logits
    program = DynamoExporter().export(model, copy.deepcopy(inputs), config=DynamoConfig())
    assert isinstance(program.program, torch.export.ExportedProgram)
    with torch.no_grad():
        exported = program.program.module()(**copy.deepcopy(inputs))
    logits = exported["logits"] if isinstance(exported, dict) else exported.logits
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)


@contextmanager
def seeded_weight_init():
    """Every weight initialisation starts from seed 42 (as Transformers' tests seed `_initialize_weights`)."""
    original = PreTrainedModel._initialize_weights

    def seeded(*args, **kwargs):
        set_seed(42)
        original(*args, **kwargs)

    PreTrainedModel._initialize_weights = seeded
    try:
        yield
    finally:
        PreTrainedModel._initialize_weights = original


@pytest.mark.parametrize("model_type", FAMILIES)
def test_meta_device_init_gives_every_weight(model_type):
    """A model built on the meta device, moved with `to_empty` and initialised with `init_weights`, runs; and
    `from_pretrained(None, state_dict={})` (every weight missing, initialised by `_init_weights` from meta) gives
    exactly the weights of `__init__` under the same seed, with no tensor left on meta. The config class's file is
    readable (Transformers reads the copyright year there)."""
    config = msd.msd_config(tiny_config(model_type), num_labels=3, msd_num_samples=4, msd_dropout=0.1)
    cls = msd_class(model_type)
    assert open(inspect.getfile(type(config)), encoding="utf-8").read()
    assert open(inspect.getfile(cls), encoding="utf-8").read()
    with torch.device("meta"):
        model = cls(copy.deepcopy(config)).eval()
    model.to_empty(device="cpu")
    model.init_weights()
    with torch.no_grad():
        assert torch.isfinite(model(**make_inputs(config=config)).logits).all()
    with seeded_weight_init():
        from_init = cls(copy.deepcopy(config))
        from_meta = cls.from_pretrained(None, config=copy.deepcopy(config), state_dict={})
    tensors = {**dict(from_meta.named_parameters()), **dict(from_meta.named_buffers())}
    assert [name for name, t in tensors.items() if t.device.type == "meta"] == []
    init_state, meta_state = from_init.state_dict(), from_meta.state_dict()
    assert sorted(init_state) == sorted(meta_state)
    assert [name for name, t in init_state.items() if not torch.equal(t, meta_state[name])] == []


# The families of scripts/run-upstream-tests.sh, whose `_init_weights` differ (ModernBERT's initialises its linear
# layers and embeddings from the parameter-less modules that hold them: attention, MLP, embeddings, the task class),
# and T5, whose `_init_weights` initialises the dense head that MSD replaces from the head.
INIT_FAMILIES = ["bert", "roberta", "deberta-v2", "modernbert", "llama", "qwen2", "gpt2", "bart", "t5"]


def init_states(cls: type[PreTrainedModel], config) -> tuple[dict, dict]:
    """The state dicts of `cls(config)` and of `cls.from_pretrained(None, config=config, state_dict={})` (every weight
    missing: initialised by `_init_weights` from the meta device), each module's initialisation from seed 42."""
    with seeded_weight_init():
        from_init = cls(copy.deepcopy(config))
        from_meta = cls.from_pretrained(None, config=copy.deepcopy(config), state_dict={})
    return from_init.state_dict(), from_meta.state_dict()


@pytest.mark.parametrize("model_type", INIT_FAMILIES)
def test_meta_device_init_is_upstreams_for_every_task(model_type):
    """For every task of the family, the MSD class initialises its missing weights as the upstream class does: its
    `from_pretrained(None, state_dict={})` gives exactly the weights of its `__init__` under the same seeds, and both
    are the upstream class's (Transformers' `test_can_init_all_missing_weights`). Transformers initialises custom
    code's missing weights otherwise (it skips the parameter-less modules, whose `_init_weights` branch initialises
    ModernBERT's layers), so the MSD class answers `is_custom_code` as its upstream class."""
    tasks = [task for task in msd.TASKS if model_type in msd.supported_model_types(task)]
    assert len(tasks) >= 2
    for task in tasks:
        upstream_class, cls = row(model_type, task).model_class, msd_class(model_type, task)
        config = tiny_config(model_type, num_labels=3)
        upstream_init, upstream_meta = init_states(upstream_class, config)
        msd_init, msd_meta = init_states(cls, msd.msd_config(config, msd_num_samples=4, msd_dropout=0.1))
        assert sorted(msd_init) == sorted(msd_meta) == sorted(upstream_init)
        for name, weight in upstream_init.items():
            assert torch.equal(upstream_meta[name], weight), (task, name)  # as upstream does
            assert torch.equal(msd_init[name], weight), (task, name)
            assert torch.equal(msd_meta[name], weight), (task, name)
        assert cls.is_custom_code() is upstream_class.is_custom_code() is False


@pytest.mark.parametrize("model_type", FAMILIES)
def test_classes_and_models_pickle(model_type):
    """Classes and configs unpickle to themselves and equal configs; a model unpickles with the same eval outputs.
    (Last in this file: pickling a class imports its module, which the tests above must not rely on.)"""
    model, _ = msd_and_upstream(model_type)
    cls = type(model)
    assert pickle.loads(pickle.dumps(cls)) is cls
    assert pickle.loads(pickle.dumps(type(model.config))) is type(model.config)
    config = pickle.loads(pickle.dumps(model.config))
    assert type(config) is type(model.config) and config.to_dict() == model.config.to_dict()
    loaded = pickle.loads(pickle.dumps(model))
    assert type(loaded) is cls and not loaded.training
    inputs = make_inputs(config=model.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)
