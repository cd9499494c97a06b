"""Argument parsing for the scripts: a YAML or JSON file of fields, then command-line overrides.

`HfArgumentParser` has `parse_yaml_file`, `parse_json_file` and `parse_args_into_dataclasses` but no "file, then
CLI overrides" mode; `parse_config_and_args` adds it by making the file's values the parser's defaults.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The fields of a `.yaml`/`.yml` or `.json` file, as a dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file {str(path)!r} does not exist.")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    elif path.suffix == ".json":
        data = json.loads(text)
    else:
        raise ValueError(f"Config file {str(path)!r}: expected a .yaml, .yml or .json file.")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"Config file {str(path)!r} must hold a mapping of field: value, got {type(data).__name__}.")
    return data


def known_fields(parser: HfArgumentParser) -> set[str]:
    return {f.name for dtype in parser.dataclass_types for f in dataclasses.fields(dtype) if f.init}


def parse_config_and_args(parser: HfArgumentParser, argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Parse `[CONFIG.yaml|CONFIG.json] [--field value ...]` into the parser's dataclasses.

    The file's fields become defaults; command-line fields override them. A field in the file that no dataclass has
    is an error naming it. Without a file, this is `parse_args_into_dataclasses`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        config_path, argv = argv[0], argv[1:]
        values = read_config_file(config_path)
        unknown = sorted(set(values) - known_fields(parser))
        if unknown:
            raise ValueError(
                f"Unknown field(s) in {config_path}: {', '.join(unknown)}. Run with --help for the list of fields."
            )
        for action in parser._actions:
            if action.dest in values:
                action.required = False  # given by the file
        parser.set_defaults(**values)
    return parser.parse_args_into_dataclasses(args=argv)
