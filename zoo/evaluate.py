"""Evaluation of trained models with the field's metrics: one function per
task (`evaluate_translation`, `evaluate_captioning`,
`evaluate_text_generation`), which `zoo.tasks` maps each task to, and the
baseline they are compared with (`nearest_neighbour_captions`).

With `progress=True` a tqdm bar on stderr counts the sentences (or images)
decoded for each beam size. The inputs go to the model one batch at a time,
sentences sorted by length as `translate` itself batches them (the
hypotheses are put back in order), so the progress costs no speed.
"""

import math
import sys
import time

import numpy as np
from tqdm import tqdm

from zoo.data.translation import load_pairs
from zoo.metrics import caption_scores, translation_scores

TRANSLATION_BATCH = 64  # Seq2Seq.translate's default batch_size
CAPTION_BATCH = 32  # Captioner.caption's default batch_size


def _check_limit(limit):
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None (everything) or a positive integer, got {limit!r}.")


def _check(model, method, limit, beam_sizes):
    if not callable(getattr(model, method, None)):
        raise TypeError(f"`model` must be a model with `{method}` (a zoo model of that task), "
                        f"got {type(model).__name__}.")
    _check_limit(limit)
    if isinstance(beam_sizes, (str, bytes)) or not isinstance(beam_sizes, (list, tuple)):
        raise TypeError(f"beam_sizes must be a tuple or list of positive integers, e.g. (1, 5), got {beam_sizes!r}.")
    beam_sizes = tuple(beam_sizes)
    if not beam_sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in beam_sizes):
        raise ValueError(f"beam_sizes must be positive integers (1 for greedy), got {beam_sizes!r}.")
    return beam_sizes


def _own_items(name, items, check_item, shape):
    """Your own evaluation data as a list, each item checked by `check_item(item) -> bool`."""
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(f"`{name}` must be {shape}, got {type(items).__name__}.")
    items = list(items)
    if not items:
        raise ValueError(f"`{name}` is empty: there is nothing to evaluate.")
    for i, item in enumerate(items):
        if not check_item(item):
            raise TypeError(f"`{name}` must be {shape}; item {i} is {item!r:.80}.")
    return items


def _decode(decode, inputs, batch, beam, progress, unit, key=None):
    """`decode(chunk)` over `inputs` in chunks of `batch` (taken in the order of
    `key`, outputs returned in the order of `inputs`), with a progress bar."""
    label = "greedy" if beam == 1 else f"beam {beam}"
    order = sorted(range(len(inputs)), key=lambda i: key(inputs[i])) if key else list(range(len(inputs)))
    outputs = [None] * len(inputs)
    with tqdm(total=len(inputs), desc=label, unit=unit, file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(inputs), batch):
            chunk = order[start : start + batch]
            for i, output in zip(chunk, decode([inputs[i] for i in chunk]), strict=True):
                outputs[i] = output
            bar.update(len(chunk))
    return outputs


def evaluate_translation(model, pair, split="test", beam_sizes=(1, 5), limit=None, progress=False):
    """sacreBLEU, chrF, lowercased BLEU and sentences/s per beam size, on
    `split` of the built-in `pair` ("de-en") or on `pair = (sources, references)`.

    Returns `{"greedy" or "beam<k>": {"bleu", "chrf", "bleu_lowercase",
    "sentences_per_second"}, "split", "sentences": n}`.
    """
    beam_sizes = _check(model, "translate", limit, beam_sizes)
    if isinstance(pair, str):
        sources, references = load_pairs(pair, split, limit=limit)
    else:  # your own (sources, references)
        shape = "a pair name (\"de-en\") or (sources, references): two lists of strings of the same length"
        pair = _own_items("pair", pair, lambda side: not isinstance(side, (str, bytes)) and hasattr(side, "__iter__"),
                          shape)
        if len(pair) != 2:
            raise ValueError(f"`pair` must be {shape}, got {len(pair)} items.")
        sources, references = (_own_items(name, side, lambda s: isinstance(s, str), shape)
                               for name, side in zip(("pair[0]", "pair[1]"), pair, strict=True))
        if len(sources) != len(references):
            raise ValueError(f"`pair` must be {shape}, got {len(sources)} sources and {len(references)} references.")
        sources, references = sources[:limit], references[:limit]
    results = {"split": split, "sentences": len(sources)}
    for beam in beam_sizes:
        start = time.perf_counter()
        hypotheses = _decode(lambda chunk: model.translate(chunk, beam_size=beam),  # noqa: B023  called at once
                             sources, TRANSLATION_BATCH, beam, progress, "sentence", key=len)
        seconds = time.perf_counter() - start
        scores = translation_scores(hypotheses, references)
        scores["sentences_per_second"] = round(len(sources) / seconds, 1)
        results["greedy" if beam == 1 else f"beam{beam}"] = scores
    return results


def evaluate_captioning(model, split="test", beam_sizes=(1, 3), limit=None, progress=False, fold=None):
    """Corpus BLEU-1..4 (lowercased, all 5 references), CIDEr-D (x 100, see
    `zoo.metrics.cider_d`) and images/s per beam size on a Flickr8k split
    (see `zoo.data.flickr8k`), or on `split = [(image path, [captions])]`.
    With `fold=(i, k)` the split is that of fold i of k-fold cross-validation
    (`zoo.data.flickr8k.load_flickr8k_fold`: "test" is fold i).

    Returns `{"greedy" or "beam<k>": {"bleu1", .., "bleu4", "cider", "images_per_second"},
    "split", "images"}`.
    """
    from zoo.data.flickr8k import load_flickr8k, load_flickr8k_fold, normalize_caption

    beam_sizes = _check(model, "caption", limit, beam_sizes)
    if isinstance(split, str) and fold is not None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"`split` must be 'train', 'val' or 'test' with `fold`, got {split!r}.")
        items = load_flickr8k_fold(*fold)[("train", "val", "test").index(split)][:limit]
    elif isinstance(split, str):
        items = load_flickr8k(split, limit=limit)
    else:  # your own [(image path, [captions])]
        def one(item):
            return (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], (list, tuple))
                    and len(item[1]) > 0 and all(isinstance(c, str) for c in item[1]))

        shape = "a split name (\"test\") or a list of (image path, [reference captions])"
        items, split = _own_items("split", split, one, shape)[:limit], "test"
    paths = [path for path, _ in items]
    references = [[normalize_caption(c) for c in captions] for _, captions in items]
    results = {"split": split if fold is None else f"{split} of fold {fold[0]} of {fold[1]}", "images": len(items)}
    for beam in beam_sizes:
        start = time.perf_counter()
        hypotheses = _decode(lambda chunk: model.caption(chunk, beam_size=beam),  # noqa: B023  called at once
                             paths, CAPTION_BATCH, beam, progress, "image")
        seconds = time.perf_counter() - start
        scores = caption_scores(hypotheses, references, cider=True)
        scores["images_per_second"] = round(len(paths) / seconds, 1)
        results["greedy" if beam == 1 else f"beam{beam}"] = scores
    return results


def evaluate_text_generation(model, corpus, split="val", limit=None, progress=False):
    """Nats and bits per character of `model.log_loss` on `split` of the
    built-in `corpus` ("tinyshakespeare"; "val", the last 10% of it, or
    "train"), or on your own text (`zoo.data.user_files.Text`), its state
    carried over the whole text; `limit`: only the first `limit` characters.

    Returns `{"split", "log_loss", "bits_per_character"}` (4 decimals).
    """
    from zoo.data.text import load_text
    from zoo.data.user_files import Text

    _check_limit(limit)
    if limit == 1:
        raise ValueError("limit must be at least 2 for text generation (each character is scored after the one "
                         "before it), got 1.")
    own = isinstance(corpus, Text)
    if progress:
        print(f"scoring the {split} split of {corpus.name if own else corpus} ...", file=sys.stderr)
    nats = model.log_loss((corpus.text if own else load_text(corpus, split))[:limit])
    return {"split": split, "log_loss": round(nats, 4), "bits_per_character": round(nats / math.log(2), 4)}


def quick_check(model, card):
    """A figure of `model` on a fixed slice of its own data, quick enough for
    every test run: greedy BLEU on the first 100 test sentences (translation),
    greedy BLEU-4 on the first 20 test images (of its fold, for a model trained
    on a cross-validation fold: captioning), nats per character
    on the first 20,000 validation characters (text). A shipped card records it
    (`card["check"]`) so a test can catch a broken loader or tokenizer. Returns
    None where the card names no built-in data (a model trained on own files),
    unless its recorded check names a built-in pair to check it on
    (`card["check"]["pair"]`).
    """
    task, data = card.get("task"), card.get("data", {})
    own = data.get("pair") not in _pairs()  # trained on own files: a pair only if the check names one
    pair = (card.get("check") or {}).get("pair") if own else data["pair"]
    if task == "translation" and pair in _pairs():
        scores = evaluate_translation(model, pair, "test", beam_sizes=(1,), limit=100)["greedy"]
        named = {"slice": f"first 100 test sentences of the built-in {pair} pair, greedy", "pair": pair}
        return {**(named if own else {"slice": "first 100 test sentences, greedy"}), "bleu": scores["bleu"]}
    if task == "captioning":
        fold = (data.get("fold"), data["folds"]) if data.get("folds") else None  # its cross-validation fold's
        scores = evaluate_captioning(model, "test", beam_sizes=(1,), limit=20, fold=fold)["greedy"]
        where = f" of fold {fold[0]} of {fold[1]}" if fold else ""
        return {"slice": f"first 20 test images{where}, greedy", "bleu4": scores["bleu4"]}
    if task == "text-generation" and data.get("corpus") in _corpora():
        from zoo.data.text import load_text

        nats = model.log_loss(load_text(data["corpus"], "val")[:20_000])
        return {"slice": "first 20,000 validation characters", "log_loss": round(nats, 5)}
    return None


def _pairs():
    from zoo.data.translation import pairs

    return pairs()


def _corpora():
    from zoo.data.text import CORPORA

    return CORPORA


def nearest_neighbour_captions(train_features, train_captions, features):
    """The retrieval baseline: for each image, the caption of its nearest
    training image (cosine similarity of the mean features) that agrees most
    with that image's other captions (highest mean BLEU against them, the
    consensus re-ranking of Devlin et al. 2015).

    Args:
        train_features: `[n, locations, c]` (or `[n, c]`) of the training images.
        train_captions: per training image, its list of captions.
        features: `[m, locations, c]` (or `[m, c]`) of the images to caption.
    """
    import sacrebleu

    def unit(x):
        x = np.asarray(x, np.float32)
        x = x.mean(axis=1) if x.ndim == 3 else x
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)

    nearest = np.argmax(unit(features) @ unit(train_features).T, axis=1)
    consensus = {}
    for i in set(nearest.tolist()):
        options = train_captions[i]
        scores = [
            np.mean([sacrebleu.sentence_bleu(c, [o]).score for o in options if o is not c]) for c in options
        ]
        consensus[i] = options[int(np.argmax(scores))]
    return [consensus[i] for i in nearest.tolist()]
