"""The exported SavedModels refuse what the Python API refuses, naming the
input, and answer what both accept alike."""

import pytest

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")  # exported once for the module's tests: an export takes seconds
def served_translator(tiny_translator, tmp_path_factory):
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    from zoo.tasks import translation

    model = tiny_translator("lstm-seq2seq-attn")
    directory = tmp_path_factory.mktemp("export") / "translator"
    translation.export(model, directory)
    serve = tf.saved_model.load(str(directory)).signatures["serving_default"]
    return model, lambda sentences: [s.decode("utf-8") for s in serve(sentences=sentences)["translations"].numpy()]


@pytest.mark.parametrize("sentences, message", [
    (tf.constant([["Der Hund", "ist rot"], ["Das Auto", "ist gelb"]]), "`sentences` must be a 1-D batch of strings"),
    (tf.constant([b"Der Hund \xff\xfe ist rot."]), "`sentences` holds bytes that are not UTF-8 text"),
])
def test_the_exported_translator_refuses_what_translate_refuses(served_translator, sentences, message):
    model, served = served_translator
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served(sentences)


def test_the_exported_translator_answers_blank_and_zero_width_text_as_translate(served_translator):
    model, served = served_translator
    texts = ["\u200b", " ", "\u2028", "Der Hund ist rot.", "\u200bDer Ball"]
    assert served(tf.constant(texts)) == model.translate(texts, beam_size=1)
    assert model.translate("\u200b") == ""


@pytest.fixture(scope="module")
def served_generator(tiny_char_model, tmp_path_factory):
    from zoo.tasks import text_generation

    model = tiny_char_model("char-lstm")
    directory = tmp_path_factory.mktemp("export") / "generator"
    text_generation.export(model, directory)
    serve = tf.saved_model.load(str(directory)).signatures["serving_default"]

    def served(prompt, length, temperature, seed):
        return serve(prompt=tf.constant(prompt), length=tf.constant(length, tf.int32),
                     temperature=tf.constant(temperature, tf.float32),
                     seed=tf.constant(seed, tf.int64))["text"].numpy().decode()

    return model, served


@pytest.mark.parametrize("prompt, length, temperature, seed, message", [
    ("ab", 10, float("nan"), 1, "`temperature` must be a finite number >= 0"),
    ("ab", 10, -1.0, 1, "`temperature` must be a finite number >= 0"),
    ("ab", 10, float("inf"), 1, "`temperature` must be a finite number >= 0"),
    ("ab", 10, 0.8, -1, r"`seed` must be in \[0, 2\*\*63\)"),
    ("ab", -3, 0.8, 1, r"`length` must be in \[0, "),
    ("", 10, 0.8, 1, "`prompt` must be a non-empty string"),
    (b"a\xffb", 10, 0.8, 1, "`prompt` holds bytes that are not UTF-8 text"),
])
def test_the_exported_generator_refuses_what_generate_refuses(served_generator, prompt, length, temperature, seed,
                                                               message):
    model, served = served_generator
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served(prompt, length, temperature, seed)
    if isinstance(prompt, str):  # the API refuses the same arguments
        with pytest.raises((ValueError, TypeError)):
            model.generate(prompt, length, temperature=temperature, seed=seed)


def test_the_exported_generator_samples_as_generate(served_generator):
    model, served = served_generator
    for temperature, seed in ((0.0, 0), (0.9, 5)):
        assert served("ab c", 25, temperature, seed) == model.generate("ab c", 25, temperature=temperature, seed=seed)


def test_an_export_that_fails_leaves_nothing_behind(tiny_char_model, tmp_path, monkeypatch):
    import errno

    from zoo.export import export
    from zoo.tasks import text_generation

    def full_disk(model, directory):
        (directory / "saved_model.pb").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(text_generation, "export", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export(tiny_char_model("char-lstm"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no partial export, no staging: a retry is free to write
