"""Every registered model: forward, backward, config, save/load round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import saving
from zoo.metrics import masked_cross_entropy

TRANSLATION = zoo.list_models()  # every family registers itself on import


@pytest.mark.parametrize("name", TRANSLATION)
def test_forward_backward_and_round_trip(name, tiny_translator, tmp_path):
    if zoo.info(name)["task"] != "translation":
        pytest.skip("covered by its family's tests")
    model = tiny_translator(name)
    source = np.array([[5, 6, 7, 3], [8, 9, 3, 0]], np.int32)
    target = np.array([[2, 5, 6, 3], [2, 7, 3, 0]], np.int32)
    loss_fn = masked_cross_entropy()
    with tf.GradientTape() as tape:
        logits = model((source, target[:, :-1]), training=True)
        loss = loss_fn(target[:, 1:], logits)
    assert logits.shape == (2, 3, model.target_vocabulary_size)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.isfinite(np.asarray(tf.convert_to_tensor(g))).all() for g in grads)

    assert zoo.build(name, **model.get_config()).get_config() == model.get_config()
    saving.save(model, tmp_path / name, name, {"note": "test"})
    loaded = zoo.load(name, weights=tmp_path / name)
    expected = np.asarray(model((source, target[:, :-1]))).astype(np.float16)
    # Shipped weights are float16: outputs agree to float16 rounding.
    np.testing.assert_allclose(np.asarray(loaded((source, target[:, :-1]))), expected, rtol=0.05, atol=0.02)
    sentences = ["Der Hund ist rot.", "Der Ball ist blau."]
    keras.utils.set_random_seed(0)
    assert loaded.translate(sentences, beam_size=1) == loaded.translate(sentences, beam_size=1)
