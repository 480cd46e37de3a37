"""Evaluation of trained models with the field's metrics."""

import time

from zoo.data.translation import load_pairs
from zoo.metrics import caption_scores, translation_scores


def evaluate_translation(model, pair, split="test", beam_sizes=(1, 5), limit=None):
    """sacreBLEU, chrF, lowercased BLEU and sentences/s per beam size.

    Returns `{"greedy" or "beam<k>": {"bleu", "chrf", "bleu_lowercase",
    "sentences_per_second"}, "sentences": n}`.
    """
    sources, references = load_pairs(pair, split, limit=limit)
    results = {"split": split, "sentences": len(sources)}
    for beam in beam_sizes:
        start = time.perf_counter()
        hypotheses = model.translate(sources, beam_size=beam)
        seconds = time.perf_counter() - start
        scores = translation_scores(hypotheses, references)
        scores["sentences_per_second"] = round(len(sources) / seconds, 1)
        results["greedy" if beam == 1 else f"beam{beam}"] = scores
    return results


def evaluate_captioning(model, split="test", beam_sizes=(1, 3), limit=None):
    """Corpus BLEU-1..4 (lowercased, all 5 references) and images/s per beam
    size on a Flickr8k split (see `zoo.data.flickr8k`).

    Returns `{"greedy" or "beam<k>": {"bleu1", .., "bleu4", "images_per_second"},
    "split", "images"}`.
    """
    from zoo.data.flickr8k import load_flickr8k, normalize_caption

    items = load_flickr8k(split, limit=limit)
    paths = [path for path, _ in items]
    references = [[normalize_caption(c) for c in captions] for _, captions in items]
    results = {"split": split, "images": len(items)}
    for beam in beam_sizes:
        start = time.perf_counter()
        hypotheses = model.caption(paths, beam_size=beam)
        seconds = time.perf_counter() - start
        scores = caption_scores(hypotheses, references)
        scores["images_per_second"] = round(len(paths) / seconds, 1)
        results["greedy" if beam == 1 else f"beam{beam}"] = scores
    return results
