"""MultiSampleDropout: shapes, modes, statistics of the masks, and rate specifications."""

import logging

import pytest
import torch

from msd_transformers import MultiSampleDropout
from msd_transformers.dropout import resolve_dropout


def test_training_shape_and_scaling():
    msd = MultiSampleDropout(num_samples=4, dropout=0.25).train()
    x = torch.randn(3, 5, 7)
    y = msd(x)
    assert y.shape == (4, 3, 5, 7)
    kept = y != 0
    # Every kept element is the input scaled by 1 / (1 - p).
    torch.testing.assert_close(y[kept], (x.expand_as(y) / 0.75)[kept])


def test_eval_returns_one_unmodified_sample_without_copy():
    msd = MultiSampleDropout(num_samples=8, dropout=0.5).eval()
    x = torch.randn(6, 10)
    y = msd(x)
    assert y.shape == (1, 6, 10)
    assert torch.equal(y[0], x)
    assert y.data_ptr() == x.data_ptr()  # a view, no redundant work


def test_no_parameters_no_buffers_no_state():
    msd = MultiSampleDropout(8, "linspace(0.1, 0.5)")
    assert list(msd.parameters()) == [] and list(msd.buffers()) == []
    assert msd.state_dict() == {}


@pytest.mark.parametrize("dropout", [0.3, "linspace(0.1, 0.5)", [0.05, 0.6, 0.2, 0.45]])
def test_per_sample_rates_and_independence(dropout):
    """Each sample's keep rate is 1 - p_k; masks of different samples are independent (P(both) = product)."""
    k = 4
    msd = MultiSampleDropout(k, dropout).train()
    rates = torch.tensor(msd.rates, dtype=torch.float64)
    n = 200_000
    kept = (msd(torch.ones(n)) != 0).double()  # (K, n)
    keep = 1 - rates
    freq = kept.mean(1)
    sigma = (keep * (1 - keep) / n).sqrt()
    assert ((freq - keep).abs() < 5 * sigma).all(), (freq, keep)
    both = kept @ kept.T / n  # (K, K): P(kept in k and in l)
    expected = keep[:, None] * keep[None, :]
    off = ~torch.eye(k, dtype=torch.bool)
    sigma2 = (expected * (1 - expected) / n).sqrt()
    assert ((both - expected).abs()[off] < 5 * sigma2[off]).all(), (both, expected)
    # And they are not all the same mask.
    assert not torch.equal(kept[0], kept[1])


def test_masks_differ_across_batch_items_and_calls():
    msd = MultiSampleDropout(2, 0.5).train()
    x = torch.ones(2, 1000)
    a, b = msd(x), msd(x)
    assert not torch.equal(a, b)
    assert not torch.equal(a[0, 0], a[0, 1])


def test_bfloat16_keeps_dtype_and_exact_scale():
    msd = MultiSampleDropout(3, [0.1, 0.2, 0.3]).train()
    y = msd(torch.ones(10_000, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16
    for k, p in enumerate(msd.rates):
        values = set(y[k].float().unique().tolist())
        assert values <= {0.0, float(torch.tensor(1 / (1 - p), dtype=torch.bfloat16))}


def test_gradient_flows_through_kept_elements_only():
    msd = MultiSampleDropout(3, [0.0, 0.5, 0.9]).train()
    x = torch.randn(50, requires_grad=True)
    y = msd(x)
    y.sum().backward()
    expected = sum((y[k] != 0).float() / (1 - p) for k, p in enumerate(msd.rates))
    torch.testing.assert_close(x.grad, expected)


def test_linspace_resolution():
    assert resolve_dropout("linspace(0.1, 0.5)", 5) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert resolve_dropout(" linspace( 0.5 ,0.1 ) ", 3) == pytest.approx([0.5, 0.3, 0.1])
    assert resolve_dropout("linspace(0.2, 0.4)", 1) == pytest.approx([0.2])
    assert resolve_dropout(0.3, 3) == [0.3, 0.3, 0.3]
    assert MultiSampleDropout(2, [0.1, 0.2]).rates == (0.1, 0.2)


@pytest.mark.parametrize(
    "num_samples, dropout, match",
    [
        (0, 0.1, "num_samples must be an int >= 1, got 0"),
        (-2, 0.1, "got -2"),
        (2.0, 0.1, r"got 2.0 \(float\)"),
        (True, 0.1, "got True"),
        (2, 1.0, r"must be in \[0, 1\), got 1.0"),
        (2, -0.1, r"must be in \[0, 1\), got -0.1"),
        (2, float("nan"), "nan"),
        (2, "0.5", "Cannot parse dropout specification '0.5'"),
        (2, "linspace(0.1)", "Cannot parse"),
        (2, "linspace(0.1, 1.5)", r"end of 'linspace\(0.1, 1.5\)' must be in \[0, 1\)"),
        (2, "linspace(a, 0.5)", "Cannot parse the bounds"),
        (3, [0.1, 0.2], "lists 2 rates"),
        (2, [0.1, 1.2], r"dropout\[1\] must be in \[0, 1\)"),
        (2, None, "must be a number"),
    ],
)
def test_bad_input(num_samples, dropout, match):
    with pytest.raises(ValueError, match=match):
        MultiSampleDropout(num_samples, dropout)


def test_all_zero_rates_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="msd_transformers.dropout"):
        MultiSampleDropout(4, 0.0)
    assert "samples are identical" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="msd_transformers.dropout"):
        MultiSampleDropout(1, 0.0)  # one sample: nothing wasted
        MultiSampleDropout(4, [0.0, 0.1, 0.0, 0.0])
    assert caplog.text == ""
