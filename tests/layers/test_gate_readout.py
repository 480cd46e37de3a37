"""`cell.gates()` reports each gate under its own name: checked against the
gate equations written in NumPy from Keras's weight layout (gate order z, r, h
for the GRU; i, f, c, o for the LSTM), with biases that make every gate differ."""

import numpy as np
import pytest

from zoo.layers import GRUCell, LSTMCell


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _weights(cell, rng):
    """Random Keras-layout weights with a distinct bias per gate, set on `cell`."""
    arrays = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in cell.get_weights()]
    cell.set_weights(arrays)
    return arrays


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_match_numpy(reset_after):
    rng = np.random.default_rng(0)
    units, x, h = 5, rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 5)).astype("float32")
    cell = GRUCell(units, reset_after=reset_after)
    cell.build((None, 4))
    kernel, recurrent, bias = _weights(cell, rng)
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * units, "float32"))
    xs = np.split(x @ kernel + input_bias, 3, axis=-1)
    hs = np.split(h @ recurrent + recurrent_bias, 3, axis=-1)
    z = sigmoid(xs[0] + hs[0])
    r = sigmoid(xs[1] + hs[1])
    if reset_after:
        n = np.tanh(xs[2] + r * hs[2])
    else:
        n = np.tanh(xs[2] + (r * h) @ recurrent[:, 2 * units :])
    new_h, _, gates = cell.gates(x, [h])
    expected = {"update": z, "reset": r, "candidate": n}
    assert set(gates) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(gates[name]), value, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(np.asarray(new_h), z * h + (1 - z) * n, atol=1e-5)


def test_lstm_gates_match_numpy():
    rng = np.random.default_rng(1)
    x, h, c = (rng.normal(size=s).astype("float32") for s in ((3, 4), (3, 5), (3, 5)))
    cell = LSTMCell(5)
    cell.build((None, 4))
    kernel, recurrent, bias = _weights(cell, rng)
    zi, zf, zc, zo = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
    i, f, g, o = sigmoid(zi), sigmoid(zf), np.tanh(zc), sigmoid(zo)
    new_h, (_, new_c), gates = cell.gates(x, [h, c])
    expected = {"input": i, "forget": f, "candidate": g, "output": o}
    assert set(expected) <= set(gates)
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(gates[name]), value, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(np.asarray(new_c), f * c + i * g, atol=1e-5)
    np.testing.assert_allclose(np.asarray(new_h), o * np.tanh(f * c + i * g), atol=1e-5)
