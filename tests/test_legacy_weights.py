"""Weight files written before the cells kept one matrix per gate still load.

Those files hold every LSTM cell as Keras's three arrays (`kernel [D, 4H]`,
`recurrent_kernel [H, 4H]`, `bias [4H]`, gates in the order i, f, c, o) and
every GRU cell as `kernel [D, 3H]`, `recurrent_kernel [H, 3H]`, `bias [2, 3H]`
(gates z, r, h), where the cells now have `W_g`, `U_g`, `b_g` for each gate.
The old file is written here by hand from a model's variables, then loaded
with `zoo.saving.load`.
"""

import json

import keras
import numpy as np
import pytest

import zoo
from zoo import saving
from zoo.layers import GRUCell, LSTMCell

KERAS_GATE_ORDER = {LSTMCell: "ifco", GRUCell: "zrh"}


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(scale=0.3, size=v.shape).astype("float32"))


def cell_of_each_variable(model):
    owners = {}
    for layer in model._flatten_layers():
        if isinstance(layer, (LSTMCell, GRUCell)):
            for v in layer.weights:
                owners[id(v)] = layer
    return owners


def write_old_layout(model, directory):
    """Rewrites `directory/weights.npz` as the files of the fused-layout cells
    were: each cell's per-gate variables joined into Keras's 3 arrays."""
    owners, arrays, done = cell_of_each_variable(model), [], {}
    for v in model.weights:
        cell = owners.get(id(v))
        if cell is None:
            arrays.append(v.numpy())
        elif id(cell) not in done:
            done[id(cell)] = cell
            for name in ("W", "U", "b"):
                gates = KERAS_GATE_ORDER[type(cell)]
                arrays.append(np.concatenate([getattr(cell, f"{name}_{g}").numpy() for g in gates], axis=-1))
    np.savez(directory / saving.WEIGHTS, **{f"{i:04d}": np.asarray(a, np.float16) for i, a in enumerate(arrays)})
    card = json.loads((directory / "card.json").read_text())
    card["weights_sha256"] = saving.sha256(directory / saving.WEIGHTS)
    (directory / "card.json").write_text(json.dumps(card))
    return len(arrays), list(done.values())


def assert_loads_the_same(model, name, directory):
    saving.save(model, directory, name)
    stored, cells = write_old_layout(model, directory)
    assert cells and stored == len(model.weights) - sum(len(cell.weights) - 3 for cell in cells)  # 3 arrays a cell
    loaded = zoo.load(directory)
    assert len(loaded.weights) == len(model.weights)
    for got, expected in zip(loaded.weights, model.weights, strict=True):
        assert got.path.split("/")[-1] == expected.path.split("/")[-1]
        np.testing.assert_array_equal(got.numpy(), np.float16(expected.numpy()).astype("float32"))
    return loaded


@pytest.mark.parametrize("name", ["char-lstm", "char-gru"])
def test_old_char_model_file_loads(tiny_char_model, tmp_path, name):
    model = tiny_char_model(name, num_layers=2)
    randomize(model)
    loaded = assert_loads_the_same(model, name, tmp_path / name)
    tokens = np.array([[1, 2, 3, 4, 5]])
    for v in model.weights:  # the values a float16 file holds
        v.assign(np.float16(v.numpy()).astype("float32"))
    np.testing.assert_array_equal(loaded(tokens), model(tokens))


@pytest.mark.parametrize("name", ["lstm-seq2seq-attn", "gru-seq2seq-attn"])
def test_old_seq2seq_file_loads(tiny_translator, tmp_path, name):
    model = tiny_translator(name)
    randomize(model, seed=1)
    loaded = assert_loads_the_same(model, name, tmp_path / "t")
    sentence = ["Der Hund ist rot."]
    for v in model.weights:
        v.assign(np.float16(v.numpy()).astype("float32"))
    assert loaded.translate(sentence, beam_size=1) == model.translate(sentence, beam_size=1)


def test_old_captioner_file_loads(tiny_captioner, tmp_path):
    model = tiny_captioner("sat-lstm-squeezenet")
    randomize(model, seed=2)
    assert_loads_the_same(model, "sat-lstm-squeezenet", tmp_path / "c")


def test_a_file_that_fits_no_layout_is_still_an_error(tiny_char_model, tmp_path):
    model = tiny_char_model("char-lstm")
    directory = saving.save(model, tmp_path / "m", "char-lstm")
    stored, _ = write_old_layout(model, directory)
    with np.load(directory / saving.WEIGHTS) as f:
        arrays = {k: f[k] for k in f.files}
    del arrays[f"{stored - 1:04d}"]  # one array short
    np.savez(directory / saving.WEIGHTS, **arrays)
    card = json.loads((directory / "card.json").read_text())
    card["weights_sha256"] = saving.sha256(directory / saving.WEIGHTS)
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=rf"holds {stored - 1} arrays that do not match the {len(model.weights)}"):
        zoo.load(directory)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_model_of_keras_layers_hands_its_weights_to_one_of_zoo_cells_as_the_readme_says(kind):
    from zoo.layers.layout import from_keras_layout, keras_layout_arrays

    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    keras_layer, cell = {"lstm": (keras.layers.LSTM, LSTMCell), "gru": (keras.layers.GRU, GRUCell)}[kind]
    theirs = keras.Sequential([keras.Input((5, 3)), keras_layer(4, return_sequences=True), keras.layers.Dense(2)])
    ours = keras.Sequential([keras.Input((5, 3)), keras.layers.RNN(cell(4), return_sequences=True),
                             keras.layers.Dense(2)])
    ours.set_weights(from_keras_layout(ours, theirs.get_weights()))
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(keras_layout_arrays(ours), theirs.get_weights(), strict=True))
