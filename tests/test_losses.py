"""zoo.metrics.masked_cross_entropy against a NumPy reference: value and gradient."""

import re

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


def test_a_target_id_outside_the_vocabulary_is_an_error_naming_it():
    y = np.array([[1, 2, 7]])  # 7: not one of the 5 classes
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)padding id 0 or in \[0, 5\), got.*7"):
        masked_cross_entropy()(y, np.zeros((1, 3, 5), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)got.*-1"):
        masked_cross_entropy()(np.array([[1, -1]]), np.zeros((1, 2, 5), np.float32))
    padded_with_minus_one = masked_cross_entropy(pad=-1)(np.array([[1, -1]]), np.zeros((1, 2, 5), np.float32))
    assert float(padded_with_minus_one) == pytest.approx(np.log(5))  # one real token, uniform logits


def test_ids_with_a_trailing_axis_of_one_are_read_as_keras_sparse_losses_read_them():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 9, (2, 4))
    logits = rng.normal(size=(2, 4, 9)).astype(np.float32)
    loss = masked_cross_entropy(0.1)
    assert float(loss(y[..., None], logits)) == pytest.approx(float(loss(y, logits)), rel=1e-7)


@pytest.mark.parametrize("kwargs, message", [
    ({"label_smoothing": 1.5}, "`label_smoothing` must be a float in [0, 1), got 1.5"),
    ({"label_smoothing": -0.5}, "`label_smoothing` must be a float in [0, 1), got -0.5"),
    ({"label_smoothing": "0.1"}, "`label_smoothing` must be a float in [0, 1), got '0.1'"),
    ({"pad": None}, "`pad`"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        masked_cross_entropy(**kwargs)


def test_an_empty_batch_costs_nothing():
    """A replica's share of a short last batch can be empty."""
    empty = masked_cross_entropy(0.1)(np.zeros((0, 3), np.int64), np.zeros((0, 3, 5), np.float32))
    assert float(empty) == 0.0
