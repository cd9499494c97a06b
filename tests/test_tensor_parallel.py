"""The sampled head under tensor parallelism (DTensor): an MSD BERT sequence and token classifier whose `classifier`
is parallelized by `ColwiseParallel` or `RowwiseParallel`, `sampled_linear` on DTensors of every supported layout,
and Transformers' tp plans of an MSD Llama, on a one-process gloo mesh (in this process) and on a two-process one
(`torchrun`): eval logits, training loss, sample logits and gradients equal the unsharded model's under the same
seed (`tests/tp_checks.py` runs the checks); unsupported layouts raise a clear error."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor
from tp_checks import STYLES, TASKS, TP_PLANS, compare_function, compare_model, compare_tp_plan, save_llama

from msd_transformers.sampled_linear import MultiSampleLinear, sampled_linear

TOL = 1e-6  # relative to the largest absolute value (at least 1)
LAYOUTS = [(x, w) for x in ("replicate", "shard-1", "shard0") for w in ("replicate", "shard0", "shard1")]
# The output's placement per weight placement: the samples (3, 5, 3, 3) are replicated, sharded on their last dim,
# or the ranks' partial sums (RowwiseParallel then reduces them).
OUTPUT_PLACEMENTS = {"replicate": "(Replicate(),)", "shard0": "(Shard(dim=3),)", "shard1": "(Partial(sum),)"}
WORKER = Path(__file__).resolve().parent / "tp_checks.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_equal_to_unsharded(result: dict) -> None:
    differences = {k: v for k, v in result.items() if k != "info"}
    assert len(differences) >= 4 and all(v <= TOL for v in differences.values()), differences
    if "samples differ" in result["info"]:
        assert result["info"]["samples differ"] > 1e-3  # dropout is on: equal samples mean equal masks


@pytest.fixture(scope="module")
def mesh():
    """A one-process gloo process group and its 1-D CPU device mesh, torn down after the module."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def llama_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("msd-llama")
    save_llama(str(path))
    return str(path)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, llama_path) -> list[dict]:
    """Every check of `tp_checks.py` on a two-process gloo mesh (`torchrun --nproc-per-node 2`): one result per
    rank. The run is killed (its whole process group) after 300 s."""
    out = tmp_path_factory.mktemp("tp-two-processes")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(WORKER), str(out), llama_path,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail(f"the two-process run timed out:\n{log.decode()[-4000:]}")
    assert proc.returncode == 0, log.decode()[-4000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(2)]


# ------------------------------------------------------------------------------------------- one process
@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("task", TASKS)
def test_one_process_head_equals_unsharded(mesh, task, style):
    assert_equal_to_unsharded(compare_model(mesh, task, style))


@pytest.mark.parametrize("x_placement, w_placement", LAYOUTS)
def test_one_process_function_equals_plain(mesh, x_placement, w_placement):
    result = compare_function(mesh, x_placement, w_placement)
    assert_equal_to_unsharded(result)
    assert result["info"]["placements"] == OUTPUT_PLACEMENTS[w_placement]


def test_one_process_tp_plan_is_not_applied(mesh, llama_path):
    """Transformers applies no tp plan at `tp_size=1` (one process): the model loads whole and equals the unsharded
    one."""
    result = compare_tp_plan(llama_path, {"score": "colwise_gather_output"})
    assert not result["info"]["head sharded"] and not result["info"]["decoder sharded"]
    assert_equal_to_unsharded(result)


def test_one_process_colwise_is_bit_identical(mesh):
    """With the input replicated, each rank runs the eager path on its shard: on one process the output and the
    gradients are the plain tensors' bit for bit."""
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*shape, generator=g).requires_grad_() for shape in ((4, 6, 8), (5, 8), (5,)))
    dx, dw, db = (
        distribute_tensor(t.detach(), mesh, [p]).requires_grad_()
        for t, p in zip((x, w, b), (Replicate(), Shard(0), Shard(0)), strict=True)
    )
    outs = []
    for args in ((x, w, b), (dx, dw, db)):
        torch.manual_seed(3)
        y = sampled_linear(*args, (0.2, 0.3))
        (y if not isinstance(y, DTensor) else y.full_tensor()).square().sum().backward()
        outs.append(y)
    assert outs[1].placements == (Shard(3),)  # (S, 4, 6, 5): the out-features
    assert torch.equal(outs[0], outs[1].full_tensor())
    for plain, sharded in ((x, dx), (w, dw), (b, db)):
        assert torch.equal(plain.grad, sharded.grad.full_tensor())


def test_unsupported_layouts_raise(mesh):
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(3, 8, generator=g), torch.randn(4, 8, generator=g), torch.randn(4, generator=g)
    dx, dw = distribute_tensor(x, mesh, [Replicate()]), distribute_tensor(w, mesh, [Shard(1)])
    with pytest.raises(ValueError, match=r"mixed with plain tensors \(x\)"):
        sampled_linear(x, dw, None, (0.1,))
    with pytest.raises(ValueError, match=r"weight placed Shard\(dim=1\) and bias Shard\(dim=0\)"):
        sampled_linear(dx, dw, distribute_tensor(b, mesh, [Shard(0)]), (0.1,))
    mesh_2d = init_device_mesh("cpu", (1, 1))
    x2, w2 = distribute_tensor(x, mesh_2d, [Replicate()] * 2), distribute_tensor(w, mesh_2d, [Replicate()] * 2)
    with pytest.raises(ValueError, match="1-D device mesh, got a 2-D mesh"):
        sampled_linear(x2, w2, None, (0.1,))
    with pytest.raises(ValueError, match="different device meshes"):
        sampled_linear(x2, dw, None, (0.1,))


# ------------------------------------------------------------------------------------------ two processes
@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("task", TASKS)
def test_two_processes_head_equals_unsharded(two_processes, task, style):
    for rank in two_processes:
        assert_equal_to_unsharded(rank[f"model/{task}/{style}"])


@pytest.mark.parametrize("x_placement, w_placement", LAYOUTS)
def test_two_processes_function_equals_plain(two_processes, x_placement, w_placement):
    """Shards of uneven sizes (7 features, 3 outputs and 5 rows over 2 ranks), rows in 8 chunks."""
    for rank in two_processes:
        assert_equal_to_unsharded(rank[f"function/{x_placement}/{w_placement}"])
        assert rank[f"function/{x_placement}/{w_placement}"]["info"]["placements"] == OUTPUT_PLACEMENTS[w_placement]


@pytest.mark.parametrize("plan", list(TP_PLANS))
def test_two_processes_tp_plan_equals_unsharded(two_processes, plan):
    """`from_pretrained(..., distributed_config=DistributedConfig(tp_plan=...))` on two processes: the decoder is
    sharded by Llama's own plan, which leaves `score` whole (no family's plan in Transformers 5.24 names `score` or
    `classifier`); the head is sharded where the plan adds it (by column, gathered, or by row)."""
    for rank in two_processes:
        result = rank[f"tp_plan/{plan}"]
        assert result["info"]["decoder sharded"] and result["info"]["head sharded"] == (plan != "auto")
        assert_equal_to_unsharded(result)
        # Without gradients Transformers runs a rowwise head on local tensors: Monte-Carlo sampling refuses them
        # (the check above sampled it with gradients enabled).
        assert result["info"].get("local rowwise refused", False) == ("rowwise" in plan)


def test_local_row_shard_refused_for_sampling():
    """A head whose input and weight hold 4 of its 8 features (Transformers' rowwise styles run it on such local
    shards without gradients): sampling it is refused, the plain eval forward is not."""
    head = MultiSampleLinear(8, 3, num_samples=2)
    head.weight = torch.nn.Parameter(head.weight.detach()[:, :4])  # this rank's columns
    x = torch.randn(2, 4)
    with pytest.raises(ValueError, match="in_features=8: a row-sharded head run on local tensors"):
        head.train()(x)
    assert head.eval()(x).shape == (1, 2, 3)


@pytest.mark.parametrize("w_placement", [Replicate(), Shard(0), Shard(1)])
def test_one_process_autocast(mesh, w_placement):
    """Under bf16 autocast the DTensor samples are bf16 and the gradients come back in float32, as on plain tensors,
    equal to them within bf16's precision (by row, the bias is added to the rounded product: one rounding more)."""
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*shape, generator=g).requires_grad_() for shape in ((4, 6, 8), (5, 8), (5,)))
    placements = (Replicate(), w_placement, Shard(0) if w_placement == Shard(0) else Replicate())
    dx, dw, db = (
        distribute_tensor(t.detach(), mesh, [p]).requires_grad_() for t, p in zip((x, w, b), placements, strict=True)
    )
    outs = []
    for args in ((x, w, b), (dx, dw, db)):
        torch.manual_seed(3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = sampled_linear(*args, (0.2, 0.3))
        y = y.full_tensor() if isinstance(y, DTensor) else y
        y.float().sum().backward()
        outs.append(y)
    assert outs[0].dtype == outs[1].dtype == torch.bfloat16
    torch.testing.assert_close(outs[1], outs[0], rtol=1.6e-2, atol=1e-2)
    for plain, sharded in ((x, dx), (w, dw), (b, db)):
        assert sharded.grad.dtype == torch.float32
        torch.testing.assert_close(sharded.grad.full_tensor(), plain.grad, rtol=1.6e-2, atol=1e-2)
