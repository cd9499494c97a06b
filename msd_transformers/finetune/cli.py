"""Argument parsing for the scripts: the fields of a config file, then command-line overrides, and the launch checks.

`HfArgumentParser` has `parse_yaml_file`, `parse_json_file` and `parse_args_into_dataclasses` but no "file, then
CLI overrides" mode; `parse_config_and_args` adds it by making the file's values (checked and converted as the command
line would convert them) the parser's defaults. Reading the file itself is left to the script, which does it before
its heavy imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool

__all__ = [
    "FieldParser",
    "check_config_values",
    "check_report_to",
    "distributed_launch_without_accelerator",
    "has_accelerator",
    "launched_processes",
    "parse_config_and_args",
]

#: What a value of each argparse type must be, for error messages: (one value, a list of them).
_EXPECTED: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    string_to_bool: ("true or false", "true/false values"),
}


class FieldParser(HfArgumentParser):
    """`HfArgumentParser` whose errors are `ValueError`s, for the script to report in one line (not usage + exit)."""

    def error(self, message: str) -> typing.NoReturn:
        raise ValueError(f"{message}. Run with --help for the list of fields.")


def _field_types(parser: HfArgumentParser) -> dict[str, Any]:
    """`{field name: type hint}` over the parser's dataclasses."""
    hints = {}
    for dtype in parser.dataclass_types:
        resolved = typing.get_type_hints(dtype)
        hints.update({f.name: resolved[f.name] for f in dataclasses.fields(dtype) if f.init})
    return hints


def _allows_none(hint: Any) -> bool:
    return hint is Any or (
        typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    )


def _option(parser: HfArgumentParser, name: str) -> argparse.Action:
    return next(a for a in parser._actions if f"--{name}" in a.option_strings)


def _convert(action: argparse.Action, value: Any) -> Any:
    """One value of a number, bool or choice option, converted as argparse converts it from the command line;
    `ValueError` if it does not fit.

    Strings go through the option's type (e.g. `"1e-4"` -> `1e-4`, `"true"` -> `True`); other values must already
    be of that type.
    """
    if isinstance(value, str):
        try:
            value = action.type(value)
        except (ValueError, argparse.ArgumentTypeError) as err:
            raise ValueError from err
    elif action.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError
    elif action.type is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError
    elif action.type is string_to_bool and not isinstance(value, bool):
        raise ValueError
    if action.choices is not None and value not in action.choices:
        raise ValueError
    return value


def _expected(action: argparse.Action, hint: Any) -> str:
    if action.choices is not None:
        what = f"one of {[c for c in action.choices if c is not None]}"
    else:
        one, many = _EXPECTED[action.type]
        what = f"a list of {many}" if action.nargs == "+" else one
    return f"{what} or null" if _allows_none(hint) else what


def check_config_values(parser: HfArgumentParser, values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The fields of a config file, checked against the parser's dataclasses and converted as the command line would.

    Args:
        parser (`HfArgumentParser`): The parser of the dataclasses.
        values (`Mapping[str, Any]`): The file's `{field: value}`.
        source (`str`): The file, for error messages.

    Returns:
        `dict[str, Any]`: The values, with strings converted to the fields' types (`"1e-4"` for a float field gives
        `1e-4`).

    Raises:
        `ValueError`: A field that no dataclass has, or a value that does not fit its field's type (naming the file,
        the field, the value and the expected type).
    """
    hints = _field_types(parser)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ValueError(
            f"Unknown field(s) in {source}: {', '.join(unknown)}. Run with --help for the list of fields."
        )
    checked = {}
    for name, value in values.items():
        action, hint = _option(parser, name), hints[name]
        typed = action.type in _EXPECTED or action.choices is not None  # other options (str, dict, ...) take any value
        if value is None:
            if typed and not _allows_none(hint):
                raise ValueError(f"{source}: field {name!r} is null; expected {_expected(action, hint)}.")
        elif typed:
            try:
                if action.nargs == "+":
                    value = [_convert(action, item) for item in (value if isinstance(value, list) else [value])]
                else:
                    value = _convert(action, value)
            except ValueError:
                raise ValueError(
                    f"{source}: field {name!r} has value {value!r}; expected {_expected(action, hint)}."
                ) from None
        checked[name] = value
    return checked


def parse_config_and_args(
    parser: HfArgumentParser,
    args: Sequence[str],
    config: Mapping[str, Any] | None = None,
    source: str = "the config file",
    defaults: Mapping[str, Any] | None = None,
) -> tuple[Any, ...]:
    """Parse a config file's fields and `--field value` arguments into the parser's dataclasses.

    The file's fields (checked with `check_config_values`) become defaults; command-line fields override them.

    Args:
        parser (`HfArgumentParser`): The parser of the dataclasses (a `FieldParser` reports argument errors as
            `ValueError`).
        args (`Sequence[str]`): The command-line arguments after the config file.
        config (`Mapping[str, Any]`, *optional*): The config file's `{field: value}`.
        source (`str`, *optional*): The config file, for error messages.
        defaults (`Mapping[str, Any]`, *optional*): Defaults that replace the dataclasses' own, below the file and the
            command line (e.g. `{"use_cpu": True}` where the launch needs it).

    Returns:
        `tuple`: One instance per dataclass of the parser.

    Raises:
        `ValueError`: A bad field in the file or on the command line, or a value that a dataclass refuses.
    """
    if defaults:
        parser.set_defaults(**defaults)
    if config:
        values = check_config_values(parser, config, source)
        for action in parser._actions:
            if action.dest in values:
                action.required = False  # given by the file
        parser.set_defaults(**values)
    return parser.parse_args_into_dataclasses(args=list(args))


def launched_processes() -> int:
    """The number of processes a launcher (`accelerate launch`, `torchrun`) started, from `WORLD_SIZE` (1 without)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def has_accelerator() -> bool:
    """Whether torch sees an accelerator it can train on (CUDA, XPU, ...; Apple's MPS counts too)."""
    import torch

    if hasattr(torch, "accelerator"):  # torch >= 2.6
        return torch.accelerator.current_accelerator() is not None
    return torch.cuda.is_available()


def distributed_launch_without_accelerator() -> bool:
    """Whether this process is one of several launched on a machine without an accelerator to run them on.

    There accelerate sets up no process group unless it is told to use the CPU (`use_cpu`): each process would train
    on its own, the same run N times over. The script then asks for the CPU and its `gloo` backend itself. Apple's
    MPS counts as no accelerator here: it has no distributed backend.

    Returns:
        `bool`: True for a process of a multi-process launch (`WORLD_SIZE` > 1) with no CUDA (or other torch
        accelerator) device.
    """
    if launched_processes() < 2:
        return False
    import torch

    if hasattr(torch, "accelerator"):  # torch >= 2.6
        accelerator = torch.accelerator.current_accelerator()
    else:
        accelerator = torch.device("cuda") if torch.cuda.is_available() else None
    return accelerator is None or accelerator.type == "mps"


def check_report_to(report_to: Sequence[str]) -> None:
    """Checks that every integration in `report_to` is known to Transformers and installed, before any work.

    Args:
        report_to (`Sequence[str]`): `TrainingArguments.report_to` after its `__post_init__` (a list).

    Raises:
        `ValueError`: An unknown integration (with the known ones), or one whose package is not installed.
    """
    from transformers.integrations import get_available_reporting_integrations, is_flytekit_available
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    unknown = [name for name in report_to if name not in INTEGRATION_TO_CALLBACK]
    if unknown:
        raise ValueError(f"Unknown report_to integration(s) {unknown}; known: {sorted(INTEGRATION_TO_CALLBACK)}.")
    # Transformers' list of installed integrations leaves out flyte, whose callback checks flytekit.
    installed = {*get_available_reporting_integrations(), *(["flyte"] if is_flytekit_available() else [])}
    missing = [name for name in report_to if name not in installed]
    if missing:
        raise ValueError(
            f"report_to {missing}: not installed. Install the package (e.g. `pip install {missing[0]}`) or leave it "
            "out of report_to ('none' for no logging integration)."
        )
