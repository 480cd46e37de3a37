"""Metrics of the field: sacreBLEU/chrF for translation, BLEU-1..4 and CIDEr-D for captions, with bootstrap
intervals over images."""

import keras
import numpy as np
import sacrebleu
from keras import ops
from pycocoevalcap.cider.cider import Cider

from zoo.checks import integer, rate
from zoo.data.flickr8k import normalize_caption


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


def caption_scores(hypotheses, references, cider=False):
    """Corpus BLEU-1..4 (sacreBLEU, lowercased) of captions against all of each
    image's references, as captioning papers report them; with `cider=True`
    also CIDEr-D (`cider_d`).

    Args:
        hypotheses: one caption per image.
        references: per image, its list of reference captions.
        cider: add `"cider"`, CIDEr-D x 100 over the same images.

    Returns:
        `{"bleu1": .., "bleu2": .., "bleu3": .., "bleu4": ..}` on a 0-100 scale
        (and `"cider"`).
    """
    _check_captions(hypotheses, references)
    most = max(len(r) for r in references)
    # sacreBLEU takes reference streams; a repeated reference changes nothing (clipped counts, closest length).
    streams = [[r[min(k, len(r) - 1)] for r in references] for k in range(most)]
    scores = {}
    for n in range(1, 5):
        bleu = sacrebleu.metrics.BLEU(max_ngram_order=n, lowercase=True)
        scores[f"bleu{n}"] = round(bleu.corpus_score(list(hypotheses), streams).score, 2)
    if cider:
        scores["cider"] = round(100 * float(np.mean(cider_d(hypotheses, references))), 2)
    return scores


def _check_captions(hypotheses, references):
    if len(hypotheses) != len(references) or not all(references):
        raise ValueError(
            f"`references` must hold a non-empty list per hypothesis, got {len(references)} lists "
            f"for {len(hypotheses)} hypotheses."
        )


def cider_d(hypotheses, references):
    """Per-image CIDEr-D (Vedantam et al. 2015, as the COCO caption evaluation
    computes it: `pycocoevalcap`'s `Cider`).

    For n = 1..4, each caption is a vector of n-gram counts weighted by
    idf = log(images / images whose references hold the n-gram), the
    document frequencies taken from the references of the images scored
    together; an image's score is 10 x the mean over n and over its
    references of the cosine similarity, with the candidate's weights clipped
    at the reference's and a length penalty exp(-(length difference)^2 / 72)
    (sigma 6). The corpus CIDEr-D is the mean of these scores; papers print
    it x 100. Captions are tokenized as the project's training and BLEU
    captions are (`zoo.data.flickr8k.normalize_caption`: lowercase, words of
    letters and digits, punctuation dropped) instead of the COCO evaluation's
    Java PTB tokenizer.

    Args:
        hypotheses: one caption per image.
        references: per image, its list of reference captions.

    Returns:
        float64 `[images]`, on CIDEr-D's own scale (0 to 10).
    """
    _check_captions(hypotheses, references)
    if not len(hypotheses):
        return np.zeros([0])
    images = range(len(hypotheses))
    candidates = {i: [normalize_caption(hypotheses[i])] for i in images}
    refs = {i: [normalize_caption(r) for r in references[i]] for i in images}
    _, per_image = Cider(sigma=6.0).compute_score(refs, candidates)
    return np.asarray(per_image, np.float64)


def caption_intervals(hypotheses, references, resamples=1000, seed=0, level=0.95):
    """Bootstrap intervals of the captioning scores over images: `resamples`
    draws of as many images, with replacement (seeded: the same `seed` and
    number of images give the same draws, so two systems scored on the same
    images get paired intervals), each scored as a corpus.

    BLEU-n is recomputed for each draw from the images' sufficient statistics
    (clipped n-gram matches, n-gram counts, lengths, closest reference
    lengths), exactly as `caption_scores` computes it on the drawn corpus.
    CIDEr-D is the mean of the drawn images' scores, with the document
    frequencies of the whole set (those of the images scored, as in the COCO
    evaluation).

    Args:
        hypotheses, references: as for `caption_scores`.
        resamples: number of bootstrap draws, a positive integer.
        seed: seed of the draws.
        level: the central share of the draws the interval holds, in (0, 1).

    Returns:
        `{"bleu1": (low, high), .., "bleu4": (low, high), "cider": (low, high)}`,
        on the scales of `caption_scores(..., cider=True)`.
    """
    _check_captions(hypotheses, references)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"`resamples` must be a positive integer, got {resamples!r}.")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"`level` must be a number in (0, 1), got {level!r}.")
    if not len(hypotheses):
        raise ValueError("`hypotheses` must hold at least one caption, got none.")
    draws = np.random.default_rng(seed).integers(0, len(hypotheses), (resamples, len(hypotheses)))
    stats = _bleu_statistics(hypotheses, references)  # [images, 2 + 2 * 4]
    sums = stats[draws].sum(axis=1)  # [resamples, 10]
    bleu = sacrebleu.metrics.BLEU(lowercase=True)
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    intervals = {}
    for n in range(1, 5):
        values = [
            bleu.compute_bleu(list(s[2 : 2 + n]), list(s[6 : 6 + n]), int(s[0]), int(s[1]), bleu.smooth_method,
                              bleu.smooth_value, max_ngram_order=n).score
            for s in sums
        ]
        intervals[f"bleu{n}"] = tuple(round(float(v), 2) for v in np.percentile(values, tails))
    cider = 100 * cider_d(hypotheses, references)[draws].mean(axis=1)
    intervals["cider"] = tuple(round(float(v), 2) for v in np.percentile(cider, tails))
    return intervals


def paired_caption_difference(hypotheses_a, hypotheses_b, references, resamples=1000, seed=0, level=0.95):
    """System A minus system B on the same images, by a paired bootstrap
    (Koehn 2004): both scored on the same `resamples` draws of the images.

    Returns `{"bleu4": {...}, "cider": {...}}`, each with `difference` (on the
    whole set), `interval` (the central `level` of the drawn differences) and
    `a_better` (the share of draws where A scores higher). BLEU-4 is
    recomputed per draw from sufficient statistics, CIDEr-D is the mean of the
    drawn images' scores, as in `caption_intervals`.
    """
    _check_captions(hypotheses_a, references)
    _check_captions(hypotheses_b, references)
    draws = _draws(len(references), resamples, seed)
    stats = [_bleu_statistics(h, references) for h in (hypotheses_a, hypotheses_b)]
    ciders = [100 * cider_d(h, references) for h in (hypotheses_a, hypotheses_b)]
    return {"bleu4": _paired(lambda i, rows: _corpus_bleu(stats[i], rows, lowercase=True), draws, level),
            "cider": _paired(lambda i, rows: ciders[i][rows].mean(axis=1), draws, level)}


def paired_translation_difference(hypotheses_a, hypotheses_b, references, resamples=1000, seed=0, level=0.95):
    """System A minus system B in cased sacreBLEU on the same sentences, by a
    paired bootstrap (Koehn 2004) over `resamples` draws of the sentences:
    `{"difference", "interval", "a_better"}` as in `paired_caption_difference`.
    """
    for hypotheses in (hypotheses_a, hypotheses_b):
        if len(hypotheses) != len(references):
            raise ValueError(f"`hypotheses` and `references` must have the same length, got {len(hypotheses)} and "
                             f"{len(references)}.")
    draws = _draws(len(references), resamples, seed)
    stats = [_bleu_statistics(h, [[r] for r in references], lowercase=False) for h in (hypotheses_a, hypotheses_b)]
    return _paired(lambda i, rows: _corpus_bleu(stats[i], rows, lowercase=False), draws, level)


def paired_log_loss_difference(losses_a, losses_b, block=1000, resamples=1000, seed=0, level=0.95):
    """Model A minus model B in nats per character on the same text, by a
    paired block bootstrap: the per-character losses
    (`zoo.tasks.text_generation.character_log_losses`) are cut into runs of
    `block` consecutive characters (the last may be shorter), since a
    character's loss depends on its neighbours, and `resamples` draws of as
    many runs, with replacement, are scored by both models.

    Returns `{"difference", "interval", "a_better"}` as in
    `paired_translation_difference`, in nats per character to 4 decimals:
    below 0 means A is better, and `a_better` is the share of draws where A's
    loss is lower.
    """
    a, b = (np.asarray(x, np.float64) for x in (losses_a, losses_b))
    if a.ndim != 1 or a.shape != b.shape or not len(a):
        raise ValueError(f"`losses_a` and `losses_b` must be 1-D, non-empty and of the same length, got shapes "
                         f"{a.shape} and {b.shape}.")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"`block` must be a positive integer, got {block!r}.")
    starts = np.arange(0, len(a), block)
    sums = np.stack([np.add.reduceat(x, starts) for x in (a, b)])  # [2, blocks]
    counts = np.diff(np.append(starts, len(a)))
    draws = _draws(len(starts), resamples, seed)
    paired = _paired(lambda i, rows: -sums[i][rows].sum(axis=1) / counts[rows].sum(axis=1), draws, level, digits=4)
    # _paired scores higher-is-better; a loss is the negated score
    return {"difference": -paired["difference"], "interval": tuple(-v for v in paired["interval"][::-1]),
            "a_better": paired["a_better"]}


def _draws(items, resamples, seed):
    """`[resamples, items]` indices drawn with replacement."""
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"`resamples` must be a positive integer, got {resamples!r}.")
    if not items:
        raise ValueError("`references` must hold at least one item, got none.")
    return np.random.default_rng(seed).integers(0, items, (resamples, items))


def _paired(score, draws, level, digits=2):
    """`score(system, rows [n, items]) -> [n]` of systems 0 and 1: their difference
    on everything, its bootstrap interval over `draws` and how often 0 wins,
    rounded to `digits`."""
    everything = np.arange(draws.shape[1])[None]
    drawn = score(0, draws) - score(1, draws)
    return {
        "difference": round(float(score(0, everything)[0] - score(1, everything)[0]), digits),
        "interval": tuple(round(float(v), digits) for v in np.percentile(drawn, [50 * (1 - level), 50 * (1 + level)])),
        "a_better": round(float(np.mean(drawn > 0)), 3),
    }


def _corpus_bleu(stats, rows, lowercase):
    """Corpus BLEU of each row of item indices, from `_bleu_statistics`."""
    bleu = sacrebleu.metrics.BLEU(lowercase=lowercase)
    return np.array([bleu.compute_bleu(list(t[2:6]), list(t[6:10]), int(t[0]), int(t[1]), bleu.smooth_method,
                                       bleu.smooth_value).score for t in stats[rows].sum(axis=1)])


def _bleu_statistics(hypotheses, references, lowercase=True):
    """Per item: hypothesis length, closest reference length, clipped 1..4-gram
    matches, 1..4-gram counts (sacreBLEU 13a): summed over items they give the
    corpus BLEU (lowercased: `caption_scores`'; cased: `translation_scores`')."""
    bleu = sacrebleu.metrics.BLEU(lowercase=lowercase, effective_order=True)  # effective_order: no warning; same counts
    rows = []
    for hypothesis, refs in zip(hypotheses, references):
        s = bleu.sentence_score(hypothesis, list(refs))
        rows.append([s.sys_len, s.ref_len, *s.counts, *s.totals])
    return np.array(rows, np.int64).reshape(len(rows), 10)


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

    With `label_smoothing` `s` over `V` classes the target distribution is
    `q = (1 - s) * one_hot(y) + s / V`, and a token costs `-sum(q * log p) =
    logsumexp(z) - sum(q * z)` for logits `z` (as `sum(q) = 1`). Written so,
    the gradient is `softmax(z) - q` with no gather: a `log_softmax` followed by
    a gather of the target's entry gives the same numbers, but its gradient
    scatters into a zero `[tokens, V]` tensor; at the translation recipe's
    6,000 words it took twice as long, forward and backward
    (`benchmarks/losses.py`).

    `y_true` holds integer ids `[..., T]` (or `[..., T, 1]`, as Keras's sparse
    losses accept), each `pad` or in `[0, V)`; on TensorFlow another id is an
    error naming it (a one-hot row of an id outside `[0, V)` would be all
    zeros, a wrong loss without a word).
    """
    label_smoothing = rate("label_smoothing", label_smoothing)
    pad = integer("pad", pad)

    def loss(y_true, y_pred):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        if len(y_true.shape) == len(y_pred.shape):  # [..., T, 1], as Keras's sparse losses take it
            y_true = ops.squeeze(y_true, -1)
        y_true = ops.cast(y_true, "int32")
        logits = ops.cast(y_pred, "float32")
        classes = ops.shape(logits)[-1]
        _check_ids(y_true, classes, pad)
        mask = ops.cast(ops.not_equal(y_true, pad), "float32")
        target = ops.one_hot(y_true, classes)
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / classes
        nll = ops.logsumexp(logits, axis=-1) - ops.sum(target * logits, axis=-1)
        tokens = sum_over_replicas(ops.sum(mask))  # of the global batch
        return ops.sum(nll * mask) / ops.maximum(tokens, 1.0)

    loss.__name__ = "masked_cross_entropy"
    return loss


def _check_ids(ids, classes, pad):
    """On TensorFlow, an error unless every id is `pad` or in `[0, classes)`
    (an assertion in the graph: it costs one reduction over the ids)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf  # the TensorFlow backend only (the layers and losses also run on JAX)

    valid = tf.logical_or(tf.equal(ids, pad), tf.logical_and(ids >= 0, ids < classes))
    # One of the bad ids, by reductions only: they take an empty batch (a replica's share
    # of a short last batch) and static shapes (XLA compiles them).
    bad = tf.reduce_max(tf.where(valid, ids.dtype.min, ids))
    tf.debugging.Assert(tf.reduce_all(valid), [
        f"masked_cross_entropy: every target id must be the padding id {pad} or in [0, {classes}), got", bad])


def sum_over_replicas(value):
    """`value` summed over the replicas of the current `tf.distribute` step
    (itself outside one, or with one replica)."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf  # the TensorFlow backend only (above)

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
