"""Evaluation of trained models with the field's metrics."""

import time

from zoo.data.translation import load_pairs
from zoo.metrics import translation_scores


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
