"""zoo.metrics.masked_cross_entropy against a NumPy reference: value and gradient."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.metrics import masked_cross_entropy


def reference(y, logits, smoothing, pad=0):
    """Loss and its gradient: mean over non-pad tokens of -sum_k q_k log p_k,
    q = (1 - s) one_hot(y) + s / V; the gradient is (softmax - q) * mask / tokens."""
    z = logits.astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    classes = z.shape[-1]
    q = np.eye(classes)[y] * (1 - smoothing) + smoothing / classes
    mask = (y != pad).astype(np.float64)
    tokens = mask.sum()
    loss = (-(q * logp).sum(-1) * mask).sum() / tokens
    grad = (np.exp(logp) - q) * mask[..., None] / tokens
    return loss, grad


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_masked_cross_entropy_matches_the_reference_in_value_and_gradient(smoothing):
    rng = np.random.default_rng(0)
    y = rng.integers(1, 50, (4, 7))
    y[0, 4:] = y[2, 1:] = 0  # padding, ignored
    logits = (rng.normal(size=(4, 7, 50)) * 4).astype(np.float32)
    z = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = masked_cross_entropy(smoothing)(tf.constant(y), z)
    expected_loss, expected_grad = reference(y, logits, smoothing)
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), expected_grad, atol=1e-8)


def test_padding_changes_nothing_and_an_all_padding_batch_costs_nothing():
    rng = np.random.default_rng(1)
    y = rng.integers(1, 20, (3, 5))
    logits = rng.normal(size=(3, 5, 20)).astype(np.float32)
    loss = masked_cross_entropy(0.1)
    padded_y = np.concatenate([y, np.zeros((3, 2), y.dtype)], 1)
    padded_logits = np.concatenate([logits, rng.normal(size=(3, 2, 20)).astype(np.float32) * 9], 1)
    assert float(loss(padded_y, padded_logits)) == pytest.approx(float(loss(y, logits)), rel=1e-6)
    assert float(loss(np.zeros_like(y), logits)) == 0.0


def test_the_benchmarks_loss_before_is_the_same_loss():
    """benchmarks/cells.py times today's loss against `loss_before`: the same numbers."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("cells", Path(__file__).parent.parent / "benchmarks" / "cells.py")
    cells = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cells)
    rng = np.random.default_rng(2)
    y = rng.integers(0, 30, (3, 6))
    logits = rng.normal(size=(3, 6, 30)).astype(np.float32) * 3
    for smoothing in (0.0, 0.2):
        assert float(cells.loss_before(smoothing)(y, logits)) == pytest.approx(
            float(masked_cross_entropy(smoothing)(y, logits)), rel=1e-6)
