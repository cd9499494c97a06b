"""The classes made from the architecture table, by name: `MSD<Upstream>Config` and `MSD<Upstream>For<Task>`.

Each is made on first access (`msd_transformers.generated.MSDBertForTokenClassification`, or the same name on the
package) and is the module of every generated class, so that pickling finds it. `generated.pyi` declares them all
for editors and type checkers (written by `python -m msd_transformers.docs`, checked by a test).
"""

from __future__ import annotations

from typing import Any

from .registry import class_names, generated_class


def __getattr__(name: str) -> Any:
    try:
        return generated_class(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(class_names())
