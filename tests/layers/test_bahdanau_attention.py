"""zoo.layers.BahdanauAttention against a NumPy version of the formulas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import BahdanauAttention, masked_softmax

BATCH, SRC_LEN, QUERY_DIM, VALUE_DIM, UNITS = 3, 6, 4, 5, 7
LENGTHS = [6, 4, 1]


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(BATCH, QUERY_DIM)).astype("float32")
    values = rng.normal(size=(BATCH, SRC_LEN, VALUE_DIM)).astype("float32")
    mask = np.arange(SRC_LEN)[None, :] < np.array(LENGTHS)[:, None]
    return query, values, mask


def softmax_reference(scores, mask):
    """Softmax over unmasked positions only; 0 elsewhere and for empty rows."""
    scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    exp = np.where(mask, np.exp(scores - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = exp.sum(axis=-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def attention_reference(query, values, mask, w1, w2, v):
    """score = v^T tanh(W1 h_enc + W2 s_dec), masked softmax, weighted sum."""
    query, values = np.float64(query), np.float64(values)
    if mask is None:
        mask = np.ones(values.shape[:2], bool)
    hidden = np.tanh(values @ w1 + (query @ w2)[:, None, :])  # [batch, src, units]
    scores = hidden @ v  # [batch, src]
    weights = softmax_reference(scores, mask)
    context = np.sum(weights[:, :, None] * values, axis=1)
    return context, weights


def build_layer(seed=1):
    query, values, _ = make_inputs()
    layer = BahdanauAttention(UNITS)
    layer(query, values)
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [
            rng.normal(scale=0.7, size=w.shape).astype("float32")
            for w in layer.get_weights()
        ]
    )
    return layer


def layer_weights(layer):
    return [
        np.float64(w.numpy())
        for w in (layer.key_kernel, layer.query_kernel, layer.score_kernel)
    ]


def test_weight_names_and_shapes():
    layer = build_layer()
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [
        ("key_kernel", (VALUE_DIM, UNITS)),
        ("query_kernel", (QUERY_DIM, UNITS)),
        ("score_kernel", (UNITS,)),
    ]


@pytest.mark.parametrize("use_mask", [True, False])
def test_matches_numpy_reference(use_mask):
    layer = build_layer()
    query, values, mask = make_inputs()
    mask = mask if use_mask else None
    context, weights = layer(query, values, source_mask=mask)
    expected_context, expected_weights = attention_reference(
        query, values, mask, *layer_weights(layer)
    )
    assert weights.dtype == "float32"
    assert tuple(context.shape) == (BATCH, VALUE_DIM)
    assert tuple(weights.shape) == (BATCH, SRC_LEN)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)
    np.testing.assert_allclose(context, expected_context, atol=1e-5)


def test_masked_positions_get_exactly_zero_weight():
    layer = build_layer()
    query, values, mask = make_inputs()
    _, weights = layer(query, values, source_mask=mask)
    weights = weights.numpy()
    assert np.all(weights[~mask] == 0.0)
    assert np.all(weights[mask] > 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
    # Padding must not leak into the context: changing it changes nothing.
    noisy = values.copy()
    noisy[~mask] = 1e3
    context, _ = layer(query, values, source_mask=mask)
    noisy_context, _ = layer(query, noisy, source_mask=mask)
    np.testing.assert_allclose(noisy_context, context, atol=1e-5)


def test_fully_masked_row_gives_zeros_not_nan():
    layer = build_layer()
    query, values, mask = make_inputs()
    mask[1] = False
    context, weights = layer(query, values, source_mask=mask)
    context, weights = context.numpy(), weights.numpy()
    assert np.all(np.isfinite(context)) and np.all(np.isfinite(weights))
    np.testing.assert_array_equal(weights[1], 0.0)
    np.testing.assert_array_equal(context[1], 0.0)
    expected_context, expected_weights = attention_reference(
        query, values, mask, *layer_weights(layer)
    )
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)
    np.testing.assert_allclose(context, expected_context, atol=1e-5)


def test_precomputed_keys_give_the_same_result():
    layer = build_layer()
    query, values, mask = make_inputs()
    keys = layer.project_keys(values)
    w1 = layer.key_kernel.numpy()
    np.testing.assert_allclose(keys, values @ w1, atol=1e-5)
    context, weights = layer(query, values, source_mask=mask)
    context_k, weights_k = layer(query, values, keys=keys, source_mask=mask)
    np.testing.assert_allclose(weights_k, weights, atol=1e-6)
    np.testing.assert_allclose(context_k, context, atol=1e-6)
    # The keys really are used: other keys, other weights.
    _, other = layer(query, values, keys=keys * 0.0, source_mask=mask)
    assert not np.allclose(other, weights, atol=1e-3)


@pytest.mark.parametrize("query_dim", [VALUE_DIM, 2 * VALUE_DIM, VALUE_DIM // 2])
def test_query_and_key_kernels_are_drawn_independently(query_dim):
    # An unseeded Keras initializer repeats its values when drawn twice: W2 must
    # not be W1 (same shapes) or a rescaled copy of W1's first rows.
    layer = BahdanauAttention(UNITS)
    layer.build((None, query_dim), (None, SRC_LEN, VALUE_DIM))
    w1, w2 = layer.key_kernel.numpy(), layer.query_kernel.numpy()
    rows = min(query_dim, VALUE_DIM)
    ratio = w2[:rows] / w1[:rows]
    assert not np.allclose(ratio, ratio.flat[0], rtol=1e-3)


def test_masked_softmax_matches_reference():
    rng = np.random.default_rng(3)
    scores = rng.normal(scale=3.0, size=(4, 6)).astype("float32")
    mask = rng.random((4, 6)) > 0.4
    mask[0] = True
    mask[1] = False
    np.testing.assert_allclose(
        masked_softmax(scores, mask), softmax_reference(scores, mask), atol=1e-6
    )
    np.testing.assert_allclose(
        masked_softmax(scores), softmax_reference(scores, np.ones_like(mask)), atol=1e-6
    )


def test_config_round_trip():
    layer = BahdanauAttention(UNITS, kernel_initializer="he_uniform", name="attn")
    config = layer.get_config()
    assert config["units"] == UNITS and config["name"] == "attn"
    clone = BahdanauAttention.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_initializer, keras.initializers.HeUniform)

    original = build_layer()
    copy = BahdanauAttention.from_config(original.get_config())
    query, values, mask = make_inputs()
    copy(query, values)
    copy.set_weights(original.get_weights())
    for got, expected in zip(
        copy(query, values, source_mask=mask),
        original(query, values, source_mask=mask),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


def test_keras_save_load_round_trip(tmp_path):
    query_in = keras.Input((QUERY_DIM,))
    values_in = keras.Input((SRC_LEN, VALUE_DIM))
    mask_in = keras.Input((SRC_LEN,), dtype="bool")
    context, weights = BahdanauAttention(UNITS, name="attention")(
        query_in, values_in, source_mask=mask_in
    )
    model = keras.Model([query_in, values_in, mask_in], [context, weights])
    layer = model.get_layer("attention")
    layer.set_weights(build_layer().get_weights())

    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("attention"), BahdanauAttention)
    inputs = list(make_inputs())
    for got, expected in zip(loaded(inputs), model(inputs), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_mixed_precision_outputs_and_gradients_are_finite(mixed_policy):
    query, values, mask = make_inputs()
    layer = BahdanauAttention(UNITS)
    with tf.GradientTape() as tape:
        context, weights = layer(query, values, source_mask=mask)
        loss = tf.reduce_sum(tf.cast(context, "float32") ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert context.dtype == keras.mixed_precision.Policy(mixed_policy).compute_dtype
    assert weights.dtype == "float32"
    assert np.all(np.isfinite(np.asarray(tf.cast(context, "float32"))))
    assert np.all(np.isfinite(weights.numpy()))
    np.testing.assert_array_equal(weights.numpy()[~mask], 0.0)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=1e-3)
    assert len(grads) == 3
    for grad in grads:
        assert grad is not None and np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize("units", [0, -3, "8", 2.5, None])
def test_bad_units_raise(units):
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        BahdanauAttention(units)


def test_wrong_rank_raises():
    query, values, _ = make_inputs()
    with pytest.raises(ValueError, match="`query` must have rank 2"):
        BahdanauAttention(UNITS)(query[:, None, :], values)
    with pytest.raises(ValueError, match="`values` must have rank 3"):
        BahdanauAttention(UNITS)(query, values[:, 0])


@pytest.mark.parametrize("which, message", [
    ("query", r"agree in batch size, got `query` 2, `values` 3"),
    ("keys", r"agree in source length, got `values` 6, `keys` 5"),
    ("source_mask", r"agree in batch size, got `query` 3, `values` 3, `keys` 3, `source_mask` 1"),
])
def test_arguments_that_disagree_in_shape_are_named(which, message):
    query, values, mask = make_inputs()
    layer = build_layer()
    arguments = {"query": query, "values": values, "keys": layer.project_keys(values), "source_mask": mask}
    arguments[which] = {"query": query[:2], "keys": arguments["keys"][:, :5], "source_mask": mask[:1]}[which]
    with pytest.raises(ValueError, match=message):
        layer(**arguments)
