"""zoo.layers.AttentionDecoder: teacher forcing against step by step decoding and
against a reference built from a Keras cell and NumPy attention."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from zoo.layers import AttentionDecoder, BahdanauAttention, GRUCell, LSTMCell

BATCH, SRC_LEN, TGT_LEN, INPUT_DIM, VALUE_DIM, UNITS, ATTN_UNITS = 3, 6, 5, 4, 6, 5, 7
LENGTHS = [6, 4, 1]

CELLS = {
    "lstm": (LSTMCell, keras.layers.LSTMCell),
    "gru": (GRUCell, keras.layers.GRUCell),  # both reset_after=True by default
}
cell_kinds = pytest.mark.parametrize("kind", sorted(CELLS))
# Variables of a decoder: the cell's (LSTM: W, U, b for each of 4 gates; GRU:
# Keras's kernel, recurrent_kernel, bias), then attention's W1, W2, v.
TRAINABLE = {"lstm": 12 + 3, "gru": 9 + 3}


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(BATCH, TGT_LEN, INPUT_DIM)).astype("float32")
    values = rng.normal(size=(BATCH, SRC_LEN, VALUE_DIM)).astype("float32")
    mask = np.arange(SRC_LEN)[None, :] < np.array(LENGTHS)[:, None]
    return inputs, values, mask


def randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [
            rng.normal(scale=0.5, size=w.shape).astype("float32")
            for w in layer.get_weights()
        ]
    )


def make_decoder(kind, input_feeding=True, seed=1, **cell_kwargs):
    decoder = AttentionDecoder(
        CELLS[kind][0](UNITS, **cell_kwargs),
        BahdanauAttention(ATTN_UNITS),
        input_feeding=input_feeding,
    )
    inputs, values, _ = make_inputs()
    decoder(inputs, values)
    randomize(decoder, seed)
    return decoder


def numpy_attention(query, values, mask, w1, w2, v):
    """score = v^T tanh(W1 h_enc + W2 s_dec), masked softmax, weighted sum."""
    query, values = np.float64(query), np.float64(values)
    scores = np.tanh(values @ w1 + (query @ w2)[:, None, :]) @ v
    scores = np.where(mask, scores, -np.inf)
    exp = np.where(mask, np.exp(scores - scores.max(-1, keepdims=True)), 0.0)
    weights = exp / exp.sum(-1, keepdims=True)
    return np.sum(weights[:, :, None] * values, axis=1), weights


def test_output_shapes_and_weights():
    decoder = make_decoder("lstm")
    inputs, values, mask = make_inputs()
    outputs, attention = decoder(inputs, values, source_mask=mask)
    assert tuple(outputs.shape) == (BATCH, TGT_LEN, UNITS + VALUE_DIM)
    assert tuple(attention.shape) == (BATCH, TGT_LEN, SRC_LEN)
    assert decoder.output_size == UNITS + VALUE_DIM
    # Input feeding: the cell reads [y_t ; a_{t-1}].
    kernel = decoder.cell.get_weights()[0]  # Keras's layout, gates i, f, c, o
    assert kernel.shape == (INPUT_DIM + VALUE_DIM, 4 * UNITS)
    assert tuple(decoder.cell.W_f.shape) == (INPUT_DIM + VALUE_DIM, UNITS)
    assert len(decoder.trainable_weights) == 12 + 3  # W, U, b per gate; attention W1, W2, v


@cell_kinds
def test_call_equals_a_loop_of_steps(kind):
    decoder = make_decoder(kind)
    inputs, values, mask = make_inputs()
    outputs, attention = decoder(inputs, values, source_mask=mask)

    keys = decoder.project_keys(values)
    states = decoder.get_initial_state(values)
    step_outputs, step_weights = [], []
    for t in range(TGT_LEN):
        output, weights, states = decoder.step(
            inputs[:, t], states, values, keys, source_mask=mask
        )
        step_outputs.append(output)
        step_weights.append(weights)
    np.testing.assert_allclose(outputs, np.stack(step_outputs, axis=1), atol=1e-5)
    np.testing.assert_allclose(attention, np.stack(step_weights, axis=1), atol=1e-5)
    # The last state's context is the context half of the last output.
    np.testing.assert_allclose(states[-1], outputs[:, -1, UNITS:], atol=1e-5)


@cell_kinds
@pytest.mark.parametrize("input_feeding", [True, False])
def test_matches_keras_cell_and_numpy_attention(kind, input_feeding):
    """h_t = cell([y_t ; a_{t-1}], s_{t-1}); a_t = attention(h_t); out = [h_t ; a_t]."""
    decoder = make_decoder(kind, input_feeding=input_feeding)
    inputs, values, mask = make_inputs()
    rng = np.random.default_rng(5)
    num_states = 2 if kind == "lstm" else 1
    initial_state = [
        rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(num_states)
    ]
    outputs, attention = decoder(
        inputs, values, initial_state=initial_state, source_mask=mask
    )

    ref_cell = CELLS[kind][1](UNITS)
    cell_input_dim = INPUT_DIM + (VALUE_DIM if input_feeding else 0)
    ref_cell.build((None, cell_input_dim))
    ref_cell.set_weights(decoder.cell.get_weights())
    w1, w2, v = (np.float64(w.numpy()) for w in decoder.attention.weights)

    states = [tf.constant(s) for s in initial_state]
    context = np.zeros((BATCH, VALUE_DIM), "float32")
    expected_outputs, expected_weights = [], []
    for t in range(TGT_LEN):
        x = inputs[:, t]
        if input_feeding:
            x = np.concatenate([x, context], axis=-1)
        h, states = ref_cell(x, states)
        context, weights = numpy_attention(h.numpy(), values, mask, w1, w2, v)
        context = context.astype("float32")
        expected_outputs.append(np.concatenate([h.numpy(), context], axis=-1))
        expected_weights.append(weights)
    np.testing.assert_allclose(outputs, np.stack(expected_outputs, 1), atol=1e-5)
    np.testing.assert_allclose(attention, np.stack(expected_weights, 1), atol=1e-5)


@cell_kinds
def test_attention_rows_sum_to_one_and_are_zero_at_padding(kind):
    decoder = make_decoder(kind)
    inputs, values, mask = make_inputs()
    _, attention = decoder(inputs, values, source_mask=mask)
    attention = attention.numpy()
    padding = np.broadcast_to(~mask[:, None, :], attention.shape)
    assert np.all(attention[padding] == 0.0)
    assert np.all(attention[~padding] > 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    # A source of length 1 gets all the attention.
    np.testing.assert_array_equal(attention[2, :, 0], 1.0)


@cell_kinds
def test_project_keys_runs_once_per_call(kind, monkeypatch):
    decoder = make_decoder(kind)
    inputs, values, mask = make_inputs()
    calls = []
    original = decoder.attention.project_keys

    def counting_project_keys(values):
        calls.append(values)
        return original(values)

    monkeypatch.setattr(decoder.attention, "project_keys", counting_project_keys)
    decoder(inputs, values, source_mask=mask)
    assert len(calls) == 1  # not once per target step (TGT_LEN = 5)
    decoder(inputs, values, source_mask=mask, training=True)
    assert len(calls) == 2


@cell_kinds
def test_training_step_gives_finite_gradients_for_all_weights(kind):
    decoder = make_decoder(kind, dropout=0.2, recurrent_dropout=0.2, seed=3)
    inputs, values, mask = make_inputs()
    target = np.random.default_rng(2).normal(size=(BATCH, TGT_LEN, UNITS + VALUE_DIM))
    values = tf.constant(values)

    def loss_fn(training):
        outputs, _ = decoder(inputs, values, source_mask=mask, training=training)
        return tf.reduce_mean((outputs - target) ** 2)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(values)
        loss = loss_fn(training=True)
    grads = tape.gradient(loss, decoder.trainable_weights)
    assert len(grads) == len(decoder.trainable_weights) == TRAINABLE[kind]
    for weight, grad in zip(decoder.trainable_weights, grads, strict=True):
        assert grad is not None, weight.path
        assert np.all(np.isfinite(grad.numpy())), weight.path
        assert np.any(grad.numpy() != 0), weight.path
    # Gradients reach the encoder states, but not through the padding.
    value_grad = tape.gradient(loss, values).numpy()
    assert np.all(value_grad[~mask] == 0.0)
    assert np.any(value_grad[mask] != 0.0)

    # Dropout acts in training only, and a small SGD step lowers the loss.
    assert not np.isclose(loss_fn(True).numpy(), loss_fn(False).numpy())
    before = loss_fn(False).numpy()
    optimizer = keras.optimizers.SGD(learning_rate=0.05)
    with tf.GradientTape() as tape:
        loss = loss_fn(training=False)
    grads = tape.gradient(loss, decoder.trainable_weights)
    optimizer.apply_gradients(zip(grads, decoder.trainable_weights, strict=True))
    assert loss_fn(False).numpy() < before


@cell_kinds
def test_config_round_trip(kind):
    decoder = make_decoder(kind)
    config = decoder.get_config()
    assert config["input_feeding"] is True
    clone = AttentionDecoder.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.cell, CELLS[kind][0]) and clone.cell.units == UNITS
    assert isinstance(clone.attention, BahdanauAttention)
    assert clone.attention.units == ATTN_UNITS
    assert clone.cell is not decoder.cell

    inputs, values, mask = make_inputs()
    clone(inputs, values)
    clone.set_weights(decoder.get_weights())
    for got, expected in zip(
        clone(inputs, values, source_mask=mask),
        decoder(inputs, values, source_mask=mask),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


@cell_kinds
def test_keras_save_load_round_trip(kind, tmp_path):
    inputs_in = keras.Input((TGT_LEN, INPUT_DIM))
    values_in = keras.Input((SRC_LEN, VALUE_DIM))
    mask_in = keras.Input((SRC_LEN,), dtype="bool")
    decoder = AttentionDecoder(
        CELLS[kind][0](UNITS, dropout=0.1),
        BahdanauAttention(ATTN_UNITS),
        name="decoder",
    )
    outputs, attention = decoder(inputs_in, values_in, source_mask=mask_in)
    model = keras.Model([inputs_in, values_in, mask_in], [outputs, attention])
    randomize(model)

    path = tmp_path / "decoder.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    loaded_decoder = loaded.get_layer("decoder")
    assert isinstance(loaded_decoder, AttentionDecoder)
    assert isinstance(loaded_decoder.cell, CELLS[kind][0])
    data = list(make_inputs())
    for got, expected in zip(loaded(data), model(data), strict=True):
        np.testing.assert_array_equal(got, expected)


@cell_kinds
def test_mixed_precision_outputs_and_gradients_are_finite(kind, mixed_policy):
    decoder = AttentionDecoder(CELLS[kind][0](UNITS), BahdanauAttention(ATTN_UNITS))
    inputs, values, mask = make_inputs()
    with tf.GradientTape() as tape:
        outputs, attention = decoder(inputs, values, source_mask=mask, training=True)
        loss = tf.reduce_sum(tf.cast(outputs, "float32") ** 2)
    grads = tape.gradient(loss, decoder.trainable_weights)
    compute_dtype = keras.mixed_precision.Policy(mixed_policy).compute_dtype
    assert outputs.dtype == compute_dtype
    assert all(w.dtype == "float32" for w in decoder.trainable_weights)
    for tensor in (outputs, attention):
        assert np.all(np.isfinite(np.asarray(ops.cast(tensor, "float32"))))
    assert len(grads) == TRAINABLE[kind]
    for grad in grads:
        assert grad is not None and np.all(np.isfinite(grad.numpy()))


def test_inputs_of_wrong_rank_raise():
    inputs, values, _ = make_inputs()
    decoder = AttentionDecoder(LSTMCell(UNITS), BahdanauAttention(ATTN_UNITS))
    with pytest.raises(ValueError, match="`inputs` must have rank 3"):
        decoder(inputs[:, 0], values)
    decoder = AttentionDecoder(LSTMCell(UNITS), BahdanauAttention(ATTN_UNITS))
    with pytest.raises(ValueError, match="`values` must have rank 3"):
        decoder(inputs, values[:, 0])


@pytest.mark.parametrize(
    "cell, attention, message",
    [
        ("lstm", BahdanauAttention(4), "`cell` must be a Keras layer, got str"),
        (None, BahdanauAttention(4), "`cell` must be a Keras layer"),
        (LSTMCell(4), "bahdanau", "`attention` must be a Keras layer, got str"),
        (keras.layers.Dense(4), BahdanauAttention(4), "RNN cell with a `state_size`"),
        (LSTMCell(4), keras.layers.Dense(4), r"`attention` must be an attention layer with `project_keys`.*Dense"),
    ],
)
def test_bad_layers_raise(cell, attention, message):
    with pytest.raises(ValueError, match=message):
        AttentionDecoder(cell, attention)


def test_input_feeding_must_be_a_bool():
    with pytest.raises(TypeError, match="`input_feeding` must be True or False, got 'no'"):
        AttentionDecoder(LSTMCell(4), BahdanauAttention(4), input_feeding="no")
