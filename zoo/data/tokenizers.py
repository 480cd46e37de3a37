"""Subword tokenizers learned on a training split and saved with the model."""

import io

import keras_hub
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
