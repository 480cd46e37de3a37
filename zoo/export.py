"""Export translation and captioning models as TF SavedModels, servable
without the zoo package, decoding with the same compiled search
(`zoo.decoding.Decoder`) as `translate` and `caption`.

- `export_translator`: a batch of strings in, a batch of strings out;
  `serving_default` decodes greedily, `beam_search` with a beam of 5 (alpha
  0.6). Loading it needs `import tensorflow_text` first (its SentencePiece
  ops). Output pieces are joined through a string table rather than a second
  SentencePiece resource: with two of them in one SavedModel, the reloaded
  model detokenizes with the wrong one (tensorflow/text#1304).
- `export_captioner`: a batch of encoded images (JPEG, PNG, GIF, BMP bytes)
  in, captions out (beam 3); plain TensorFlow.

Both answer an empty batch with an empty one.
"""

import keras
import tensorflow as tf

from zoo.data.tokenizers import BOS, EOS, PAD, UNK


def _translate(model, beam_size=1, alpha=0.6, max_extra_tokens=10):
    """strings -> strings by the model's compiled search (`zoo.decoding.Decoder`),
    the same graph `translate` runs: the unknown piece is never chosen."""
    tokenizer = model._target_tokenizer
    pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.vocabulary_size())]
    pieces[UNK] = "\u2581\u2047\u2581"  # SentencePiece prints " ⁇ " for an unknown piece
    for control in (PAD, BOS, EOS):
        pieces[control] = ""  # control pieces print as nothing
    pieces = tf.constant(pieces)

    def run(sentences):
        ids = tf.cast(model._source_tokenizer(sentences), tf.int32)  # ragged [batch, None]
        eos = tf.fill([tf.shape(sentences)[0], 1], EOS)
        source = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1).to_tensor(PAD)
        max_length = 2 * tf.shape(source)[1] + max_extra_tokens
        output = model.search.padded_tokens(source, max_length, beam_size=beam_size, alpha=alpha, pad=PAD)
        output = tf.RaggedTensor.from_tensor(output, padding=PAD)
        text = tf.strings.reduce_join(tf.gather(pieces, output), axis=-1)
        text = tf.strings.regex_replace(text, "\u2581", " ")
        return tf.strings.regex_replace(text, "^ ", "")

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
    archive.track(model)
    signature = [tf.TensorSpec([None], tf.string, name="images")]
    archive.add_endpoint("serving_default", _caption(model, beam_size=beam_size), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory


def export(model, directory):
    """Writes the SavedModel of a translation or captioning model (see
    `export_translator`, `export_captioner`): what `zoo export NAME DIR` runs."""
    from zoo.models.captioner import Captioner
    from zoo.models.seq2seq import Seq2Seq

    if isinstance(model, Seq2Seq):
        return export_translator(model, directory)
    if isinstance(model, Captioner):
        return export_captioner(model, directory)
    raise ValueError(
        f"`model` must be a translation (Seq2Seq) or captioning (Captioner) model, got {type(model).__name__}: "
        "text generation models have no export yet."
    )
