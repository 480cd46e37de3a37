"""Every bad input to the model API gets a clear answer: the argument, the value
and what is allowed, as a TypeError or ValueError raised before Keras (no ANSI
colour codes); and the inputs that used to go wrong silently (blank or long
text, 16-bit images, [0, 1] floats, bytes) now do what the docstrings say."""

import errno
import io
import math
import pathlib
import threading
import time

import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

import zoo
from zoo.data import download, flickr8k, tokenizers
from zoo.data.text import UNKNOWN_ID, CharVocabulary
from zoo.tasks import text_generation, translation

ANSI = "\x1b["
# The sizes of tests/conftest.py's tiny models (built here once per module, not once per case).
TINY = {"embedding_dim": 8, "units": 8, "dropout": 0.1}
TINY_CHARS = "abcdefgh \n"
TINY_CAPTIONS = ["a dog runs on the grass", "a man rides a red bike", "two dogs play in the snow"]
SENTENCES = ["Der Hund ist rot.", "Der Ball ist blau.", "Der Hut ist grün.", "Das Auto ist gelb."]


def raises(kind, match, call):
    """`call()` raises exactly `kind`, its message matches and has no colour codes."""
    with pytest.raises(kind, match=match) as info:
        call()
    assert type(info.value) is kind, f"{type(info.value).__name__}: {info.value}"
    assert ANSI not in str(info.value)
    return str(info.value)


# -- models, built once per module -------------------------------------------------------------------


@pytest.fixture(scope="module")
def translator(tiny_corpus_module):
    sources, targets = tiny_corpus_module
    protos = tokenizers.train_sentencepiece(sources, 40), tokenizers.train_sentencepiece(targets, 40)
    sizes = [tokenizers.tokenizer(p).vocabulary_size() for p in protos]
    keras.utils.set_random_seed(0)
    model = zoo.build("lstm-seq2seq-attn", source_vocabulary_size=sizes[0], target_vocabulary_size=sizes[1],
                      source_language="de", **TINY)
    model.set_tokenizers(*protos)
    model.build_for_inference()
    return model


@pytest.fixture(scope="module")
def tiny_corpus_module():
    colors = {"rot": "red", "blau": "blue", "grün": "green", "gelb": "yellow"}
    things = {"Hund": "dog", "Ball": "ball", "Hut": "hat", "Auto": "car"}
    pairs = [(f"Der {t} ist {c}.", f"The {et} is {ec}.") for t, et in things.items() for c, ec in colors.items()]
    return [s for s, _ in pairs], [t for _, t in pairs]


@pytest.fixture(scope="module")
def char_model():
    keras.utils.set_random_seed(0)
    vocabulary = CharVocabulary(TINY_CHARS)
    model = zoo.build("char-lstm", vocabulary_size=vocabulary.size,
                      **{**TINY, "units": 16, "dropout": 0.0})
    model.set_vocabulary(vocabulary)
    model.build_for_inference()
    rng = np.random.default_rng(1)  # far from uniform, so samplers differ visibly
    for w in model.weights:
        w.assign(rng.normal(scale=0.6, size=w.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def captioner():
    from zoo.data.tokenizers import WordVocabulary

    keras.utils.set_random_seed(0)
    vocabulary = WordVocabulary.from_texts(TINY_CAPTIONS)
    model = zoo.build("sat-lstm-squeezenet", vocabulary_size=vocabulary.size, **TINY, image_size=63)
    model.set_vocabulary(vocabulary)
    model.build_for_inference()
    return model


# -- translate ----------------------------------------------------------------------------------------


def read_as_one(translations, sources):
    """What `translate` gives for `sources` read as one text: the translations
    joined by spaces, each ending as its source sentence ends ("." "!" "?")."""
    return " ".join(t + s[-1] if t and s[-1] in ".!?" and not t.endswith((".", "!", "?")) else t
                    for t, s in zip(translations, sources))


def spy_decode(model, monkeypatch):
    """Records the source batches `translate` hands to the decoder."""
    batches, decode = [], translation._decode

    def recording(model, source, *args, **kwargs):
        batches.append(np.array(source))
        return decode(model, source, *args, **kwargs)

    monkeypatch.setattr(translation, "_decode", recording)
    return batches


def test_blank_text_translates_to_blank_without_running_the_model(translator, monkeypatch):
    batches = spy_decode(translator, monkeypatch)
    assert translator.translate("") == ""
    assert translator.translate(["", "   ", "\t\n", "\u3000"]) == ["", "", "", ""]
    assert batches == []
    expected = translator.translate("Der Hund ist rot.", beam_size=1)
    batches.clear()
    assert translator.translate(["  ", "Der Hund ist rot.", ""], beam_size=1) == ["", expected, ""]
    assert [len(b) for b in batches] == [1]  # only the non-blank sentence reached the decoder
    texts, extra = translator.translate(["", "Der Hund ist rot."], return_attention=True)
    assert texts[0] == "" and extra[0][0] == [] and extra[0][1] == [] and extra[0][2].shape == (0, 0)


def test_a_final_word_boundary_piece_leaves_no_space_at_the_end(translator, monkeypatch):
    # SentencePiece decodes a final "▁" piece (an untrained model's favourite) as a trailing space
    monkeypatch.setattr(translator.target_tokenizer, "detokenize", lambda ids: [b"A man "] * int(ids.nrows()))
    assert translator.translate(["Der Hund ist rot.", "Der Hut ist gelb. Der Ball ist blau."], beam_size=1) == [
        "A man", "A man. A man."]


def test_characters_outside_the_source_vocabulary_are_named_in_a_warning(translator):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the vocabulary's own characters: no warning
        translator.translate(SENTENCES, beam_size=1)
    with pytest.warns(UserWarning, match=r"1 of 2 texts hold characters outside the model's source vocabulary "
                                         r"\(de\): '€🐶'") as caught:
        translator.translate(["Der 🐶 ist rot €.", "Der Hund ist rot."], beam_size=1)
    assert caught[0].filename == __file__  # it points at the caller


def test_text_beyond_the_encoder_limit_is_translated_in_full(translator, monkeypatch):
    from zoo.tasks.translation import MAX_SOURCE_TOKENS

    sentences = SENTENCES * 25
    text = " ".join(sentences)
    pieces = tokenizers.tokenizer(translator.source_proto)([text])
    pieces = pieces.to_list() if hasattr(pieces, "to_list") else pieces
    assert len(pieces[0]) > 2 * MAX_SOURCE_TOKENS  # would have been cut to 255 pieces
    per_sentence = translator.translate(sentences, beam_size=1)
    assert translator.translate(text, beam_size=1) == read_as_one(per_sentence, sentences)
    # A "sentence" with no end mark is cut into chunks within the limit; nothing is dropped.
    run_on = " ".join(s.rstrip(".") for s in sentences)
    full = tokenizers.tokenizer(translator.source_proto)([run_on])
    full = list(map(int, (full.to_list() if hasattr(full, "to_list") else full)[0]))
    batches = spy_decode(translator, monkeypatch)
    output, (source_pieces, output_pieces, weights) = translator.translate(
        run_on, beam_size=1, return_attention=True
    )
    rows = [row[row != 0] for batch in batches for row in batch]
    assert len(rows) >= 2 and all(len(r) <= MAX_SOURCE_TOKENS and r[-1] == tokenizers.EOS for r in rows)
    assert min(map(len, rows)) > MAX_SOURCE_TOKENS // 3  # chunks of about equal length, no short remainder
    assert [int(i) for r in rows for i in r[:-1]] == full
    assert len(source_pieces) == len(full) + len(rows)  # every piece, and an end token per part
    assert weights.shape == (len(output_pieces), len(source_pieces))
    assert isinstance(output, str) and output


def test_a_text_of_several_sentences_is_translated_sentence_by_sentence(translator):
    sentences = ["Der Hund ist rot.", "Das Auto ist gelb!", "Zwei Hunde spielen im Schnee."]
    alone = translator.translate(sentences, beam_size=1)
    together = translator.translate(f"{sentences[0]} {sentences[1]}\n{sentences[2]}", beam_size=1)
    assert together == read_as_one(alone, sentences)
    assert together != " ".join(alone)  # this tiny model stops before some final marks: they are added
    with pytest.raises(ValueError, match=r"`sentences\[1\]` holds several sentences .*one sentence at a time"):
        translator.translate(["Der Hund.", " ".join(sentences)], num_return_sequences=2)
    assert len(translator.translate(sentences[0], num_return_sequences=2)) == 2
    # German abbreviations, ordinals and initials end no sentence (the model's source_language): one part each.
    assert translator.source_language == "de"
    for sentence in ["Am 3. Mai kommt Dr. Müller, z. B. um 8 Uhr.", "Ein Schild, auf dem E.S.E. Electronics steht.",
                     'Er sagte: "Komm!" und ging.', "Das kostet ca. 5 Euro usw. und so weiter."]:
        assert len(translator.translate(sentence, num_return_sequences=2)) == 2, sentence


def test_sentence_languages_are_those_pysbd_knows():
    import pysbd.languages

    from zoo.data.translation import SENTENCE_LANGUAGES
    from zoo.tasks.translation import split_sentences

    assert SENTENCE_LANGUAGES == tuple(sorted(pysbd.languages.LANGUAGE_CODES))
    assert split_sentences("Mr. Smith came. He sat at 5 p.m. on a chair.", "en") == [
        "Mr. Smith came.", "He sat at 5 p.m. on a chair."]
    with pytest.raises(ValueError, match=r"`source_language` must be one of \['am', .*got 'xx'"):
        zoo.build("lstm-seq2seq-attn", source_language="xx")


@pytest.mark.parametrize("sentences, kind, message", [
    ([None], TypeError, r"`sentences\[0\]` must be a string, got NoneType"),
    ("Ein \ud800 Hund.", ValueError, r"`sentences` is not valid text: '\\ud800' at index 4 is a lone surrogate"),
    (["Ein Hund.", "\udcff"], ValueError, r"`sentences\[1\]` is not valid text"),
    (["Der Hund ist rot.", 3], TypeError, r"`sentences\[1\]` must be a string, got int \(3\)"),
    ({"Der Hund ist rot.": 1}, TypeError, r"`sentences` must be a string or a list of strings, got dict"),
    ({"Der Hund ist rot."}, TypeError, r"got set, which has no order"),
    (b"Der Hund ist rot.", TypeError, r"got bytes: decode it first"),
    (3, TypeError, r"`sentences` must be a string or a list of strings, got int"),
])
def test_translate_rejects_what_is_not_text(translator, sentences, kind, message):
    raises(kind, message, lambda: translator.translate(sentences))


@pytest.mark.parametrize("kwargs, kind, message", [
    ({"max_length": -1}, ValueError, r"`max_length` must be an integer in \[1, 1024\] or None, got -1"),
    ({"max_length": 0}, ValueError, r"`max_length` must be an integer in \[1, 1024\] or None, got 0"),
    ({"max_length": 2**32}, ValueError, r"`max_length` must be an integer in \[1, 1024\] or None, got 4294967296"),
    ({"max_length": "5"}, TypeError, r"`max_length` must be an integer in \[1, 1024\] or None, got '5' of type str"),
    ({"batch_size": 0}, ValueError, r"`batch_size` must be a positive integer, got 0"),
    ({"beam_size": 0}, ValueError, r"`beam_size` must be a positive integer, got 0"),
    ({"beam_size": True}, TypeError, r"`beam_size` must be a positive integer, got True of type bool"),
    ({"beam_size": 2.0}, TypeError, r"`beam_size` must be a positive integer, got 2.0"),
    ({"beam_size": 10**18}, ValueError, r"`beam_size` must be at most the target vocabulary size \(\d+\), got 10+"),
    ({"alpha": -0.5}, ValueError, r"`alpha` must be a finite number >= 0, got -0.5"),
    ({"alpha": math.nan}, ValueError, r"`alpha` must be a finite number >= 0, got nan"),
    ({"alpha": math.inf}, ValueError, r"`alpha` must be a finite number >= 0, got inf"),
    ({"return_attention": "yes"}, TypeError, r"`return_attention` must be True or False, got 'yes'"),
])
def test_translate_arguments_out_of_range_are_named(translator, kwargs, kind, message):
    raises(kind, message, lambda: translator.translate(["Der Hund ist rot."], **kwargs))


def test_translate_accepts_numpy_numbers(translator):
    expected = translator.translate(SENTENCES, beam_size=2, alpha=0.5, batch_size=3, max_length=7)
    assert translator.translate(
        np.array(SENTENCES), beam_size=np.int64(2), alpha=np.float32(0.5), batch_size=np.int32(3),
        max_length=np.int16(7),
    ) == expected


# -- generate -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, kind, message", [
    ({"temperature": math.nan}, ValueError, r"`temperature` must be a finite number >= 0, got nan"),
    ({"temperature": math.inf}, ValueError, r"`temperature` must be a finite number >= 0, got inf"),
    ({"temperature": np.float64(-1)}, ValueError, r"`temperature` must be a finite number >= 0"),
    ({"temperature": True}, TypeError, r"`temperature` must be a finite number >= 0, got True of type bool"),
    ({"temperature": "0.8"}, TypeError, r"`temperature` must be .*got '0.8' of type str"),
    ({"temperature": None}, TypeError, r"`temperature` must be .*got None"),
    ({"top_k": 0}, ValueError, r"`top_k` must be a positive integer or None, got 0"),
    ({"top_k": 2.5}, TypeError, r"`top_k` must be a positive integer or None, got 2.5"),
    ({"top_k": True}, TypeError, r"`top_k` must be a positive integer or None, got True"),
    ({"top_p": 0}, ValueError, r"`top_p` must be a finite number in \(0, 1\] or None, got 0"),
    ({"top_p": 1.5}, ValueError, r"`top_p` must be a finite number in \(0, 1\] or None, got 1.5"),
    ({"top_p": math.nan}, ValueError, r"`top_p` must be .*got nan"),
    ({"top_p": False}, TypeError, r"`top_p` must be .*got False of type bool"),
    ({"length": -1}, ValueError, r"`length` must be an integer in \[0, 10000000\], got -1"),
    ({"length": 2**40}, ValueError, r"`length` must be an integer in \[0, 10000000\], got 1099511627776"),
    ({"length": 2.0}, TypeError, r"`length` must be an integer in \[0, 10000000\], got 2.0"),
    ({"length": True}, TypeError, r"`length` must be an integer in \[0, 10000000\], got True"),
    ({"seed": -1}, ValueError, r"`seed` must be an integer in \[0, 9223372036854775807\] or None, got -1"),
    ({"seed": 2**63}, ValueError, r"`seed` must be an integer in \[0, "),
    ({"seed": 1.5}, TypeError, r"`seed` must be .*got 1.5"),
    ({"seed": "1"}, TypeError, r"`seed` must be .*got '1' of type str"),
    ({"num_samples": 0}, ValueError, r"`num_samples` must be an integer in \[1, 16384\], got 0"),
    ({"num_samples": 16385}, ValueError, r"`num_samples` must be an integer in \[1, 16384\], got 16385"),
    ({"num_samples": np.float64(2)}, TypeError, r"`num_samples` must be an integer in \[1, 16384\]"),
    ({"prompt": 3}, TypeError, r"`prompt` must be a non-empty string, got int"),
    ({"prompt": ""}, ValueError, r"`prompt` must be a non-empty string, got ''"),
])
def test_generate_arguments_are_checked_before_the_graph(char_model, kwargs, kind, message):
    raises(kind, message, lambda: char_model.generate(**{"prompt": "ab", "length": 5, **kwargs}))


def test_generate_accepts_numpy_scalars(char_model):
    assert char_model.generate("ab", np.int64(30), temperature=np.float32(0.8), seed=np.int32(3)) == (
        char_model.generate("ab", 30, temperature=float(np.float32(0.8)), seed=3)
    )
    assert char_model.generate("ab", 30, top_k=np.int64(3), top_p=np.float64(0.9), seed=4,
                               num_samples=np.int8(2)) == char_model.generate("ab", 30, top_k=3, top_p=0.9, seed=4,
                                                                              num_samples=2)


def keras_hub_in_one_piece(model, prompt, length, seed, sampler):
    """The reference: a keras_hub sampler seeded `seed` run over the whole length
    in one loop, as `generate` did before it ran in chunks."""
    ids = model.vocabulary.encode(prompt)
    tokens = np.zeros((1, len(ids) + length), np.int32)
    tokens[:, : len(ids)] = ids
    state = model(tokens[:, : len(ids) - 1], return_state=True)[1]
    never_unknown = np.zeros(model.vocabulary_size, np.float32)
    never_unknown[UNKNOWN_ID] = -1e9

    def next_logits(prompt, cache, i):
        logits, cache = model.step(ops.take(prompt, i - 1, axis=1), cache)
        return logits + never_unknown, None, cache

    out = sampler(next_logits, ops.convert_to_tensor(tokens), cache=state, index=len(ids))
    return model.vocabulary.decode(ops.convert_to_numpy(out)[0, len(ids):])


@pytest.mark.parametrize("kwargs", [{}, {"top_k": 3}, {"top_k": 5}, {"top_p": 0.8}, {"top_p": 0.5},
                                    {"top_p": 0.8, "top_k": 4}])
def test_generation_in_chunks_equals_the_sampler_in_one_piece(char_model, monkeypatch, kwargs):
    import keras_hub

    seed, length = 12, 45
    if "top_p" in kwargs:
        sampler = keras_hub.samplers.TopPSampler(p=kwargs["top_p"], k=kwargs.get("top_k"), seed=seed)
    elif "top_k" in kwargs:
        sampler = keras_hub.samplers.TopKSampler(k=kwargs["top_k"], seed=seed)
    else:
        sampler = keras_hub.samplers.RandomSampler(seed=seed)
    expected = keras_hub_in_one_piece(char_model, "ab c", length, seed, sampler)
    monkeypatch.setattr(text_generation, "SAMPLING_CHUNK", 7)  # 7 runs of the compiled loop
    assert char_model.generate("ab c", length, seed=seed, **kwargs) == expected


def test_values_of_top_k_and_top_p_share_one_trace_per_kind_of_sampler(monkeypatch):
    traced = []
    compile_ = text_generation._compile
    monkeypatch.setattr(text_generation, "_compile",
                        lambda fn, signature: traced.append(fn.__name__) or compile_(fn, signature))
    keras.utils.set_random_seed(0)
    model = zoo.build("char-gru", vocabulary_size=11, **{**TINY, "dropout": 0.0})
    model.set_vocabulary(CharVocabulary(TINY_CHARS))
    greedy = model.generate("ab", 30, temperature=0)
    for value in (1, 2, 3, 7):
        model.generate("ab", 30, top_k=value, seed=value)
    for value in (0.3, 0.5, 0.9, 1.0):
        model.generate("ab", 30, top_p=value, seed=1)
        model.generate("ab", 30, top_p=value, top_k=3, seed=1)
    assert traced.count("loop") == 4  # greedy, top-k, top-p, top-p within top-k
    # the values reach the trace: the narrowest choices are greedy
    assert model.generate("ab", 30, top_k=1, seed=5) == greedy
    assert model.generate("ab", 30, top_p=1e-6, seed=5) == greedy


def test_same_seed_from_two_threads_gives_the_serial_output(char_model):
    serial = {seed: char_model.generate("ab", 400, seed=seed, top_p=0.9) for seed in (1, 2)}
    results, errors = [], []

    def work(seed):
        try:
            for _ in range(3):
                results.append((seed, char_model.generate("ab", 400, seed=seed, top_p=0.9)))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 9
    assert all(text == serial[seed] for seed, text in results)


CTRL_C_SCRIPT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, however the tests were started
import zoo
from zoo.data.text import CharVocabulary
vocabulary = CharVocabulary(sys.argv[1])
model = zoo.build("char-lstm", vocabulary_size=vocabulary.size, embedding_dim=8, units=16, dropout=0.0)
model.set_vocabulary(vocabulary)
model.build_for_inference()
model.generate("ab", 10, seed=0)  # traced: the interrupt must land in sampling, not tracing
print("sampling", flush=True)
start = time.monotonic()
try:
    model.generate("ab", 5_000_000, seed=0)  # minutes of sampling in one piece
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - start:.2f} s", flush=True)
"""


def test_long_generation_stops_promptly_on_ctrl_c():
    """Ctrl-C (SIGINT to the process, as a terminal sends it) stops a long
    generation within a chunk. In a fresh process with Python's own SIGINT
    handler: a test run started in the background (`make test &`) inherits
    SIGINT ignored, and then no interrupt would land at all."""
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, TINY_CHARS],
                               cwd=pathlib.Path(zoo.__file__).parents[1], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "sampling", process.stderr.read()
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    seconds = float(out.split("interrupted after ")[1].split()[0])
    assert seconds < 0.5 + 5.0


# -- images -------------------------------------------------------------------------------------------


GRADIENT = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))  # [48, 64], 0..252


def test_16_bit_grayscale_png_is_scaled_not_saturated(tmp_path):
    path = tmp_path / "gray16.png"
    Image.fromarray(GRADIENT.astype(np.uint16) * 257).save(path)  # the same picture in 16 bits
    assert Image.open(path).mode.startswith("I")
    loaded = flickr8k.load_image(path, size=32)
    expected = flickr8k.load_image(GRADIENT, size=32)
    assert (loaded >= 254.5).mean() < 0.05  # was 99.8 % white
    np.testing.assert_allclose(loaded, expected, atol=1.0)
    np.testing.assert_allclose(flickr8k.load_image(GRADIENT.astype(np.uint16) * 257, size=32), expected, atol=1.0)


def test_32_bit_integer_image_is_read_as_16_bit(tmp_path):
    path = tmp_path / "gray32.tif"
    Image.fromarray(GRADIENT.astype(np.int32) * 257).save(path)
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(flickr8k.load_image(path, size=32), flickr8k.load_image(GRADIENT, size=32), atol=1.0)


def test_float_arrays_in_0_1_are_refused_with_the_fix():
    scaled = GRADIENT / 255.0
    message = raises(ValueError, r"\[0, 255\].*multiply it by 255", lambda: flickr8k.load_image(scaled))
    assert "lie in [0, 0.988" in message
    np.testing.assert_allclose(flickr8k.load_image(scaled * 255, size=16), flickr8k.load_image(GRADIENT, size=16),
                               atol=1.0)
    assert flickr8k.load_image(np.zeros((8, 8)), size=4).max() == 0  # black in either scale: accepted


def test_bytes_are_image_data_or_a_path(tmp_path):
    path = tmp_path / "image.png"
    Image.fromarray(np.stack([GRADIENT] * 3, -1)).save(path)
    expected = flickr8k.load_image(path, size=16)
    np.testing.assert_array_equal(flickr8k.load_image(path.read_bytes(), size=16), expected)
    np.testing.assert_array_equal(flickr8k.load_image(bytes(path), size=16), expected)
    np.testing.assert_array_equal(flickr8k.load_image(Image.open(path), size=16), expected)
    raises(ValueError, r"could not read the image given as 12 bytes: not an image format Pillow reads$",
           lambda: flickr8k.load_image(b"not an image"))
    raises(FileNotFoundError, r"`image` is an empty path", lambda: flickr8k.load_image(""))
    raises(IsADirectoryError, rf"{tmp_path} is a directory, not an image file", lambda: flickr8k.load_image(tmp_path))
    raises(TypeError, r"`image` must be a path, the bytes .* got NoneType", lambda: flickr8k.load_image(None))


def test_caption_reads_bytes_and_names_bad_images_and_arguments(captioner, tmp_path):
    path = tmp_path / "image.jpg"
    Image.fromarray(np.stack([GRADIENT] * 3, -1)).save(path)
    assert captioner.caption(path.read_bytes(), beam_size=1) == captioner.caption(str(path), beam_size=1)
    raises(TypeError, r"`images\[1\]` must be a path, .* got int", lambda: captioner.caption([str(path), 3]))
    raises(TypeError, r"`images` must be an image .* got dict", lambda: captioner.caption({"a": path}))
    raises(ValueError, r"`images\[1\]`: .*multiply it by 255",
           lambda: captioner.caption([str(path), GRADIENT / 255.0], beam_size=1))
    for kwargs, kind, message in [
        ({"beam_size": 0}, ValueError, r"`beam_size` must be a positive integer, got 0"),
        ({"max_length": True}, TypeError, r"`max_length` must be an integer in \[1, 1024\], got True"),
        ({"max_length": 10**9}, ValueError, r"`max_length` must be an integer in \[1, 1024\], got 1000000000"),
        ({"alpha": math.nan}, ValueError, r"`alpha` must be a finite number >= 0, got nan"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be a positive integer, got 0"),
    ]:
        raises(kind, message, lambda kwargs=kwargs: captioner.caption(str(path), **kwargs))


# -- saved assets and the cache -----------------------------------------------------------------------


@pytest.mark.parametrize("content, reason", [
    (b"", "it is empty"),
    (b"\x00garbage\xff" * 10, r"\(90 bytes; "),
])
def test_corrupt_sentencepiece_file_is_named(translator, tmp_path, content, reason):
    (tmp_path / "source.spm").write_bytes(translator.source_proto)
    (tmp_path / "target.spm").write_bytes(content)
    message = raises(ValueError, r"target\.spm is not a SentencePiece model", lambda: translator.load_assets(tmp_path))
    assert str(tmp_path / "target.spm") in message
    raises(ValueError, reason, lambda: translator.load_assets(tmp_path))
    (tmp_path / "source.spm").unlink()
    raises(FileNotFoundError, r"source\.spm not found: the model's tokenizer file is missing\.$",
           lambda: translator.load_assets(tmp_path))


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'{"chars": null}', b'{"chars": ["ab"]}',
                                     b"\xff\xfe\x00"])
def test_corrupt_character_vocabulary_file_is_named(char_model, tmp_path, content):
    (tmp_path / "vocabulary.json").write_bytes(content)
    message = raises(ValueError, "vocabulary.json is not a CharVocabulary file",
                     lambda: char_model.load_assets(tmp_path))
    assert str(tmp_path / "vocabulary.json") in message


@pytest.mark.parametrize("content", [b"{not json", b'{"chars": []}', b'{"words": [1, 2]}', b'{"words": "a b"}'])
def test_corrupt_word_vocabulary_file_is_named(captioner, tmp_path, content):
    (tmp_path / "vocabulary.json").write_bytes(content)
    message = raises(ValueError, "vocabulary.json is not a WordVocabulary file",
                     lambda: captioner.load_assets(tmp_path))
    assert str(tmp_path / "vocabulary.json") in message


@pytest.fixture
def no_download(monkeypatch):
    monkeypatch.delenv(download.DATA_ENV, raising=False)

    def fail(*args, **kwargs):
        raise AssertionError("nothing may be downloaded when the cache cannot be written")

    monkeypatch.setattr(download.urllib.request, "urlretrieve", fail)


def test_cache_dir_that_is_a_file_is_named_with_its_variable(tmp_path, monkeypatch, no_download):
    cache = tmp_path / "cache"
    cache.write_text("not a directory")
    monkeypatch.setenv(download.CACHE_ENV, str(cache))
    message = raises(NotADirectoryError, r"ZOO_CACHE_DIR=.*is a file, not a directory",
                     lambda: download.fetch("nietzsche/nietzsche.txt"))
    assert str(cache) in message


def test_unwritable_cache_dir_is_named_with_its_variable(tmp_path, monkeypatch, no_download):
    cache = tmp_path / "cache"
    monkeypatch.setenv(download.CACHE_ENV, str(cache))
    mkdir = pathlib.Path.mkdir

    def refuse(self, *args, **kwargs):  # what a read-only directory does (root would not see it)
        if str(self).startswith(str(cache)):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    message = raises(PermissionError, r"cannot write in the download cache .*ZOO_CACHE_DIR=.*Permission denied",
                     lambda: download.fetch("nietzsche/nietzsche.txt"))
    assert str(cache) in message and download.DATA_ENV in message


def test_empty_cache_variable_means_the_default(monkeypatch):
    monkeypatch.setenv(download.CACHE_ENV, "")
    assert download.cache_dir() == pathlib.Path.home() / ".cache" / "zoo"
    monkeypatch.setenv(download.CACHE_ENV, "~/zoo-cache")
    assert download.cache_dir() == pathlib.Path.home() / "zoo-cache"


def test_png_bytes_from_memory_equal_the_array():
    buffer = io.BytesIO()
    Image.fromarray(GRADIENT).save(buffer, "PNG")
    np.testing.assert_array_equal(flickr8k.load_image(buffer.getvalue(), size=8), flickr8k.load_image(GRADIENT, size=8))


def test_decoding_options_reach_the_search(tiny_translator, tiny_captioner):
    model = tiny_translator("lstm-seq2seq-attn")
    source = "Der Hund ist rot."
    assert isinstance(model.translate(source, beam_size=2, min_length=11, allow_unk=True, max_length=12), str)
    parts = translation._source_parts(model, [source])[0][0]
    ids = translation._translate_ids(model, parts, 1, 12, 0.0, 1, min_length=11)[0][0]
    assert len(ids) >= 11  # the end token was masked for 11 steps
    with pytest.raises(TypeError, match="allow_unk"):
        model.translate(source, allow_unk="yes")
    with pytest.raises(ValueError, match="no_repeat_ngram_size"):
        model.translate(source, no_repeat_ngram_size=-1)
    captioner = tiny_captioner("sat-lstm-squeezenet")
    image = np.zeros((63, 63, 3), np.uint8)
    words = captioner.caption(image, beam_size=2, min_length=5, max_length=6).split()
    assert len(words) >= 5 and "<unk>" not in words


@pytest.mark.parametrize("call, kind, message", [
    (lambda m: m.log_loss(None), TypeError, r"`text` must be a string, got NoneType"),
    (lambda m: m.gates(b"ab"), TypeError, r"`text` must be a string, got bytes"),
    (lambda m: m.gate_figure("ab", units=1.5), TypeError, r"`units` must be an integer in \[0, 15\], got 1.5"),
    (lambda m: m.gate_figure("ab", units=[0, True]), TypeError, r"`units` must be an integer in \[0, 15\], got True"),
    (lambda m: m.gate_figure("ab", units=16), ValueError, r"`units` must be an integer in \[0, 15\], got 16"),
    (lambda m: m.gate_figure("ab", units=[]), ValueError, r"`units` must be None, a unit or a non-empty list"),
    (lambda m: m.gate_figure("ab", names="forgot"), ValueError, r"`names` must be among .*, got 'forgot'"),
])
def test_inspection_arguments_are_named(char_model, call, kind, message):
    raises(kind, message, lambda: call(char_model))


def test_gate_figure_takes_one_gate_name_as_a_string(char_model):
    fig = char_model.gate_figure("ab", names="forget", units=np.int64(2))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["forget #2"]


def test_a_dataframe_is_refused_rather_than_translated_by_its_column_names(tiny_translator):
    import pandas as pd

    model = tiny_translator("lstm-seq2seq-attn")
    with pytest.raises(TypeError, match=r"got a DataFrame: pass one column of it, e\.g\. `df\['source'\]\.tolist\(\)`"):
        model.translate(pd.DataFrame({"source": ["Der Hund ist rot."]}))
    assert model.translate(pd.Series(["Der Hund ist rot."]), beam_size=1) == model.translate(["Der Hund ist rot."],
                                                                                            beam_size=1)


def test_a_text_of_punctuation_only_is_translated_with_a_warning(tiny_translator):
    model = tiny_translator("lstm-seq2seq-attn")
    with pytest.warns(UserWarning, match=r"1 of 2 texts hold no word, only punctuation or symbols \('\.\.\.'\)"):
        model.translate(["...", "Der Hund ist rot."], beam_size=1)


def test_a_long_line_is_split_as_pysbd_splits_it_whole():
    """The splitter reads a long line in windows (pysbd's time grows with the square of its input); the
    sentences are those of reading it whole."""
    import random

    import pysbd

    from zoo.tasks.translation import SEGMENT_WINDOW, split_sentences

    pool = ["Am 3. Mai kommt Dr. Müller.", "Er rennt!", "Dann zwei Katzen?", "Ja.", "Z. B. die U.S.A. sind groß.",
            "Er kam um 5 p.m. an.", "Der Hund ist rot, das Auto ist gelb."]
    line = " ".join(random.Random(0).choice(pool) for _ in range(400))
    assert len(line) > 4 * SEGMENT_WINDOW
    whole = [s.strip() for s in pysbd.Segmenter(language="de", clean=False).segment(line) if s.strip()]
    assert split_sentences(line, "de") == whole
    unbroken = "a" * (3 * SEGMENT_WINDOW)  # no boundary at all: cut into windows, nothing lost
    assert "".join(split_sentences(unbroken, "de")) == unbroken


def _unknown_wins(model):
    """The model's output layer made to favour the unknown token above all others."""
    from zoo.data.tokenizers import UNK

    kernel, bias = model.output_layer.get_weights()
    bias[UNK] = 1e3
    model.output_layer.set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("beam_size", [1, 3])
def test_allow_unk_lets_translate_write_the_unknown_piece(tiny_translator, beam_size):
    model = _unknown_wins(tiny_translator("lstm-seq2seq-attn"))
    assert "\u2047" in model.translate("Der Hund ist rot.", beam_size=beam_size, allow_unk=True, max_length=4)
    assert "\u2047" not in model.translate("Der Hund ist rot.", beam_size=beam_size, max_length=4)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_allow_unk_lets_caption_write_the_unknown_word(tiny_captioner, beam_size):
    model = _unknown_wins(tiny_captioner("sat-lstm-squeezenet"))
    image = np.zeros((40, 40, 3), np.uint8)
    assert "<unk>" in model.caption(image, beam_size=beam_size, allow_unk=True, max_length=4).split()
    assert "<unk>" not in model.caption(image, beam_size=beam_size, max_length=4).split()
