"""Loading a saved model checks its files before it trusts them: the sizes in
config.json against the arrays of weights.npz before anything is built (a
hostile size would allocate gigabytes), every weight finite, the config the
architecture its name stands for; a `.keras` file is a zoo model's or an
error naming it."""

import json
import re

import numpy as np
import pytest

import zoo
from zoo import saving


def _edit_config(directory, name=None, **changes):
    path = directory / "config.json"
    meta = json.loads(path.read_text())
    meta["name"] = name or meta["name"]
    meta["config"].update(changes)
    path.write_text(json.dumps(meta))
    return path


def forbid_building(monkeypatch):
    """Fails a load that builds a model before refusing its files."""
    def build(name, **config):
        raise AssertionError(f"{name!r} was built from {config} before its sizes were checked")

    monkeypatch.setattr(saving, "build", build)


@pytest.fixture
def nothing_built(monkeypatch):
    forbid_building(monkeypatch)


@pytest.fixture
def saved_char(tiny_char_model, tmp_path):
    return saving.save(tiny_char_model("char-lstm"), tmp_path / "char", "char-lstm")


@pytest.fixture
def saved_translator(tiny_translator, tmp_path):
    return saving.save(tiny_translator("gru-seq2seq-attn"), tmp_path / "translator", "gru-seq2seq-attn")


# -- sizes: checked against weights.npz before building ---------------------------------------


@pytest.mark.parametrize("key, value", [
    ("units", 20000), ("embedding_dim", 100000), ("vocabulary_size", 10**7), ("units", 9),
])
def test_a_size_that_no_stored_array_has_is_refused_before_building(saved_char, nothing_built, key, value):
    config = _edit_config(saved_char, **{key: value})
    with pytest.raises(ValueError, match=rf"{re.escape(str(config))} gives {key} {value}, but no array in "
                                         rf"{re.escape(str(saved_char / saving.WEIGHTS))} has a dimension of "
                                         rf"{value} \(they have "):
        saving.load(saved_char)


@pytest.mark.parametrize("key", ["source_vocabulary_size", "target_vocabulary_size", "units", "embedding_dim"])
def test_a_translator_size_that_no_stored_array_has_is_refused(saved_translator, nothing_built, key):
    _edit_config(saved_translator, **{key: 50000})
    with pytest.raises(ValueError, match=rf"gives {key} 50000, but no array in .* has a dimension of 50000"):
        zoo.load("gru-seq2seq-attn", weights=saved_translator)


def test_more_layers_than_stored_arrays_are_refused_before_building(saved_char, nothing_built):
    _edit_config(saved_char, num_layers=100000)
    with pytest.raises(ValueError, match=r"gives num_layers 100000, but .*weights.npz holds \d+ arrays, too few for "
                                         r"100000 layers"):
        saving.load(saved_char)


def test_an_image_size_beyond_any_model_is_refused_before_building(tiny_captioner, tmp_path, monkeypatch):
    directory = saving.save(tiny_captioner("sat-lstm-squeezenet"), tmp_path / "c", "sat-lstm-squeezenet")
    forbid_building(monkeypatch)  # from here on, building fails the test
    _edit_config(directory, image_size=100000)
    with pytest.raises(ValueError, match=r"gives image_size 100000, more than .* allows \(at most \d+\)"):
        saving.load(directory)


def test_the_sizes_of_a_genuine_file_pass(saved_char, saved_translator):
    assert saving.load(saved_char).get_config()["units"] == 8
    assert saving.load(saved_translator).get_config()["cell"] == "gru"


# -- weights: finite ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_weights_that_are_not_finite_are_refused(saved_char, value):
    weights = saved_char / saving.WEIGHTS
    arrays = dict(np.load(weights))
    arrays["0003"] = arrays["0003"].copy()
    arrays["0003"].flat[1] = value
    np.savez(weights, **arrays)
    (saved_char / "card.json").unlink()  # its sha256 would refuse the file first
    with pytest.raises(ValueError, match=rf"Cannot load weights from {re.escape(str(weights))}: array 0003 "
                                         r"\(variable .+\) holds 1 NaN or infinite value"):
        saving.load(saved_char)


def test_weights_that_are_not_numbers_are_refused(saved_char):
    weights = saved_char / saving.WEIGHTS
    arrays = dict(np.load(weights))
    arrays["0003"] = np.full(arrays["0003"].shape, "1.0")  # cast to float32 silently before
    np.savez(weights, **arrays)
    (saved_char / "card.json").unlink()
    with pytest.raises(ValueError, match=r"array 0003 \(variable .+\) holds <U3 values, not numbers"):
        saving.load(saved_char)


# -- the name's architecture ----------------------------------------------------------------


@pytest.mark.parametrize("built, named, key", [
    ("char-lstm", "char-gru", "cell"),
    ("char-gru", "char-lstm", "cell"),
])
def test_a_char_model_saved_under_another_name_is_refused(tiny_char_model, tmp_path, built, named, key):
    directory = saving.save(tiny_char_model(built), tmp_path / "m", named)
    with pytest.raises(ValueError, match=rf"config.json is corrupt: it names {named!r}, whose {key} is .*, but its "
                                         rf"config gives {key} "):
        saving.load(directory)


@pytest.mark.parametrize("built, named, key", [
    ("lstm-seq2seq-attn", "lstm-seq2seq", "attention"),
    ("lstm-seq2seq", "lstm-seq2seq-attn-en-es", "attention"),
    ("gru-seq2seq-attn", "lstm-seq2seq-attn", "cell"),
])
def test_a_translator_saved_under_another_name_is_refused(tiny_translator, tmp_path, built, named, key):
    directory = saving.save(tiny_translator(built), tmp_path / "m", named)
    with pytest.raises(ValueError, match=rf"it names {named!r}, whose {key} is .*, but its config gives {key} "):
        zoo.load(directory)


def test_a_captioner_saved_under_another_name_is_refused(tiny_captioner, tmp_path):
    directory = saving.save(tiny_captioner("sat-lstm-squeezenet"), tmp_path / "m", "lstm-squeezenet")
    with pytest.raises(ValueError, match=r"it names 'lstm-squeezenet', whose attention is False, but its config "
                                         r"gives attention True"):
        saving.load(directory)


def test_a_config_key_the_model_does_not_keep_is_refused(saved_char):
    _edit_config(saved_char, trainable=False)  # Keras takes it, the model would not keep it
    with pytest.raises(ValueError, match=r"config.json is corrupt: its config gives trainable False, which "
                                         r"'char-lstm' does not keep \(it keeps vocabulary_size, cell, "):
        saving.load(saved_char)


# -- `.keras` files (zoo.load) --------------------------------------------------------------



@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04 truncated"])
def test_a_corrupt_keras_file_is_named_as_corrupt(tmp_path, content):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is corrupt") as error:
        zoo.load(path)
    assert "File not found" not in str(error.value)


def test_a_keras_file_of_another_model_is_refused(tmp_path):
    import keras

    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(TypeError, match=r"other.keras holds a 'Sequential' model, not a zoo model"):
        zoo.load(tmp_path / "other.keras")
