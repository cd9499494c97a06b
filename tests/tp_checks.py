"""Tensor-parallel checks of the sampled head, for `tests/test_tensor_parallel.py`: run in the test's process on a
one-process gloo mesh, and as the script that `torchrun --nproc-per-node 2` starts for the two-process mesh
(`python tp_checks.py OUT_DIR LLAMA_CHECKPOINT`: each rank writes `OUT_DIR/rank<r>.json`, the differences of every
check).

Every check builds the same model (or tensors) twice under one seed, shards one copy's head, runs both from one
generator state and returns the largest differences of the outputs and of the gradients, relative to the largest
absolute value of the unsharded one (or to 1 where that is smaller), and under `info` what else it found."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from conftest import make_inputs, msd_model  # noqa: E402
from token_batches import token_model  # noqa: E402
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh  # noqa: E402
from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor  # noqa: E402
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module  # noqa: E402
from transformers import AutoModelForSequenceClassification  # noqa: E402
from transformers.distributed import DistributedConfig  # noqa: E402

import msd_transformers.sampled_linear as sampled_linear_module  # noqa: E402
from msd_transformers import mc_dropout  # noqa: E402
from msd_transformers.sampled_linear import sampled_linear  # noqa: E402

# The head's layouts: the logits come back whole on every rank, as the loss needs them.
STYLES = {
    "colwise": lambda: ColwiseParallel(output_layouts=Replicate()),
    "rowwise": lambda: RowwiseParallel(input_layouts=Replicate()),
}
TASKS = ("sequence", "token")
# The parameters whose gradients are compared: the head's and two upstream of it (the encoder's last layer and the
# embeddings, which every position's gradient reaches).
PARAMETERS = (
    "classifier.weight",
    "classifier.bias",
    "bert.encoder.layer.1.output.dense.weight",
    "bert.embeddings.word_embeddings.weight",
)
PLACEMENTS = {"replicate": Replicate(), "shard0": Shard(0), "shard1": Shard(1), "shard-1": Shard(-1)}


def full(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's global value (a plain tensor as it is)."""
    return t.full_tensor() if isinstance(t, DTensor) else t


def largest(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest difference of `b` from `a`, relative to `a`'s largest absolute value (at least 1)."""
    a, b = full(a).detach().double(), full(b).detach().double()
    return ((a - b).abs().max() / a.abs().max().clamp(min=1.0)).item()


def build(task: str) -> torch.nn.Module:
    """A tiny MSD BERT classifier of `task` (4 samples, rates 0.1 to 0.4; dropout 0.1 in the encoder)."""
    torch.manual_seed(0)
    kwargs = {"msd_num_samples": 4, "msd_dropout": "linspace(0.1, 0.4)"}
    return msd_model("bert", **kwargs) if task == "sequence" else token_model("bert", num_labels=5, **kwargs)


def labels_for(task: str, inputs: dict) -> torch.Tensor:
    if task == "sequence":
        return torch.tensor([0, 2, 1, 2])
    labels = torch.arange(inputs["input_ids"].numel()).view(inputs["input_ids"].shape) % 5
    return labels.masked_fill(inputs["attention_mask"] == 0, -100)


def train_and_compare(
    reference: torch.nn.Module, model: torch.nn.Module, labels: torch.Tensor, parameters, mc_grad: bool = False
) -> dict:
    """`model` (sharded) against `reference`: eval logits, Monte-Carlo samples of the head (with gradients enabled
    if `mc_grad`), and in training (the same seed) the loss, the sample logits and the gradients of `parameters`."""
    inputs = make_inputs(config=reference.config)
    result = {}
    with torch.no_grad():
        result["eval_logits"] = largest(reference.eval()(**inputs).logits, model.eval()(**inputs).logits)
    mc = []
    for m in (reference, model):  # Monte-Carlo sampling of the head (6 samples)
        torch.manual_seed(2)
        with torch.set_grad_enabled(mc_grad), mc_dropout(m.eval(), num_samples=6):
            mc.append(m(**inputs).sample_logits)
    result["mc_sample_logits"] = largest(*mc)
    outputs = []
    for m in (reference.train(), model.train()):
        torch.manual_seed(1)
        out = m(**inputs, labels=labels)
        out.loss.backward()
        outputs.append(out)
    result["loss"] = largest(outputs[0].loss, outputs[1].loss)
    result["sample_logits"] = largest(outputs[0].sample_logits, outputs[1].sample_logits)
    # The samples differ from one another (dropout is on), so equal sample logits mean equal masks.
    result["info"] = {"samples differ": largest(outputs[0].sample_logits[0], outputs[0].sample_logits[1])}
    for name in parameters:
        result[f"grad {name}"] = largest(reference.get_parameter(name).grad, model.get_parameter(name).grad)
    return result


def compare_model(mesh: DeviceMesh, task: str, style: str) -> dict[str, float]:
    """The MSD BERT classifier of `task` with its head parallelized by `style`, against the unsharded model."""
    reference = build(task)
    model = copy.deepcopy(reference)
    parallelize_module(model, mesh, {"classifier": STYLES[style]()})
    assert isinstance(model.classifier.weight, DTensor)
    return train_and_compare(reference, model, labels_for(task, make_inputs()), PARAMETERS)


def save_llama(path: str) -> None:
    """A tiny MSD Llama sequence classifier (no dropout in the decoder, 4 samples at 0.1 in the head) saved at
    `path`."""
    torch.manual_seed(0)
    msd_model("llama", dropout=0.0, msd_dropout=0.1, msd_num_samples=4).save_pretrained(path)


def compare_tp_plan(path: str, tp_plan) -> dict[str, float]:
    """The MSD Llama at `path` loaded with `DistributedConfig(tp_plan=tp_plan)` (Transformers' tensor parallelism
    over every process) against the same checkpoint loaded whole; `info` says whether the head's weight and the
    decoder's are DTensors."""
    reference = AutoModelForSequenceClassification.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, distributed_config=DistributedConfig(tp_plan=tp_plan)
    )
    parameters = ("score.weight", "model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight")
    # Transformers runs a rowwise head on local tensors without gradients: Monte-Carlo sampling refuses them.
    rowwise = tp_plan != "auto" and tp_plan["score"].startswith("rowwise") and dist.get_world_size() > 1
    result = train_and_compare(reference, model, torch.tensor([0, 2, 1, 2]), parameters, mc_grad=rowwise)
    if rowwise:
        try:
            with torch.no_grad(), mc_dropout(model.eval(), num_samples=6):
                model(**make_inputs(config=model.config))
        except ValueError as error:
            result["info"]["local rowwise refused"] = "cannot draw the unsharded head's masks" in str(error)
    result["info"]["head sharded"] = isinstance(model.score.weight, DTensor)
    result["info"]["decoder sharded"] = isinstance(model.get_parameter(parameters[1]), DTensor)
    return result


def compare_function(mesh: DeviceMesh, x_placement: str, w_placement: str) -> dict[str, float]:
    """`sampled_linear` on DTensors against plain tensors from the same generator state: x `(5, 3, 7)` and a weight
    `(3, 7)` (shards of uneven sizes over two ranks), rates with a zero, rows in chunks of 2 (8 chunks)."""
    g = torch.Generator().manual_seed(0)
    x, w, b, r = (torch.randn(*shape, generator=g) for shape in ((5, 3, 7), (3, 7), (3,), (3, 5, 3, 3)))
    b_placement = Shard(0) if w_placement == "shard0" else Replicate()
    dx, dw, db = (
        distribute_tensor(t, mesh, [p]).requires_grad_()
        for t, p in ((x, PLACEMENTS[x_placement]), (w, PLACEMENTS[w_placement]), (b, b_placement))
    )
    x, w, b = (t.requires_grad_() for t in (x, w, b))
    rates = (0.1, 0.0, 0.5)
    chunk_elements, sampled_linear_module._CHUNK_ELEMENTS = sampled_linear_module._CHUNK_ELEMENTS, 14
    try:
        ys = []
        for args in ((x, w, b), (dx, dw, db)):
            torch.manual_seed(2)
            y = sampled_linear(*args, rates)  # (3, 5, 3, 3)
            (full(y) * r).sum().backward()
            ys.append(y)
    finally:
        sampled_linear_module._CHUNK_ELEMENTS = chunk_elements
    result = {"out": largest(ys[0], ys[1]), "info": {"placements": str(ys[1].placements)}}
    for name, plain, dist_t in (("x", x, dx), ("weight", w, dw), ("bias", b, db)):
        result[f"grad {name}"] = largest(plain.grad, dist_t.grad)
    return result


# Transformers' tp plans of the MSD Llama: its own (which leaves `score` whole), and the head sharded by column and
# by row on top of it.
TP_PLANS = {
    "auto": "auto",
    "score colwise_gather_output": {"score": "colwise_gather_output"},
    "score rowwise_split_input": {"score": "rowwise_split_input"},
}


def run_all(mesh: DeviceMesh, llama_path: str) -> dict[str, dict[str, float]]:
    """Every check, keyed `model/<task>/<style>`, `function/<x placement>/<weight placement>` and
    `tp_plan/<plan>`."""
    results = {f"model/{task}/{style}": compare_model(mesh, task, style) for task in TASKS for style in STYLES}
    for x_placement in ("replicate", "shard-1", "shard0"):
        for w_placement in ("replicate", "shard0", "shard1"):
            results[f"function/{x_placement}/{w_placement}"] = compare_function(mesh, x_placement, w_placement)
    for name, plan in TP_PLANS.items():
        results[f"tp_plan/{name}"] = compare_tp_plan(llama_path, plan)
    return results


def main(out_dir: str, llama_path: str) -> None:
    dist.init_process_group("gloo")
    try:
        results = run_all(init_device_mesh("cpu", (dist.get_world_size(),)), llama_path)
        Path(out_dir, f"rank{dist.get_rank()}.json").write_text(json.dumps(results, indent=1))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(*sys.argv[1:3])
