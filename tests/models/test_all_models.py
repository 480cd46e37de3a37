"""Every registered model: forward, backward, config, save/load round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import saving
from zoo.metrics import masked_cross_entropy

MODELS = zoo.list_models()  # every family registers itself on import


def check_translation(name, request, tmp_path):
    model = request.getfixturevalue("tiny_translator")(name)
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


def finite(gradient):
    return gradient is not None and np.isfinite(np.asarray(tf.convert_to_tensor(gradient))).all()


def check_text_generation(name, request, tmp_path):
    model = request.getfixturevalue("tiny_char_model")(name)
    ids = np.array([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 1, 2]], np.int32)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        logits = model(ids[:, :-1], training=True)
        loss = loss_fn(ids[:, 1:], logits)
    assert logits.shape == (2, 5, model.vocabulary_size)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(finite(g) for g in grads)

    assert zoo.build(name, **model.get_config()).get_config() == model.get_config()
    saving.save(model, tmp_path / name, name, {"note": "test"})
    loaded = zoo.load(name, weights=tmp_path / name)
    assert loaded.vocabulary == model.vocabulary
    expected = np.asarray(model(ids)).astype(np.float16)
    np.testing.assert_allclose(np.asarray(loaded(ids)), expected, rtol=0.05, atol=0.02)
    assert abs(loaded.log_loss("abc defg\nh") - model.log_loss("abc defg\nh")) < 0.02
    assert loaded.generate("ab", 20, seed=3) == loaded.generate("ab", 20, seed=3)


def check_captioning(name, request, tmp_path):
    model = request.getfixturevalue("tiny_captioner")(name)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 63, 63, 3)).astype("float32")
    features = model.encode_images(images)
    tokens = np.array([[2, 4, 5, 6, 3], [2, 7, 3, 0, 0]], np.int32)
    loss_fn = masked_cross_entropy()
    with tf.GradientTape() as tape:
        logits, attention = model((features, tokens[:, :-1]), training=True)
        loss = loss_fn(tokens[:, 1:], logits) + model.attention_penalty_loss(tokens[:, :-1], attention)
    assert logits.shape == (2, 4, model.vocabulary_size)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(finite(g) for g in grads)
    assert not any(w.trainable for w in model.encoder.weights)  # the CNN stays frozen

    assert zoo.build(name, **model.get_config()).get_config() == model.get_config()
    saving.save(model, tmp_path / name, name, {"note": "test"})
    loaded = zoo.load(name, weights=tmp_path / name)
    assert loaded.vocabulary == model.vocabulary
    expected = np.asarray(model((features, tokens[:, :-1]))).astype(np.float16)
    np.testing.assert_allclose(np.asarray(loaded((features, tokens[:, :-1]))), expected, rtol=0.05, atol=0.02)
    pixels = images[0].astype("uint8")
    first, again = loaded.caption([pixels, pixels.astype("float32")], beam_size=1)
    assert first == again == loaded.caption(pixels, beam_size=1)  # uint8 or float, one image or a list


CHECKS = {"translation": check_translation, "text-generation": check_text_generation, "captioning": check_captioning}


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_and_round_trip(name, request, tmp_path):
    task = zoo.info(name)["task"]
    if task not in CHECKS:
        pytest.skip(f"no generic check for the task {task!r} yet")
    CHECKS[task](name, request, tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_is_a_zoo_model_of_its_task(name):
    from zoo.models.base import ZooModel

    tiny = {"embedding_dim": 4, "units": 4, **({"image_size": 63} if "squeezenet" in name else {})}
    model = zoo.build(name, **tiny)
    assert isinstance(model, ZooModel) and model.task == zoo.info(name)["task"]
    for hook in ("save_assets", "load_assets", "build_for_inference"):
        assert getattr(type(model), hook) is not getattr(ZooModel, hook), f"{name} lacks {hook}"


def test_saving_refuses_what_is_not_a_zoo_model(tmp_path):
    with pytest.raises(TypeError, match="must be a zoo model"):
        saving.save(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "m", "char-lstm")


def test_a_task_outside_the_table_is_refused():
    from zoo.models.base import ZooModel

    with pytest.raises(TypeError, match="task must be one of"):
        type("Speller", (ZooModel,), {"task": "spelling"})
