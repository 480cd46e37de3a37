"""ZooModel's contract: the hooks the shared search drives, and the deep output layer families share."""

import numpy as np
import pytest

import zoo
from zoo.models.base import DeepOutput, ZooModel

TOKEN_BY_TOKEN = [n for n in zoo.list_models() if zoo.info(n)["task"] in ("translation", "captioning")]


def test_a_family_without_the_search_hooks_is_told_which_one():
    bare = type("Bare", (ZooModel,), {})()
    with pytest.raises(NotImplementedError, match=r"Bare must implement encode\(inputs, training=False\)"):
        bare.encode(np.zeros((1, 2), np.int32))
    with pytest.raises(NotImplementedError, match=r"Bare must implement decode_step\(tokens, state, memory\)"):
        bare.decode_step(np.zeros(1, np.int32), [], [])


def tiny(name, request):
    kind = "tiny_translator" if zoo.info(name)["task"] == "translation" else "tiny_captioner"
    return request.getfixturevalue(kind)(name)


def search_inputs(model, batch, rng):
    """A batch for `encode`: source ids with padding, or image features."""
    if model.task == "translation":
        source = rng.integers(4, model.source_vocabulary_size, (batch, 6)).astype(np.int32)
        source[1, 3:] = 0
        return source
    locations = model.feature_shape[0] * model.feature_shape[1]
    return rng.normal(size=(batch, locations, model.feature_shape[2])).astype("float32")


@pytest.mark.parametrize("name", TOKEN_BY_TOKEN)
def test_every_token_by_token_model_gives_the_search_its_own_hooks(name, request):
    model = tiny(name, request)
    assert type(model).encode is not ZooModel.encode
    assert type(model).decode_step is not ZooModel.decode_step
    assert type(model)._logits is DeepOutput._logits
    assert model.search.eager_step_fn == model.decode_step  # (under XLA in step_fn for the captioner)


@pytest.mark.parametrize("name", TOKEN_BY_TOKEN)
def test_encode_and_decode_step_have_the_declared_shapes(name, request):
    """ZooModel.encode / decode_step's documented shapes, for every family that the search drives."""
    from keras import ops

    model = tiny(name, request)
    batch, rng = 3, np.random.default_rng(0)
    inputs = search_inputs(model, batch, rng)
    memory, state = model.encode(inputs)
    length = inputs.shape[1]
    units = model.units
    if model.task == "translation":
        width, vocabulary_size = 2 * units, model.target_vocabulary_size  # bidirectional encoder
    else:
        width, vocabulary_size = model.feature_shape[2], model.vocabulary_size
    if model.task == "translation" and not model.use_attention:
        assert memory == [] and all(tuple(s.shape) == (batch, units) for s in state)
    else:
        values, keys, mask = memory
        assert tuple(values.shape) == (batch, length, width)
        if model.use_attention:
            assert tuple(keys.shape) == (batch, length, units)
        else:  # the captioning baseline averages the values: they stand as its keys
            np.testing.assert_array_equal(ops.convert_to_numpy(keys), ops.convert_to_numpy(values))
        if model.task == "translation":
            np.testing.assert_array_equal(np.asarray(mask), inputs != 0)
        else:
            assert mask is None  # every location of the grid is real
        *cell, context = state
        assert [tuple(s.shape) for s in cell] == [(batch, units)] * len(cell) and len(cell) in (1, 2)
        assert tuple(context.shape) == (batch, width)
    tokens = np.full(batch, 2, np.int32)  # the start token
    log_probs, attention, new_state = model.decode_step(tokens, state, memory)
    assert tuple(log_probs.shape) == (batch, vocabulary_size)
    np.testing.assert_allclose(np.exp(np.asarray(log_probs)).sum(-1), 1.0, rtol=1e-5)
    if attention is not None:
        assert tuple(attention.shape) == (batch, length)
    assert [tuple(s.shape) for s in new_state] == [tuple(s.shape) for s in state]
    again = model.encode(inputs)  # training=False: no dropout, the same memory and state
    for a, b in zip([*memory, *state], [*again[0], *again[1]]):
        if a is not None:
            np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


@pytest.mark.parametrize("name", ["lstm-seq2seq-attn", "sat-lstm-squeezenet"])
def test_deep_output_equals_numpy(name, request):
    """logits = W_o tanh(W_p [output ; embedding] + b_p) + b_o, dropout off, for a step and a sequence."""
    model = tiny(name, request)
    rng = np.random.default_rng(0)
    w_p, b_p = (np.asarray(v) for v in model.pre_output.weights)
    w_o, b_o = (np.asarray(v) for v in model.output_layer.weights)
    for shape in ([3], [2, 5]):
        outputs = rng.normal(size=[*shape, w_p.shape[0] - model.embedding_dim]).astype("float32")
        embedded = rng.normal(size=[*shape, model.embedding_dim]).astype("float32")
        expected = np.tanh(np.concatenate([outputs, embedded], -1) @ w_p + b_p) @ w_o + b_o
        got = np.asarray(model._logits(outputs, embedded))
        assert got.shape == (*shape, w_o.shape[1])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
