"""Export a translation model as a TF SavedModel: a batch of strings in, a
batch of strings out (greedy decoding), servable without the zoo package.

Loading it needs `import tensorflow_text` first (its SentencePiece ops).
Output pieces are joined through a string table rather than a second
SentencePiece resource: with two of them in one SavedModel, the reloaded
model detokenizes with the wrong one (tensorflow/text#1304).
"""

import keras
import tensorflow as tf

from zoo.data.tokenizers import BOS, EOS, PAD, UNK


def _greedy_translate(model, max_extra_tokens=10):
    tokenizer = model._target_tokenizer
    pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.vocabulary_size())]
    pieces[UNK] = "\u2581\u2047\u2581"  # SentencePiece prints " ⁇ " for an unknown piece
    for control in (PAD, BOS, EOS):
        pieces[control] = ""  # control pieces print as nothing
    pieces = tf.constant(pieces)

    def translate(sentences):
        ids = tf.cast(model._source_tokenizer(sentences), tf.int32)  # ragged [batch, None]
        eos = tf.fill([tf.shape(sentences)[0], 1], EOS)
        source = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1).to_tensor(PAD)
        memory, state = model.encode(source)
        batch = tf.shape(source)[0]
        max_length = 2 * tf.shape(source)[1] + max_extra_tokens
        tokens = tf.fill([batch], BOS)
        done = tf.zeros([batch], tf.bool)
        steps = tf.TensorArray(tf.int32, size=max_length)
        for t in tf.range(max_length):
            log_probs, _, state = model.decode_step(tokens, state, memory)
            tokens = tf.cast(tf.argmax(log_probs, axis=-1), tf.int32)
            tokens = tf.where(done, PAD, tokens)
            done = done | tf.equal(tokens, EOS)
            steps = steps.write(t, tf.where(tf.equal(tokens, EOS), PAD, tokens))
            if tf.reduce_all(done):
                break
        output = tf.RaggedTensor.from_tensor(tf.transpose(steps.stack()), padding=PAD)
        text = tf.strings.reduce_join(tf.gather(pieces, output), axis=-1)
        text = tf.strings.regex_replace(text, "\u2581", " ")
        return {"translations": tf.strings.regex_replace(text, "^ ", "")}

    return tf.function(translate)  # autograph turns the loop into a while_loop


def export_translator(model, directory):
    """Writes a SavedModel whose `serving_default` maps strings to strings."""
    archive = keras.export.ExportArchive()
    archive.track(model)  # the variables, with their trained values
    archive.add_endpoint(
        "serving_default",
        _greedy_translate(model),
        input_signature=[tf.TensorSpec([None], tf.string, name="sentences")],
    )
    archive.write_out(str(directory), verbose=False)
    return directory
