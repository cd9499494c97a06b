"""Transformers' common model tests (`ModelTesterMixin`) on one family, with its upstream or its MSD classes.

Run by `scripts/run-upstream-tests.sh` (`tests/upstream/run.py`), not by the project's suite (the file name does not
match `test_*.py`). The environment says what to run:

- `MSD_UPSTREAM_TESTS`: the `tests/` folder of the installed Transformers' source distribution;
- `MSD_UPSTREAM_FAMILY`: the family (`bert`, `llama`, ...; see `FAMILIES`);
- `MSD_UPSTREAM_IMPL`: `upstream` (Transformers' classes) or `msd` (their MSD classes, the config made with
  `msd_config`).

Transformers 5.24's source distribution carries `tests/test_modeling_common.py` and the other top-level test modules,
not `tests/models/` (the per-model testers) nor `tests/exporters/` and `tests/generation/`, which
`test_modeling_common` imports one mixin from each. The test class is therefore upstream's `ModelTesterMixin`
subclassed here, with a tester giving the tiny config the per-model testers use (batch 13, sequence 7, vocabulary 99,
hidden size 32, 2 layers, 4 heads, intermediate size 37). A mixin whose module the distribution lacks is an empty
class (its tests are not run: `test_torch_export*` live in `ExportTesterMixin`); a release that ships the module
gets it used.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import types
import unittest
from pathlib import Path

import torch
import transformers

import msd_transformers as msd
from msd_transformers.architectures import TASKS
from msd_transformers.registry import get_architecture, msd_model_class, supported_model_types

# Family -> (model_type, config class name, tiny config, whether the inputs carry token_type_ids).
_ENCODER = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=512,
)
_DECODER = dict(_ENCODER, num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)
FAMILIES: dict[str, tuple[str, str, dict, bool]] = {
    "bert": ("bert", "BertConfig", dict(_ENCODER, type_vocab_size=16), True),
    "roberta": ("roberta", "RobertaConfig", dict(_ENCODER, type_vocab_size=16), True),
    "deberta_v2": ("deberta-v2", "DebertaV2Config", dict(_ENCODER, type_vocab_size=16), True),
    "modernbert": ("modernbert", "ModernBertConfig", dict(_ENCODER, pad_token_id=0), False),
    "llama": ("llama", "LlamaConfig", _DECODER, False),
    "qwen2": ("qwen2", "Qwen2Config", _DECODER, False),
    "gpt2": (
        "gpt2",
        "GPT2Config",
        dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_inner=37, n_positions=512, pad_token_id=98),
        False,
    ),
    "bart": (
        "bart",
        "BartConfig",
        dict(
            vocab_size=99,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=37,
            decoder_ffn_dim=37,
            max_position_embeddings=512,
            eos_token_id=2,
            pad_token_id=1,
            bos_token_id=0,
        ),
        False,
    ),
}

# The rate given to `msd_config` where a family's head has no dropout of its own to take it from.
MSD_DROPOUT = 0.1

# Tests skipped for the MSD classes ((family, test name) -> reason) where the upstream test cannot hold for them by
# design. The table in tests/README.md lists the same (tests/test_upstream_runner.py checks it).
MSD_SKIPS: dict[tuple[str, str], str] = {
    ("bart", "test_attention_outputs"): (
        "counts an encoder-decoder's output fields by the class's name in Transformers' question-answering mapping "
        "(start and end logits); an MSD class is not named there, so the count is one short though the fields are "
        "upstream's (tests/test_upstream_runner.py::test_bart_outputs_have_upstream_fields)"
    ),
}

# Mixins `test_modeling_common` imports from modules that the source distribution may lack.
_OPTIONAL_MIXINS = {"exporters.test_export": "ExportTesterMixin", "generation.test_utils": "GenerationTesterMixin"}
_PACKAGE = "transformers_tests"


def load_common(tests_dir: str | os.PathLike) -> types.ModuleType:
    """Transformers' `tests/test_modeling_common.py` from `tests_dir`, imported as `transformers_tests.*` (its relative
    imports resolve there; the project's own `tests` folder is another package)."""
    tests_dir = Path(tests_dir)
    if not (tests_dir / "test_modeling_common.py").is_file():
        raise ValueError(f"MSD_UPSTREAM_TESTS={str(tests_dir)!r} holds no test_modeling_common.py")
    package = types.ModuleType(_PACKAGE)
    package.__path__ = [str(tests_dir)]
    sys.modules.setdefault(_PACKAGE, package)
    for module, mixin in _OPTIONAL_MIXINS.items():
        if not (tests_dir / f"{module.replace('.', '/')}.py").is_file():
            parent, _, _ = module.partition(".")
            if f"{_PACKAGE}.{parent}" not in sys.modules:
                sub = types.ModuleType(f"{_PACKAGE}.{parent}")
                sub.__path__ = []
                sys.modules[sub.__name__] = sub
            shim = types.ModuleType(f"{_PACKAGE}.{module}")
            setattr(shim, mixin, type(mixin, (), {}))
            sys.modules[shim.__name__] = shim
    return importlib.import_module(f"{_PACKAGE}.test_modeling_common")


def family_tasks(family: str) -> list[str]:
    """The tasks for which `family` has an MSD class, in `TASKS` order."""
    model_type = FAMILIES[family][0]
    return [task for task in TASKS if model_type in supported_model_types(task)]


def model_classes(family: str, impl: str) -> tuple[type, ...]:
    """The classes under test: upstream's task classes that have an MSD class, or those MSD classes."""
    if impl not in ("upstream", "msd"):
        raise ValueError(f"MSD_UPSTREAM_IMPL must be 'upstream' or 'msd', got {impl!r}")
    model_type = FAMILIES[family][0]
    if impl == "msd":
        return tuple(msd_model_class(model_type, task) for task in family_tasks(family))
    return tuple(get_architecture(model_type, task).model_class for task in family_tasks(family))


class FamilyTester:
    """The tiny config and inputs of a family, as Transformers' per-model testers make them."""

    batch_size = 13
    seq_length = 7
    num_choices = 4
    is_training = True

    def __init__(self, parent: unittest.TestCase, family: str, impl: str, common: types.ModuleType):
        self.parent, self.family, self.impl, self.common = parent, family, impl, common
        self.model_type, config_name, self.config_kwargs, self.use_token_type_ids = FAMILIES[family]
        self.config_class = getattr(transformers, config_name)
        config = self.config_class(**self.config_kwargs)
        self.vocab_size = config.vocab_size
        self.hidden_size = config.hidden_size
        self.num_hidden_layers = config.num_hidden_layers
        self.num_attention_heads = config.num_attention_heads
        self.is_encoder_decoder = config.is_encoder_decoder
        self.encoder_seq_length = self.decoder_seq_length = self.key_length = self.seq_length

    def get_config(self):
        """The family's tiny config: upstream's class, or its MSD config through `msd_config`."""
        config = self.config_class(**self.config_kwargs)
        if self.impl == "upstream":
            return config
        needs_rate = any(get_architecture(self.model_type, task).dropout is None for task in family_tasks(self.family))
        return msd.msd_config(config, **({"msd_dropout": MSD_DROPOUT} if needs_rate else {}))

    def prepare_config_and_inputs_for_common(self):
        shape = [self.batch_size, self.seq_length]
        input_ids = self.common.ids_tensor(shape, self.vocab_size)
        inputs = {"input_ids": input_ids, "attention_mask": self.common.random_attention_mask(shape)}
        if self.use_token_type_ids:
            inputs["token_type_ids"] = self.common.ids_tensor(shape, 16)
        if self.is_encoder_decoder:  # BART: every row ends with one <eos> (its sequence head pools there)
            config = self.config_class(**self.config_kwargs)
            input_ids = input_ids.clamp(3)
            input_ids[:, -1] = config.eos_token_id
            inputs["input_ids"] = input_ids
            inputs["decoder_input_ids"] = self.common.ids_tensor(shape, self.vocab_size).clamp(3)
            inputs["attention_mask"] = torch.ones_like(input_ids)
            inputs["decoder_attention_mask"] = torch.ones_like(input_ids)
        return self.get_config(), inputs


def _upstream_of(model_class: type) -> type:
    arch = getattr(model_class, "msd_architecture", None)
    return arch.model_class if arch is not None else model_class


def _added_since_2023(config_name: str) -> bool:
    """Whether upstream's `test_can_init_all_missing_weights` runs for the family of `config_name` (its rule)."""
    source = Path(inspect.getfile(getattr(transformers, config_name))).read_text(encoding="utf-8")
    year = re.search(r"^# Copyright (\d{4})", source, re.MULTILINE | re.IGNORECASE)
    return year is not None and int(year.group(1)) >= 2023


def make_test_case(family: str, impl: str, tests_dir: str | os.PathLike) -> type[unittest.TestCase]:
    """`<Family>ModelTest`: `ModelTesterMixin` over the family's upstream or MSD classes."""
    if family not in FAMILIES:
        raise ValueError(f"MSD_UPSTREAM_FAMILY must be one of {', '.join(FAMILIES)}, got {family!r}")
    common = load_common(tests_dir)
    classes = model_classes(family, impl)

    def setUp(self):  # noqa: N802 (unittest)
        self.model_tester = FamilyTester(self, family, impl, common)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        # Upstream picks the labels (and the multiple-choice expansion) by the class's name in its task mappings;
        # an MSD class serves the task of its upstream class.
        return common.ModelTesterMixin._prepare_for_class(self, inputs_dict, _upstream_of(model_class), return_labels)

    body = {
        "all_model_classes": classes,
        "is_encoder_decoder": FAMILIES[family][2].get("d_model") is not None,
        "setUp": setUp,
        "_prepare_for_class": _prepare_for_class,
    }
    if impl == "msd":
        # `test_can_init_all_missing_weights` runs for models added from 2023 on, dated by the copyright line of the
        # config class's source file; the MSD config's file (the package's) has none: take the upstream family's date.
        body["test_can_init_all_missing_weights_before_2023"] = _added_since_2023(FAMILIES[family][1])
        for (skip_family, name), reason in MSD_SKIPS.items():
            if skip_family == family:
                body[name] = unittest.skip(reason)(getattr(common.ModelTesterMixin, name))
    name = "".join(part.capitalize() for part in family.split("_")) + "ModelTest"
    return type(name, (common.ModelTesterMixin, unittest.TestCase), body)


if "MSD_UPSTREAM_FAMILY" in os.environ:
    _case = make_test_case(
        os.environ["MSD_UPSTREAM_FAMILY"], os.environ.get("MSD_UPSTREAM_IMPL", "msd"), os.environ["MSD_UPSTREAM_TESTS"]
    )
    globals()[_case.__name__] = _case
    del _case  # pytest would collect the test class under both names, running every test twice
