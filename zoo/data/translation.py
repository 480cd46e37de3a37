"""Parallel corpora: Multi30k task 1 and Tatoeba spa-eng."""

import gzip
import io
import zipfile

import numpy as np

from zoo.data.download import fetch

MULTI30K_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
MULTI30K_LANGS = ("de", "en", "fr")
# The languages whose sentence boundaries `zoo.models.seq2seq.split_sentences`
# knows (pysbd's Golden Rules), by ISO 639-1 code: a translator's `source_language`.
SENTENCE_LANGUAGES = ("am", "ar", "bg", "da", "de", "el", "en", "es", "fa", "fr", "hi", "hy", "it", "ja", "kk", "mr",
                      "my", "nl", "pl", "ru", "sk", "ur", "zh")
SPA_ENG_SEED = 1234
SPA_ENG_HELD_OUT = 5000  # pairs in each of val and test


def pairs():
    """The language pairs `load_pairs` accepts, as "src-tgt"."""
    multi30k = [f"{a}-{b}" for a in MULTI30K_LANGS for b in MULTI30K_LANGS if a != b]
    return sorted(multi30k + ["en-es", "es-en"])


def load_pairs(pair, split, limit=None):
    """Returns `(sources, targets)`, two aligned lists of raw sentences.

    Args:
        pair: "src-tgt", e.g. "de-en" (Multi30k task 1, splits train 29,000 /
            val 1,014 / test = test_2016_flickr 1,000) or "en-es"/"es-en"
            (Tatoeba spa-eng, 118,964 pairs, shuffled with seed 1234: the first
            5,000 are test, the next 5,000 val, the rest train).
        split: "train", "val" or "test".
        limit: keep only the first `limit` pairs.
    """
    if pair not in pairs():
        raise ValueError(f"`pair` must be one of {pairs()}, got {pair!r}.")
    if split not in MULTI30K_SPLITS:
        raise ValueError(f"`split` must be one of {list(MULTI30K_SPLITS)}, got {split!r}.")
    src, tgt = pair.split("-")
    if "es" in (src, tgt):
        english, spanish = _spa_eng(split)
        sources, targets = (english, spanish) if src == "en" else (spanish, english)
    else:
        sources, targets = (_multi30k(MULTI30K_SPLITS[split], lang) for lang in (src, tgt))
    return sources[:limit], targets[:limit]


def _multi30k(split, lang):
    with gzip.open(fetch(f"multi30k/{split}.{lang}.gz"), "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def _spa_eng(split):
    with zipfile.ZipFile(fetch("spa-eng/spa-eng.zip")) as archive:
        text = io.TextIOWrapper(archive.open("spa-eng/spa.txt"), encoding="utf-8")
        rows = [line.rstrip("\n").split("\t")[:2] for line in text if "\t" in line]
    order = np.random.default_rng(SPA_ENG_SEED).permutation(len(rows))
    n = SPA_ENG_HELD_OUT
    chosen = {"test": order[:n], "val": order[n : 2 * n], "train": order[2 * n :]}[split]
    return [rows[i][0] for i in chosen], [rows[i][1] for i in chosen]
