"""Old import paths, kept working: the fine-tuning kit moved from `msd_transformers.<name>` to
`msd_transformers.finetune.<name>` (0.2). `import msd_transformers.metrics` still works, with a `FutureWarning`."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

#: Old module name -> new module name.
MOVED_MODULES: dict[str, str] = {
    f"msd_transformers.{name}": f"msd_transformers.finetune.{name}"
    for name in ("cli", "data", "metrics", "offline", "reporting")
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as a module that forwards every attribute to the new module."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def exec_module(self, module: ModuleType) -> None:
        new_name = MOVED_MODULES[module.__name__]
        warnings.warn(
            f"`{module.__name__}` moved to `{new_name}`; the old name will be removed in a future release.",
            FutureWarning,
            stacklevel=2,
        )
        new = importlib.import_module(new_name)
        module.__dict__.update({k: v for k, v in vars(new).items() if not k.startswith("__")})
        module.__getattr__ = lambda name: getattr(new, name)
        module.__all__ = getattr(new, "__all__", [k for k in vars(new) if not k.startswith("_")])


def install() -> None:
    """Put the finder on `sys.meta_path` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
