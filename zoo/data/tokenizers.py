"""Tokenizers learned on a training split and saved with the model: SentencePiece
subwords (translation) and a word vocabulary (captions)."""

import io
import json

import keras_hub
import numpy as np
import sentencepiece as spm

PAD, UNK, BOS, EOS = 0, 1, 2, 3


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


def tokenizer(proto):
    """A `keras_hub` SentencePiece tokenizer (strings <-> int ids)."""
    return keras_hub.tokenizers.SentencePieceTokenizer(proto=proto, dtype="int32")


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
        from collections import Counter

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
        try:
            return cls(json.loads(text)["words"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"Not a word vocabulary: {e}.") from e

    def __eq__(self, other):
        return isinstance(other, WordVocabulary) and self.words == other.words
