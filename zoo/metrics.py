"""Metrics of the field: sacreBLEU/chrF for translation, perplexity for text."""

import sacrebleu


def translation_scores(hypotheses, references):
    """sacreBLEU (cased, 13a), chrF, and lowercased BLEU for older comparisons.

    `hypotheses` and `references` are lists of raw, detokenized strings.
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"`hypotheses` and `references` must have the same length, got "
            f"{len(hypotheses)} and {len(references)}."
        )
    refs = [list(references)]
    return {
        "bleu": round(sacrebleu.corpus_bleu(hypotheses, refs).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hypotheses, refs).score, 2),
        "bleu_lowercase": round(sacrebleu.corpus_bleu(hypotheses, refs, lowercase=True).score, 2),
    }


def masked_cross_entropy(label_smoothing=0.0, pad=0):
    """Token-level cross-entropy from logits, averaged over non-`pad` targets."""
    from keras import ops

    def loss(y_true, y_pred):
        mask = ops.cast(ops.not_equal(y_true, pad), "float32")
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(ops.cast(y_true, "int32"), -1), -1), -1)
        if label_smoothing:
            nll = (1.0 - label_smoothing) * nll - label_smoothing * ops.mean(logp, axis=-1)
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    loss.__name__ = "masked_cross_entropy"
    return loss


def masked_accuracy(y_true, y_pred, pad=0):
    """Fraction of non-`pad` target tokens predicted exactly."""
    from keras import ops

    mask = ops.cast(ops.not_equal(y_true, pad), "float32")
    hits = ops.cast(ops.equal(ops.cast(y_true, "int32"), ops.cast(ops.argmax(y_pred, -1), "int32")), "float32")
    return ops.sum(hits * mask) / ops.maximum(ops.sum(mask), 1.0)
