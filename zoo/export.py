"""Export translation and captioning models as TF SavedModels, servable
without the zoo package, decoding with the same compiled search
(`zoo.decoding.Decoder`) as `translate` and `caption`.

- `export_translator`: a batch of strings in, a batch of strings out;
  `serving_default` decodes greedily, `beam_search` with a beam of 5 (alpha
  0.6). Each string is read as one sentence, and a blank one translates to
  "": split texts into sentences first (`zoo.models.seq2seq.split_sentences`),
  as `translate` does. Loading it needs `import tensorflow_text` first (its
  SentencePiece ops). Output pieces are joined through a string table rather than a second
  SentencePiece resource: with two of them in one SavedModel, the reloaded
  model detokenizes with the wrong one (tensorflow/text#1304).
- `export_captioner`: a batch of encoded images (JPEG, PNG, GIF, BMP bytes)
  in, captions out (beam 3); plain TensorFlow.
- `export_generator`: a prompt, a length, a temperature and a seed in, the
  generated text out, by the same compiled sampling loop as `generate` (the
  same text for the same seed); plain TensorFlow.

The first two answer an empty batch with an empty one.
"""

import os

import keras
import tensorflow as tf

from zoo.data.tokenizers import BOS, EOS, PAD, UNK


def _translate(model, beam_size=1, alpha=0.6, max_extra_tokens=10):
    """strings -> strings by the model's compiled search (`zoo.decoding.Decoder`),
    the same graph `translate` runs: the unknown piece is never chosen."""
    tokenizer = model.target_tokenizer
    pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.vocabulary_size())]
    pieces[UNK] = "\u2581\u2047\u2581"  # SentencePiece prints " ⁇ " for an unknown piece
    for control in (PAD, BOS, EOS):
        pieces[control] = ""  # control pieces print as nothing
    pieces = tf.constant(pieces)

    def run(sentences):
        ids = tf.cast(model.source_tokenizer(sentences), tf.int32)  # ragged [batch, None]
        eos = tf.fill([tf.shape(sentences)[0], 1], EOS)
        source = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1).to_tensor(PAD)
        max_length = 2 * tf.shape(source)[1] + max_extra_tokens
        output = model.search.padded_tokens(source, max_length, beam_size=beam_size, alpha=alpha, pad=PAD)
        output = tf.RaggedTensor.from_tensor(output, padding=PAD)
        text = tf.strings.reduce_join(tf.gather(pieces, output), axis=-1)
        text = tf.strings.strip(tf.strings.regex_replace(text, "\u2581", " "))  # as `translate`, no end spaces
        blank = tf.strings.regex_full_match(sentences, r"[\s\v\x1c-\x1f\x85\p{Z}]*")  # what str.strip drops
        return tf.where(blank, "", text)  # blank in, "" out, as `translate`

    def translate(sentences):
        # an empty batch has no source length for the encoder's loop: answer it directly
        empty = lambda: tf.zeros([0], tf.string)  # noqa: E731
        return {"translations": tf.cond(tf.size(sentences) > 0, lambda: run(sentences), empty)}

    return tf.function(translate, autograph=False)


def export_translator(model, directory):
    """Writes a SavedModel whose `serving_default` maps strings to strings."""
    archive = keras.export.ExportArchive()
    archive.track(model)  # the variables, with their trained values
    signature = [tf.TensorSpec([None], tf.string, name="sentences")]
    archive.add_endpoint("serving_default", _translate(model), input_signature=signature)
    archive.add_endpoint("beam_search", _translate(model, beam_size=5), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory


def _caption(model, beam_size=3, alpha=0.0, max_length=20):
    """encoded images -> captions by the model's compiled search, as `caption`."""
    table = list(model.vocabulary.SPECIAL) + list(model.vocabulary.words)
    for control in (PAD, BOS, EOS):
        table[control] = ""  # `WordVocabulary.decode` drops them
    words = tf.constant(table)
    size = model.image_size

    def load(data):
        # RGB, resized whole to size x size (bilinear, antialiased), in [0, 255] like `load_image`
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return tf.image.resize(tf.cast(image, tf.float32), [size, size], antialias=True)

    def run(images):
        pixels = tf.map_fn(load, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        features = model.encode_images(pixels)
        output = model.search.padded_tokens(features, max_length, beam_size=beam_size, alpha=alpha, pad=PAD)
        text = tf.strings.reduce_join(tf.gather(words, tf.RaggedTensor.from_tensor(output, padding=PAD)),
                                      axis=-1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

    def caption(images):
        empty = lambda: tf.zeros([0], tf.string)  # noqa: E731
        return {"captions": tf.cond(tf.size(images) > 0, lambda: run(images), empty)}

    return tf.function(caption, autograph=False)


def export_captioner(model, directory, beam_size=3):
    """Writes a SavedModel whose `serving_default` maps encoded images (the
    bytes of JPEG, PNG, GIF or BMP files) to captions, decoding like
    `caption(images, beam_size=beam_size)`. Images are decoded and resized by
    TensorFlow rather than Pillow: at the model's image size the pixels are
    the same, other sizes may differ by rounding from `caption`'s."""
    archive = keras.export.ExportArchive()
    for tracked in (model, *model.members):  # an ensemble's members hold their own variables
        archive.track(tracked)
    signature = [tf.TensorSpec([None], tf.string, name="images")]
    archive.add_endpoint("serving_default", _caption(model, beam_size=beam_size), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory


def _generate(model):
    """(prompt, length, temperature, seed) -> text, as `CharRNN.generate`:
    the prompt is read, then `length` characters are sampled by its compiled
    loop (greedy at temperature 0), step t drawing with the seed `[seed, t]`,
    which is what `generate`'s chunks of steps draw too."""
    from zoo.data.tokenizers import UNKNOWN, UNKNOWN_ID

    chars = model.vocabulary.chars
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(chars), tf.range(1, len(chars) + 1, dtype=tf.int32)),
        default_value=UNKNOWN_ID,
    )
    strings = tf.constant([UNKNOWN, *chars])
    greedy, sample = model.sampling_loop(True), model.sampling_loop(False)

    def generate(prompt, length, temperature, seed):
        ids = table.lookup(tf.strings.unicode_split(prompt, "UTF-8"))
        newline = tf.reshape(table.lookup(tf.constant("\n")), [1])
        ids = tf.cond(tf.size(ids) > 0, lambda: ids, lambda: newline)  # an empty prompt starts after a line break
        length = tf.maximum(length, 0)
        states = model.initial_state(1)
        states = tf.cond(tf.size(ids) > 1, lambda: model(ids[None, :-1], return_state=True)[1], lambda: states)
        last, seed = ids[-1:], tf.stack([seed, tf.constant(0, tf.int64)])
        inverse = 1.0 / tf.maximum(temperature, 1e-6)
        tokens = tf.cond(  # nothing to sample for length 0: the loop's output would have no shape
            length > 0,
            lambda: tf.cond(temperature > 0, lambda: sample(last, states, length, inverse, seed)[0],
                            lambda: greedy(last, states, length, tf.constant(1.0), seed)[0]),
            lambda: tf.zeros([1, 0], tf.int32),
        )
        return {"text": tf.strings.reduce_join(tf.gather(strings, tokens[0]))}

    generate.table = table
    return generate


def export_generator(model, directory):
    """Writes a SavedModel whose `serving_default` maps `(prompt, length,
    temperature, seed)` to the generated text (without the prompt)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    run = _generate(model)
    archive.track(run.table)
    signature = [tf.TensorSpec([], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="length"),
                 tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int64, name="seed")]
    archive.add_endpoint("serving_default", tf.function(run, autograph=False), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory


def export(model, directory):
    """Writes the SavedModel of a zoo model by its task (`zoo.tasks`: see
    `export_translator`, `export_captioner`, `export_generator`): what
    `zoo export NAME DIR` runs."""
    from zoo import tasks
    from zoo.models.base import ZooModel

    if not isinstance(model, ZooModel) or model.task not in tasks.TASKS:
        raise ValueError(f"`model` must be a zoo translation, captioning or text-generation model, "
                         f"got {type(model).__name__}.")
    if not str(directory) or os.path.exists(directory):
        raise ValueError(f"`directory` must be a new directory for the SavedModel, got {str(directory)!r}"
                         f"{' (it exists)' if str(directory) else ''}.")
    return tasks.get(model.task).export_model(model, directory)
