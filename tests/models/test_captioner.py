"""The captioner: attention penalty, the no-attention baseline, decoding on raw
images, attention maps, retrieval baseline, vocabulary and BLEU-1..4."""

import h5py
import numpy as np
import pytest
import sacrebleu
import tensorflow as tf
from PIL import Image

from zoo.data.tokenizers import WordVocabulary
from zoo.metrics import caption_scores, masked_cross_entropy
from zoo.tasks.captioning import nearest_neighbour_captions


def batch(model, seed=0):
    rng = np.random.default_rng(seed)
    features = model.encode_images(rng.integers(0, 256, (2, 63, 63, 3)).astype("float32"))
    tokens = np.array([[2, 4, 5, 6, 3], [2, 7, 3, 0, 0]], np.int32)
    return features, tokens


def test_attention_penalty_is_doubly_stochastic_regularization(tiny_captioner):
    model = tiny_captioner("sat-lstm-squeezenet", dropout=0.0, attention_penalty=2.5)
    model.compile(loss=masked_cross_entropy())
    features, tokens = batch(model)
    x, y = (features, tokens[:, :-1]), tokens[:, 1:]
    logits, attention = model(x, training=True)
    alpha = np.asarray(attention)  # [batch, steps, locations]
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-5)
    real = (tokens[:, :-1] != 0)[:, :, None]  # padded steps do not count
    expected = 2.5 * np.mean((1.0 - (alpha * real).sum(1)) ** 2)
    cross_entropy = float(masked_cross_entropy()(y, logits))
    assert float(model.compute_loss(x, y, (logits, attention))) == pytest.approx(cross_entropy + expected, rel=1e-5)
    assert float(model.compute_loss(x, y, model(x))) == pytest.approx(cross_entropy, rel=1e-5)  # not in evaluation


def test_word_dropout_replaces_only_words_by_unk_in_training():
    from zoo.models.captioner import WordDropout

    tokens = np.tile(np.array([[2, 4, 5, 6, 7, 8, 9, 3, 0, 0]], np.int32), (400, 1))
    layer = WordDropout(0.3, seed=1)
    dropped = np.asarray(layer(tokens, training=True))
    words = tokens >= 4
    np.testing.assert_array_equal(dropped[~words], tokens[~words])  # start, end and padding kept
    changed = dropped[words] != tokens[words]
    assert np.all(dropped[words][changed] == 1)  # replaced by the unknown word only
    assert abs(changed.mean() - 0.3) < 0.03  # at the rate asked (2,400 words)
    np.testing.assert_array_equal(layer(tokens, training=False), tokens)
    np.testing.assert_array_equal(WordDropout(0.0)(tokens, training=True), tokens)


def test_word_dropout_changes_the_training_loss_not_the_inference(tiny_captioner):
    plain = tiny_captioner("sat-lstm-squeezenet", dropout=0.0, attention_penalty=0.0)
    dropped = tiny_captioner("sat-lstm-squeezenet", dropout=0.0, attention_penalty=0.0, word_dropout=0.9)
    dropped.set_weights(plain.get_weights())
    features, tokens = batch(plain)
    x = (features, tokens[:, :-1])
    np.testing.assert_array_equal(dropped(x), plain(x))
    assert not np.allclose(dropped(x, training=True)[0], plain(x, training=True)[0])
    assert dropped.get_config()["word_dropout"] == 0.9
    with pytest.raises(ValueError, match=r"`word_dropout` must be a float in \[0, 1\), got 1.5"):
        tiny_captioner("sat-lstm-squeezenet", word_dropout=1.5)


def test_baseline_looks_everywhere_alike(tiny_captioner):
    model = tiny_captioner("lstm-squeezenet")
    model.compile(loss=masked_cross_entropy())
    features, tokens = batch(model)
    x, y = (features, tokens[:, :-1]), tokens[:, 1:]
    logits, attention = model(x, training=True)
    np.testing.assert_allclose(np.asarray(attention), 1.0 / 9.0, rtol=1e-6)  # 3 x 3 grid
    assert float(model.compute_loss(x, y, (logits, attention))) == pytest.approx(
        float(masked_cross_entropy()(y, logits)), rel=1e-6
    )  # no penalty without attention
    assert not any("attention" in w.path for w in model.trainable_weights)


def test_caption_reads_paths_and_arrays_and_returns_maps(tiny_captioner, tmp_path):
    model = tiny_captioner("sat-lstm-squeezenet")
    pixels = np.random.default_rng(1).integers(0, 256, (40, 70, 3)).astype("uint8")
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    Image.fromarray(pixels).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(pixels).convert("CMYK").save(tmp_path / "cmyk.jpg")
    from_file = model.caption(str(tmp_path / "rgb.png"), beam_size=1)
    assert isinstance(from_file, str) and from_file == model.caption(pixels, beam_size=1)
    assert len(model.caption([tmp_path / "gray.png", tmp_path / "cmyk.jpg"], beam_size=2)) == 2
    text, (words, maps) = model.caption(pixels, beam_size=3, max_length=6, return_attention=True)
    assert maps.shape == (len(words), 3, 3) and words[: len(text.split())] == text.split()
    np.testing.assert_allclose(maps.sum((1, 2)), 1.0, rtol=1e-4)


def test_caption_errors_name_the_problem(tiny_captioner, tmp_path):
    model = tiny_captioner("sat-lstm-squeezenet")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="could not read the image .*notes.jpg"):
        model.caption(tmp_path / "notes.jpg")
    with pytest.raises(ValueError, match="beam_size"):
        model.caption(np.zeros((8, 8, 3), np.uint8), beam_size=0)
    size = model.vocabulary_size
    with pytest.raises(ValueError, match=rf"`beam_size` must be at most the vocabulary size \({size}\), got 100000"):
        model.caption(np.zeros((8, 8, 3), np.uint8), beam_size=100_000)
    with pytest.raises(ValueError, match="`vocabulary` has 5 ids"):
        model.set_vocabulary(WordVocabulary(["a"]))


def test_word_vocabulary_round_trip_and_unknown_words():
    vocabulary = WordVocabulary.from_texts(["a dog", "a cat", "a dog runs"], min_count=2)
    assert vocabulary.words == ["a", "dog"] and vocabulary.size == 6
    assert vocabulary.decode([2, *vocabulary.encode("a dog flies"), 3, 4]) == "a dog <unk>"
    assert WordVocabulary.from_json(vocabulary.to_json()) == vocabulary
    with pytest.raises(ValueError, match="distinct"):
        WordVocabulary(["a", "a"])
    with pytest.raises(ValueError, match="Not a word vocabulary"):
        WordVocabulary.from_json("{}")


def test_caption_bleu_matches_hand_computation():
    # BLEU-1: clipped unigram precision 3/4 ("a" twice, the references hold one);
    # closest reference length 4 = hypothesis length, so no brevity penalty.
    scores = caption_scores(["a a dog runs"], [["a dog runs fast", "the dog"]])
    assert scores["bleu1"] == pytest.approx(75.0)
    # BLEU-2: bigrams "a a" (0), "a dog" (1), "dog runs" (1): 2/3 -> sqrt(3/4 * 2/3).
    assert scores["bleu2"] == pytest.approx(100 * np.sqrt(0.75 * 2 / 3), abs=0.01)
    # Case does not matter; a repeated reference changes nothing.
    hypotheses, refs = ["A dog runs on grass", "two men ride"], [["a dog runs on the grass", "dog"], ["men ride"]]
    padded = [refs[0], ["men ride", "men ride"]]
    assert caption_scores(hypotheses, refs) == caption_scores(hypotheses, padded)
    streams = [[r[k] for r in padded] for k in range(2)]
    assert caption_scores(hypotheses, refs)["bleu4"] == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses, streams, lowercase=True).score, abs=0.01
    )
    with pytest.raises(ValueError, match="non-empty list per hypothesis"):
        caption_scores(["a"], [[]])


def test_nearest_neighbour_takes_the_consensus_caption_of_the_closest_image():
    train = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # [images, locations, channels]
    # "a dog runs on the grass" shares the most with the other captions of its image.
    captions = [
        ["a cat sleeps on a sofa", "a dog runs on the grass", "a brown dog runs on the grass",
         "a dog runs on the green grass"],
        ["a bike", "a man rides a bike down the hill", "a man rides a bike down a hill"],
    ]
    query = np.array([[[0.1, 0.9]], [[5.0, 0.2]]])
    found = nearest_neighbour_captions(train, captions, query)
    assert found == ["a man rides a bike down the hill", "a dog runs on the grass"]


def test_features_are_the_frozen_encoder_grid(tiny_captioner):
    model = tiny_captioner("sat-lstm-squeezenet")
    images = np.random.default_rng(2).integers(0, 256, (2, 63, 63, 3)).astype("float32")
    grid = model.encoder(tf.constant(images))
    np.testing.assert_allclose(np.asarray(model.encode_images(images)), np.asarray(grid).reshape(2, 9, 512))


def two_members(tiny_captioner):
    """Two captioners with one image encoder and vocabulary, decoders apart."""
    a, b = tiny_captioner("sat-lstm-squeezenet"), tiny_captioner("sat-lstm-squeezenet")
    b.encoder.set_weights(a.encoder.get_weights())
    rng = np.random.default_rng(0)
    for model in (a, b):  # random output layers: varied words, each model its own
        for v in model.output_layer.weights + model.pre_output.weights + model.embedding.weights:
            v.assign(rng.normal(scale=2.0, size=v.shape).astype("float32"))
    return a, b


def test_an_ensemble_decodes_with_the_mean_of_its_members_log_probabilities(tiny_captioner):
    from zoo import decoding
    from zoo.models.captioner import BOS

    a, b = two_members(tiny_captioner)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 63, 63, 3)).astype("float32")
    features = a.encode_images(pixels)
    # One step: the mean of the members' log-probabilities, each from its own state.
    encode, step = decoding.ensemble_hooks([a, b])
    memory, state = encode(features)
    tokens = tf.fill([3], BOS)
    log_probs, attention, _ = step(tokens, state, memory)
    expected = [m.decode_step(tokens, *reversed(m.encode(features)))[0] for m in (a, b)]
    np.testing.assert_allclose(log_probs, (expected[0] + expected[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(attention, a.decode_step(tokens, *reversed(a.encode(features)))[1], atol=1e-6)
    # A model with a copy of itself captions as the model alone.
    alone = a.caption(list(pixels), beam_size=3, max_length=8)
    twin = tiny_captioner("sat-lstm-squeezenet")
    twin.set_weights(a.get_weights())
    a.set_members([twin])
    assert a.caption(list(pixels), beam_size=3, max_length=8) == alone
    # With another member: the compiled beam search follows the eager one over the mean step.
    a.set_members([b])
    assert tuple(a.members) == (b,) and len(a.weights) == len(b.weights)  # b's weights stay b's
    found, _ = a.decode_features(features, beam_size=3, max_length=8, min_length=5)
    reference, _ = a.search.reference(features, 3, 8, alpha=0.0, min_length=5)
    assert [s.tolist() for s in found] == [s.tolist() for s in reference]
    a.set_members(())
    assert a.caption(list(pixels), beam_size=3, max_length=8) == alone


def test_ensemble_members_are_checked(tiny_captioner):
    a, b = two_members(tiny_captioner)
    with pytest.raises(TypeError, match=r"`models\[0\]` must be a Captioner, got str"):
        a.set_members(["b"])
    with pytest.raises(TypeError, match="`models` must be a list of captioners, got Captioner"):
        a.set_members(b)
    with pytest.raises(ValueError, match=r"`models\[0\]` must be another model"):
        a.set_members([a])
    with pytest.raises(ValueError, match=r"`models\[1\]` must be another model, given once"):
        a.set_members([b, b])
    other = tiny_captioner("sat-lstm-squeezenet")  # its own random encoder
    with pytest.raises(ValueError, match=r"`models\[1\]` has another image encoder"):
        a.set_members([b, other])
    b.set_vocabulary(WordVocabulary(a.vocabulary.words[:4] + list(reversed(a.vocabulary.words[4:]))))
    with pytest.raises(ValueError, match=r"`models\[0\]` has another vocabulary"):
        a.set_members([b])
    assert len(a.members) == 0


def test_an_ensemble_saves_and_loads_with_its_members(tiny_captioner, tmp_path):
    import zoo
    from zoo import saving

    a, b = two_members(tiny_captioner)
    a.set_members([b])
    pixels = np.random.default_rng(2).integers(0, 256, (2, 63, 63, 3)).astype("float32")
    expected = a.caption(list(pixels), beam_size=3, max_length=8)
    a.save_weights(tmp_path / "a.weights.h5")  # Keras's weight files hold this model's weights alone
    with h5py.File(tmp_path / "a.weights.h5") as stored:
        arrays = []
        stored.visititems(lambda name, item: arrays.append(name) if isinstance(item, h5py.Dataset) else None)
    assert len(arrays) == len(a.weights)
    a.load_weights(tmp_path / "a.weights.h5")
    saving.save(a, tmp_path / "ensemble", "sat-lstm-squeezenet", {"metrics": {}})
    assert (tmp_path / "ensemble" / "members" / "0" / "weights.npz").is_file()
    loaded = zoo.load("sat-lstm-squeezenet", weights=tmp_path / "ensemble")
    assert len(loaded.members) == 1 and not loaded.members[0].members
    assert loaded.caption(list(pixels), beam_size=3, max_length=8) == expected  # float16 weights: these agree
    (tmp_path / "ensemble" / "members" / ".DS_Store").write_text("not a member")
    assert len(zoo.load("sat-lstm-squeezenet", weights=tmp_path / "ensemble").members) == 1
    (tmp_path / "ensemble" / "members" / "2").mkdir()
    with pytest.raises(ValueError, match=r"members is corrupt: it should hold the folders 0 to 1, got \[0, 2\]"):
        zoo.load("sat-lstm-squeezenet", weights=tmp_path / "ensemble")
    (tmp_path / "ensemble" / "members" / "2").rmdir()
    (tmp_path / "ensemble" / "members" / "0" / "weights.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"members/0/weights.npz is corrupt: its sha256 does not match"):
        zoo.load("sat-lstm-squeezenet", weights=tmp_path / "ensemble")
    c = tiny_captioner("sat-lstm-squeezenet")
    c.encoder.set_weights(a.encoder.get_weights())
    b.set_members([c])  # a member made an ensemble after it joined: refused when saved
    with pytest.raises(ValueError, match="member 0 of the ensemble is an ensemble itself"):
        saving.save(a, tmp_path / "nested", "sat-lstm-squeezenet")
    assert not (tmp_path / "nested").exists()
