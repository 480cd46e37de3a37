"""char-lstm / char-gru against references computed without the stateful paths:
NumPy over the full-sequence logits, and the naive re-reading of the prefix."""

import math
import warnings

import keras
import numpy as np
import pytest

import zoo
from zoo import saving, viz
from zoo.cli import main as cli
from zoo.data.text import UNKNOWN, UNKNOWN_ID, CharVocabulary
from zoo.tasks import text_generation

CELLS = ["char-lstm", "char-gru"]
# Where the sampling loop runs: TensorFlow, or LiteRT with the float32 weights (the same numbers to rounding).
LITERT = [None, "float32"]
TEXT = "abc defg\nhab cab\nbad fed\nhead bed ace\ngag hag\ndeaf\n"


@pytest.fixture
def model(tiny_char_model, request):
    keras.utils.set_random_seed(0)
    m = tiny_char_model(request.param, units=16, num_layers=2, dropout=0.0)
    # Random weights large enough that the distributions are far from uniform.
    rng = np.random.default_rng(1)
    for w in m.weights:
        w.assign(rng.normal(scale=0.6, size=w.shape).astype("float32"))
    return m


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def full_logits(model, text):
    """Logits of every prefix, from one full-sequence call: `[len(text), vocab]`."""
    ids = model.vocabulary.encode(text)[None]
    return np.asarray(model(ids))[0].astype(np.float64)


def naive_greedy(model, prompt, length):
    """Re-reads the whole prefix for every new character (the slow reference)."""
    text = prompt
    for _ in range(length):
        logits = full_logits(model, text)[-1]
        logits[UNKNOWN_ID] = -np.inf
        text += model.vocabulary.decode([int(np.argmax(logits))])
    return text[len(prompt) :]


@pytest.mark.parametrize("model", CELLS, indirect=True)
@pytest.mark.parametrize("chunk_length, litert", [(4096, None), (7, None), (1, None), (4096, "float32"),
                                                  (7, "float32")])
def test_log_loss_equals_numpy_over_full_sequence_logits(model, chunk_length, litert):
    ids = model.vocabulary.encode(TEXT)
    log_probs = log_softmax(full_logits(model, TEXT[:-1]))
    expected = -log_probs[np.arange(len(ids) - 1), ids[1:]].mean()
    # chunk_length < len(text): the state is carried across chunks, same number.
    assert model.log_loss(TEXT, chunk_length=chunk_length, litert=litert) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("model", ["char-lstm"], indirect=True)
@pytest.mark.parametrize("chunk_length", [4096, 5])
def test_character_log_losses_are_numpys_per_character_losses(model, chunk_length):
    ids = model.vocabulary.encode(TEXT)
    expected = -log_softmax(full_logits(model, TEXT[:-1]))[np.arange(len(ids) - 1), ids[1:]]
    losses = text_generation.character_log_losses(model, TEXT, chunk_length=chunk_length)
    assert losses.shape == (len(TEXT) - 1,) and losses.dtype == np.float64
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)
    assert model.log_loss(TEXT, chunk_length=chunk_length) == pytest.approx(losses.mean(), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 characters, got 1"):
        text_generation.character_log_losses(model, "a")
    with pytest.raises(ValueError, match="chunk_length"):
        text_generation.character_log_losses(model, TEXT, chunk_length=0)


@pytest.mark.parametrize("model", CELLS, indirect=True)
def test_log_loss_of_a_uniform_model_is_log_vocabulary_size(model):
    model.output_layer.kernel.assign(
        np.zeros(model.output_layer.kernel.shape, "float32")
    )
    model.output_layer.bias.assign(np.zeros(model.output_layer.bias.shape, "float32"))
    assert model.log_loss(TEXT) == pytest.approx(
        math.log(model.vocabulary_size), rel=1e-6
    )


# 14 s a cell: char-gru's runs with -m slow (the loop is the same for both cells)
@pytest.mark.parametrize("model", [pytest.param("char-gru", marks=pytest.mark.slow) if c == "char-gru" else c
                                   for c in CELLS], indirect=True)
def test_greedy_generation_equals_argmax_of_rereading_the_prefix(model):
    expected, short = naive_greedy(model, "ab c", 40), naive_greedy(model, "a", 25)  # the slow reference, once
    for litert in LITERT:
        assert model.generate("ab c", 40, temperature=0, litert=litert) == expected, litert
        # Sampling with k=1 (or a tiny nucleus) is greedy too; a one-character prompt has no prefix to read.
        assert model.generate("ab c", 40, top_k=1, seed=5, litert=litert) == expected, litert
        assert model.generate("ab c", 40, top_p=1e-6, seed=5, litert=litert) == expected, litert
        assert model.generate("a", 25, temperature=0, litert=litert) == short, litert


@pytest.mark.parametrize("litert", LITERT)
@pytest.mark.parametrize("model", CELLS, indirect=True)
def test_same_seed_same_text_and_samples_differ(model, litert):
    first = model.generate("ab", 300, temperature=1.0, seed=7, litert=litert)
    assert len(first) == 300 and set(first) <= set(model.vocabulary.chars)
    assert model.generate("ab", 300, temperature=1.0, seed=7, litert=litert) == first
    assert model.generate("ab", 60, temperature=1.0, seed=7, litert=litert) == first[:60]  # chunks change nothing
    assert model.generate("ab", 60, temperature=1.0, seed=8, litert=litert) != first[:60]
    batch = model.generate("ab", 60, seed=7, num_samples=3, top_p=0.9, litert=litert)
    assert batch == model.generate("ab", 60, seed=7, num_samples=3, top_p=0.9, litert=litert)
    assert isinstance(batch, list) and len(set(batch)) == 3
    chunks = list(model.stream("ab", 300, temperature=1.0, seed=7, litert=litert))  # as it is written
    assert [len(c) for c in chunks] == [256, 44] and "".join(chunks) == first
    streamed = list(model.stream("ab", 60, seed=7, num_samples=3, top_p=0.9, litert=litert))
    assert ["".join(parts) for parts in zip(*streamed, strict=True)] == batch
    keras.utils.set_random_seed(11)  # seed=None draws from NumPy's global generator
    unseeded = model.generate("ab", 60, litert=litert)
    keras.utils.set_random_seed(11)
    assert model.generate("ab", 60, litert=litert) == unseeded


@pytest.mark.parametrize("litert", LITERT)
@pytest.mark.parametrize("model", ["char-lstm"], indirect=True)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampled_characters_follow_the_softmax_of_the_full_model(model, temperature, litert):
    n = 4000
    firsts = model.generate("ba", 1, temperature=temperature, seed=0, num_samples=n, litert=litert)
    counts = np.bincount(
        model.vocabulary.encode("".join(firsts)), minlength=model.vocabulary_size
    )
    logits = full_logits(model, "ba")[-1] / temperature
    logits[UNKNOWN_ID] = -np.inf
    p = np.exp(log_softmax(logits))
    # Every class within 5 standard deviations of its binomial expectation.
    assert np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 1)


@pytest.mark.parametrize("litert", LITERT)
@pytest.mark.parametrize("model", ["char-gru"], indirect=True)
def test_top_k_and_top_p_keep_only_the_most_likely_characters(model, litert):
    logits = full_logits(model, "ba")[-1]
    logits[UNKNOWN_ID] = -np.inf
    order = np.argsort(-logits)
    firsts = model.generate("ba", 1, top_k=2, seed=0, num_samples=500, litert=litert)
    assert set(model.vocabulary.encode("".join(firsts))) <= set(order[:2].tolist())
    p = np.exp(log_softmax(logits))[order]
    nucleus = order[
        : int(np.searchsorted(np.cumsum(p), 0.7)) + 1
    ]  # smallest set reaching 0.7
    firsts = model.generate("ba", 1, top_p=0.7, seed=0, num_samples=500, litert=litert)
    assert set(model.vocabulary.encode("".join(firsts))) == set(nucleus.tolist())  # each drawn in 500


@pytest.mark.parametrize("litert", LITERT)
@pytest.mark.parametrize("model", CELLS, indirect=True)
def test_unknown_characters_are_read_as_zeros_scored_as_unknown_never_generated(model, litert):
    assert np.all(np.asarray(model.embed(np.array([UNKNOWN_ID]))) == 0)
    text = "ab§cd€e"  # § and € are not in the vocabulary
    with pytest.warns(
        UserWarning, match=r"outside the model's vocabulary: \['§', '€'\]"
    ):
        loss = model.log_loss(text)
    ids = model.vocabulary.encode(text)
    assert ids[2] == ids[5] == UNKNOWN_ID
    log_probs = log_softmax(np.asarray(model(ids[None, :-1]))[0].astype(np.float64))
    assert loss == pytest.approx(
        -log_probs[np.arange(len(ids) - 1), ids[1:]].mean(), rel=1e-5
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert model.log_loss("ab¤cd¥e") == pytest.approx(
            loss, rel=1e-6
        )  # any unknown is the same
        # Make the unknown class by far the most likely: it must still never come out.
        model.output_layer.bias.assign(
            np.eye(model.vocabulary_size, dtype="float32")[UNKNOWN_ID] * 50
        )
        for kwargs in (
            {"temperature": 0},
            {"seed": 1},
            {"seed": 1, "top_k": 3},
            {"seed": 1, "top_p": 0.5},
        ):
            out = model.generate("a§", 30, litert=litert, **kwargs)
            assert len(out) == 30 and UNKNOWN not in out


@pytest.mark.parametrize("model", CELLS, indirect=True)
def test_gates_per_character_match_the_layer_outputs(model):
    text = "bad cafe\nhead"
    for layer in range(model.num_layers):
        gates = model.gates(text, layer=layer)
        # The layer's hidden states, from the model's own full-sequence layers.
        x = model.embed(model.vocabulary.encode(text)[None])
        for rnn in model.rnns[: layer + 1]:
            x = rnn(x)[0]
        h = np.asarray(x)[0]
        if model.cell_type == "lstm":
            assert sorted(gates) == ["candidate", "cell", "forget", "input", "output"]
            np.testing.assert_allclose(
                gates["output"] * np.tanh(gates["cell"]), h, atol=1e-5
            )
        else:
            assert sorted(gates) == ["candidate", "reset", "update"]
            prev = np.vstack([np.zeros((1, model.units)), h[:-1]])
            z, n = gates["update"], gates["candidate"]
            np.testing.assert_allclose(z * prev + (1 - z) * n, h, atol=1e-5)
        for g in gates.values():
            assert g.shape == (len(text), model.units)


@pytest.mark.parametrize("model", CELLS, indirect=True)
def test_gate_figure_rows_and_png(model):
    names = {"lstm": ["forget", "input", "output"], "gru": ["update", "reset"]}[
        model.cell_type
    ]
    fig = model.gate_figure("bad cafe")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == names
    assert len(fig.axes[0].get_xticklabels()) == len("bad cafe")
    fig = model.gate_figure("bad cafe", layer=1, units=[0, 3])
    assert len(fig.axes[0].get_yticklabels()) == 2 * len(names)
    assert viz.to_png(fig).startswith(b"\x89PNG")


def test_gru_default_has_the_parameters_of_lstm_default():
    lstm, gru = zoo.build("char-lstm"), zoo.build("char-gru")
    for m in (lstm, gru):
        m.build_for_inference()
    assert abs(gru.count_params() - lstm.count_params()) / lstm.count_params() < 0.01


def test_bad_arguments_are_named(tiny_char_model):
    with pytest.raises(ValueError, match="`cell` must be one of"):
        zoo.build("char-lstm", cell="rnn")
    with pytest.raises(
        ValueError, match="`num_layers` must be a positive integer, got 0"
    ):
        zoo.build("char-lstm", num_layers=0)
    bare = zoo.build("char-lstm", vocabulary_size=5, units=4)
    with pytest.raises(ValueError, match="no vocabulary"):
        bare.generate("ab", 3)
    with pytest.raises(ValueError, match="has 11 ids .* `vocabulary_size`=5"):
        bare.set_vocabulary(CharVocabulary("abcdefghij"))
    model = tiny_char_model("char-lstm")
    for kwargs, message in [
        ({"prompt": ""}, "`prompt` must be a non-empty string"),
        ({"length": -1}, r"`length` must be an integer in \[0, 10000000\], got -1"),
        ({"temperature": -0.5}, "`temperature` must be a finite number >= 0"),
        ({"top_p": 1.5}, r"`top_p` must be a finite number in \(0, 1\]"),
        ({"top_k": 0}, "`top_k` must be a positive integer"),
        ({"num_samples": 0}, r"`num_samples` must be an integer in \[1, 16384\]"),
        ({"litert": "int4"}, r"`litert` must be None \(TensorFlow\) or one of \['float32', 'int8'\], got 'int4'"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.generate(**{"prompt": "ab", "length": 3, **kwargs})
        with pytest.raises(ValueError, match=message):
            model.stream(**{"prompt": "ab", "length": 3, **kwargs})  # at the call, not at the first chunk
    with pytest.warns(UserWarning, match="outside the model's vocabulary") as caught:
        model.stream("a§", 3)
    assert caught[0].filename == __file__  # the warning points at the caller
    assert list(model.stream("ab", 0)) == []
    with pytest.raises(ValueError, match="at least 2 characters"):
        model.log_loss("a")
    with pytest.raises(
        ValueError, match=r"`layer` must be an integer in \[0, 2\), got 2"
    ):
        model.gates("abc", layer=2)
    for read in (model.gates, model.gate_figure):
        with pytest.raises(ValueError, match=r"`text` must be a non-empty string"):
            read("")
    assert model.generate("ab", 0) == ""


def test_the_litert_loop_follows_the_models_weights_when_they_change(tiny_char_model):
    model = tiny_char_model("char-gru")
    before = model.generate("ab", 20, temperature=0, litert="float32")
    assert before == model.generate("ab", 20, temperature=0)
    model.output_layer.bias.assign(np.eye(model.vocabulary_size, dtype="float32")[3] * 50)  # now always id 3
    assert model.generate("ab", 20, temperature=0, litert="float32") == model.vocabulary.decode([3]) * 20


def test_int8_weights_score_and_generate_as_float32_for_the_shipped_char_lstm():
    model = zoo.load("char-lstm")
    model.set_members(())  # LiteRT runs one model: of the shipped ensemble, its first
    text = "ROMEO:\nWhat light through yonder window breaks? It is the east, and Juliet is the sun.\n" * 3
    assert model.log_loss(text, litert="int8") == pytest.approx(model.log_loss(text), abs=0.01)
    # greedy: int8's rounding may tip a near tie, so the text leaves float32's after a while, not at once
    int8 = model.generate("ROMEO:\nWhat light", 200, temperature=0, litert="int8")
    assert int8[:20] == model.generate("ROMEO:\nWhat light", 200, temperature=0)[:20]
    loop = text_generation.litert_loop(model, "sample", 1, "int8")
    assert loop.runner.size < model.count_params() * 1.1  # a byte a weight, not 4


def test_cli_generate_prints_prompt_and_continuation(
    tiny_char_model, tmp_path, monkeypatch, capsys
):
    model = tiny_char_model("char-lstm")
    saving.save(model, tmp_path / "char-lstm", "char-lstm")
    monkeypatch.setenv("ZOO_MODELS_DIR", str(tmp_path))
    args = ["generate", "char-lstm", "--prompt", "ab", "--length", "30", "--seed", "2"]
    assert cli(args) == 0
    expected = zoo.load("char-lstm").generate("ab", 30, seed=2, temperature=0.8)
    assert capsys.readouterr().out == "ab" + expected + "\n"
    assert cli(["generate", "lstm-seq2seq-attn"]) == 2
    assert "lstm-seq2seq-attn is a translation model; use `zoo translate" in capsys.readouterr().err


def test_an_ensemble_scores_and_generates_with_the_mean_of_its_models_probabilities(tiny_char_model, tmp_path):
    keras.utils.set_random_seed(0)
    models = [tiny_char_model(name, units=16, num_layers=2, dropout=0.0) for name in ("char-lstm", "char-gru")]
    rng = np.random.default_rng(2)
    for m in models:
        for w in m.weights:
            w.assign(rng.normal(scale=0.6, size=w.shape).astype("float32"))
    lead, member = models
    ids = lead.vocabulary.encode(TEXT)

    def mixture(text):  # the reference: NumPy over each model's full-sequence logits
        log_probs = np.stack([log_softmax(full_logits(m, text)) for m in models])
        top = log_probs.max(0)
        return top + np.log(np.exp(log_probs - top).mean(0))

    alone = lead.log_loss(TEXT)
    lead.set_members([member])
    expected = -mixture(TEXT[:-1])[np.arange(len(ids) - 1), ids[1:]]
    np.testing.assert_allclose(text_generation.character_log_losses(lead, TEXT, chunk_length=7), expected,
                               rtol=1e-5, atol=1e-6)
    # greedy: the argmax of the mixture after re-reading the prefix
    text = "ab"
    for _ in range(12):
        step = mixture(text)[-1]
        step[UNKNOWN_ID] = -np.inf
        text += lead.vocabulary.decode([int(np.argmax(step))])
    assert lead.generate("ab", 12, temperature=0) == text[2:]
    # saved with its member, loaded back as the same ensemble
    zoo.saving.save(lead, tmp_path / "ensemble", "char-lstm")
    loaded = zoo.load("char-lstm", weights=tmp_path / "ensemble")
    assert len(loaded.members) == 1 and loaded.log_loss(TEXT) == pytest.approx(expected.mean(), rel=1e-3)
    with pytest.warns(UserWarning, match="LiteRT runs one model: the first of this ensemble of 2"):
        lead.log_loss(TEXT, litert="float32")
    lead.set_members(())
    assert lead.log_loss(TEXT) == pytest.approx(alone, rel=1e-6)
    other = tiny_char_model("char-gru", units=16, num_layers=2, dropout=0.0)
    other.set_vocabulary(list("klmnopqrst"))
    with pytest.raises(ValueError, match=r"`models\[0\]` has another vocabulary"):
        lead.set_members([other])
    with pytest.raises(TypeError, match=r"`models\[0\]` must be a CharRNN"):
        lead.set_members([object()])
