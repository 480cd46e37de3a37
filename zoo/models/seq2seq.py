"""Sequence-to-sequence translation models: RNN encoder-decoder with attention."""

from pathlib import Path

import keras
import numpy as np
from keras import ops

from zoo import decoding
from zoo.data.tokenizers import BOS, EOS, PAD, tokenizer
from zoo.layers import AttentionDecoder, BahdanauAttention, GRUCell, LSTMCell
from zoo.layers._checks import positive_int, rate
from zoo.registry import register

CELLS = {"lstm": LSTMCell, "gru": GRUCell}


@keras.saving.register_keras_serializable(package="zoo")
class Seq2Seq(keras.Model):
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

    Call arguments:
        inputs: `(source, target_in)`, int `[batch, src_len]` and
            `[batch, tgt_len]`, padded with 0.

    Returns:
        logits `[batch, tgt_len, target_vocabulary_size]` (float32).
    """

    def __init__(self, source_vocabulary_size=8000, target_vocabulary_size=8000, cell="lstm",
                 attention=True, embedding_dim=256, units=256, dropout=0.2, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {sorted(CELLS)}, got {cell!r}.")
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

    def _logits(self, outputs, embedded, training=False):
        hidden = self.pre_output(ops.concatenate([outputs, embedded], axis=-1))
        return self.output_layer(self.dropout(hidden, training=training))

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

    def attention_weights(self, source, target_in):
        """Teacher-forced attention `[batch, tgt_len, src_len]` (None without)."""
        return self._forward((source, target_in))[1]

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
        self.source_proto, self.target_proto = source_proto, target_proto
        self._source_tokenizer, self._target_tokenizer = tokenizer(source_proto), tokenizer(target_proto)

    def translate(self, sentences, beam_size=5, max_length=None, alpha=0.6,
                  batch_size=64, return_attention=False):
        """Translates raw sentences into raw, detokenized sentences.

        Args:
            sentences: a string or a list of strings.
            beam_size: 1 for greedy decoding, else the beam width.
            max_length: most subword tokens per output; by default twice the
                source length plus 10.
            alpha: length penalty exponent of beam search.
            batch_size: sentences decoded together.
            return_attention: also return, per sentence, `(source_pieces,
                output_pieces, weights [out_len, src_len])` for plotting.
        """
        if self.source_proto is None:
            raise ValueError("This model has no tokenizers: call `set_tokenizers` or load a trained model.")
        single = isinstance(sentences, str)
        sentences = [sentences] if single else list(sentences)
        positive_int("beam_size", beam_size)
        from zoo.data.pipeline import encode  # tf.data code stays out of model import time

        ids = encode(self._source_tokenizer, sentences, max_length=256)
        results, maps = [], []
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            source = np.zeros((len(chunk), max(len(s) for s in chunk)), np.int32)
            for i, s in enumerate(chunk):
                source[i, : len(s)] = s
            limit = max_length or 2 * source.shape[1] + 10
            sequences, attention = self._decode(source, beam_size, limit, alpha)
            results += sequences
            maps += attention
        texts = [_to_str(self._target_tokenizer.detokenize(s)) if len(s) else "" for s in results]
        if return_attention:
            pieces = lambda tok, seq: [tok.id_to_token(int(i)) for i in seq]  # noqa: E731
            extra = [
                (pieces(self._source_tokenizer, s), pieces(self._target_tokenizer, list(r) + [EOS]), m)
                for s, r, m in zip(ids, results, maps)
            ]
            return (texts[0], extra[0]) if single else (texts, extra)
        return texts[0] if single else texts

    def _decode(self, source, beam_size, max_length, alpha):
        memory, state = self.encode(ops.convert_to_tensor(source))
        if beam_size == 1:
            step = lambda tokens, s: self.decode_step(tokens, s, memory)  # noqa: E731
            return decoding.greedy(step, state, len(source), BOS, EOS, max_length)
        memory = decoding.repeat_beams(memory, beam_size)
        state = decoding.repeat_beams(state, beam_size)
        step = lambda tokens, s: self.decode_step(tokens, s, memory)  # noqa: E731
        return decoding.beam_search(step, state, len(source), beam_size, BOS, EOS, max_length, alpha)

    # -- saving -----------------------------------------------------------------

    def build_for_inference(self):
        self((np.ones((1, 3), np.int32), np.ones((1, 2), np.int32)))

    def save_assets(self, directory):
        Path(directory, "source.spm").write_bytes(self.source_proto)
        Path(directory, "target.spm").write_bytes(self.target_proto)

    def load_assets(self, directory):
        self.set_tokenizers(*(Path(directory, f).read_bytes() for f in ("source.spm", "target.spm")))

    def get_config(self):
        return {
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "cell": self.cell_type,
            "attention": self.use_attention,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "dropout": self.dropout_rate,
        }


def _to_str(text):
    """keras_hub detokenizers return a str, bytes or a scalar string tensor."""
    text = text.numpy() if hasattr(text, "numpy") else text
    return text.decode("utf-8") if isinstance(text, bytes) else text


@register("lstm-seq2seq-attn", task="translation",
          description="Bidirectional LSTM encoder, LSTM decoder with Bahdanau attention and input feeding")
def lstm_seq2seq_attn(**kwargs):
    return Seq2Seq(**{"cell": "lstm", "attention": True, **kwargs})


@register("gru-seq2seq-attn", task="translation",
          description="Bidirectional GRU encoder, GRU decoder with Bahdanau attention and input feeding")
def gru_seq2seq_attn(**kwargs):
    return Seq2Seq(**{"cell": "gru", "attention": True, **kwargs})


@register("lstm-seq2seq", task="translation",
          description="Bidirectional LSTM encoder, LSTM decoder without attention (baseline)")
def lstm_seq2seq(**kwargs):
    return Seq2Seq(**{"cell": "lstm", "attention": False, **kwargs})
