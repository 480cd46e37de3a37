"""zoo.layers.gate_activations against keras.layers.RNN and NumPy gate formulas."""

import keras
import numpy as np
import pytest

from zoo.layers import GRUCell, LSTMCell, gate_activations

BATCH, TIME, INPUT_DIM, UNITS = 3, 6, 4, 5


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_sequences(seed=0):
    return (
        np.random.default_rng(seed)
        .normal(size=(BATCH, TIME, INPUT_DIM))
        .astype("float32")
    )


def built_rnn(cell, seed=1):
    """The cell inside keras.layers.RNN, with random weights (biases included)."""
    rnn = keras.layers.RNN(cell, return_sequences=True)
    rnn(make_sequences())
    rng = np.random.default_rng(seed)
    rnn.set_weights(
        [
            rng.normal(scale=0.5, size=w.shape).astype("float32")
            for w in rnn.get_weights()
        ]
    )
    return rnn


def previous(sequence, first):
    """[batch, time, units] -> the same shifted one step right, `first` at t=0."""
    return np.concatenate([first[:, None], sequence[:, :-1]], axis=1)


def test_lstm_outputs_equal_keras_rnn():
    cell = LSTMCell(UNITS)
    rnn = built_rnn(cell)
    x = make_sequences()
    outputs, gates = gate_activations(cell, x)
    np.testing.assert_allclose(outputs, rnn(x), atol=1e-5)
    assert sorted(gates) == ["candidate", "cell", "forget", "input", "output"]
    for name, value in gates.items():
        assert tuple(value.shape) == (BATCH, TIME, UNITS), name


def test_lstm_forget_gate_matches_numpy():
    cell = LSTMCell(UNITS)
    built_rnn(cell)
    x = make_sequences()
    outputs, gates = gate_activations(cell, x)
    h = np.float64(outputs.numpy())
    h_prev = previous(h, np.zeros((BATCH, UNITS)))
    W_f, U_f, b_f = (np.float64(w.numpy()) for w in (cell.W_f, cell.U_f, cell.b_f))
    forget = sigmoid(x @ W_f + h_prev @ U_f + b_f)
    np.testing.assert_allclose(gates["forget"], forget, atol=1e-5)
    # The same gate from Keras's layout of the same weights (gate order i, f, c, o).
    kernel, recurrent, bias = (np.float64(w) for w in cell.get_weights())
    sl = slice(UNITS, 2 * UNITS)
    np.testing.assert_allclose(forget, sigmoid(x @ kernel[:, sl] + h_prev @ recurrent[:, sl] + bias[sl]), atol=1e-12)


def test_lstm_gates_are_consistent_with_the_cell_equations():
    cell = LSTMCell(UNITS)
    built_rnn(cell)
    outputs, gates = gate_activations(cell, make_sequences())
    g = {k: np.float64(v.numpy()) for k, v in gates.items()}
    c_prev = previous(g["cell"], np.zeros((BATCH, UNITS)))
    np.testing.assert_allclose(
        g["cell"], g["forget"] * c_prev + g["input"] * g["candidate"], atol=1e-5
    )
    np.testing.assert_allclose(outputs, g["output"] * np.tanh(g["cell"]), atol=1e-5)
    for name in ("input", "forget", "output"):
        assert np.all((g[name] > 0) & (g[name] < 1)), name
    assert np.all(np.abs(g["candidate"]) < 1)


def test_a_gru_takes_its_one_state_alone_or_in_a_list():
    cell = GRUCell(UNITS)
    rnn = built_rnn(cell)
    x, h0 = make_sequences(), np.random.default_rng(5).normal(size=(BATCH, UNITS)).astype("float32")
    alone, _ = gate_activations(cell, x, initial_state=h0)
    listed, _ = gate_activations(cell, x, initial_state=[h0])
    np.testing.assert_array_equal(alone, listed)
    np.testing.assert_allclose(alone, rnn(x, initial_state=[h0]), atol=1e-5)


def test_lstm_initial_state_is_used():
    cell = LSTMCell(UNITS)
    rnn = built_rnn(cell)
    x = make_sequences()
    rng = np.random.default_rng(4)
    state = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2)]
    outputs, gates = gate_activations(cell, x, initial_state=state)
    np.testing.assert_allclose(outputs, rnn(x, initial_state=state), atol=1e-5)
    c0 = state[1]
    np.testing.assert_allclose(
        gates["cell"][:, 0],
        gates["forget"][:, 0] * c0 + gates["input"][:, 0] * gates["candidate"][:, 0],
        atol=1e-5,
    )


def test_unbuilt_cell_is_built():
    cell = LSTMCell(UNITS)
    outputs, gates = gate_activations(cell, make_sequences())
    assert cell.built
    assert tuple(cell.W_i.shape) == (INPUT_DIM, UNITS)
    assert tuple(outputs.shape) == (BATCH, TIME, UNITS)
    np.testing.assert_allclose(
        outputs,
        keras.layers.RNN(cell, return_sequences=True)(make_sequences()),
        atol=1e-5,
    )


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates(reset_after):
    cell = GRUCell(UNITS, reset_after=reset_after)
    rnn = built_rnn(cell)
    x = make_sequences()
    outputs, gates = gate_activations(cell, x)
    np.testing.assert_allclose(outputs, rnn(x), atol=1e-5)
    assert sorted(gates) == ["candidate", "reset", "update"]
    for name, value in gates.items():
        assert tuple(value.shape) == (BATCH, TIME, UNITS), name
    g = {k: np.float64(v.numpy()) for k, v in gates.items()}
    for name in ("update", "reset"):
        assert np.all((g[name] > 0) & (g[name] < 1)), name
    assert np.all(np.abs(g["candidate"]) < 1)
    # h_t = z * h_{t-1} + (1 - z) * n
    h_prev = previous(np.float64(outputs.numpy()), np.zeros((BATCH, UNITS)))
    np.testing.assert_allclose(
        outputs, g["update"] * h_prev + (1 - g["update"]) * g["candidate"], atol=1e-5
    )
    # The update gate from the weights: z = sigmoid(x W_z + b_z + h U_z [+ b'_z]).
    kernel, recurrent, bias = (np.float64(w) for w in cell.get_weights())  # Keras's layout
    sl = slice(0, UNITS)
    pre = x @ kernel[:, sl] + h_prev @ recurrent[:, sl]
    pre += (bias[0, sl] + bias[1, sl]) if reset_after else bias[sl]
    np.testing.assert_allclose(g["update"], sigmoid(pre), atol=1e-5)


@pytest.mark.parametrize("cell_class", [LSTMCell, GRUCell])
def test_mixed_precision_matches_the_rnn(cell_class, mixed_policy):
    cell = cell_class(UNITS)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    x = make_sequences()
    expected = rnn(x)
    outputs, gates = gate_activations(cell, x)
    assert outputs.dtype == cell.compute_dtype
    np.testing.assert_allclose(
        np.float32(outputs.numpy()), np.float32(expected.numpy()), atol=1e-2
    )
    for name, value in gates.items():
        assert np.all(np.isfinite(np.float32(value.numpy()))), name


@pytest.mark.parametrize("cell, sequences, kind, message", [
    (keras.layers.LSTMCell(UNITS), make_sequences(), TypeError, r"`cell` must be a zoo cell .* got LSTMCell"),
    (LSTMCell(UNITS), make_sequences()[:, 0], ValueError,
     r"`sequences` must be `\[batch, time, input_dim\]`.*\(3, 4\)"),
    (GRUCell(UNITS), make_sequences()[:, :0], ValueError, r"at least one time step, got shape \(3, 0, 4\)"),
])
def test_bad_arguments_are_named(cell, sequences, kind, message):
    with pytest.raises(kind, match=message):
        gate_activations(cell, sequences)
