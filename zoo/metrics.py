"""Metrics of the field: sacreBLEU/chrF for translation, BLEU-1..4 for captions."""

import keras
import sacrebleu
from keras import ops


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


def caption_scores(hypotheses, references):
    """Corpus BLEU-1..4 (sacreBLEU, lowercased) of captions against all of each
    image's references, as captioning papers report them.

    Args:
        hypotheses: one caption per image.
        references: per image, its list of reference captions.

    Returns:
        `{"bleu1": .., "bleu2": .., "bleu3": .., "bleu4": ..}` on a 0-100 scale.
    """
    if len(hypotheses) != len(references) or not all(references):
        raise ValueError(
            f"`references` must hold a non-empty list per hypothesis, got {len(references)} lists "
            f"for {len(hypotheses)} hypotheses."
        )
    most = max(len(r) for r in references)
    # sacreBLEU takes reference streams; a repeated reference changes nothing (clipped counts, closest length).
    streams = [[r[min(k, len(r) - 1)] for r in references] for k in range(most)]
    scores = {}
    for n in range(1, 5):
        bleu = sacrebleu.metrics.BLEU(max_ngram_order=n, lowercase=True)
        scores[f"bleu{n}"] = round(bleu.corpus_score(list(hypotheses), streams).score, 2)
    return scores


def masked_cross_entropy(label_smoothing=0.0, pad=0):
    """Token-level cross-entropy from logits, averaged over non-`pad` targets.

    Under `tf.distribute` the average is over the target tokens of the whole
    global batch: each replica divides its sum by the token count of all
    replicas, so the gradients the strategy sums are those of the same batch
    on one device. (Keras does not rescale a loss function that returns a
    scalar: a per-replica mean would give N times the gradient on N replicas.)
    The logged loss is exact too when the replicas get equal shares of a
    batch; Keras weighs each replica's loss by its share of the batch, so for
    a batch split unevenly (a bucket's last, partial batch) it is not.
    """
    def loss(y_true, y_pred):
        mask = ops.cast(ops.not_equal(y_true, pad), "float32")
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(ops.cast(y_true, "int32"), -1), -1), -1)
        if label_smoothing:
            nll = (1.0 - label_smoothing) * nll - label_smoothing * ops.mean(logp, axis=-1)
        tokens = sum_over_replicas(ops.sum(mask))  # of the global batch
        return ops.sum(nll * mask) / ops.maximum(tokens, 1.0)

    loss.__name__ = "masked_cross_entropy"
    return loss


def sum_over_replicas(value):
    """`value` summed over the replicas of the current `tf.distribute` step
    (itself outside one, or with one replica)."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return ops.stop_gradient(context.all_reduce("sum", value))


class MaskedAccuracy(keras.metrics.Metric):
    """Fraction of non-`pad` target tokens predicted exactly, over all batches
    (a token-weighted mean, not a mean of per-batch means)."""

    def __init__(self, pad=0, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad = pad
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros", name="tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, self.pad), "float32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        hits = ops.cast(ops.equal(y_true, predicted), "float32") * mask
        self.hits.assign_add(ops.sum(hits))
        self.tokens.assign_add(ops.sum(mask))

    def result(self):
        return self.hits / ops.maximum(self.tokens, 1.0)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}
