"""torch.compile: the MSD models compile with no graph break in training and eval, the compiled path of
`sampled_linear` (masks from torch's RNG, kept for backward) has the rate, independence, loss and gradients of the
method, and eager training is bit-for-bit what it was (a recorded reference)."""

from pathlib import Path

import torch

import msd_transformers.sampled_linear as sampled_linear_module
from msd_transformers.sampled_linear import sampled_linear

REFERENCE = Path(__file__).resolve().parent / "data" / "sampled_linear_eager_reference.pt"

# Rates whose scales are powers of two (2, 4 and 2**17) and integer inputs: every sum the eager path forms is exact in
# float32 whatever the order of the summation, so the reference holds bit for bit on any CPU. 1 - 2**-17 is
# t = 2**31 - 2**14: every kept element is a tie of the 16-bit prefixes resolved by its 15 low bits.
_TIE_RATE = 1 - 2**-17


def _integers(shape, generator, low=-3, high=4) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=generator).float()


def eager_reference() -> dict[str, torch.Tensor]:
    """Outputs, gradients and the generator's next draws of two eager `sampled_linear` calls from `manual_seed(0)`:
    a 3-D input in chunks of 5 rows with rates 0.5, 0, 0.75, 0.5, and a (64, 2048) input in chunks of 16 rows at the
    tie rate (stored sparse: few elements are kept). `tests/data/sampled_linear_eager_reference.pt` holds them as the
    eager path computed them before the compiled path existed."""
    g = torch.Generator().manual_seed(1)
    cases = {
        "small": ((3, 5, 16), 4, (0.5, 0.0, 0.75, 0.5), 80),
        "ties": ((64, 2048), 1, (_TIE_RATE,) * 3, 2**15),
    }
    result = {}
    torch.manual_seed(0)
    for name, (shape, out_features, rates, chunk) in cases.items():
        x = _integers(shape, g).requires_grad_()
        w, b = _integers((out_features, shape[-1]), g).requires_grad_(), _integers((out_features,), g).requires_grad_()
        cotangent = _integers((len(rates), *shape[:-1], out_features), g, -2, 3)
        saved, sampled_linear_module._CHUNK_ELEMENTS = sampled_linear_module._CHUNK_ELEMENTS, chunk
        try:
            y = sampled_linear(x, w, b, rates)
            result[f"{name}_next_draws_after_forward"] = torch.randint(0, 2**31, (4,))
            grads = torch.autograd.grad((y * cotangent).sum(), (x, w, b))
        finally:
            sampled_linear_module._CHUNK_ELEMENTS = saved
        sparse = name == "ties"
        for key, value in zip(("out", "grad_x", "grad_weight", "grad_bias"), (y.detach(), *grads), strict=True):
            result[f"{name}_{key}"] = value.to_sparse() if sparse and key != "grad_bias" else value
        result[f"{name}_next_draws_after_backward"] = torch.randint(0, 2**31, (4,))
    return result


def test_eager_path_is_bit_for_bit_the_recorded_reference():
    """Eager `sampled_linear` (forward, backward and how far it advances the default generator) is exactly what it
    was when the reference was recorded: the compiled path changed nothing outside compilation."""
    recorded = torch.load(REFERENCE)
    now = eager_reference()
    assert recorded.keys() == now.keys()
    for key, value in now.items():
        want = recorded[key]
        if want.layout == torch.sparse_coo:
            want, value = want.to_dense(), value.to_dense()
        assert value.dtype == want.dtype and torch.equal(value, want), key
    assert recorded["ties_grad_x"]._nnz() > 0  # the tie rate kept something: the ties were resolved
