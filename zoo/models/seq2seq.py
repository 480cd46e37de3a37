"""Sequence-to-sequence translation models: RNN encoder-decoder with attention."""

import functools
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import keras
import numpy as np
from keras import ops

from zoo import decoding
from zoo.checks import boolean, finite_number, integer, positive_int, rate
from zoo.data.tokenizers import BOS, EOS, PAD, UNK, check_sentencepiece, read_sentencepiece, tokenizer
from zoo.data.translation import SENTENCE_LANGUAGES
from zoo.layers import AttentionDecoder, BahdanauAttention, GRUCell, LSTMCell
from zoo.models.base import DeepOutput, ZooModel

CELLS = {"lstm": LSTMCell, "gru": GRUCell}
# The most source tokens (the end token included) the encoder reads at once: the
# length the recipe trains on (`--max-length`, 64 for every shipped translator).
# `translate` cuts a longer sentence into chunks of about equal length (see there):
# read whole, the shipped model's output fell short of the text (on sentences of
# ten test sentences each, 0.75 of the reference's words and 9.5 BLEU at a limit of
# 256 tokens; 0.93 and 18.1 in chunks within 64).
MAX_SOURCE_TOKENS = 64
SENTENCE_ENDS = (".", "!", "?")


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

    Call arguments:
        inputs: `(source, target_in)`, int `[batch, src_len]` and
            `[batch, tgt_len]`, padded with 0.

    Returns:
        logits `[batch, tgt_len, target_vocabulary_size]` (float32).
    """

    task = "translation"

    def __init__(self, source_vocabulary_size=8000, target_vocabulary_size=8000, cell="lstm",
                 attention=True, embedding_dim=256, units=256, dropout=0.2, source_language="en", **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {sorted(CELLS)}, got {cell!r}.")
        if source_language not in SENTENCE_LANGUAGES:
            raise ValueError(f"`source_language` must be one of {list(SENTENCE_LANGUAGES)}, got {source_language!r}.")
        self.source_language = source_language
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
        self._word_starts = None  # per source piece: does it start a word (see `_cut`)

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
        self._word_starts = None
        # A built model's tracker refuses new layers, and a `.keras` file loads the assets
        # after building: open it for the tokenizers (no weights), as Keras's own
        # `_untrack_variable` does, so that exports still find their SentencePiece resources.
        locked = self._tracker.locked
        self._tracker.unlock()
        self._source_tokenizer, self._target_tokenizer = tokenizer(source_proto), tokenizer(target_proto)
        if locked:
            self._tracker.lock()

    @property
    def source_tokenizer(self):
        """The source side's `keras_hub` SentencePiece tokenizer (raw text -> ids); None before `set_tokenizers`."""
        return getattr(self, "_source_tokenizer", None)

    @property
    def target_tokenizer(self):
        """The target side's `keras_hub` SentencePiece tokenizer (ids -> raw text); None before `set_tokenizers`."""
        return getattr(self, "_target_tokenizer", None)

    def translate(self, sentences, beam_size=5, max_length=None, alpha=0.6, batch_size=64, return_attention=False,
                  min_length=0, no_repeat_ngram_size=0, allow_unk=False, num_return_sequences=1, return_scores=False):
        """Translates raw sentences into raw, detokenized sentences.

        An empty or whitespace-only string translates to "" without running
        the model. A text of several sentences is translated sentence by
        sentence, as the models learned to translate (`split_sentences`, by
        the rules of the model's `source_language`, and at line breaks), and
        the translations are joined with single spaces, each ending as its
        source sentence did (a translation that stops before the source's
        final ".", "!" or "?" gets it, so the text does not run on); read
        whole, a second sentence is often dropped. A sentence longer than the
        encoder's limit (`MAX_SOURCE_TOKENS`, 64 subword tokens with the end
        token, the length the models are trained on) is translated in full,
        never cut short: in chunks of about equal length within the limit,
        cut before a word where possible.

        Args:
            sentences: a string, or a list (any iterable but a dict, set or
                bytes) of strings.
            beam_size: 1 for greedy decoding, else the beam width.
            max_length: most subword tokens per output (per sentence or
                chunk), at most `zoo.decoding.MAX_OUTPUT_TOKENS` (1024); by
                default twice the source length plus 10.
            alpha: length penalty exponent of beam search (>= 0).
            batch_size: sentences (parts) decoded together.
            return_attention: also return, per sentence, `(source_pieces,
                output_pieces, weights [out_len, src_len])` for plotting; for
                a split text the parts' pieces are concatenated and `weights`
                is block-diagonal (each output part attends only to its
                source part); for an empty one `([], [], zeros (0, 0))`.
            min_length: fewest subword tokens before the end token may be chosen.
            no_repeat_ngram_size: if > 0, no n-gram of this size appears twice
                in an output (OpenNMT's `block_ngram_repeat`).
            allow_unk: whether the unknown token may be emitted (never, by default).
            num_return_sequences: translations per sentence (at most
                `beam_size`), best first: each sentence then gets a list.
            return_scores: pair each translation with its score, the
                log-probability the search ranks by (divided by the length
                penalty in beam search): `(text, score)`.
            n-best lists and scores need texts of one sentence within the
            encoder's limit, and no `return_attention`.

        Returns:
            A string for a string, else a list of strings (and the attention
            as above with `return_attention`).

        Raises:
            TypeError: `sentences` (or one of its items, named by index) is not
                a string, or an argument has the wrong type.
            ValueError: an argument out of range, naming it, its value and
                what is allowed.
        """
        if self.source_proto is None:
            raise ValueError("This model has no tokenizers: call `set_tokenizers` or load a trained model.")
        single, sentences = _as_sentences(sentences)
        beam_size = integer("beam_size", beam_size, minimum=1)
        if beam_size > self.target_vocabulary_size:  # a hypothesis per word at most; more would only exhaust the memory
            raise ValueError(f"`beam_size` must be at most the target vocabulary size "
                             f"({self.target_vocabulary_size}), got {beam_size}.")
        max_length = integer("max_length", max_length, minimum=1, maximum=decoding.MAX_OUTPUT_TOKENS,
                             allow_none=True)
        alpha = finite_number("alpha", alpha, minimum=0)
        batch_size = integer("batch_size", batch_size, minimum=1)
        return_attention = boolean("return_attention", return_attention)
        options = decoding.search_options(min_length, no_repeat_ngram_size, allow_unk)
        n_best = integer("num_return_sequences", num_return_sequences, minimum=1, maximum=beam_size)
        return_scores = boolean("return_scores", return_scores)

        parts, ends = self._source_parts(sentences)  # per text: its id arrays, each EOS-terminated
        self._warn_unknown([text for text, text_parts in zip(sentences, parts) if any(UNK in p for p in text_parts)],
                           len(sentences))
        if n_best > 1 or return_scores:
            return self._n_best(single, parts, beam_size, max_length, alpha, batch_size, n_best, return_scores,
                                return_attention, options)
        ids = [p for sentence_parts in parts for p in sentence_parts]
        results, maps = self._translate_ids(ids, beam_size, max_length, alpha, batch_size,
                                            return_attention=return_attention, **options)
        part_texts = [_to_str(self._target_tokenizer.detokenize(s)) if len(s) else "" for s in results]
        part_texts = [t + end if t and end and not t.endswith(SENTENCE_ENDS) else t
                      for t, end in zip(part_texts, (end for text_ends in ends for end in text_ends))]
        texts, extra, first = [], [], 0
        for sentence_parts in parts:
            n = len(sentence_parts)
            texts.append(" ".join(t for t in part_texts[first : first + n] if t))
            if return_attention:
                extra.append(self._attention_rows(sentence_parts, results[first : first + n], maps[first : first + n]))
            first += n
        if return_attention:
            return (texts[0], extra[0]) if single else (texts, extra)
        return texts[0] if single else texts

    def _n_best(self, single, parts, beam_size, max_length, alpha, batch_size, n_best, return_scores,
                return_attention, options):
        """`translate` with `num_return_sequences` / `return_scores`."""
        if return_attention:
            raise ValueError("`return_attention` cannot be combined with `num_return_sequences` > 1 or "
                             "`return_scores`.")
        for i, sentence_parts in enumerate(parts):
            if len(sentence_parts) > 1:
                raise ValueError(f"`sentences[{i}]` holds several sentences or is longer than the encoder's "
                                 f"{MAX_SOURCE_TOKENS} tokens: n-best lists and scores are for one sentence at a time "
                                 f"(pass its sentences, `zoo.models.seq2seq.split_sentences`, or translate it without "
                                 f"them).")
        todo = [i for i, p in enumerate(parts) if p]
        found, _, scores = self._translate_ids([parts[i][0] for i in todo], beam_size, max_length, alpha,
                                               batch_size, return_scores=True, num_return_sequences=n_best,
                                               **options) if todo else ([], [], [])
        blank = ("", 0.0) if return_scores else ""
        answers = [[blank] * n_best if n_best > 1 else blank for _ in parts]
        for i, sequences, values in zip(todo, found, scores):
            sequences, values = (sequences, values) if n_best > 1 else ([sequences], [values])
            texts = [_to_str(self._target_tokenizer.detokenize(s)) if len(s) else "" for s in sequences]
            pairs = list(zip(texts, map(float, values))) if return_scores else texts  # Python floats, any search
            answers[i] = pairs if n_best > 1 else pairs[0]
        return answers[0] if single else answers

    def _translate_ids(self, ids, beam_size, max_length, alpha, batch_size, **options):
        """EOS-terminated source id arrays -> `(token arrays, attention)` per array.

        Batches hold sources of similar length (sorted by length, results put
        back in order), so little of the work is padding; `options` go to
        `_decode` (attention is only traced with `return_attention=True`)."""
        results, maps, scores = [None] * len(ids), [None] * len(ids), [None] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(ids), batch_size):
            chunk = order[start : start + batch_size]
            source = np.zeros((len(chunk), max(len(ids[i]) for i in chunk)), np.int32)
            for row, i in enumerate(chunk):
                source[row, : len(ids[i])] = ids[i]
            limit = max_length or 2 * source.shape[1] + 10
            out = self._decode(source, beam_size, limit, alpha, **options)
            for row, i in enumerate(chunk):
                weights = out[1][row]
                results[i] = out[0][row]
                maps[i] = weights[:, : len(ids[i])] if isinstance(weights, np.ndarray) else None
                if options.get("return_scores"):
                    scores[i] = out[2][row]
        return (results, maps, scores) if options.get("return_scores") else (results, maps)

    def _source_parts(self, sentences):
        """`(parts, ends)`. Per text, the EOS-terminated id arrays the encoder
        reads: none for a blank one, one per sentence (`split_sentences`), and
        a sentence longer than `MAX_SOURCE_TOKENS` in chunks of about equal
        length. `ends`: per text and part, the mark its translation ends with
        when the text has several sentences (the last part of a sentence that
        ends in one of `SENTENCE_ENDS`), else ""."""
        limit = MAX_SOURCE_TOKENS - 1  # pieces, leaving room for the end token
        split = [split_sentences(text, self.source_language) for text in sentences]
        pieces_of = iter(self._tokenize([s for text in split for s in text]))
        parts, ends = [[] for _ in sentences], [[] for _ in sentences]
        for i, text in enumerate(split):
            for sentence in text:
                pieces = next(pieces_of)
                while len(pieces) > limit:
                    chunks = -(-len(pieces) // limit)  # as many chunks as needed, of about equal length
                    cut = self._cut(pieces, -(-len(pieces) // chunks))
                    parts[i].append(pieces[:cut])
                    ends[i].append("")
                    pieces = pieces[cut:]
                if pieces:
                    parts[i].append(pieces)
                    last = sentence.rstrip()[-1:]
                    ends[i].append(last if len(text) > 1 and last in SENTENCE_ENDS else "")
        return [[np.array(p + [EOS], np.int32) for p in text_parts] for text_parts in parts], ends

    def _warn_unknown(self, texts, total):
        """Warns, naming them, of the characters of `texts` that the source
        vocabulary does not hold: the encoder reads each run of them as one
        unknown piece, and a text made of them still gets a fluent translation."""
        chars = sorted({c for text in texts for c in text if not c.isspace()})
        unknown = [c for c, ids in zip(chars, self._tokenize(chars)) if UNK in ids]
        if unknown:
            shown = "".join(unknown[:20]) + ("..." if len(unknown) > 20 else "")
            warnings.warn(
                f"{len(texts)} of {total} texts hold characters outside the model's source vocabulary"
                f" ({self.source_language or 'source language'}): {shown!r}. Each run of them is read as one "
                f"unknown piece, so their words are not translated (a text of nothing else still gets a fluent, "
                f"made-up translation).",
                stacklevel=3,
            )

    def _tokenize(self, texts):
        if not texts:
            return []
        ids = self._source_tokenizer(list(texts))  # eager keras_hub tokenizers return lists
        ids = ids.to_list() if hasattr(ids, "to_list") else ids
        return [list(map(int, t)) for t in ids]

    def _cut(self, pieces, limit):
        """Where to cut `pieces` (longer than `limit`): before the last piece
        within the limit that starts a word, else at the limit."""
        if self._word_starts is None:  # SentencePiece marks a word start with U+2581
            vocabulary = self._source_tokenizer.get_vocabulary()
            self._word_starts = np.array([p.startswith("\u2581") for p in vocabulary])
        for j in range(limit, 0, -1):
            if 0 <= pieces[j] < len(self._word_starts) and self._word_starts[pieces[j]]:
                return j
        return limit

    def _attention_rows(self, source_parts, results, maps):
        """`(source_pieces, output_pieces, weights)` of one sentence (see `translate`)."""
        pieces = lambda tok, seq: [tok.id_to_token(int(i)) for i in seq]  # noqa: E731
        if len(source_parts) == 1:  # rows for the output pieces, and for the end token if it was chosen
            output = pieces(self._target_tokenizer, list(results[0]) + [EOS])
            return pieces(self._source_tokenizer, source_parts[0]), output[: len(maps[0])], maps[0]
        source = [p for s in source_parts for p in pieces(self._source_tokenizer, s)]
        # A part's attention has a row per output piece, its end token included if it was chosen.
        output = [
            p for r, m in zip(results, maps)
            for p in pieces(self._target_tokenizer, list(r) + [EOS])[: None if m is None else len(m)]
        ]
        if any(m is None for m in maps) or not source_parts:
            return source, output, None if source_parts else np.zeros((0, 0), np.float32)
        blocks = [np.asarray(m)[:, : len(s)] for m, s in zip(maps, source_parts)]
        weights = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)), np.float32)
        row = column = 0
        for b in blocks:
            weights[row : row + b.shape[0], column : column + b.shape[1]] = b
            row, column = row + b.shape[0], column + b.shape[1]
        return source, output, weights

    def _decode(self, source, beam_size, max_length, alpha, **options):
        """Source ids `[batch, src_len]` -> `(token arrays, attention)`, by the
        compiled search of `zoo.decoding.Decoder` (`options`: its masks and
        n-best arguments; the unknown token is never chosen by default)."""
        if beam_size == 1:  # one hypothesis: no n-best list
            options = {k: v for k, v in options.items() if k != "num_return_sequences"}
            return self.search.greedy(source, max_length, **options)
        return self.search.beam_search(source, beam_size, max_length, alpha, **options)

    @property
    def search(self):
        """The compiled greedy and beam search of this model (`zoo.decoding.Decoder`)."""
        if getattr(self, "_compiled_decoder", None) is None:
            import tensorflow as tf

            self._compiled_decoder = decoding.Decoder(
                lambda source: self.encode(source), self.decode_step, tf.TensorSpec([None, None], tf.int32),
                BOS, EOS, unk=UNK, attention=self.use_attention,
            )
        return self._compiled_decoder

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
        }


def split_sentences(text, language="en"):
    """`text` cut into sentences (pysbd's rules for `language`: a period after
    an abbreviation, an ordinal or an initial ends none) and at line breaks,
    stripped, blank ones dropped.

    >>> split_sentences('Am 3. Mai kommt Dr. Müller. "Er rennt!" Dann\\nzwei Katzen', "de")
    ['Am 3. Mai kommt Dr. Müller.', '"Er rennt!"', 'Dann', 'zwei Katzen']
    """
    segmenter = _segmenter(language)
    return [s.strip() for line in text.splitlines() if line.strip() for s in segmenter.segment(line) if s.strip()]


@functools.cache
def _segmenter(language):
    import pysbd

    return pysbd.Segmenter(language=language, clean=False)


def _as_sentences(sentences):
    """`(single, list of str)` of `translate`'s `sentences`; TypeError for anything else."""
    if isinstance(sentences, str):
        _check_encodable("sentences", sentences)
        return True, [sentences]
    expected = "`sentences` must be a string or a list of strings"
    if isinstance(sentences, (bytes, bytearray, memoryview)):
        raise TypeError(f"{expected}, got {type(sentences).__name__}: decode it first, e.g. `text.decode('utf-8')`.")
    if isinstance(sentences, Mapping):
        raise TypeError(f"{expected}, got {type(sentences).__name__}: pass a list of its keys or of its values.")
    if isinstance(sentences, (set, frozenset)):
        raise TypeError(f"{expected}, got {type(sentences).__name__}, which has no order: pass a list.")
    if not isinstance(sentences, Iterable):
        raise TypeError(f"{expected}, got {type(sentences).__name__}.")
    sentences = list(sentences)
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            shown = repr(sentence) if len(repr(sentence)) <= 40 else repr(sentence)[:37] + "..."
            raise TypeError(f"`sentences[{i}]` must be a string, got {type(sentence).__name__} ({shown}).")
        _check_encodable(f"sentences[{i}]", sentence)
    return False, sentences


def _check_encodable(name, text):
    """ValueError naming `name` for a string that is not valid Unicode text (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"`{name}` is not valid text: {text[e.start]!r} at index {e.start} is a lone surrogate "
                         f"(decode the bytes with errors='replace').") from None


def _to_str(text):
    """The detokenized text, without the space a final "▁" piece leaves
    (keras_hub detokenizers return a str, bytes or a scalar string tensor)."""
    text = text.numpy() if hasattr(text, "numpy") else text
    return (text.decode("utf-8") if isinstance(text, bytes) else text).strip()


def lstm_seq2seq_attn(**kwargs):
    return Seq2Seq(**{"cell": "lstm", "attention": True, **kwargs})


def gru_seq2seq_attn(**kwargs):
    return Seq2Seq(**{"cell": "gru", "attention": True, **kwargs})


def lstm_seq2seq_attn_en_es(**kwargs):
    return lstm_seq2seq_attn(**kwargs)


def lstm_seq2seq(**kwargs):
    return Seq2Seq(**{"cell": "lstm", "attention": False, **kwargs})
