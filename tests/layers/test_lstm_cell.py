"""zoo.layers.LSTMCell against keras.layers.LSTMCell, the reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.testing import TestCase  # Keras's own layer checks, no public name

from zoo.layers import LSTMCell

BATCH, TIME, INPUT_DIM, UNITS = 3, 6, 4, 5
LENGTHS = [6, 4, 2]  # right padding: rows 1 and 2 end early


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, TIME, INPUT_DIM)).astype("float32")
    mask = np.arange(TIME)[None, :] < np.array(LENGTHS)[:, None]
    x[~mask] = 0.0
    return x, mask


def randomize(layer, seed=1):
    """Random weights everywhere, the bias included (it starts at 0 and 1)."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [
            rng.normal(scale=0.5, size=w.shape).astype("float32")
            for w in layer.get_weights()
        ]
    )


def cells(layer, cell_class):
    return [sub for sub in layer._flatten_layers() if isinstance(sub, cell_class)]


def build_pair(wrap, **cell_kwargs):
    """(reference, ours): the same wrapper of keras's and zoo's cell, same weights,
    copied cell by cell from Keras's layout."""
    x, _ = make_batch()
    ref = wrap(keras.layers.LSTMCell(UNITS, **cell_kwargs))
    ours = wrap(LSTMCell(UNITS, **cell_kwargs))
    ref(x)
    ours(x)
    randomize(ref)
    pairs = list(zip(cells(ref, keras.layers.LSTMCell), cells(ours, LSTMCell), strict=True))
    assert pairs
    for ref_cell, our_cell in pairs:
        our_cell.set_weights(ref_cell.get_weights())
    return ref, ours


def test_masked_sequences_and_states_match_keras():
    ref, ours = build_pair(
        lambda cell: keras.layers.RNN(cell, return_sequences=True, return_state=True)
    )
    x, mask = make_batch()
    expected = ref(x, mask=mask)
    got = ours(x, mask=mask)
    assert len(got) == len(expected) == 3  # outputs, h, c
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)
    # The mask matters: the final h of a short row is its output at its last step.
    np.testing.assert_allclose(got[1][2], got[0][2, LENGTHS[2] - 1], atol=1e-6)


def test_bidirectional_matches_keras():
    ref, ours = build_pair(
        lambda cell: keras.layers.Bidirectional(
            keras.layers.RNN(cell, return_sequences=True)
        )
    )
    assert isinstance(ours.backward_layer.cell, LSTMCell)
    x, mask = make_batch()
    np.testing.assert_allclose(ours(x, mask=mask), ref(x, mask=mask), atol=1e-5)


def test_keras_cell_takes_our_weights():
    """keras_cell.set_weights(zoo_cell.get_weights()): the other direction."""
    x, mask = make_batch()
    ours = keras.layers.RNN(LSTMCell(UNITS), return_sequences=True)
    ref = keras.layers.RNN(keras.layers.LSTMCell(UNITS), return_sequences=True)
    ours(x)
    ref(x)
    randomize(ours, seed=5)
    ref.cell.set_weights(ours.cell.get_weights())
    np.testing.assert_allclose(ours(x, mask=mask), ref(x, mask=mask), atol=1e-5)


@pytest.mark.parametrize("use_bias", [True, False])
def test_one_weight_per_gate_and_keras_layout_shapes(use_bias):
    ref = keras.layers.LSTMCell(UNITS, use_bias=use_bias)
    ours = LSTMCell(UNITS, use_bias=use_bias)
    ref.build((None, INPUT_DIM))
    ours.build((None, INPUT_DIM))
    per_gate = [("W", (INPUT_DIM, UNITS)), ("U", (UNITS, UNITS))] + ([("b", (UNITS,))] if use_bias else [])
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [
        (f"{name}_{gate}", shape) for gate in "ifco" for name, shape in per_gate
    ]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in ref.get_weights()]
    assert len(ours.get_weights()) == (3 if use_bias else 2)


def test_keras_layout_maps_each_gate_to_its_columns():
    cell = LSTMCell(UNITS)
    cell.build((None, INPUT_DIM))
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(INPUT_DIM, 4 * UNITS)).astype("float32")
    recurrent = rng.normal(size=(UNITS, 4 * UNITS)).astype("float32")
    bias = rng.normal(size=(4 * UNITS,)).astype("float32")
    cell.set_weights([kernel, recurrent, bias])
    for k, gate in enumerate("ifco"):  # Keras's gate order
        columns = slice(k * UNITS, (k + 1) * UNITS)
        np.testing.assert_array_equal(getattr(cell, f"W_{gate}").numpy(), kernel[:, columns])
        np.testing.assert_array_equal(getattr(cell, f"U_{gate}").numpy(), recurrent[:, columns])
        np.testing.assert_array_equal(getattr(cell, f"b_{gate}").numpy(), bias[columns])
    for got, expected in zip(cell.get_weights(), [kernel, recurrent, bias], strict=True):
        np.testing.assert_array_equal(got, expected)
    # One array per variable is accepted too.
    per_gate = [rng.normal(size=w.shape).astype("float32") for w in cell.weights]
    cell.set_weights(per_gate)
    for variable, value in zip(cell.weights, per_gate, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)


@pytest.mark.parametrize(
    "shapes",
    [[(INPUT_DIM, 4 * UNITS), (UNITS, 4 * UNITS)], [(INPUT_DIM, 4 * UNITS), (UNITS, 3 * UNITS), (4 * UNITS,)]],
)
def test_set_weights_with_a_wrong_layout_raises(shapes):
    cell = LSTMCell(UNITS)
    cell.build((None, INPUT_DIM))
    with pytest.raises(ValueError, match=r"`weights` must be the 12 arrays of `cell.weights` or Keras's layout.*got"):
        cell.set_weights([np.zeros(shape, "float32") for shape in shapes])


def test_seeded_initial_weights_equal_keras():
    """Drawn in Keras's layout and cut per gate: the same initial weights as
    keras.layers.LSTMCell from the same seeded initializers."""
    kwargs = {
        "kernel_initializer": keras.initializers.GlorotUniform(seed=1),
        "recurrent_initializer": keras.initializers.Orthogonal(seed=2),
        "bias_initializer": keras.initializers.RandomNormal(seed=3),
    }
    ref = keras.layers.LSTMCell(UNITS, unit_forget_bias=False, **kwargs)
    ours = LSTMCell(UNITS, unit_forget_bias=False, **kwargs)
    ref.build((None, INPUT_DIM))
    ours.build((None, INPUT_DIM))
    for got, expected in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_unit_forget_bias_sets_only_the_forget_slice_to_one():
    cell = LSTMCell(UNITS, unit_forget_bias=True)
    cell.build((None, INPUT_DIM))
    expected = np.concatenate(  # gate order i, f, c, o
        [np.zeros(UNITS), np.ones(UNITS), np.zeros(UNITS), np.zeros(UNITS)]
    )
    np.testing.assert_array_equal(cell.get_weights()[2], expected)
    np.testing.assert_array_equal(cell.b_f.numpy(), np.ones(UNITS))

    off = LSTMCell(UNITS, unit_forget_bias=False)
    off.build((None, INPUT_DIM))
    np.testing.assert_array_equal(off.get_weights()[2], np.zeros(4 * UNITS))


def test_unit_forget_bias_with_another_initializer_matches_keras():
    init = keras.initializers.Constant(0.3)
    ref = keras.layers.LSTMCell(UNITS, bias_initializer=init)
    ours = LSTMCell(UNITS, bias_initializer=init)
    ref.build((None, INPUT_DIM))
    ours.build((None, INPUT_DIM))
    np.testing.assert_allclose(ours.get_weights()[2], ref.bias.numpy())


def test_dropout_only_in_training():
    x, mask = make_batch()
    rnn = keras.layers.RNN(
        LSTMCell(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=3),
        return_sequences=True,
    )
    plain = keras.layers.RNN(LSTMCell(UNITS), return_sequences=True)
    rnn(x)
    plain(x)
    randomize(rnn)
    plain.set_weights(rnn.get_weights())

    eval_out = rnn(x, mask=mask, training=False)
    train_out = rnn(x, mask=mask, training=True)
    assert np.all(np.isfinite(train_out))
    assert not np.allclose(train_out, eval_out, atol=1e-3)
    np.testing.assert_allclose(eval_out, plain(x, mask=mask), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"dropout": 0.5}, {"recurrent_dropout": 0.5}])
def test_each_dropout_acts_alone(kwargs):
    x, _ = make_batch()
    rnn = keras.layers.RNN(LSTMCell(UNITS, seed=4, **kwargs), return_sequences=True)
    rnn(x)
    randomize(rnn)
    assert not np.allclose(rnn(x, training=True), rnn(x, training=False), atol=1e-3)


def test_input_dropout_masks_match_keras_with_the_same_seed():
    # Keras's cell (implementation 2, no recurrent dropout) draws the input mask
    # once per sequence from its seed generator, as ours must.
    ref, ours = build_pair(
        lambda cell: keras.layers.RNN(cell, return_sequences=True), dropout=0.5, seed=7
    )
    x, mask = make_batch()
    np.testing.assert_allclose(
        ours(x, mask=mask, training=True), ref(x, mask=mask, training=True), atol=1e-5
    )


def test_config_round_trip():
    cell = LSTMCell(
        7,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        use_bias=False,
        kernel_initializer="he_normal",
        unit_forget_bias=False,
        dropout=0.25,
        recurrent_dropout=0.125,
        seed=11,
        name="my_cell",
    )
    config = cell.get_config()
    assert config["units"] == 7
    assert config["dropout"] == 0.25 and config["recurrent_dropout"] == 0.125
    assert config["unit_forget_bias"] is False and config["use_bias"] is False
    assert config["seed"] == 11 and config["name"] == "my_cell"
    clone = LSTMCell.from_config(config)
    assert clone.get_config() == config
    restored = keras.layers.deserialize(keras.layers.serialize(cell))
    assert isinstance(restored, LSTMCell)
    assert restored.get_config() == config


def test_keras_save_load_round_trip(tmp_path):
    x, _ = make_batch()
    model = keras.Sequential(
        [
            keras.Input((TIME, INPUT_DIM)),
            keras.layers.Masking(0.0),
            keras.layers.RNN(
                LSTMCell(UNITS, dropout=0.1, recurrent_dropout=0.1, seed=2),
                return_sequences=True,
            ),
        ]
    )
    randomize(model)
    path = tmp_path / "lstm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[-1].cell, LSTMCell)
    assert loaded.layers[-1].cell.get_config() == model.layers[-1].cell.get_config()
    np.testing.assert_array_equal(loaded(x), model(x))


def test_keras_file_of_the_fused_layout_loads():
    """What `.keras` files of the fused-layout cell hold: "0", "1", "2" =
    kernel, recurrent_kernel, bias."""
    ref = keras.layers.LSTMCell(UNITS)
    ref.build((None, INPUT_DIM))
    randomize(ref)
    ours = LSTMCell(UNITS)
    ours.build((None, INPUT_DIM))
    ours.load_own_variables({str(i): w for i, w in enumerate(ref.get_weights())})
    x = make_batch()[0][:, 0]
    states = [np.zeros((BATCH, UNITS), "float32")] * 2
    np.testing.assert_allclose(ours(x, states)[0], ref(x, states)[0], atol=1e-6)
    store = {}
    ours.save_own_variables(store)  # written per gate: 12 arrays
    assert len(store) == 12
    fresh = LSTMCell(UNITS)
    fresh.build((None, INPUT_DIM))
    fresh.load_own_variables(store)
    for got, expected in zip(fresh.weights, ours.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_mixed_precision_outputs_and_gradients_are_finite(mixed_policy):
    x, mask = make_batch()
    rnn = keras.layers.RNN(LSTMCell(UNITS), return_sequences=True, return_state=True)
    with tf.GradientTape() as tape:
        outputs, h, c = rnn(x, mask=mask, training=True)
        loss = tf.reduce_sum(tf.cast(outputs, "float32") ** 2)
    grads = tape.gradient(loss, rnn.trainable_weights)
    compute_dtype = keras.mixed_precision.Policy(mixed_policy).compute_dtype
    assert outputs.dtype == compute_dtype and c.dtype == compute_dtype
    assert all(w.dtype == "float32" for w in rnn.trainable_weights)
    for tensor in (outputs, h, c):
        assert np.all(np.isfinite(np.asarray(tf.cast(tensor, "float32"))))
    assert len(grads) == 12  # W, U, b of each gate
    for grad in grads:
        assert grad is not None
        assert np.all(np.isfinite(grad.numpy()))
    assert any(np.any(grad.numpy() != 0) for grad in grads)


@pytest.mark.parametrize("units", [0, -3, "8", 2.5, True, None])
def test_bad_units_raise(units):
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        LSTMCell(units)


@pytest.mark.parametrize("name", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [1.5, 1.0, -0.1, "0.5"])
def test_bad_dropout_raises(name, value):
    with pytest.raises(ValueError, match=rf"`{name}` must be a float in \[0, 1\)"):
        LSTMCell(UNITS, **{name: value})


@pytest.mark.parametrize("name", ["use_bias", "unit_forget_bias"])
@pytest.mark.parametrize("value", ["no", 0, None])
def test_flags_must_be_bools(name, value):
    with pytest.raises(TypeError, match=f"`{name}` must be True or False, got {value!r}"):
        LSTMCell(UNITS, **{name: value})


@pytest.mark.parametrize("shape", [(2, 3, 4), (4,)])
def test_build_with_wrong_rank_raises(shape):
    with pytest.raises(ValueError, match=r"`inputs` must have rank 2.*rank"):
        LSTMCell(UNITS).build(shape)


def test_a_sequence_of_the_wrong_rank_is_told_what_the_rnn_reads():
    with pytest.raises(ValueError, match=r"got shape \(2,\) \(rank 1\): a cell reads one step, `\[batch, features\]`; "
                                         r"keras.layers.RNN\(cell\) reads `\[batch, time, features\]`"):
        keras.layers.RNN(LSTMCell(UNITS))(np.ones((2, 5), "float32"))


class KerasLayerTest(TestCase):
    """Keras's own layer checks (build, call, config, serialization, a training
    step, mixed precision) on `keras.layers.RNN(LSTMCell)`."""

    def test_rnn_of_the_cell_passes_keras_layer_checks(self):
        self.run_layer_test(
            keras.layers.RNN,
            init_kwargs={"cell": LSTMCell(UNITS, dropout=0.1, seed=1), "return_sequences": True},
            input_shape=(BATCH, TIME, INPUT_DIM),
            expected_output_shape=(BATCH, TIME, UNITS),
            expected_num_trainable_weights=12,  # W, U, b for each of the four gates
            expected_num_non_trainable_weights=0,
            supports_masking=True,
        )


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell"])
def test_a_cell_builds_inside_a_subclassed_models_first_call(name):
    """Keras traces a subclassed model's first call and builds its layers inside: the cell's weights are
    still drawn eagerly, as Keras's own cell's are (seeded, the same numbers)."""
    import zoo.layers

    class Net(keras.Model):
        def __init__(self, cell):
            super().__init__()
            self.rnn = keras.layers.RNN(cell)

        def call(self, x):
            return self.rnn(x)

    keras.utils.set_random_seed(3)
    ours = Net(getattr(zoo.layers, name)(4))
    keras.utils.set_random_seed(3)
    theirs = Net(getattr(keras.layers, name)(4))
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-6)
