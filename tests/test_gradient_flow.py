"""`zoo.viz.gradient_flow` against gradients derived by hand, and its pictures."""

import keras
import numpy as np
import pytest
from keras import ops

from zoo import viz
from zoo.layers import LSTMCell
from zoo.models.char_rnn import CharRNN


def _simple_cell(kernel, recurrent, activation):
    cell = keras.layers.SimpleRNNCell(recurrent.shape[0], activation=activation, use_bias=False)
    cell.build((None, kernel.shape[0]))
    cell.set_weights([kernel, recurrent])
    return cell


def test_linear_rnn_matches_powers_of_the_recurrent_matrix():
    # h_t = W h_{t-1} + U x_t (column vectors), loss = sum(h_T * v): dLoss/dh_t = (v^T W^(T-t))^T.
    # Keras multiplies row vectors, h_t = x_t K + h_{t-1} R, so W = R^T.
    rng = np.random.default_rng(0)
    units, features, steps = 3, 2, 7
    recurrent = rng.normal(size=(units, units)).astype("float32") * 0.35
    kernel = rng.normal(size=(features, units)).astype("float32")
    v = np.array([1.0, -2.0, 0.5], "float32")
    W = recurrent.T
    expected = np.array(
        [np.linalg.norm(v @ np.linalg.matrix_power(W, steps - t)) for t in range(1, steps + 1)]
    )
    assert expected.max() / expected.min() > 3  # the case tells powers apart

    rnn = keras.layers.RNN(_simple_cell(kernel, recurrent, None))
    x = rng.normal(size=(2, steps, features)).astype("float32")
    norms = viz.gradient_flow(rnn, x, loss_fn=lambda h: ops.sum(h[:, -1] * v), reduction="none")
    assert norms.shape == (2, steps)
    np.testing.assert_allclose(norms, np.stack([expected, expected]), rtol=1e-5)
    np.testing.assert_allclose(viz.gradient_flow(rnn.cell, x, loss_fn=lambda h: ops.sum(h[:, -1] * v)), expected,
                               rtol=1e-5)


def test_tanh_rnn_matches_backpropagation_by_hand():
    # h_t = tanh(x_t K + h_{t-1} R); default loss sum(h_T): delta_T = dL/dh_T = 1,
    # delta_{t-1} = (delta_t * (1 - h_t^2)) R^T. Checks the inputs are read in order, too.
    rng = np.random.default_rng(1)
    units, features, steps = 4, 3, 9
    recurrent = rng.normal(size=(units, units)).astype("float32") * 0.5
    kernel = rng.normal(size=(features, units)).astype("float32")
    x = rng.normal(size=(3, steps, features)).astype("float32")
    h = np.zeros((3, steps + 1, units))  # h[:, 0] = initial state
    for t in range(steps):
        h[:, t + 1] = np.tanh(x[:, t] @ kernel + h[:, t] @ recurrent)
    delta = np.zeros((3, steps, units))
    delta[:, -1] = 1.0
    for t in range(steps - 1, 0, -1):
        delta[:, t - 1] = (delta[:, t] * (1 - h[:, t + 1] ** 2)) @ recurrent.T
    expected = np.linalg.norm(delta, axis=-1).mean(0)
    norms = viz.gradient_flow(_simple_cell(kernel, recurrent, "tanh"), x)
    np.testing.assert_allclose(norms, expected, rtol=1e-4)


def test_char_model_gradient_at_the_last_step_is_the_readout_of_the_softmax_error():
    # For the loss -log p(target | last step), dL/dh_T = (softmax(logits_T) - onehot) W_out^T
    # at the top layer; earlier layers and steps only get gradient through the recurrence.
    keras.utils.set_random_seed(3)
    model = CharRNN(vocabulary_size=6, embedding_dim=4, units=5, num_layers=2)
    model.build()
    ids = np.array([[1, 2, 3, 4, 5, 1], [2, 2, 5, 1, 3, 4]], "int32")
    targets = np.array([3, 0])
    logits = ops.convert_to_numpy(model(ids))[:, -1].astype("float64")
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    readout = ops.convert_to_numpy(model.output_layer.kernel)  # [units, vocabulary]
    expected_last = np.linalg.norm((probs - np.eye(6)[targets]) @ readout.T, axis=-1)

    def loss_fn(all_logits):
        return ops.sum(keras.losses.sparse_categorical_crossentropy(targets, all_logits[:, -1], from_logits=True))

    top = viz.gradient_flow(model, ids, loss_fn=loss_fn, layer=1, reduction="none")
    assert top.shape == (2, 6)
    np.testing.assert_allclose(top[:, -1], expected_last, rtol=1e-4)
    bottom = viz.gradient_flow(model, ids, loss_fn=loss_fn, layer=0)
    assert bottom.shape == (6,) and np.all(bottom > 0)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="`reduction`.*'sum'"):
        viz.gradient_flow(LSTMCell(2), np.ones((1, 3, 2), "float32"), reduction="sum")
    with pytest.raises(TypeError, match="`model_or_layer`.*Dense"):
        viz.gradient_flow(keras.layers.Dense(2), np.ones((1, 3, 2), "float32"))
    with pytest.raises(ValueError, match=r"`inputs`.*\(3, 2\)"):
        viz.gradient_flow(LSTMCell(2), np.ones((3, 2), "float32"))
    with pytest.raises(TypeError, match=r"`inputs` must be numbers `\[batch, time, features\]`, got str"):
        viz.gradient_flow(LSTMCell(2), "abc")
    model = CharRNN(vocabulary_size=4, embedding_dim=2, units=3, num_layers=1)
    with pytest.raises(ValueError, match="`layer`.*1"):
        viz.gradient_flow(model, np.ones((1, 3), "int32"), layer=1)
    for ids in ([[1, 2, 4]], [[-1, 0, 1]]):
        with pytest.raises(ValueError, match=r"`inputs` must be ids in \[0, 4\), got ids from"):
            viz.gradient_flow(model, ids)
    with pytest.raises(TypeError, match="`inputs` is a string, but the model has no vocabulary"):
        viz.gradient_flow(model, "abc")
    with pytest.raises(TypeError, match=r"`inputs` must be int ids `\[batch, time\]`, got list"):
        viz.gradient_flow(model, [[0.5, 1.5]])


def test_a_string_is_read_with_the_models_vocabulary():
    keras.utils.set_random_seed(4)
    model = CharRNN(vocabulary_size=4, embedding_dim=2, units=3, num_layers=1)
    model.set_vocabulary("abc")
    model.build()
    np.testing.assert_array_equal(viz.gradient_flow(model, "abcab"),
                                  viz.gradient_flow(model, [model.vocabulary.encode("abcab")]))


def test_pictures():
    fig = viz.gradient_flow_figure({"plain": 0.5 ** np.arange(10)[::-1], "gated": np.ones(10)}, title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["plain", "gated"]
    x, y = ax.lines[0].get_data()
    assert x[-1] == 0 and y[-1] == 1.0 and y[0] == pytest.approx(0.5**9)  # relative to the last step
    assert viz.to_png(fig)[:4] == b"\x89PNG"
    for bad in (np.ones((2, 5)), {"plain": []}):  # [batch, time] (reduction="none"), or empty
        with pytest.raises(ValueError, match=r"`norms` must be a curve `\[time\]`"):
            viz.gradient_flow_figure(bad)

    from zoo.data.text import CharVocabulary

    model = CharRNN(vocabulary_size=5, embedding_dim=2, units=3, num_layers=1)
    model.set_vocabulary(CharVocabulary("abcd"))
    assert viz.gradient_flow_png(model, "abcdab")[:4] == b"\x89PNG"
