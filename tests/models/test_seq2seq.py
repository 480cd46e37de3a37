import numpy as np
import pytest

import zoo
from zoo.tasks import translation


def test_training_learns_the_tiny_corpus(tiny_translator, tiny_corpus):
    import keras

    from zoo.data.pipeline import encode, translation_dataset
    from zoo.metrics import MaskedAccuracy, masked_cross_entropy

    keras.utils.set_random_seed(0)
    model = tiny_translator("lstm-seq2seq-attn", embedding_dim=16, units=16, dropout=0.0)
    sources, targets = tiny_corpus
    ds = translation_dataset(encode(model.source_tokenizer, sources, 32),
                             encode(model.target_tokenizer, targets, 32, add_bos=True), 8, shuffle=True)
    model.compile(keras.optimizers.Adam(0.01), masked_cross_entropy(), metrics=[MaskedAccuracy()])
    history = model.fit(ds, epochs=40, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert model.translate(sources[:4], beam_size=3) == targets[:4]


def test_translate_returns_attention_rows_over_source(tiny_translator):
    model = tiny_translator("lstm-seq2seq-attn")
    text, (src, out, weights) = model.translate("Der Hund ist rot.", beam_size=2, max_length=5,
                                                return_attention=True)
    assert isinstance(text, str)
    assert weights.shape == (len(out), len(src))
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`cell` must be one of"):
        zoo.build("lstm-seq2seq-attn", cell="rnn")
    with pytest.raises(ValueError, match="`units` must be a positive integer, got 0"):
        zoo.build("lstm-seq2seq-attn", units=0)
    model = zoo.build("lstm-seq2seq-attn", source_vocabulary_size=10, target_vocabulary_size=10)
    with pytest.raises(ValueError, match="no tokenizers"):
        model.translate("Hallo")


def test_saved_model_export_matches_greedy_translate(tiny_translator, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    from zoo.tasks.translation import export as export_translator

    model = tiny_translator("lstm-seq2seq-attn")
    sentences = ["Der Hund ist rot.", "Das Auto ist gelb.", "Der Ball"]
    export_translator(model, tmp_path / "serving")
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["serving_default"]
    out = served(sentences=tf.constant(sentences))["translations"].numpy()
    assert [s.decode("utf-8") for s in out] == model.translate(sentences, beam_size=1)


def test_n_best_lists_with_scores_follow_the_beam_search(tiny_translator):
    model = tiny_translator("lstm-seq2seq-attn")
    sentences = ["Der Hund ist rot.", "   ", "Der Ball ist blau."]
    n_best = model.translate(sentences, beam_size=4, num_return_sequences=3, return_scores=True, max_length=12)
    assert [len(x) for x in n_best] == [3, 3, 3] and n_best[1] == [("", 0.0)] * 3
    for sentence, hypotheses in zip(sentences, n_best):
        scores = [score for _, score in hypotheses]
        assert scores == sorted(scores, reverse=True)  # best first
        if sentence.strip():  # the best of the list is what translate returns
            assert hypotheses[0][0] == model.translate(sentence, beam_size=4, max_length=12)
    # the scores are the ones the compiled search ranks by (the default max_length follows the batch: fix it)
    ids = translation._source_parts(model, [sentences[0]])[0][0]
    _, _, scores = translation._translate_ids(model, ids, 4, 12, 0.6, 8, return_scores=True, num_return_sequences=3)
    alone = model.translate(sentences[0], beam_size=4, num_return_sequences=3, return_scores=True, max_length=12)
    assert [s for _, s in alone] == pytest.approx(scores[0])
    text, score = model.translate(sentences[0], beam_size=1, return_scores=True)
    assert text == model.translate(sentences[0], beam_size=1) and score <= 0
    assert type(score) is float and all(type(s) is float for _, s in alone)  # greedy and beam alike
    with pytest.raises(ValueError, match="num_return_sequences"):
        model.translate(sentences[0], beam_size=2, num_return_sequences=3)
    with pytest.raises(ValueError, match="return_attention"):
        model.translate(sentences[0], beam_size=2, return_scores=True, return_attention=True)


def test_an_ensemble_of_translators_decodes_the_mean_of_their_log_probabilities(tiny_translator, tmp_path):
    import numpy as np

    import zoo
    from zoo import saving
    from zoo.data.tokenizers import BOS, EOS, UNK

    lstm, gru = tiny_translator("lstm-seq2seq-attn"), tiny_translator("gru-seq2seq-attn")
    sentences = ["Der Hund ist rot.", "Das Auto ist gelb."]
    twin = tiny_translator("lstm-seq2seq-attn")
    twin.set_weights(lstm.get_weights())
    alone = lstm.translate(sentences, beam_size=3)
    lstm.set_members([twin])  # the mean of two equal distributions is that distribution
    assert lstm.translate(sentences, beam_size=3) == alone
    lstm.set_members([gru])
    source = translation._source_parts(lstm, sentences[:1])[0][0][0][None]  # [1, src_len]: parts, text 0, part 0
    mean = 0
    for member in (twin, gru):  # each alone, by its own hooks
        memory, state = member.encode(source)
        mean = mean + np.asarray(member.decode_step(np.array([BOS], np.int32), state, memory)[0])[0] / 2
    mean[UNK] = -np.inf  # never chosen by default
    first = translation._translate_ids(lstm, [source[0]], 1, 1, 0.6, 1)[0][0]  # the ensemble's first greedy token
    assert int(first[0]) == int(np.argmax(mean)) if len(first) else int(np.argmax(mean)) == EOS
    both = lstm.translate(sentences, beam_size=3)
    saving.save(lstm, tmp_path / "ensemble", "lstm-seq2seq-attn")
    loaded = zoo.load(tmp_path / "ensemble")
    assert len(loaded.members) == 1 and loaded.translate(sentences, beam_size=3) == both
    lstm.set_members(())
    assert lstm.translate(sentences, beam_size=3) == alone


def test_an_ensemble_member_with_other_tokenizers_or_type_is_refused(tiny_translator, tiny_captioner):
    model, other = tiny_translator("lstm-seq2seq-attn"), tiny_translator("lstm-seq2seq-attn")
    other.set_tokenizers(other.target_proto, other.source_proto)
    with pytest.raises(ValueError, match=r"`models\[0\]` has other tokenizers"):
        model.set_members([other])
    with pytest.raises(TypeError, match=r"`models\[0\]` must be a Seq2Seq, got Captioner"):
        model.set_members([tiny_captioner("sat-lstm-squeezenet")])
    with pytest.raises(ValueError, match=r"`models\[0\]` must be another model"):
        model.set_members([model])
    with pytest.raises(TypeError, match="`models` must be a list of translators, got str"):
        model.set_members("gru-seq2seq-attn")


def test_a_model_without_attention_returns_its_pieces_and_no_weights(tiny_translator):
    model = tiny_translator("lstm-seq2seq")
    text, (source, output, weights) = model.translate("Der Hund ist rot.", beam_size=1, return_attention=True)
    assert weights is None and isinstance(text, str) and source and all(isinstance(p, str) for p in output)


def test_a_translation_cut_at_its_length_limit_is_the_same_in_any_batch(tiny_translator):
    """Without max_length each sentence's limit is its own (twice its tokens plus 10), also when it is
    decoded beside a longer one, greedy and in a beam."""
    model = tiny_translator("lstm-seq2seq-attn")
    short, long = "Der Hund", "Der Hund ist rot und das Auto ist gelb und der Ball ist blau und das Haus ist alt"
    for beam_size in (1, 3):
        alone = model.translate(short, beam_size=beam_size)
        assert model.translate([short, long], beam_size=beam_size)[0] == alone
        parts = translation._source_parts(model, [short, long])[0]  # per text, its EOS-terminated parts
        short_ids, long_ids = parts[0][0], parts[1][0]
        tokens = translation._translate_ids(model, [short_ids, long_ids], beam_size, None, 0.6, 8)[0][0]
        assert len(tokens) <= translation._limit(len(short_ids))


def _step_by_step_log_probability(model, sentence, translation, right_to_left=False):
    """The reference of `score`: the pieces fed one at a time through `decode_step`."""
    from zoo.data.tokenizers import BOS, EOS

    source = translation_source(model, sentence)
    pieces = [int(i) for i in np.asarray(model.target_tokenizer(translation))]
    pieces = pieces[::-1] if right_to_left else pieces
    memory, state = model.encode(source)
    total, token = 0.0, BOS
    for piece in [*pieces, EOS]:
        log_probs, _, state = model.decode_step(np.array([token], np.int32), state, memory)
        total += float(np.asarray(log_probs)[0, piece])
        token = piece
    return total, len(pieces) + 1


def translation_source(model, sentence):
    return translation._source_parts(model, [sentence])[0][0][0][None]


def test_score_is_the_log_probability_of_the_pieces_written_one_at_a_time(tiny_translator):
    from zoo.decoding import length_penalty

    sentences = ["Der Hund ist rot.", "Der Ball ist blau.", "Das Auto"]
    translations = ["The dog is red.", "a ball", ""]
    for right_to_left in (False, True):
        model = tiny_translator("lstm-seq2seq-attn", dropout=0.0, right_to_left=right_to_left)
        scores = model.score(sentences, translations)
        normalized = model.score(sentences, translations, alpha=0.6, batch_size=2)
        for sentence, translation_, got, got_normalized in zip(sentences, translations, scores, normalized):
            expected, n = _step_by_step_log_probability(model, sentence, translation_, right_to_left)
            assert got == pytest.approx(expected, abs=1e-4)
            assert got_normalized == pytest.approx(expected / length_penalty(n, 0.6), abs=1e-4)
        assert model.score(sentences[0], translations[0]) == pytest.approx(scores[0])


def test_an_ensemble_scores_by_the_mean_of_its_models_log_probabilities(tiny_translator):
    first = tiny_translator("lstm-seq2seq-attn", dropout=0.0)
    second = tiny_translator("lstm-seq2seq-attn", dropout=0.0)  # other random weights, the same tokenizers
    sentences, translations = ["Der Hund ist rot.", "Das Auto"], ["The dog is red.", "a car"]
    pairs = list(zip(sentences, translations))
    alone = [_step_by_step_log_probability(m, s, t)[0] for m in (first, second) for s, t in pairs]
    assert alone[0] != pytest.approx(alone[2], abs=1e-3)  # the mean differs from either model's
    first.score(sentences, translations)  # compiled alone first: set_members must compile it again
    first.set_members([second])
    assert first.score(sentences, translations) == pytest.approx(
        [(alone[0] + alone[2]) / 2, (alone[1] + alone[3]) / 2], abs=1e-4)


def test_score_names_what_it_cannot_score(tiny_translator):
    model = tiny_translator("lstm-seq2seq-attn")
    with pytest.raises(ValueError, match="same length, got 2 sentences and 1 translations"):
        model.score(["Der Hund.", "Der Ball."], ["The dog."])
    with pytest.raises(ValueError, match=r"`sentences\[1\]` is blank"):
        model.score(["Der Hund.", "  "], ["The dog.", "x"])
    with pytest.raises(TypeError, match=r"`translations\[0\]` must be a string"):
        model.score(["Der Hund."], [3])
    with pytest.raises(ValueError, match="`alpha` must be"):
        model.score("Der Hund.", "The dog.", alpha=-1)


def test_a_right_to_left_model_translates_in_reading_order(tiny_translator, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    forward = tiny_translator("lstm-seq2seq-attn")
    backward = tiny_translator("lstm-seq2seq-attn", right_to_left=True)
    backward.set_weights(forward.get_weights())  # the same network: only the order of what it writes differs
    sentences = ["Der Hund ist rot.", "Das Auto ist gelb und der Ball ist blau."]
    ids = [translation._source_parts(forward, [s])[0][0][0] for s in sentences]
    for beam_size in (1, 3):
        written, forward_maps = translation._translate_ids(forward, ids, beam_size, 12, 0.6, 8, return_attention=True)
        read, maps = translation._translate_ids(backward, ids, beam_size, 12, 0.6, 8, return_attention=True)
        assert [r.tolist() for r in read] == [w[::-1].tolist() for w in written]
        for m, f, r in zip(maps, forward_maps, read):  # a piece's row of attention moves with it
            np.testing.assert_allclose(m[: len(r)], f[: len(r)][::-1], atol=1e-6)
    assert backward.translate(sentences, beam_size=1) == translation._detokenize(
        backward, [w[::-1] for w in translation._translate_ids(forward, ids, 1, None, 0.6, 8)[0]])
    translation.export(backward, tmp_path / "serving")  # the export writes in reading order too
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["serving_default"]
    out = served(sentences=tf.constant(sentences))["translations"].numpy()
    assert [s.decode("utf-8") for s in out] == backward.translate(sentences, beam_size=1)
    with pytest.raises(ValueError, match="other direction"):
        forward.set_members([backward])
