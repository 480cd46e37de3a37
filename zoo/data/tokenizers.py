"""Tokenizers learned on a training split and saved with the model: SentencePiece
subwords (translation), a word vocabulary (captions) and a character vocabulary
(text generation)."""

import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import sentencepiece as spm

PAD, UNK, BOS, EOS = 0, 1, 2, 3
# Characters: id 0 stands for every character outside the vocabulary; decoded as U+FFFD.
UNKNOWN_ID = 0
UNKNOWN = "\ufffd"


def train_sentencepiece(texts, vocabulary_size, model_type="unigram"):
    """Learns a SentencePiece model on `texts`; returns its serialized proto.

    SentencePiece is lossless (spaces are pieces too), so detokenizing gives
    back raw, cased text. Ids: 0 padding, 1 unknown, 2 start, 3 end.
    (`keras_hub.tokenizers.compute_sentence_piece_proto` cannot reserve a
    padding id, hence the direct call to the trainer.)
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type=model_type,
        character_coverage=1.0,
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        hard_vocab_limit=False,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()


def train_sentencepieces(jobs, model_type="unigram"):
    """`train_sentencepiece(texts, vocabulary_size)` of every `(texts,
    vocabulary_size)` in `jobs`, trained at the same time (the trainer runs
    outside Python's lock): the same protos, in about the time of the longest.
    """
    jobs = list(jobs)
    if not jobs:
        return []
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: train_sentencepiece(*job, model_type=model_type), jobs))


def tokenizer(proto):
    """A `keras_hub` SentencePiece tokenizer (strings <-> int ids)."""
    import keras_hub  # here, not at the top: the character models need this module, not keras_hub

    return keras_hub.tokenizers.SentencePieceTokenizer(proto=proto, dtype="int32")


def sample_sentencepiece(proto, texts, alpha, seed, nbest_size=64):
    """One sampled segmentation of each of `texts` into ids (subword
    regularization, Kudo 2018): drawn from the `nbest_size` best
    segmentations with probabilities proportional to P(segmentation)^alpha
    (the paper's l-best sampling; alpha 0.1 with l = 64 for small data).
    The same `seed` draws the same pieces, in any thread or process; each
    draw is a different segmentation of the same text (decoding it gives
    the text back).
    """
    processor = spm.SentencePieceProcessor()
    processor.LoadFromSerializedProto(proto)
    spm.set_random_generator_seed(int(seed))  # read by this call's one thread: the same draws each time
    return processor.encode(list(texts), enable_sampling=True, alpha=alpha, nbest_size=nbest_size, num_threads=1)


def check_sentencepiece(proto, where="`proto`"):
    """Returns `proto` if it is a serialized SentencePiece model with the zoo's
    special ids (0 padding, 1 unknown, 2 start, 3 end); else raises ValueError
    naming `where` (a file, or the argument) and what is wrong.

    SentencePiece itself parses an empty or garbage proto into a C++ error that
    names nothing, and keras_hub into a TensorFlow one; this says which file.
    """
    if not isinstance(proto, (bytes, bytearray)):
        raise TypeError(f"{where} must be the bytes of a SentencePiece model, got {type(proto).__name__}.")
    if not proto:
        raise ValueError(f"{where} is not a SentencePiece model: it is empty.")
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(bytes(proto))
    except (RuntimeError, OSError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{where} is not a SentencePiece model ({len(proto)} bytes; {reason}).") from None
    special = (processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id())
    if special != (PAD, UNK, BOS, EOS):
        raise ValueError(
            f"{where} is a SentencePiece model with padding, unknown, start and end ids {special}, "
            f"but the zoo's models need {(PAD, UNK, BOS, EOS)} (see `train_sentencepiece`)."
        )
    return bytes(proto)


def read_sentencepiece(path):
    """The bytes of the SentencePiece model file `path`, checked (see
    `check_sentencepiece`); a missing file raises FileNotFoundError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the model's tokenizer file is missing.")
    return check_sentencepiece(path.read_bytes(), where=str(path))


def read_json_vocabulary(cls, path):
    """`cls.from_json` of the file `path`; a missing file raises FileNotFoundError,
    an unreadable or corrupt one ValueError, both naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the model's vocabulary file is missing.")
    try:
        return cls.from_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a {cls.__name__} file: it is not UTF-8 text ({e.reason}).") from None
    except ValueError as e:
        raise ValueError(f"{path} is not a {cls.__name__} file: {e}") from None


class WordVocabulary:
    """Words <-> ids for captions: 0 padding, 1 unknown, 2 start, 3 end, then
    the words of the training captions seen at least `min_count` times, most
    frequent first (ties alphabetical). Captions are expected normalized
    (`zoo.data.flickr8k.normalize_caption`): split on spaces.

    >>> vocabulary = WordVocabulary.from_texts(["a dog runs", "a dog sits", "a cat"], min_count=2)
    >>> vocabulary.words, vocabulary.encode("a dog flies").tolist(), vocabulary.decode([4, 5, 1, 3, 4])
    (['a', 'dog'], [4, 5, 1], 'a dog <unk>')
    """

    SPECIAL = ("<pad>", "<unk>", "<start>", "<end>")

    def __init__(self, words):
        words = list(words)
        if not all(isinstance(w, str) and w and " " not in w for w in words) or len(set(words)) != len(words):
            raise ValueError(f"`words` must be distinct non-empty strings without spaces, got {words[:10]!r}.")
        self.words = words
        self._ids = {w: i + len(self.SPECIAL) for i, w in enumerate(words)}
        self._table = [*self.SPECIAL, *words]

    @classmethod
    def from_texts(cls, texts, min_count=1):
        counts = Counter(w for t in texts for w in t.split())
        return cls(sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)))

    @property
    def size(self):
        return len(self._table)

    def encode(self, text):
        """A caption -> int32 ids (no start or end token); unseen words get 1."""
        return np.array([self._ids.get(w, UNK) for w in text.split()], np.int32)

    def decode(self, ids):
        """Ids -> words joined by spaces, up to the first end token; padding and start dropped."""
        words = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == EOS:
                break
            if i not in (PAD, BOS):
                words.append(self._table[i] if 0 <= i < len(self._table) else self.SPECIAL[UNK])
        return " ".join(words)

    def to_json(self):
        return json.dumps({"words": self.words}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text):
        """The vocabulary of a `to_json` text: `{"words": [...]}`; anything else raises ValueError."""
        return _from_json(cls, text, "words", "word vocabulary")

    @classmethod
    def from_file(cls, path):
        """The vocabulary saved in the file `path` (see `read_json_vocabulary`)."""
        return read_json_vocabulary(cls, path)

    def __eq__(self, other):
        return isinstance(other, WordVocabulary) and self.words == other.words


class CharVocabulary:
    """Characters <-> int ids, with id 0 for any character it has not seen.

    Unseen characters never raise: `encode` maps them to `UNKNOWN_ID` (0) and
    `decode` maps 0 to U+FFFD. The language models built on it read id 0 as a
    zero input vector, score it as the one class "a character outside the
    vocabulary", and never generate it (see `zoo.models.char_rnn`).

    Args:
        chars: the distinct characters, in id order (ids start at 1).

    Example:

    >>> vocab = CharVocabulary.from_text("hello")
    >>> vocab.chars, vocab.size
    (['e', 'h', 'l', 'o'], 5)
    >>> vocab.encode("hole!").tolist()
    [2, 4, 3, 1, 0]
    >>> vocab.decode([2, 4, 3, 1, 0])
    'hole\ufffd'
    >>> vocab.unknown("hole!")
    ['!']
    """

    def __init__(self, chars):
        chars = list(chars)
        if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError(f"`chars` must be a non-empty sequence of single characters, got {chars[:10]!r}.")
        if len(set(chars)) != len(chars) or UNKNOWN in chars:
            raise ValueError(
                f"`chars` must be distinct and must not contain {UNKNOWN!r} (reserved for unknown characters)."
            )
        self.chars = chars
        self._ids = {c: i + 1 for i, c in enumerate(chars)}
        self._table = np.array([UNKNOWN, *chars])

    @classmethod
    def from_text(cls, text):
        """The sorted distinct characters of `text`."""
        return cls(sorted(set(text) - {UNKNOWN}))

    @property
    def size(self):
        """Number of ids, the unknown id included."""
        return len(self.chars) + 1

    def encode(self, text):
        """`str -> int32 [len(text)]`; unseen characters get `UNKNOWN_ID`."""
        return np.fromiter((self._ids.get(c, UNKNOWN_ID) for c in text), np.int32, len(text))

    def decode(self, ids):
        """Ids -> str; `UNKNOWN_ID` (or any id out of range) becomes U+FFFD."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        ids = np.where((ids >= 0) & (ids < self.size), ids, UNKNOWN_ID)
        return "".join(self._table[ids].tolist())

    def unknown(self, text):
        """The sorted distinct characters of `text` outside the vocabulary."""
        return sorted(set(text) - set(self._ids))

    def to_json(self):
        return json.dumps({"chars": self.chars}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text):
        """The vocabulary of a `to_json` text: `{"chars": [...]}`; anything else raises ValueError."""
        return _from_json(cls, text, "chars", "character vocabulary")

    @classmethod
    def from_file(cls, path):
        """The vocabulary saved in the file `path`; a missing file raises
        FileNotFoundError, a corrupt one ValueError, both naming the file."""
        return read_json_vocabulary(cls, path)

    def __eq__(self, other):
        return isinstance(other, CharVocabulary) and self.chars == other.chars

    def __repr__(self):
        return f"CharVocabulary({len(self.chars)} characters)"


def _from_json(cls, text, key, kind):
    """`cls(data[key])` of a JSON text `{key: [...]}`; anything else is a
    ValueError that says it is not a `kind` and why."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"Not a {kind}: invalid JSON ({e}).") from e
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f'Not a {kind}: expected {{"{key}": [...]}}, got {_preview(data)}.')
    try:
        return cls(data[key])
    except (ValueError, TypeError) as e:
        raise ValueError(f"Not a {kind}: {e}") from e


def _preview(data):
    text = json.dumps(data, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
