"""One model, many threads: every public call from 8 threads at once gives
exactly what the same calls give one after another."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from zoo.tasks.translation import split_sentences

THREADS = 8
TEXTS = ["Der Hund ist rot. Das Auto ist gelb!", "Am 3. Mai kommt Dr. Müller. Er rennt.",
         "Der Ball ist blau? Ja.", "Zwei Hunde spielen.\nEine Katze schläft. Der Mann liest.",
         "Das Haus ist alt. Die Frau ist jung. Der Hund bellt.", "Ein Kind lacht."]


def at_once(call, arguments):
    """`call(a)` for every `a`, from `THREADS` threads started together."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(call, arguments))


def test_sentence_splitting_from_many_threads_is_the_sequential_splitting():
    texts = TEXTS * 100
    expected = [split_sentences(text, "de") for text in texts]
    assert at_once(lambda text: split_sentences(text, "de"), texts) == expected


@pytest.mark.parametrize("beam_size", [1, 3])
def test_translate_from_many_threads_is_the_sequential_translation(tiny_translator, beam_size):
    model = tiny_translator("lstm-seq2seq-attn")
    texts = TEXTS * 4
    expected = [model.translate(text, beam_size=beam_size) for text in texts]
    assert at_once(lambda text: model.translate(text, beam_size=beam_size), texts) == expected


@pytest.mark.parametrize("litert", [None, "int8"])
def test_generate_from_many_threads_is_the_sequential_generation(tiny_char_model, litert):
    model = tiny_char_model("char-lstm")
    calls = [("ab", seed, temperature) for seed in range(4) for temperature in (0.0, 0.9)] * 2
    generate = lambda c: model.generate(c[0], 40, seed=c[1], temperature=c[2], litert=litert)  # noqa: E731
    expected = [generate(c) for c in calls]
    assert at_once(generate, calls) == expected


def test_caption_from_many_threads_is_the_sequential_captioning(tiny_captioner):
    model = tiny_captioner("sat-lstm-squeezenet")
    images = [np.random.default_rng(i).integers(0, 256, (40 + i, 50, 3), np.uint8) for i in range(16)]
    expected = [model.caption(image, beam_size=2) for image in images]
    assert at_once(lambda image: model.caption(image, beam_size=2), images) == expected
