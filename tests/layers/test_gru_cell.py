"""zoo.layers.GRUCell against keras.layers.GRUCell in the same `reset_after` mode."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.testing import TestCase  # Keras's own layer checks, no public name

from zoo.layers import GRUCell

BATCH, TIME, INPUT_DIM, UNITS = 3, 6, 4, 5
LENGTHS = [6, 4, 2]  # right padding: rows 1 and 2 end early

reset_after_modes = pytest.mark.parametrize("reset_after", [True, False])


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, TIME, INPUT_DIM)).astype("float32")
    mask = np.arange(TIME)[None, :] < np.array(LENGTHS)[:, None]
    x[~mask] = 0.0
    return x, mask


def randomize(layer, seed=1):
    """Random weights everywhere, the biases included (they start at 0)."""
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
    ref = wrap(keras.layers.GRUCell(UNITS, **cell_kwargs))
    ours = wrap(GRUCell(UNITS, **cell_kwargs))
    ref(x)
    ours(x)
    randomize(ref)
    pairs = list(zip(cells(ref, keras.layers.GRUCell), cells(ours, GRUCell), strict=True))
    assert pairs
    for ref_cell, our_cell in pairs:
        our_cell.set_weights(ref_cell.get_weights())
    return ref, ours


@reset_after_modes
def test_masked_sequences_and_state_match_keras(reset_after):
    ref, ours = build_pair(
        lambda cell: keras.layers.RNN(cell, return_sequences=True, return_state=True),
        reset_after=reset_after,
    )
    x, mask = make_batch()
    expected = ref(x, mask=mask)
    got = ours(x, mask=mask)
    assert len(got) == len(expected) == 2  # outputs, h
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)
    # The mask matters: the final h of a short row is its output at its last step.
    np.testing.assert_allclose(got[1][2], got[0][2, LENGTHS[2] - 1], atol=1e-6)


@reset_after_modes
def test_bidirectional_matches_keras(reset_after):
    ref, ours = build_pair(
        lambda cell: keras.layers.Bidirectional(
            keras.layers.RNN(cell, return_sequences=True)
        ),
        reset_after=reset_after,
    )
    assert isinstance(ours.backward_layer.cell, GRUCell)
    assert ours.backward_layer.cell.reset_after is reset_after
    x, mask = make_batch()
    np.testing.assert_allclose(ours(x, mask=mask), ref(x, mask=mask), atol=1e-5)


@reset_after_modes
@pytest.mark.parametrize("use_bias", [True, False])
def test_one_weight_per_gate_and_keras_layout_shapes(reset_after, use_bias):
    ref = keras.layers.GRUCell(UNITS, reset_after=reset_after, use_bias=use_bias)
    ours = GRUCell(UNITS, reset_after=reset_after, use_bias=use_bias)
    ref.build((None, INPUT_DIM))
    ours.build((None, INPUT_DIM))
    bias = [("b", (2, UNITS) if reset_after else (UNITS,))] if use_bias else []
    per_gate = [("W", (INPUT_DIM, UNITS)), ("U", (UNITS, UNITS))] + bias
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [
        (f"{name}_{gate}", shape) for gate in "zrh" for name, shape in per_gate
    ]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in ref.get_weights()]


@reset_after_modes
def test_keras_layout_maps_each_gate_to_its_columns(reset_after):
    cell = GRUCell(UNITS, reset_after=reset_after)
    cell.build((None, INPUT_DIM))
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(INPUT_DIM, 3 * UNITS)).astype("float32")
    recurrent = rng.normal(size=(UNITS, 3 * UNITS)).astype("float32")
    bias = rng.normal(size=(2, 3 * UNITS) if reset_after else (3 * UNITS,)).astype("float32")
    cell.set_weights([kernel, recurrent, bias])
    for k, gate in enumerate("zrh"):  # Keras's gate order
        columns = slice(k * UNITS, (k + 1) * UNITS)
        np.testing.assert_array_equal(getattr(cell, f"W_{gate}").numpy(), kernel[:, columns])
        np.testing.assert_array_equal(getattr(cell, f"U_{gate}").numpy(), recurrent[:, columns])
        np.testing.assert_array_equal(getattr(cell, f"b_{gate}").numpy(), bias[..., columns])
    for got, expected in zip(cell.get_weights(), [kernel, recurrent, bias], strict=True):
        np.testing.assert_array_equal(got, expected)
    per_gate = [rng.normal(size=w.shape).astype("float32") for w in cell.weights]
    cell.set_weights(per_gate)  # one array per variable is accepted too
    for variable, value in zip(cell.weights, per_gate, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_set_weights_in_the_other_modes_layout_raises():
    cell = GRUCell(UNITS, reset_after=True)
    cell.build((None, INPUT_DIM))
    other = keras.layers.GRUCell(UNITS, reset_after=False)
    other.build((None, INPUT_DIM))
    with pytest.raises(ValueError, match=r"`weights` must be the 9 arrays of `cell.weights` or Keras's layout.*got"):
        cell.set_weights(other.get_weights())


@reset_after_modes
def test_seeded_initial_weights_equal_keras(reset_after):
    kwargs = {
        "kernel_initializer": keras.initializers.GlorotUniform(seed=1),
        "recurrent_initializer": keras.initializers.Orthogonal(seed=2),
        "bias_initializer": keras.initializers.RandomNormal(seed=3),
        "reset_after": reset_after,
    }
    ref = keras.layers.GRUCell(UNITS, **kwargs)
    ours = GRUCell(UNITS, **kwargs)
    ref.build((None, INPUT_DIM))
    ours.build((None, INPUT_DIM))
    for got, expected in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


@reset_after_modes
def test_keras_cell_takes_our_weights(reset_after):
    x, mask = make_batch()
    ours = keras.layers.RNN(GRUCell(UNITS, reset_after=reset_after), return_sequences=True)
    ref = keras.layers.RNN(keras.layers.GRUCell(UNITS, reset_after=reset_after), return_sequences=True)
    ours(x)
    ref(x)
    randomize(ours, seed=5)
    ref.cell.set_weights(ours.cell.get_weights())
    np.testing.assert_allclose(ours(x, mask=mask), ref(x, mask=mask), atol=1e-5)


@reset_after_modes
def test_keras_file_of_the_fused_layout_loads(reset_after):
    """What `.keras` files of the fused-layout cell hold: "0", "1", "2" =
    kernel, recurrent_kernel, bias."""
    ref = keras.layers.GRUCell(UNITS, reset_after=reset_after)
    ref.build((None, INPUT_DIM))
    randomize(ref)
    ours = GRUCell(UNITS, reset_after=reset_after)
    ours.build((None, INPUT_DIM))
    ours.load_own_variables({str(i): w for i, w in enumerate(ref.get_weights())})
    x = make_batch()[0][:, 0]
    state = np.zeros((BATCH, UNITS), "float32")
    np.testing.assert_allclose(ours(x, [state])[0], ref(x, [state])[0], atol=1e-6)
    store = {}
    ours.save_own_variables(store)  # written per gate: 9 arrays
    assert len(store) == 9
    fresh = GRUCell(UNITS, reset_after=reset_after)
    fresh.build((None, INPUT_DIM))
    fresh.load_own_variables(store)
    for got, expected in zip(fresh.weights, ours.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


@reset_after_modes
def test_dropout_only_in_training(reset_after):
    x, mask = make_batch()
    rnn = keras.layers.RNN(
        GRUCell(
            UNITS, reset_after=reset_after, dropout=0.5, recurrent_dropout=0.5, seed=3
        ),
        return_sequences=True,
    )
    plain = keras.layers.RNN(
        GRUCell(UNITS, reset_after=reset_after), return_sequences=True
    )
    rnn(x)
    plain(x)
    randomize(rnn)
    plain.set_weights(rnn.get_weights())

    eval_out = rnn(x, mask=mask, training=False)
    train_out = rnn(x, mask=mask, training=True)
    assert np.all(np.isfinite(train_out))
    assert not np.allclose(train_out, eval_out, atol=1e-3)
    np.testing.assert_allclose(eval_out, plain(x, mask=mask), atol=1e-6)


@reset_after_modes
@pytest.mark.parametrize("kwargs", [{"dropout": 0.5}, {"recurrent_dropout": 0.5}])
def test_each_dropout_acts_alone(reset_after, kwargs):
    x, _ = make_batch()
    rnn = keras.layers.RNN(
        GRUCell(UNITS, reset_after=reset_after, seed=4, **kwargs), return_sequences=True
    )
    rnn(x)
    randomize(rnn)
    assert not np.allclose(rnn(x, training=True), rnn(x, training=False), atol=1e-3)


@reset_after_modes
def test_input_dropout_masks_match_keras_with_the_same_seed(reset_after):
    # Keras's cell (implementation 2, no recurrent dropout) draws the input mask
    # once per sequence from its seed generator, as ours must.
    ref, ours = build_pair(
        lambda cell: keras.layers.RNN(cell, return_sequences=True),
        reset_after=reset_after,
        dropout=0.5,
        seed=7,
    )
    x, mask = make_batch()
    np.testing.assert_allclose(
        ours(x, mask=mask, training=True), ref(x, mask=mask, training=True), atol=1e-5
    )


@reset_after_modes
def test_config_round_trip(reset_after):
    cell = GRUCell(
        7,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        use_bias=False,
        kernel_initializer="he_normal",
        reset_after=reset_after,
        dropout=0.25,
        recurrent_dropout=0.125,
        seed=11,
        name="my_cell",
    )
    config = cell.get_config()
    assert config["units"] == 7 and config["reset_after"] is reset_after
    assert config["dropout"] == 0.25 and config["recurrent_dropout"] == 0.125
    assert config["use_bias"] is False and config["seed"] == 11
    clone = GRUCell.from_config(config)
    assert clone.get_config() == config
    restored = keras.layers.deserialize(keras.layers.serialize(cell))
    assert isinstance(restored, GRUCell)
    assert restored.get_config() == config


@reset_after_modes
def test_keras_save_load_round_trip(tmp_path, reset_after):
    x, _ = make_batch()
    model = keras.Sequential(
        [
            keras.Input((TIME, INPUT_DIM)),
            keras.layers.Masking(0.0),
            keras.layers.RNN(
                GRUCell(UNITS, reset_after=reset_after, dropout=0.1, seed=2),
                return_sequences=True,
            ),
        ]
    )
    randomize(model)
    path = tmp_path / "gru.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    cell = loaded.layers[-1].cell
    assert isinstance(cell, GRUCell) and cell.reset_after is reset_after
    np.testing.assert_array_equal(loaded(x), model(x))


@reset_after_modes
def test_mixed_precision_outputs_and_gradients_are_finite(mixed_policy, reset_after):
    x, mask = make_batch()
    rnn = keras.layers.RNN(
        GRUCell(UNITS, reset_after=reset_after),
        return_sequences=True,
        return_state=True,
    )
    with tf.GradientTape() as tape:
        outputs, h = rnn(x, mask=mask, training=True)
        loss = tf.reduce_sum(tf.cast(outputs, "float32") ** 2)
    grads = tape.gradient(loss, rnn.trainable_weights)
    compute_dtype = keras.mixed_precision.Policy(mixed_policy).compute_dtype
    assert outputs.dtype == compute_dtype and h.dtype == compute_dtype
    assert all(w.dtype == "float32" for w in rnn.trainable_weights)
    for tensor in (outputs, h):
        assert np.all(np.isfinite(np.asarray(tf.cast(tensor, "float32"))))
    assert len(grads) == 9  # W, U, b of each gate
    for grad in grads:
        assert grad is not None
        assert np.all(np.isfinite(grad.numpy()))
    assert any(np.any(grad.numpy() != 0) for grad in grads)


@pytest.mark.parametrize("units", [0, -3, "8", 2.5, True, None])
def test_bad_units_raise(units):
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        GRUCell(units)


@pytest.mark.parametrize("name", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [1.5, 1.0, -0.1, "0.5"])
def test_bad_dropout_raises(name, value):
    with pytest.raises(ValueError, match=rf"`{name}` must be a float in \[0, 1\)"):
        GRUCell(UNITS, **{name: value})


@pytest.mark.parametrize("name", ["reset_after", "use_bias"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_flags_must_be_bools(name, value):
    with pytest.raises(TypeError, match=f"`{name}` must be True or False, got {value!r}"):
        GRUCell(UNITS, **{name: value})


@pytest.mark.parametrize("shape", [(2, 3, 4), (4,)])
def test_build_with_wrong_rank_raises(shape):
    with pytest.raises(ValueError, match=r"`inputs` must have rank 2.*rank"):
        GRUCell(UNITS).build(shape)


class KerasLayerTest(TestCase):
    """Keras's own layer checks (build, call, config, serialization, a training
    step, mixed precision) on `keras.layers.RNN(GRUCell)`."""

    def test_rnn_of_the_cell_passes_keras_layer_checks(self):
        for reset_after in (True, False):
            self.run_layer_test(
                keras.layers.RNN,
                init_kwargs={"cell": GRUCell(UNITS, reset_after=reset_after, dropout=0.1, seed=1),
                             "return_sequences": True},
                input_shape=(BATCH, TIME, INPUT_DIM),
                expected_output_shape=(BATCH, TIME, UNITS),
                expected_num_trainable_weights=9,  # W, U, b for each of the three gates
                expected_num_non_trainable_weights=0,
                supports_masking=True,
            )
