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


@pytest.mark.parametrize("name", TOKEN_BY_TOKEN)
def test_every_token_by_token_model_gives_the_search_its_own_step(name, request):
    kind = "tiny_translator" if zoo.info(name)["task"] == "translation" else "tiny_captioner"
    model = request.getfixturevalue(kind)(name)
    assert type(model).decode_step is not ZooModel.decode_step
    assert model.search.step_fn == model.decode_step
    if zoo.info(name)["task"] == "translation":  # the captioner's encode hook is still named `memory`
        assert type(model).encode is not ZooModel.encode
        assert type(model)._logits is DeepOutput._logits


def test_deep_output_equals_numpy(tiny_translator):
    """logits = W_o tanh(W_p [output ; embedding] + b_p) + b_o, dropout off, for a step and a sequence."""
    model = tiny_translator("lstm-seq2seq-attn")
    rng = np.random.default_rng(0)
    w_p, b_p = (np.asarray(v) for v in model.pre_output.weights)
    w_o, b_o = (np.asarray(v) for v in model.output_layer.weights)
    for shape in ([3], [2, 5]):
        outputs = rng.normal(size=[*shape, w_p.shape[0] - model.embedding_dim]).astype("float32")
        embedded = rng.normal(size=[*shape, model.embedding_dim]).astype("float32")
        expected = np.tanh(np.concatenate([outputs, embedded], -1) @ w_p + b_p) @ w_o + b_o
        got = np.asarray(model._logits(outputs, embedded))
        assert got.shape == (*shape, model.target_vocabulary_size)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
