"""zoo.optimizers.Adam: Keras's Adam, fused; the same weights to float32 rounding."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.optimizers import Adam


def train(optimizer, steps=25):
    """`steps` of a small model with an embedding (sparse gradients) under `optimizer`."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Embedding(50, 8), keras.layers.GRU(6), keras.layers.Dense(3)])
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 50, (steps * 4, 5)), rng.integers(0, 3, steps * 4)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize("options", [{}, {"clipnorm": 0.1}, {"use_ema": True, "ema_momentum": 0.9},
                                     {"beta_1": 0.5, "epsilon": 1e-3}])
def test_moves_every_weight_as_keras_adam(options):
    schedule = keras.optimizers.schedules.CosineDecay(0.05, 25, alpha=0.05)
    ours = train(Adam(schedule, **options))
    keras_ = train(keras.optimizers.Adam(schedule, **options))
    start = train(keras.optimizers.SGD(0.0))
    for a, b, w0 in zip(ours.get_weights(), keras_.get_weights(), start.get_weights()):
        assert np.abs(b - w0).max() > 1e-3  # it trained
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)  # float32 rounding, grown over 25 steps
    for a, b in zip(ours.optimizer.variables, keras_.optimizer.variables):  # the same state, by name and value
        assert re.sub(r"_\d+", "", a.path) == re.sub(r"_\d+", "", b.path)  # the models' numbers aside
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4)


def test_amsgrad_and_a_round_trip_through_its_config():
    optimizer = Adam(0.01, amsgrad=True, clipnorm=1.0)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is Adam and again.get_config() == optimizer.get_config()
    ours, keras_ = train(optimizer), train(keras.optimizers.Adam(0.01, amsgrad=True, clipnorm=1.0))
    for a, b in zip(ours.get_weights(), keras_.get_weights()):
        np.testing.assert_array_equal(a, b)  # amsgrad runs Keras's own update


def test_under_a_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        ours = train(Adam(0.01))
    keras_ = train(keras.optimizers.Adam(0.01))
    for a, b in zip(ours.get_weights(), keras_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
