"""Translation: raw text in, raw text out, around a `Seq2Seq` network.

Everything that turns a translation network into its product lives here:
sentence splitting and chunking (`translate`), n-best lists, attention rows,
the evaluation with sacreBLEU and chrF (`evaluate`, `quick_check`), the
SavedModel (`export`), the held-out split of a user's files (`held_out`) and
the `zoo translate` verb (`command`). The network itself (`zoo.models.seq2seq`)
only maps ids to ids through `encode` and `decode_step`.
"""

import contextlib
import functools
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping

import keras
import numpy as np
import pysbd
import tensorflow as tf

from zoo import decoding
from zoo.checks import boolean, finite_number, integer
from zoo.data import streaming, user_files
from zoo.data.tokenizers import BOS, EOS, PAD, UNK, tokenizer
from zoo.data.translation import load_pairs, pairs
from zoo.evaluate import check_model, decode_in_batches, own_items
from zoo.metrics import translation_scores

# The most source tokens (the end token included) the encoder reads at once: the
# length the recipe trains on (`--max-length`, 64 for every shipped translator).
# `translate` cuts a longer sentence into chunks of about equal length (see there):
# read whole, the shipped model's output fell short of the text (on sentences of
# ten test sentences each, 0.75 of the reference's words and 9.5 BLEU at a limit of
# 256 tokens; 0.93 and 18.1 in chunks within 64).
MAX_SOURCE_TOKENS = 64
SENTENCE_ENDS = (".", "!", "?")
EVALUATION_BATCH = 64  # `translate`'s default batch_size
SEGMENT_WINDOW = 2_000  # characters the sentence splitter reads at once (`_segment`)
_local = threading.local()  # per thread: the sentence segmenters


def translate(model, sentences, beam_size=5, max_length=None, alpha=0.6, batch_size=64, return_attention=False,
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
    if model.source_proto is None:
        raise ValueError("This model has no tokenizers: call `set_tokenizers` or load a trained model.")
    single, sentences = _as_sentences(sentences)
    beam_size = integer("beam_size", beam_size, minimum=1)
    if beam_size > model.target_vocabulary_size:  # a hypothesis per word at most; more would only exhaust the memory
        raise ValueError(f"`beam_size` must be at most the target vocabulary size "
                         f"({model.target_vocabulary_size}), got {beam_size}.")
    max_length = integer("max_length", max_length, minimum=1, maximum=decoding.MAX_OUTPUT_TOKENS,
                         allow_none=True)
    alpha = finite_number("alpha", alpha, minimum=0)
    batch_size = integer("batch_size", batch_size, minimum=1)
    return_attention = boolean("return_attention", return_attention)
    n_best = integer("num_return_sequences", num_return_sequences, minimum=1, maximum=beam_size)
    return_scores = boolean("return_scores", return_scores)
    search = {"beam_size": beam_size, "max_length": max_length, "alpha": alpha, "batch_size": batch_size,
              **decoding.search_options(min_length, no_repeat_ngram_size, allow_unk)}

    parts, ends = _source_parts(model, sentences)  # per text: its id arrays, each EOS-terminated
    _warn_unknown(model, [text for text, text_parts in zip(sentences, parts) if any(UNK in p for p in text_parts)],
                  len(sentences))
    wordless = [text for text, text_parts in zip(sentences, parts) if text_parts and not any(c.isalnum() for c in text)]
    if wordless:
        warnings.warn(f"{len(wordless)} of {len(sentences)} texts hold no word, only punctuation or symbols "
                      f"({wordless[0][:20]!r}): their translations are made up.", stacklevel=3)
    if n_best > 1 or return_scores:
        if return_attention:
            raise ValueError("`return_attention` cannot be combined with `num_return_sequences` > 1 or "
                             "`return_scores`.")
        answers = _n_best(model, parts, n_best, return_scores, search)
        return answers[0] if single else answers
    ids = [p for sentence_parts in parts for p in sentence_parts]
    results, maps = _translate_ids(model, ids, return_attention=return_attention, **search)
    part_texts = _detokenize(model, results)
    part_texts = [t + end if t and end and not t.endswith(SENTENCE_ENDS) else t
                  for t, end in zip(part_texts, (end for text_ends in ends for end in text_ends))]
    texts, extra, first = [], [], 0
    for sentence_parts in parts:
        n = len(sentence_parts)
        texts.append(" ".join(t for t in part_texts[first : first + n] if t))
        if return_attention:
            extra.append(_attention_rows(model, sentence_parts, results[first : first + n], maps[first : first + n]))
        first += n
    if return_attention:
        return (texts[0], extra[0]) if single else (texts, extra)
    return texts[0] if single else texts


def _n_best(model, parts, n_best, return_scores, search):
    """Per text of one part: its `n_best` translations (a list if n_best > 1),
    each paired with its score with `return_scores`."""
    _one_part_each(parts, "n-best lists and scores are", "or translate it without them")
    todo = [i for i, p in enumerate(parts) if p]
    found, _, scores = _translate_ids(model, [parts[i][0] for i in todo], return_scores=True,
                                      num_return_sequences=n_best, **search) if todo else ([], [], [])
    blank = ("", 0.0) if return_scores else ""
    answers = [[blank] * n_best if n_best > 1 else blank for _ in parts]
    for i, sequences, values in zip(todo, found, scores):
        sequences, values = (sequences, values) if n_best > 1 else ([sequences], [values])
        texts = _detokenize(model, sequences)
        answer = list(zip(texts, map(float, values))) if return_scores else texts  # Python floats, any search
        answers[i] = answer if n_best > 1 else answer[0]
    return answers


def _one_part_each(parts, what, otherwise):
    """ValueError naming the first text of `parts` (`_source_parts`) that the encoder reads in several parts."""
    for i, sentence_parts in enumerate(parts):
        if len(sentence_parts) > 1:
            raise ValueError(f"`sentences[{i}]` holds several sentences or is longer than the encoder's "
                             f"{MAX_SOURCE_TOKENS} tokens: {what} for one sentence at a time (pass its sentences, "
                             f"`zoo.tasks.translation.split_sentences`, {otherwise}).")


def score(model, sentences, translations, alpha=0.0, batch_size=64):
    """The log-probability the model gives each translation of its
    sentence: the sum over its pieces and the end token, each read after
    the ones the model writes before it (the previous pieces, or the next
    ones for a right-to-left model), as in forced decoding (fairseq's and
    OpenNMT's scoring). An ensemble scores by the mean of its models'
    log-probabilities, as it decodes. For n-best rescoring: a right-to-left
    model's score of a left-to-right model's translations, say.

    Args:
        sentences, translations: a string each, or lists of strings of the
            same length; each sentence one sentence within the encoder's
            limit, as for n-best lists.
        alpha: length penalty exponent: each log-probability is divided by
            `((5 + n) / 6) ** alpha`, `n` the pieces with the end token, as
            beam search ranks; 0, the plain sum.
        batch_size: pairs scored together.

    Returns:
        A float for strings, else a list of floats.

    Raises:
        TypeError, ValueError: as `translate`'s, naming the argument; also
            for lists of different lengths and for a blank sentence.
    """
    if model.source_proto is None:
        raise ValueError("This model has no tokenizers: call `set_tokenizers` or load a trained model.")
    single, sentences = _as_sentences(sentences)
    single_translation, translations = _as_sentences(translations, "translations")
    if single != single_translation or len(sentences) != len(translations):
        raise ValueError(f"`sentences` and `translations` must be a string each or lists of the same length, got "
                         f"{'a string' if single else f'{len(sentences)} sentences'} and "
                         f"{'a string' if single_translation else f'{len(translations)} translations'}.")
    alpha = finite_number("alpha", alpha, minimum=0)
    batch_size = integer("batch_size", batch_size, minimum=1)
    parts, _ = _source_parts(model, sentences)
    _one_part_each(parts, "scores are", "with a translation each")
    for i, sentence_parts in enumerate(parts):
        if not sentence_parts:
            raise ValueError(f"`sentences[{i}]` is blank: it has no translation to score.")
    targets = [ids[::-1] if model.right_to_left else ids
               for ids in _tokenize(model, translations, model.target_tokenizer)]
    order = sorted(range(len(parts)), key=lambda i: (len(parts[i][0]), len(targets[i])))
    scores = [0.0] * len(parts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        source = np.zeros((len(chunk), max(len(parts[i][0]) for i in chunk)), np.int32)
        target = np.zeros((len(chunk), max(len(targets[i]) for i in chunk) + 2), np.int32)  # start, pieces, end
        for row, i in enumerate(chunk):
            source[row, : len(parts[i][0])] = parts[i][0]
            target[row, : len(targets[i]) + 2] = [BOS, *targets[i], EOS]
        picked = np.asarray(model.scorer(source, target[:, :-1], target[:, 1:]), np.float64)  # compiled
        for row, i in enumerate(chunk):
            n = len(targets[i]) + 1
            scores[i] = float(picked[row, :n].sum() / decoding.length_penalty(n, alpha))
    return scores[0] if single else scores


def _translate_ids(model, ids, beam_size, max_length, alpha, batch_size, **options):
    """EOS-terminated source id arrays -> `(token arrays, attention)` per array.

    Batches hold sources of similar length (sorted by length, results put
    back in order), so little of the work is padding; `options` go to
    `_decode` (attention is only traced with `return_attention=True`).
    Without `max_length`, each source gets its own limit (`_limit`) whatever
    it is batched with: a greedy output is cut to it (rows do not interact,
    so the tokens are those of the source alone); a beam search, whose
    ending rule reads the limit, and scores decode sources of one limit
    together."""
    results, maps, scores = [None] * len(ids), [None] * len(ids), [None] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    one_limit = max_length is None and (beam_size > 1 or options.get("return_scores"))
    chunks = [order[start : start + batch_size] for start in range(0, len(ids), batch_size)]
    if one_limit:  # split each batch where the limit changes
        chunks = [[i for i in chunk if len(ids[i]) == n]
                  for chunk in chunks for n in sorted({len(ids[i]) for i in chunk})]
    for chunk in chunks:
        source = np.zeros((len(chunk), max(len(ids[i]) for i in chunk)), np.int32)
        for row, i in enumerate(chunk):
            source[row, : len(ids[i])] = ids[i]
        out = _decode(model, source, beam_size, max_length or _limit(source.shape[1]), alpha, **options)
        for row, i in enumerate(chunk):
            own = max_length or _limit(len(ids[i]))
            weights = out[1][row]
            results[i] = out[0][row][:own]
            maps[i] = weights[:own, : len(ids[i])] if isinstance(weights, np.ndarray) else None
            if options.get("return_scores"):
                scores[i] = out[2][row]
    if model.right_to_left:  # written last piece first: in reading order, as are their rows of attention
        results = [[r[::-1] for r in result] if isinstance(result, list) else result[::-1] for result in results]
        maps = [m if m is None else np.concatenate([m[: len(r)][::-1], m[len(r) :]])
                for m, r in zip(maps, results)]
    return (results, maps, scores) if options.get("return_scores") else (results, maps)


def _limit(source_length):
    """The most output tokens of a source of `source_length` tokens when
    `translate` is given no `max_length`: twice as many, plus 10."""
    return 2 * source_length + 10


def _source_parts(model, sentences):
    """`(parts, ends)`. Per text, the EOS-terminated id arrays the encoder
    reads: none for a blank one, one per sentence (`split_sentences`), and
    a sentence longer than `MAX_SOURCE_TOKENS` in chunks of about equal
    length. `ends`: per text and part, the mark its translation ends with
    when the text has several sentences (the last part of a sentence that
    ends in one of `SENTENCE_ENDS`), else ""."""
    limit = MAX_SOURCE_TOKENS - 1  # pieces, leaving room for the end token
    split = [split_sentences(text, model.source_language) for text in sentences]
    pieces_of = iter(_tokenize(model, [s for text in split for s in text]))
    parts, ends = [[] for _ in sentences], [[] for _ in sentences]
    for i, text in enumerate(split):
        for sentence in text:
            pieces = next(pieces_of)
            while len(pieces) > limit:
                chunks = -(-len(pieces) // limit)  # as many chunks as needed, of about equal length
                cut = _cut(model, pieces, -(-len(pieces) // chunks))
                parts[i].append(pieces[:cut])
                ends[i].append("")
                pieces = pieces[cut:]
            if pieces:
                parts[i].append(pieces)
                last = sentence.rstrip()[-1:]
                ends[i].append(last if len(text) > 1 and last in SENTENCE_ENDS else "")
    return [[np.array(p + [EOS], np.int32) for p in text_parts] for text_parts in parts], ends


def _warn_unknown(model, texts, total):
    """Warns, naming them, of the characters of `texts` that the source
    vocabulary does not hold: the encoder reads each run of them as one
    unknown piece, and a text made of them still gets a fluent translation."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    unknown = [c for c, ids in zip(chars, _tokenize(model, chars)) if UNK in ids]
    if unknown:
        shown = "".join(unknown[:20]) + ("..." if len(unknown) > 20 else "")
        warnings.warn(
            f"{len(texts)} of {total} texts hold characters outside the model's source vocabulary"
            f" ({model.source_language or 'source language'}): {shown!r}. Each run of them is read as one "
            f"unknown piece, so their words are not translated (a text of nothing else still gets a fluent, "
            f"made-up translation).",
            stacklevel=4,  # the caller of model.translate
        )


def _tokenize(model, texts, tokenizer=None):
    """Texts -> lists of piece ids, by the model's source tokenizer (or `tokenizer`)."""
    if not texts:
        return []
    ids = (tokenizer or model.source_tokenizer)(list(texts))  # eager keras_hub tokenizers return lists
    ids = ids.to_list() if hasattr(ids, "to_list") else ids
    return [list(map(int, t)) for t in ids]


def _cut(model, pieces, limit):
    """Where to cut `pieces` (longer than `limit`): before the last piece
    within the limit that starts a word, else at the limit."""
    starts = _word_starts(model.source_proto)
    for j in range(limit, 0, -1):
        if 0 <= pieces[j] < len(starts) and starts[pieces[j]]:
            return j
    return limit


def _attention_rows(model, source_parts, results, maps):
    """`(source_pieces, output_pieces, weights)` of one sentence (see `translate`)."""
    pieces = lambda tok, seq: [tok.id_to_token(int(i)) for i in seq]  # noqa: E731
    if len(source_parts) == 1:  # rows for the output pieces, and for the end token if it was chosen
        output = pieces(model.target_tokenizer, list(results[0]) + [EOS])
        rows = len(results[0]) if maps[0] is None else len(maps[0])  # no attention: the output pieces, no weights
        return pieces(model.source_tokenizer, source_parts[0]), output[:rows], maps[0]
    source = [p for s in source_parts for p in pieces(model.source_tokenizer, s)]
    # A part's attention has a row per output piece, its end token included if it was chosen.
    output = [
        p for r, m in zip(results, maps)
        for p in pieces(model.target_tokenizer, list(r) + [EOS])[: None if m is None else len(m)]
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


def _decode(model, source, beam_size, max_length, alpha, **options):
    """Source ids `[batch, src_len]` -> `(token arrays, attention)`, by the
    compiled search of `zoo.decoding.Decoder` (`options`: its masks and
    n-best arguments; the unknown token is never chosen by default)."""
    if beam_size == 1:  # one hypothesis: no n-best list
        options = {k: v for k, v in options.items() if k != "num_return_sequences"}
        return model.search.greedy(source, max_length, **options)
    return model.search.beam_search(source, beam_size, max_length, alpha, **options)


def split_sentences(text, language="en"):
    """`text` cut into sentences (pysbd's rules for `language`: a period after
    an abbreviation, an ordinal or an initial ends none) and at line breaks,
    stripped, blank ones dropped.

    >>> split_sentences('Am 3. Mai kommt Dr. Müller. "Er rennt!" Dann\\nzwei Katzen', "de")
    ['Am 3. Mai kommt Dr. Müller.', '"Er rennt!"', 'Dann', 'zwei Katzen']
    """
    segmenter = _segmenter(language)
    return [s.strip() for line in text.splitlines() if line.strip() for s in _segment(segmenter, line) if s.strip()]


def _segment(segmenter, line):
    """pysbd's sentences of `line`, read `SEGMENT_WINDOW` characters at a time:
    its time grows with the square of what it reads (1 MB on one line took
    11 minutes). Of each window all sentences but the last are kept, and the
    next window starts where that last one starts, so every boundary is
    decided with the text around it, as when the line is read whole."""
    sentences, start = [], 0
    while len(line) - start > SEGMENT_WINDOW:
        spans = segmenter.segment(line[start : start + SEGMENT_WINDOW])
        if len(spans) < 2:  # a whole window without a boundary: cut it there
            sentences.append(line[start : start + SEGMENT_WINDOW])
            start += SEGMENT_WINDOW
            continue
        sentences += [span.sent for span in spans[:-1]]  # the last one may run on past the window
        start += spans[-1].start
    return sentences + [span.sent for span in segmenter.segment(line[start:])]


def _segmenter(language):
    """This thread's pysbd segmenter for `language`: a segmenter keeps state
    while it splits, so threads sharing one got each other's sentences."""
    segmenters = _local.__dict__.setdefault("segmenters", {})
    if language not in segmenters:
        segmenters[language] = pysbd.Segmenter(language=language, clean=False, char_span=True)
    return segmenters[language]


@functools.lru_cache(maxsize=16)
def _word_starts(proto):
    """Per piece of the SentencePiece model `proto`: does it start a word
    (SentencePiece marks a word start with U+2581)."""
    vocabulary = tokenizer(proto).get_vocabulary()
    return np.array([p.startswith("\u2581") for p in vocabulary])


def _as_sentences(sentences, name="sentences"):
    """`(single, list of str)` of `translate`'s `sentences` (errors call it `name`); TypeError for anything else."""
    if isinstance(sentences, str):
        _check_encodable(name, sentences)
        return True, [sentences]
    expected = f"`{name}` must be a string or a list of strings"
    if isinstance(sentences, (bytes, bytearray, memoryview)):
        raise TypeError(f"{expected}, got {type(sentences).__name__}: decode it first, e.g. `text.decode('utf-8')`.")
    if isinstance(sentences, Mapping):
        raise TypeError(f"{expected}, got {type(sentences).__name__}: pass a list of its keys or of its values.")
    if type(sentences).__name__ == "DataFrame":  # iterating one gives its column names
        raise TypeError(f"{expected}, got a DataFrame: pass one column of it, e.g. `df['source'].tolist()`.")
    if isinstance(sentences, (set, frozenset)):
        raise TypeError(f"{expected}, got {type(sentences).__name__}, which has no order: pass a list.")
    if not isinstance(sentences, Iterable):
        raise TypeError(f"{expected}, got {type(sentences).__name__}.")
    sentences = list(sentences)
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            shown = repr(sentence) if len(repr(sentence)) <= 40 else repr(sentence)[:37] + "..."
            raise TypeError(f"`{name}[{i}]` must be a string, got {type(sentence).__name__} ({shown}).")
        _check_encodable(f"{name}[{i}]", sentence)
    return False, sentences


def _check_encodable(name, text):
    """ValueError naming `name` for a string that is not valid Unicode text (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"`{name}` is not valid text: {text[e.start]!r} at index {e.start} is a lone surrogate "
                         f"(decode the bytes with errors='replace').") from None


def _detokenize(model, sequences):
    """Token id arrays -> texts ("" for an empty one), in one call of the
    tokenizer (one at a time costs about 0.5 ms each)."""
    texts = [""] * len(sequences)
    filled = [i for i, s in enumerate(sequences) if len(s)]
    if filled:
        ragged = tf.RaggedTensor.from_row_lengths(
            np.concatenate([np.asarray(sequences[i], np.int32) for i in filled]), [len(sequences[i]) for i in filled])
        for i, text in zip(filled, model.target_tokenizer.detokenize(ragged), strict=True):
            texts[i] = _to_str(text)
    return texts


def _to_str(text):
    """The detokenized text, without the space a final "▁" piece leaves
    (keras_hub detokenizers return a str, bytes or a scalar string tensor)."""
    text = text.numpy() if hasattr(text, "numpy") else text
    return (text.decode("utf-8") if isinstance(text, bytes) else text).strip()




# -- evaluation -------------------------------------------------------------------


def evaluate(model, pair, split="test", beam_sizes=(1, 5), limit=None, progress=False):
    """sacreBLEU, chrF, lowercased BLEU and sentences/s per beam size, on
    `split` of the built-in `pair` ("de-en") or on `pair = (sources, references)`.

    Returns `{"greedy" or "beam<k>": {"bleu", "chrf", "bleu_lowercase",
    "sentences_per_second"}, "split", "sentences": n}`.
    """
    beam_sizes = check_model(model, "translate", limit, beam_sizes)
    if isinstance(pair, str):
        sources, references = load_pairs(pair, split, limit=limit)
    else:  # your own (sources, references)
        shape = "a pair name (\"de-en\") or (sources, references): two lists of strings of the same length"
        pair = own_items("pair", pair, lambda side: not isinstance(side, (str, bytes)) and hasattr(side, "__iter__"),
                          shape)
        if len(pair) != 2:
            raise ValueError(f"`pair` must be {shape}, got {len(pair)} items.")
        sources, references = (own_items(name, side, lambda s: isinstance(s, str), shape)
                               for name, side in zip(("pair[0]", "pair[1]"), pair, strict=True))
        if len(sources) != len(references):
            raise ValueError(f"`pair` must be {shape}, got {len(sources)} sources and {len(references)} references.")
        sources, references = sources[:limit], references[:limit]
    results = {"split": split, "sentences": len(sources)}
    for beam in beam_sizes:
        start = time.perf_counter()
        hypotheses = decode_in_batches(lambda chunk: model.translate(chunk, beam_size=beam),  # noqa: B023  called at once
                             sources, EVALUATION_BATCH, beam, progress, "sentence", key=len)
        seconds = time.perf_counter() - start
        scores = translation_scores(hypotheses, references)
        scores["sentences_per_second"] = round(len(sources) / seconds, 1)
        results["greedy" if beam == 1 else f"beam{beam}"] = scores
    return results


def quick_check(model, card):
    """Greedy BLEU on the first 100 test sentences of the pair the card names
    (`zoo.evaluate.quick_check`); None for a model trained on a user's files,
    unless its recorded check names a built-in pair (`card["check"]["pair"]`)."""
    data = card.get("data") or {}
    own = data.get("pair") not in pairs()  # trained on own files: a pair only if the check names one
    pair = (card.get("check") or {}).get("pair") if own else data["pair"]
    if pair not in pairs():
        return None
    scores = evaluate(model, pair, "test", beam_sizes=(1,), limit=100)["greedy"]
    named = {"slice": f"first 100 test sentences of the built-in {pair} pair, greedy", "pair": pair}
    return {**(named if own else {"slice": "first 100 test sentences, greedy"}), "bleu": scores["bleu"]}


def held_out(card, split):
    """`(sources, references)` of the `split` of the user's files the model was
    trained on, rebuilt as its recipe built it (`zoo.data.user_files.held_out`)."""
    config = card.get("config") or {}
    keys = ("train_file", "source_file", "target_file", "val_file", "test_file")

    def rebuild():
        if (card.get("data") or {}).get("input") == "streaming":
            return streamed()
        with contextlib.redirect_stdout(sys.stderr):  # its count of pairs is not the caller's output
            train, val, test, built = user_files.translation_files(
                config.get("train_file", ""), config.get("source_column", "source"),
                config.get("target_column", "target"), config.get("source_file", ""), config.get("target_file", ""),
                config.get("val_file", ""), config.get("test_file", ""), config.get("seed", 0))
        part = {"train": train, "val": val, "test": test}[split]
        found = [f for kind in ("train", "val", "test") for f in built["files"][kind]]
        recorded = [f for kind in ("train", "val", "test") for f in (card["data"].get("files") or {}).get(kind, [])]
        return (part.sources, part.targets), found, recorded

    def streamed():  # the recipe's --input streaming: the same first pass draws the same held-out pairs

        with contextlib.redirect_stdout(sys.stderr):
            corpus = streaming.scan(
                config.get("train_file", ""), config.get("source_column", "source"),
                config.get("target_column", "target"), config.get("source_file", ""), config.get("target_file", ""),
                config.get("val_file", ""), config.get("test_file", ""), config.get("seed", 0), sample=0)
        found = corpus.records + corpus.val_records + corpus.test_records
        recorded = [f for kind in ("train", "val", "test") for f in (card["data"].get("files") or {}).get(kind, [])]
        return tuple({"val": corpus.val, "test": corpus.test}[split]), found, recorded

    return user_files.held_out(card, split, keys, rebuild)


# -- export -------------------------------------------------------------------------


def _serving_function(model, beam_size=1, alpha=0.6, max_extra_tokens=10):
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
        # Each sentence's own limit, as `translate`'s: an output that ran on past it beside longer ones is cut there.
        own = 2 * (ids.row_lengths() + 1) + max_extra_tokens
        output = tf.where(tf.sequence_mask(tf.cast(own, tf.int32), tf.shape(output)[1]), output, PAD)
        if model.right_to_left:  # written last piece first: in reading order, up to the last piece that prints
            # (an untrained model may write the padding id mid-output: it prints nothing, so it is not an end)
            written = tf.where(output != PAD, tf.range(1, tf.shape(output)[1] + 1)[None, :], 0)
            output = tf.reverse_sequence(output, tf.reduce_max(written, axis=1), seq_axis=1)
        output = tf.RaggedTensor.from_tensor(output, padding=PAD)
        text = tf.strings.reduce_join(tf.gather(pieces, output), axis=-1)
        text = tf.strings.strip(tf.strings.regex_replace(text, "\u2581", " "))  # as `translate`, no end spaces
        return tf.where(ids.row_lengths() == 0, "", text)  # no pieces (blank, zero-width), "" out, as `translate`

    def translate(sentences):
        # What `translate` refuses, refused by name: a batch is a vector of UTF-8 strings (`decoding.refusing`).
        vector = tf.equal(tf.size(sentences), tf.shape(sentences)[0])
        sentences = tf.reshape(sentences, [-1])
        # an empty batch has no source length for the encoder's loop: answer it directly
        empty = lambda: tf.zeros([0], tf.string)  # noqa: E731
        return {"translations": decoding.refusing(
            [(vector, "`sentences` must be a 1-D batch of strings"),
             (decoding.valid_utf8(sentences), "`sentences` holds bytes that are not UTF-8 text: decode them first")],
            lambda: tf.cond(tf.size(sentences) > 0, lambda: run(sentences), empty), empty)}

    return tf.function(translate, autograph=False)


def export(model, directory):
    """Writes a SavedModel whose `serving_default` maps a batch of strings to
    their translations (greedy) and `beam_search` with a beam of 5 (alpha
    0.6), by the same compiled search as `translate`. Each string is read as
    one sentence, and a blank one translates to "": split texts into
    sentences first (`split_sentences`), as `translate` does. Loading it needs
    `import tensorflow_text` first (its SentencePiece ops). Output pieces are
    joined through a string table rather than a second SentencePiece
    resource: with two of them in one SavedModel, the reloaded model
    detokenizes with the wrong one (tensorflow/text#1304)."""
    archive = keras.export.ExportArchive()
    for tracked in (model, *model.members):  # the variables, with their trained values (an ensemble's too)
        archive.track(tracked)
    if not model.source_tokenizer.built:  # a layer without weights; Keras tracks built layers only
        model.source_tokenizer.build(None)
    archive.track(model.source_tokenizer)  # its SentencePiece resource
    signature = [tf.TensorSpec([None], tf.string, name="sentences")]
    archive.add_endpoint("serving_default", _serving_function(model), input_signature=signature)
    archive.add_endpoint("beam_search", _serving_function(model, beam_size=5), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory


# -- the `zoo translate` verb ---------------------------------------------------------


def command(args, load):
    """`zoo translate TEXT ... [--beam-size K]`: a translation a line; `-`
    reads the texts from standard input, a text a line. `load()` gives the
    model (quietly)."""
    texts = _command_texts(args.sentences)
    for line in translate(load(), texts, beam_size=args.beam_size):
        print(line)


def _command_texts(sentences):
    """The texts of `zoo translate`: its arguments, or with `-` the lines of standard input."""
    if "-" not in sentences:
        return sentences
    if len(sentences) > 1:
        raise ValueError("'-' reads the texts from standard input, a text a line: give it alone.")
    texts = []
    for number, line in enumerate(sys.stdin.buffer.read().splitlines(), 1):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(f"standard input: line {number} is not UTF-8 text (byte {line[e.start]:#x}).") from None
    return texts
