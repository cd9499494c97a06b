"""Image-classification rows of the step benchmark (`image` in the result): the models of the vision convergence regime
(`bench_convergence_vision`: a small ResNet and a small ViT trained from scratch on MNIST), a batch of 64 real MNIST
training images. Variants, each its own model and AdamW optimizer, all with the same weights:

- `plain`: the one-sample head, `AutoMSDModelForImageClassification` with `msd_num_samples=1`, `msd_dropout=0.5`
  (one dropout before the last Linear: the usual recipe, the vision regime's baseline).
- `msd8`: K = 8 samples at 0.5 (the paper's setting).
- `none`: the upstream class (no dropout before the last Linear).

Timing and memory: `bench_measure.measure` (ratios to `plain`). Whether equal steps are equal compute in the vision
regime is read from the `msd8` row: its step time and peak step memory against `plain`'s.
"""

from __future__ import annotations

from typing import Any

from bench_common import autocast_factory
from bench_convergence_vision import ARCHITECTURES, RATE, build_model, mnist_tensors, model_config
from bench_measure import measure, training_steps

BATCH = 64
VARIANTS = ("plain", "msd8", "none")


def run_image(args: Any, warmup: int, repeats: int) -> dict[str, Any]:
    """One table per architecture: `{arch: {"settings", "rows"}}`."""
    tiny = args.quick
    batch = BATCH // 4 if tiny else BATCH
    data = mnist_tensors(batch, 10)
    x, y = data["x_train"].to(args.device), data["y_train"].to(args.device)
    out = {}
    for arch in ARCHITECTURES:
        models = {name: build_model(arch, name, tiny, 0).to(args.device).train() for name in VARIANTS}
        variants = {
            name: (model, [lambda model=model: model(pixel_values=x, labels=y).loss]) for name, model in models.items()
        }
        steps, state = training_steps(variants, autocast_factory(args.device, args.dtype), lr=1e-3)
        config = model_config(arch, tiny)
        out[arch] = {
            "settings": {
                "model": type(models["none"]).__name__,
                "config": config.to_dict().get("hidden_sizes") or config.to_dict().get("hidden_size"),
                "parameters": sum(p.numel() for p in models["none"].parameters()),
                "batch_size": batch,
                "image": "28 x 28, 1 channel (MNIST)",
                "rate": RATE,
                "optimizer": "AdamW(lr=1e-3), step + zero_grad(set_to_none=True)",
                "warmup_rounds": warmup,
                "repeats": repeats,
            },
            "rows": measure(steps, state, warmup, repeats, args.device, tag=f"image {arch}"),
        }
        del steps, state
    return out
