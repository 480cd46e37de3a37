import itertools

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from zoo import decoding
from zoo.tasks import translation

BOS, EOS, UNK, VOCAB = 0, 1, 2, 6


def second_order_model(seed=0, problems=1, vocab=VOCAB, eos_bias=3.0):
    """A toy model whose distribution depends on the last two tokens and on a
    per-sentence "problem" (its input), so a beam search that reorders its
    state or memory wrongly gets different answers. Its attention `[n, vocab]`
    is a function of those two tokens too, so mixed-up attention rows show.

    Returns `(encode, step, score)`: `encode(inputs [batch, 1])` gives the
    memory (problem ids) and state (the previous token), `step` is a
    `decode_step`, `score(problem, sequence, ended)` the log-probability."""
    table = np.random.default_rng(seed).normal(size=(problems, vocab, vocab, vocab)) * 2.0
    table[..., EOS] -= eos_bias  # long hypotheses, so the state's history matters
    log_probs = (table - np.log(np.exp(table).sum(-1, keepdims=True))).astype(np.float32)
    constant = tf.constant(log_probs)

    def encode(inputs):
        problem = tf.cast(inputs[:, 0], tf.int32)
        return [problem], [tf.fill(tf.shape(problem), BOS)]

    def step(tokens, state, memory):
        tokens = tf.cast(tokens, tf.int32)
        before, problem = tf.cast(state[0], tf.int32), tf.cast(memory[0], tf.int32)
        lp = tf.gather_nd(constant, tf.stack([problem, before, tokens], -1))
        attention = tf.nn.softmax(tf.one_hot(before, vocab) + 2.0 * tf.one_hot(tokens, vocab))
        return lp, attention, [tokens]

    def score(problem, sequence, ended):
        tokens, total = [BOS, BOS] + list(sequence) + ([EOS] if ended else []), 0.0
        for t in range(2, len(tokens)):
            total += float(log_probs[problem, tokens[t - 2], tokens[t - 1], tokens[t]])
        return total

    return encode, step, score


def make_decoder(encode, step, unk=None):
    return decoding.Decoder(encode, step, tf.TensorSpec([None, 1], tf.int32), BOS, EOS, unk=unk)


def reference(encode, step, inputs, beam_size, max_length, alpha=0.6, mask=None):
    """Runs the eager reference; `mask(log_probs, step_number)` edits each step's output."""
    memory, state = encode(tf.constant(inputs))
    batch = len(inputs)
    if beam_size > 1:
        memory, state = decoding.repeat_beams(memory, beam_size), decoding.repeat_beams(state, beam_size)
    calls = []

    def step_fn(tokens, s):
        lp, attention, s = step(tokens, s, memory)
        calls.append(1)
        return (lp if mask is None else mask(ops.convert_to_numpy(lp), len(calls))), attention, s

    if beam_size == 1:
        return decoding.greedy_reference(step_fn, state, batch, BOS, EOS, max_length)
    return decoding.beam_search_reference(step_fn, state, batch, beam_size, BOS, EOS, max_length, alpha)


def assert_same(found, expected):
    (seqs, maps), (ref_seqs, ref_maps) = found, expected
    assert [list(s) for s in seqs] == [list(s) for s in ref_seqs]
    for m, r in zip(maps, ref_maps):
        np.testing.assert_allclose(m, r, rtol=1e-6)


def exhaustive(score, max_length, alpha, vocab=VOCAB):
    """Best hypothesis by brute force: ended by EOS, or cut at max_length."""
    best, best_seq = -np.inf, None
    words = [w for w in range(vocab) if w != EOS]
    for n in range(max_length + 1):
        for seq in itertools.product(words, repeat=n):
            ended = n < max_length
            value = score(0, seq, ended) / decoding.length_penalty(n + 1 if ended else n, alpha)
            if value > best:
                best, best_seq = value, list(seq)
    return best_seq


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_wide_beam_finds_the_exhaustive_optimum(alpha, seed, compiled):
    encode, step, score = second_order_model(seed, vocab=4)
    inputs, max_length = np.zeros((2, 1), np.int32), 4  # both batch rows are the same problem
    if compiled:
        sequences, _ = make_decoder(encode, step).beam_search(inputs, 64, max_length, alpha)
    else:
        sequences, _ = reference(encode, step, inputs, 64, max_length, alpha)
    expected = exhaustive(score, max_length, alpha, vocab=4)
    assert len(expected) >= 2
    for sequence in sequences:
        assert list(sequence) == expected


def test_reference_greedy_equals_stepwise_argmax():
    encode, step, _ = second_order_model(3)
    sequences, _ = reference(encode, step, np.zeros((1, 1), np.int32), 1, 6)
    tokens, before, expected = BOS, BOS, []
    for _ in range(6):
        lp, _, _ = step(np.array([tokens]), [np.array([before])], [np.array([0])])
        before, tokens = tokens, int(np.argmax(ops.convert_to_numpy(lp)[0]))
        if tokens == EOS:
            break
        expected.append(tokens)
    assert list(sequences[0]) == expected


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_compiled_greedy_equals_the_reference(seed):
    encode, step, _ = second_order_model(seed, problems=5, eos_bias=0.0)
    inputs = np.arange(5, dtype=np.int32)[:, None]
    found = make_decoder(encode, step).greedy(inputs, 7)
    expected = reference(encode, step, inputs, 1, 7)
    assert len({len(s) for s in expected[0]}) > 1  # rows end at different steps
    assert_same(found, expected)


@pytest.mark.parametrize("beam_size", [2, 3, 5])
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_beam_search_equals_the_reference(seed, alpha, beam_size):
    encode, step, _ = second_order_model(seed, problems=4, eos_bias=1.5)
    inputs = np.array([[0], [1], [2], [3], [1]], np.int32)
    found = make_decoder(encode, step).beam_search(inputs, beam_size, 8, alpha)
    expected = reference(encode, step, inputs, beam_size, 8, alpha)
    assert_same(found, expected)


def test_beam_never_exceeds_max_length():
    encode, step, _ = second_order_model(4)
    inputs = np.zeros((3, 1), np.int32)
    for sequences in (reference(encode, step, inputs, 3, 2)[0],
                      make_decoder(encode, step).beam_search(inputs, 3, 2)[0]):
        assert all(len(s) <= 2 for s in sequences)


def test_length_penalty_is_gnmt():
    assert decoding.length_penalty(1, 0.6) == 1.0
    assert decoding.length_penalty(7, 1.0) == pytest.approx(2.0)


def test_unknown_token_is_masked_unless_allowed():
    encode, step, _ = second_order_model(5, problems=3)
    inputs = np.arange(3, dtype=np.int32)[:, None]

    def no_unk(lp, _):
        lp = lp.copy()
        lp[:, UNK] = -np.inf
        return lp

    allowed = make_decoder(encode, step, unk=UNK).greedy(inputs, 8, allow_unk=True)
    assert any(UNK in s for s in allowed[0])  # the toy model likes UNK: the mask matters
    assert_same(allowed, reference(encode, step, inputs, 1, 8))
    decoder = make_decoder(encode, step, unk=UNK)
    for beam_size, found in ((1, decoder.greedy(inputs, 8)), (3, decoder.beam_search(inputs, 3, 8))):
        assert not any(UNK in s for s in found[0])
        assert_same(found, reference(encode, step, inputs, beam_size, 8, mask=no_unk))
        assert_same(decoder.reference(inputs, beam_size, 8), reference(encode, step, inputs, beam_size, 8,
                                                                         mask=no_unk))


@pytest.mark.parametrize("beam_size", [1, 3])
def test_min_length_holds_back_the_end_token(beam_size):
    encode, step, _ = second_order_model(6, problems=3, eos_bias=-3.0)  # short outputs
    inputs = np.arange(3, dtype=np.int32)[:, None]

    def late_eos(lp, step_number):
        lp = lp.copy()
        if step_number <= 3:
            lp[:, EOS] = -np.inf
        return lp

    decoder = make_decoder(encode, step)
    search = decoder.greedy if beam_size == 1 else lambda *a, **k: decoder.beam_search(a[0], beam_size, *a[1:], **k)
    assert min(len(s) for s in search(inputs, 8)[0]) < 3
    found = search(inputs, 8, min_length=3)
    assert min(len(s) for s in found[0]) >= 3
    assert_same(found, reference(encode, step, inputs, beam_size, 8, mask=late_eos))


def has_repeated_ngram(sequence, n):
    grams = [tuple(sequence[i : i + n]) for i in range(len(sequence) - n + 1)]
    return len(grams) != len(set(grams))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_size(n):
    encode, step, _ = second_order_model(7, problems=4, vocab=8, eos_bias=4.0)
    inputs = np.arange(4, dtype=np.int32)[:, None]
    decoder = make_decoder(encode, step)
    plain = decoder.greedy(inputs, 12)[0]
    assert any(has_repeated_ngram(list(s), n) for s in plain)
    blocked = decoder.greedy(inputs, 12, no_repeat_ngram_size=n)[0]
    beams = decoder.beam_search(inputs, 3, 12, no_repeat_ngram_size=n, num_return_sequences=3)[0]
    for sequence in blocked + [s for nbest in beams for s in nbest]:
        assert not has_repeated_ngram(list(sequence), n)
    # greedy by hand: the best token that does not close a repeated n-gram
    for row, sequence in enumerate(blocked):
        history = []
        for _ in range(12):
            before, last = ([BOS, BOS] + history)[-2:]
            lp = ops.convert_to_numpy(step(np.array([last]), [np.array([before])], [np.array([row])])[0])[0]
            for token in np.argsort(-lp, kind="stable"):
                if token == EOS or not has_repeated_ngram(history + [int(token)], n):
                    break
            if token == EOS:
                break
            history.append(int(token))
        assert list(sequence) == history


def test_n_best_lists_are_ranked_with_their_scores():
    encode, step, score = second_order_model(8, problems=3, eos_bias=1.0)
    inputs = np.arange(3, dtype=np.int32)[:, None]
    decoder = make_decoder(encode, step)
    best, _ = decoder.beam_search(inputs, 4, 6, alpha=0.6)
    nbest, maps, scores = decoder.beam_search(inputs, 4, 6, alpha=0.6, num_return_sequences=4, return_scores=True)
    for problem in range(3):
        assert len(nbest[problem]) == 4
        assert list(nbest[problem][0]) == list(best[problem])
        assert scores[problem] == sorted(scores[problem], reverse=True)
        assert len({tuple(s) for s in nbest[problem]}) == 4
        for sequence, value, weights in zip(nbest[problem], scores[problem], maps[problem]):
            ended = len(sequence) < 6  # else cut at max_length (an end token at step 6 leaves 5 tokens)
            steps = len(sequence) + 1 if ended else len(sequence)
            assert value == pytest.approx(score(problem, sequence, ended) / decoding.length_penalty(steps, 0.6))
            assert weights.shape == (steps, VOCAB)
    _, _, greedy_scores = decoder.greedy(inputs, 6, return_scores=True)
    greedy, _ = decoder.greedy(inputs, 6)
    for problem in range(3):
        ended = len(greedy[problem]) < 6
        assert greedy_scores[problem] == pytest.approx(score(problem, greedy[problem], ended), rel=1e-5)


def test_new_batch_sizes_and_lengths_reuse_the_graph():
    encode, step, _ = second_order_model(9, problems=4)
    decoder = make_decoder(encode, step)
    for batch, max_length in ((1, 5), (3, 9), (4, 2)):
        inputs = np.arange(batch, dtype=np.int32)[:, None] % 4
        decoder.greedy(inputs, max_length)
        decoder.beam_search(inputs, 3, max_length, alpha=0.3 * batch)
    assert len(decoder._functions) == 2
    assert all(f.experimental_get_tracing_count() == 1 for f in decoder._functions.values())


def test_bad_arguments_are_named():
    encode, step, _ = second_order_model(0)
    decoder = make_decoder(encode, step)
    inputs = np.zeros((1, 1), np.int32)
    with pytest.raises(ValueError, match=r"`num_return_sequences` must be at most `beam_size` \(2\), got 3"):
        decoder.beam_search(inputs, 2, 5, num_return_sequences=3)
    with pytest.raises(ValueError, match=r"`max_length` must be an integer in \[1, 1024\], got 0"):
        decoder.greedy(inputs, 0)
    with pytest.raises(ValueError, match=r"`min_length` must be below `max_length` \(5\), got 5"):
        decoder.greedy(inputs, 5, min_length=5)
    with pytest.raises(ValueError, match="`beam_size` must be an integer >= 1, got 2.5"):
        decoder.beam_search(inputs, 2.5, 5)


# -- the models' decoding -----------------------------------------------------------


def model_reference(model, inputs, beam_size, max_length, alpha, encode, mask_unk):
    """Today's eager search over the model's own hooks (the oracle)."""
    from zoo.data.tokenizers import BOS as MODEL_BOS
    from zoo.data.tokenizers import EOS as MODEL_EOS
    from zoo.data.tokenizers import UNK as MODEL_UNK

    memory, state = encode(ops.convert_to_tensor(inputs))
    if beam_size > 1:
        memory = [None if m is None else ops.repeat(m, beam_size, axis=0) for m in memory]
        state = decoding.repeat_beams(state, beam_size)

    def step(tokens, s):
        lp, attention, s = model.decode_step(tokens, s, memory)
        if mask_unk:
            lp = ops.convert_to_numpy(lp).copy()
            lp[:, MODEL_UNK] = -np.inf
        return lp, attention, s

    if beam_size == 1:
        return decoding.greedy_reference(step, state, len(inputs), MODEL_BOS, MODEL_EOS, max_length)
    return decoding.beam_search_reference(step, state, len(inputs), beam_size, MODEL_BOS, MODEL_EOS, max_length,
                                          alpha)


@pytest.mark.parametrize("name", ["lstm-seq2seq-attn", "gru-seq2seq-attn", "lstm-seq2seq"])
def test_translation_models_decode_like_the_reference(tiny_translator, name):
    import keras

    keras.utils.set_random_seed(1)
    model = tiny_translator(name)
    source = np.random.default_rng(0).integers(4, model.source_vocabulary_size, (4, 7)).astype(np.int32)
    source[1, 4:], source[2, 2:] = 0, 0  # padding
    for beam_size in (1, 3):
        for allow_unk in (True, False):
            found = translation._decode(model, source, beam_size, 12, 0.6, allow_unk=allow_unk)
            expected = model_reference(model, source, beam_size, 12, 0.6, model.encode, not allow_unk)
            if not model.use_attention:
                assert found[1] == [None] * 4
                found, expected = (found[0], found[0]), (expected[0], expected[0])
            assert_same(found, expected)


@pytest.mark.parametrize("name", ["sat-lstm-squeezenet", "lstm-squeezenet"])
def test_captioners_decode_like_the_reference(tiny_captioner, name):
    import keras

    keras.utils.set_random_seed(2)
    model = tiny_captioner(name)
    features = model.encode_images(np.random.default_rng(1).integers(0, 256, (3, 63, 63, 3)).astype("float32"))
    for beam_size in (1, 3):
        for allow_unk in (True, False):
            found = model.decode_features(features, beam_size, 10, 0.0, allow_unk=allow_unk)
            expected = model_reference(model, features, beam_size, 10, 0.0, model.encode, not allow_unk)
            assert_same(found, expected)


def test_exported_translator_decodes_like_translate_and_takes_an_empty_batch(tiny_translator, tmp_path):
    import keras
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    from zoo.tasks.translation import export as export_translator

    keras.utils.set_random_seed(3)
    model = tiny_translator("lstm-seq2seq-attn")
    sentences = ["Der Hund ist rot.", "", "Das Auto ist gelb.", "Der Ball", " \u3000\xa0"]  # blank ones give ""
    export_translator(model, tmp_path / "serving")
    loaded = tf.saved_model.load(str(tmp_path / "serving"))
    for name, beam_size in (("serving_default", 1), ("beam_search", 5)):
        served = loaded.signatures[name]
        out = served(sentences=tf.constant(sentences))["translations"].numpy()
        assert [s.decode("utf-8") for s in out] == model.translate(sentences, beam_size=beam_size)
        assert out[1] == out[4] == b""
        assert served(sentences=tf.constant([], tf.string))["translations"].shape == (0,)


def test_translate_sorts_batches_by_length_and_keeps_the_order(tiny_translator):
    import keras

    keras.utils.set_random_seed(4)
    model = tiny_translator("lstm-seq2seq-attn")
    sentences = ["Der Hund ist rot und der Ball ist blau.", "Der Hut", "Das Auto ist gelb.", "Ball", "Der Hund"]
    texts, extra = model.translate(sentences, beam_size=1, max_length=8, batch_size=2, return_attention=True)
    for sentence, text, (source, _, weights) in zip(sentences, texts, extra):
        alone, (alone_source, _, alone_weights) = model.translate(sentence, beam_size=1, max_length=8,
                                                                  return_attention=True)
        assert text == alone
        assert source == alone_source
        assert weights.shape[1] == len(source)  # over its own source, not the batch's padding
        np.testing.assert_allclose(weights, alone_weights, atol=1e-5)


@pytest.mark.slow
def test_shipped_translator_compiled_search_matches_the_eager_one_on_test_2016(mirror):
    import zoo
    from zoo.data.translation import load_pairs
    from zoo.metrics import translation_scores
    from zoo.tasks.translation import _to_str

    model = zoo.load("lstm-seq2seq-attn")
    sources, references = load_pairs("de-en", "test")
    ids = [parts[0] for parts in translation._source_parts(model, sources)[0]]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for beam_size in (1, 5):
        found, expected = [None] * len(ids), [None] * len(ids)
        for start in range(0, len(ids), 64):
            chunk = order[start : start + 64]
            source = np.zeros((len(chunk), max(len(ids[i]) for i in chunk)), np.int32)
            for row, i in enumerate(chunk):
                source[row, : len(ids[i])] = ids[i]
            limit = 2 * source.shape[1] + 10
            compiled = translation._decode(model, source, beam_size, limit, 0.6)[0]
            eager = model.search.reference(source, beam_size, limit, 0.6)[0]
            for i, a, b in zip(chunk, compiled, eager):
                found[i], expected[i] = list(a), list(b)
        same = np.mean([a == b for a, b in zip(found, expected)])
        detokenize = lambda s: _to_str(model.target_tokenizer.detokenize(np.array(s))) if s else ""  # noqa: E731
        texts = [[detokenize(s) for s in x] for x in (found, expected)]
        bleu = [translation_scores(t, references)["bleu"] for t in texts]
        assert same == 1.0 if beam_size == 1 else same >= 0.99
        assert bleu[0] == pytest.approx(bleu[1], abs=0.05)


@pytest.mark.parametrize("members", [0, 1], ids=["one model", "an ensemble"])
def test_exported_captioner_captions_like_caption_and_takes_an_empty_batch(tiny_captioner, tmp_path, members):
    import io

    import keras
    from PIL import Image

    from zoo.tasks.captioning import export as export_captioner

    keras.utils.set_random_seed(5)
    model = tiny_captioner("sat-lstm-squeezenet")
    if members:  # another decoder over the same encoder and words
        other = tiny_captioner("sat-lstm-squeezenet")
        other.encoder.set_weights(model.encoder.get_weights())
        model.set_members([other])
    rng = np.random.default_rng(0)
    images = []
    for shape in ((63, 63, 3), (63, 63, 3), (63, 63)):  # at the model's size; the last one grayscale
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    export_captioner(model, tmp_path / "serving")
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["serving_default"]
    out = served(images=tf.constant(images))["captions"].numpy()
    expected = model.caption(images, beam_size=3)
    assert any(expected)  # random weights, but not all empty captions
    if members:  # the member changes the captions: the export decodes with it
        model.set_members(())
        assert model.caption(images, beam_size=3) != expected
        model.set_members([other])
    assert [s.decode("utf-8") for s in out] == expected
    assert served(images=tf.constant([], tf.string))["captions"].shape == (0,)


def test_export_refuses_a_model_it_cannot_serve(tmp_path):
    from zoo.export import export

    with pytest.raises(ValueError, match="`model` must be a zoo translation, captioning or text-generation model"):
        export("not a model", tmp_path)


def test_litert_export_refuses_a_model_that_is_not_a_character_model(tiny_translator, tmp_path):
    from zoo.tasks import text_generation

    for model, name in ((tiny_translator("lstm-seq2seq-attn"), "Seq2Seq"), ("char-lstm", "str")):
        with pytest.raises(ValueError, match=f"`model` must be a character model .*, got {name}\\."):
            text_generation.export_litert(model, tmp_path / "lite")
    assert not (tmp_path / "lite").exists()


def test_export_refuses_an_existing_or_empty_directory(tiny_translator, tmp_path):
    from zoo.export import export

    model = tiny_translator("lstm-seq2seq-attn")
    (tmp_path / "mine.txt").write_text("kept")
    with pytest.raises(ValueError, match="must be a new directory for the SavedModel, got .* \\(it exists\\)"):
        export(model, tmp_path)
    with pytest.raises(ValueError, match="got ''"):
        export(model, "")  # not the current directory
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_a_search_whose_masks_forbid_every_token_returns_empty_outputs():
    # vocabulary: start, end, unknown; the end token held back, the unknown masked and
    # the start token, once chosen, blocked as a repeated 1-gram: step 2 has no token left
    encode, step, _ = second_order_model(10, vocab=3)
    decoder = make_decoder(encode, step, unk=UNK)
    inputs = np.zeros((2, 1), np.int32)
    sequences, maps, scores = decoder.beam_search(inputs, 2, 6, min_length=4, no_repeat_ngram_size=1,
                                                  return_scores=True)
    assert [list(s) for s in sequences] == [[], []]
    assert [m.shape for m in maps] == [(0, 3), (0, 3)] and scores == [-np.inf, -np.inf]


def test_refusing_checks_in_order_before_the_answer_reads_its_input():
    # A [None] signature is trusted, not checked: a matrix reaches the graph, whose reductions were built for
    # rank 1. The first check must hold before the next check, or the answer, reads the input.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def lengths(strings):
        vector = tf.equal(tf.size(strings), tf.shape(strings)[0])
        strings = tf.reshape(strings, [-1])
        answer = lambda: tf.strings.length(strings)  # noqa: E731
        return decoding.refusing([(vector, "`strings` must be a 1-D batch"),
                                  (decoding.valid_utf8(strings), "`strings` is not UTF-8")],
                                 answer, lambda: tf.zeros([0], tf.int32))

    assert lengths(tf.constant(["ab", "c"])).numpy().tolist() == [2, 1]
    assert lengths(tf.constant([], tf.string)).numpy().tolist() == []
    with pytest.raises(tf.errors.InvalidArgumentError, match="`strings` must be a 1-D batch"):
        lengths.get_concrete_function()(tf.constant([["ab", "c"], ["d", "e"]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`strings` is not UTF-8"):
        lengths(tf.constant([b"ab", b"\xff"]))
