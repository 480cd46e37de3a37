"""Sequence-to-sequence translation networks: RNN encoder-decoder with attention.

The network maps ids to ids; raw text in and out is `zoo.tasks.translation`.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import decoding
from zoo.checks import boolean, positive_int, rate
from zoo.data.tokenizers import BOS, EOS, PAD, UNK, check_sentencepiece, read_sentencepiece, tokenizer
from zoo.data.translation import SENTENCE_LANGUAGES
from zoo.layers import AttentionDecoder, BahdanauAttention, GRUCell, LSTMCell
from zoo.models.base import DeepOutput, ZooModel
from zoo.tasks import translation

CELLS = {"lstm": LSTMCell, "gru": GRUCell}


@keras.saving.register_keras_serializable(package="zoo")
class Seq2Seq(DeepOutput, ZooModel):
    """Bidirectional RNN encoder, RNN decoder, optional Bahdanau attention.

    encoder: embedding -> Bidirectional(RNN(cell)) -> states `[batch, src, 2u]`
    bridge:  decoder initial state = tanh(W [forward final ; backward final])
    decoder: AttentionDecoder(cell, BahdanauAttention) with input feeding, or
             a plain RNN(cell) when `attention=False` (Sutskever et al. 2014)
    output:  logits = W_o dropout(tanh(W_p [decoder output ; target embedding]))

    Args:
        source_vocabulary_size, target_vocabulary_size: sizes of the
            subword vocabularies (id 0 is padding).
        cell: "lstm" or "gru".
        attention: whether the decoder attends to the encoder states.
        embedding_dim: size of both embeddings.
        units: size of each encoder direction, the decoder and the attention.
        dropout: dropout on embeddings, encoder states and the output layer.
        source_language: the ISO 639-1 code of the source language, whose
            rules (`SENTENCE_LANGUAGES`) `translate` splits texts into
            sentences by: abbreviations, ordinals and initials differ.
        right_to_left: whether the decoder writes the target's pieces last
            first (trained on reversed targets: a second opinion for n-best
            rescoring, Sennrich et al. 2016); `translate` and `score` still
            take and give text in reading order.

    Call arguments:
        inputs: `(source, target_in)`, int `[batch, src_len]` and
            `[batch, tgt_len]`, padded with 0.

    Returns:
        logits `[batch, tgt_len, target_vocabulary_size]` (float32).
    """

    task = "translation"

    def __init__(self, source_vocabulary_size=8000, target_vocabulary_size=8000, cell="lstm",
                 attention=True, embedding_dim=256, units=256, dropout=0.2, source_language="en", right_to_left=False,
                 **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {sorted(CELLS)}, got {cell!r}.")
        if source_language not in SENTENCE_LANGUAGES:
            raise ValueError(f"`source_language` must be one of {list(SENTENCE_LANGUAGES)}, got {source_language!r}.")
        self.source_language = source_language
        self.right_to_left = boolean("right_to_left", right_to_left)
        self.source_vocabulary_size = positive_int("source_vocabulary_size", source_vocabulary_size)
        self.target_vocabulary_size = positive_int("target_vocabulary_size", target_vocabulary_size)
        self.cell_type, self.use_attention = cell, attention
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.units = positive_int("units", units)
        self.dropout_rate = rate("dropout", dropout)
        Cell = CELLS[cell]
        self.num_states = 2 if cell == "lstm" else 1

        self.source_embedding = keras.layers.Embedding(source_vocabulary_size, embedding_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(target_vocabulary_size, embedding_dim, name="target_embedding")
        self.encoder = keras.layers.Bidirectional(
            keras.layers.RNN(Cell(units), return_sequences=True, return_state=True), name="encoder"
        )
        self.bridge = [keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}") for i in range(self.num_states)]
        if attention:
            self.decoder = AttentionDecoder(Cell(units), BahdanauAttention(units), name="decoder")
        else:
            self.decoder = keras.layers.RNN(Cell(units), return_sequences=True, return_state=True, name="decoder")
        self.dropout = keras.layers.Dropout(dropout)
        self.pre_output = keras.layers.Dense(embedding_dim, activation="tanh", name="pre_output")
        self.output_layer = keras.layers.Dense(target_vocabulary_size, dtype="float32", name="logits")
        self.source_proto = self.target_proto = None

    # -- training graph ---------------------------------------------------------

    def build(self, input_shape=None):
        if self.use_attention:  # encode() uses the decoder's keys before its call
            self.decoder.build((None, None, self.embedding_dim), (None, None, 2 * self.units))
        self.built = True

    def encode(self, source, training=False):
        """Returns `(memory, initial_state)`: memory is `[values, keys, mask]`."""
        mask = ops.not_equal(source, PAD)  # [batch, src_len]
        x = self.dropout(self.source_embedding(source), training=training)
        values, *final = self.encoder(x, mask=mask, training=training)
        values = self.dropout(values, training=training)  # [batch, src_len, 2u]
        forward, backward = final[: self.num_states], final[self.num_states :]
        state = [b(ops.concatenate([f, r], -1)) for b, f, r in zip(self.bridge, forward, backward)]
        if self.use_attention:
            keys = self.decoder.project_keys(values)
            return [values, keys, mask], self.decoder.get_initial_state(values, state)
        return [], state

    def call(self, inputs, training=False):
        logits, _ = self._forward(inputs, training=training)
        return logits

    def _forward(self, inputs, training=False):
        source, target_in = inputs
        embedded = self.dropout(self.target_embedding(target_in), training=training)
        memory, state = self.encode(source, training=training)
        if self.use_attention:
            values, _, mask = memory
            outputs, attention = self.decoder(
                embedded, values, initial_state=state[:-1], source_mask=mask, training=training
            )
        else:
            outputs, *_ = self.decoder(embedded, initial_state=state, training=training)
            attention = None
        return self._logits(outputs, embedded, training=training), attention

    # -- inference ----------------------------------------------------------------

    def decode_step(self, tokens, state, memory):
        """One step for every row: `(log_probs, attention, new_state)`."""
        embedded = self.target_embedding(ops.convert_to_tensor(tokens))
        if self.use_attention:
            values, keys, mask = memory
            output, attention, state = self.decoder.step(embedded, state, values, keys, mask)
        else:
            output, state = self.decoder.cell(embedded, state)
            attention = None
        logits = self._logits(output, embedded)
        return ops.log_softmax(logits, axis=-1), attention, state

    def set_tokenizers(self, source_proto, target_proto):
        """Attaches the SentencePiece models that map raw text to ids."""
        source_proto = check_sentencepiece(source_proto, "`source_proto`")
        target_proto = check_sentencepiece(target_proto, "`target_proto`")
        self.source_proto, self.target_proto = source_proto, target_proto
        # Plain attributes, not tracked layers: they hold no weights, and a built model's
        # tracker refuses new layers (a `.keras` file loads the assets after building).
        # An export tracks the source tokenizer itself, for its SentencePiece resource.
        object.__setattr__(self, "_source_tokenizer", tokenizer(source_proto))
        object.__setattr__(self, "_target_tokenizer", tokenizer(target_proto))

    @property
    def source_tokenizer(self):
        """The source side's `keras_hub` SentencePiece tokenizer (raw text -> ids); None before `set_tokenizers`."""
        return getattr(self, "_source_tokenizer", None)

    @property
    def target_tokenizer(self):
        """The target side's `keras_hub` SentencePiece tokenizer (ids -> raw text); None before `set_tokenizers`."""
        return getattr(self, "_target_tokenizer", None)

    def set_members(self, models):
        """Translates with `models` too, as one ensemble: at every step the mean
        of the models' log-probabilities (`zoo.decoding.ensemble_hooks`), the
        attention shown being this model's. Each is a trained `Seq2Seq` with
        this model's tokenizers (LSTM and GRU alike); `()` translates alone again.

        Raises:
            TypeError: `models` is not a list of translators.
            ValueError: a member with other tokenizers, or one that is an
                ensemble itself, naming its index.
        """
        models = self._check_members(models, "translators")
        for i, model in enumerate(models):
            if (model.source_proto, model.target_proto) != (self.source_proto, self.target_proto):
                raise ValueError(f"`models[{i}]` has other tokenizers: an ensemble's members read and write the "
                                 f"same pieces.")
            if model.right_to_left != self.right_to_left:
                raise ValueError(f"`models[{i}]` writes in the other direction (right_to_left="
                                 f"{model.right_to_left}): an ensemble's members write the same pieces in turn.")
        self._keep_members(models)

    def translate(self, sentences, **options):
        """Raw text in, raw text out: `zoo.tasks.translation.translate(self, sentences, **options)`."""
        return translation.translate(self, sentences, **options)

    def score(self, sentences, translations, **options):
        """The log-probability of each translation of each sentence:
        `zoo.tasks.translation.score(self, sentences, translations, **options)`."""
        return translation.score(self, sentences, translations, **options)

    @property
    def search(self):
        """The compiled greedy and beam search of this model (`zoo.decoding.Decoder`)."""
        if getattr(self, "_compiled_decoder", None) is None:
            encode, step = (decoding.ensemble_hooks([self, *self.members]) if self.members
                            else (lambda source: self.encode(source), self.decode_step))
            self._compiled_decoder = decoding.Decoder(
                encode, step, tf.TensorSpec([None, None], tf.int32),
                BOS, EOS, unk=UNK, attention=self.use_attention,
            )
        return self._compiled_decoder

    @property
    def scorer(self):
        """Compiled forced decoding of this model (an ensemble: the mean of its
        models' log-probabilities, as it decodes): int `(source [b, s],
        target_in [b, t], target_out [b, t])` -> float32 `[b, t]`, the
        log-probability of each `target_out` piece after `target_in`'s."""
        if getattr(self, "_compiled_scorer", None) is None:
            models = [self, *self.members]

            def scores(source, target_in, target_out):
                log_probs = sum(ops.log_softmax(m((source, target_in), training=False), axis=-1) for m in models)
                return ops.take_along_axis(log_probs / len(models), target_out[..., None], axis=-1)[..., 0]

            spec = tf.TensorSpec([None, None], tf.int32)
            self._compiled_scorer = tf.function(scores, input_signature=[spec, spec, spec])
        return self._compiled_scorer

    # -- saving -----------------------------------------------------------------

    def build_for_inference(self):
        self((np.ones((1, 3), np.int32), np.ones((1, 2), np.int32)))

    def save_assets(self, directory):
        self._check_assets("tokenizers", "set_tokenizers(source, target)", self.source_proto, self.target_proto)
        Path(directory, "source.spm").write_bytes(self.source_proto)
        Path(directory, "target.spm").write_bytes(self.target_proto)

    def load_assets(self, directory):
        # A missing file is a FileNotFoundError, a corrupt one a ValueError, each naming the file.
        self.set_tokenizers(*(read_sentencepiece(Path(directory, f)) for f in ("source.spm", "target.spm")))

    def get_config(self):
        return {
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "cell": self.cell_type,
            "attention": self.use_attention,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "dropout": self.dropout_rate,
            "source_language": self.source_language,
            "right_to_left": self.right_to_left,
        }


def lstm_seq2seq_attn(**kwargs):
    return Seq2Seq(**{"cell": "lstm", "attention": True, **kwargs})


def gru_seq2seq_attn(**kwargs):
    return Seq2Seq(**{"cell": "gru", "attention": True, **kwargs})


def lstm_seq2seq_attn_en_es(**kwargs):
    return lstm_seq2seq_attn(**kwargs)


def lstm_seq2seq(**kwargs):
    return Seq2Seq(**{"cell": "lstm", "attention": False, **kwargs})
