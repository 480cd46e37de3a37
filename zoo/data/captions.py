"""The captioning data on the way to a model: the splits (`caption_splits`:
Flickr8k's fixed split, a cross-validation fold, or your own files), CNN
features of every image computed once and cached (`cache_features`), and the
tf.data pipeline of (image, caption) pairs over them, in a seeded order per
epoch that a resumed run repeats."""

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from zoo.data import user_files
from zoo.data.flickr8k import FOLD_VAL_PERCENT, load_flickr8k, load_flickr8k_fold, load_image, normalize_caption
from zoo.data.tokenizers import BOS, EOS, UNK
from zoo.data.translation import load_pairs
from zoo.tasks import OWN_FILES


def caption_splits(images="", captions="", folds=0, fold=0, train_fraction=1.0, seed=0):
    """`(train, val, test, data)`: the `(image path, [captions])` items of each
    split and their description for the model card (`data`: "dataset", "split",
    and "files"/"missing_images" or "fold"/"folds").

    With `images` and `captions`, your own files
    (`user_files.read_image_captions`: split by a hash of each image's name;
    images the captions name but the folder lacks are printed and left out);
    else fold `fold` of `folds` of Flickr8k (test = the fold), or with `folds`
    0 its fixed 82/9/9 split. `train_fraction` < 1 keeps that share of the
    training images, chosen with `seed`.
    """
    dataset = "flickr8k (the 850-image mirror subset)"
    split = "by sha256 of the image name (zoo.data.flickr8k): 82/9/9 % train/val/test"
    more = {}
    if images:
        splits, files, missing = user_files.read_image_captions(images, captions)
        if missing:
            print(f"{len(missing)} images named in {captions} are not in {images}, left out: "
                  f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
        train, val, test = splits["train"], splits["val"], splits["test"]
        if not (train and val and test):
            raise ValueError(f"--images: {len(train)}/{len(val)}/{len(test)} train/val/test images; each split needs "
                             f"at least one (an image's split follows a hash of its name: give more images).")
        dataset, more = OWN_FILES + ", ".join(f["name"] for f in files), {"files": files, "missing_images": missing}
    elif folds:
        train, val, test = load_flickr8k_fold(fold, folds)
        dataset += f", cross-validation fold {fold} of {folds}"
        split = (f"fold {fold} of {folds} by sha256 of the image name (zoo.data.flickr8k.fold_images): "
                 f"test = the fold, val = {FOLD_VAL_PERCENT} % of the others")
    else:
        train, val, test = (load_flickr8k(name) for name in ("train", "val", "test"))
    if train_fraction < 1.0:
        keep = np.random.default_rng(seed).permutation(len(train))[: round(train_fraction * len(train))]
        train = [train[i] for i in sorted(keep)]
    data = {"dataset": dataset, **more, "split": split, **({"fold": fold, "folds": folds} if folds else {})}
    return train, val, test, data


CROP = 0.875  # the side of a crop view, a share of the image's (224 of 256, as ImageNet's crops)


def _corner(image, rows, columns):
    side = round(image.shape[0] * CROP)
    top, left = (image.shape[0] - side) * rows // 2, (image.shape[1] - side) * columns // 2
    return image[top : top + side, left : left + side]


# Views of an image for training augmentation, each computed from the image loaded at the model's size (crops:
# at size / CROP, so a crop has the model's size): name -> (load scale, transform).
VIEWS = {
    "mirror": (1.0, lambda image: image[:, ::-1]),
    **{f"crop-{name}": (1 / CROP, lambda image, r=r, c=c: _corner(image, r, c))
       for name, (r, c) in {"top-left": (0, 0), "top-right": (0, 2), "centre": (1, 1), "bottom-left": (2, 0),
                            "bottom-right": (2, 2)}.items()},
}


def cache_features(model, items, path, batch_size=32, dtype=np.float16, view=None):
    """`{image name: [locations, channels]}` of every image in `items`
    (`(image path, captions)` pairs), computed once with `model.encode_images`
    and kept in `path` (.npz, keyed by file name). With `view` (a key of
    `VIEWS`), that view of the image ("mirror": flipped left to right;
    "crop-centre" and four corners: 87.5% of the image), keyed `name|view`.

    Images already in `path` are read, not encoded again; the others are
    encoded in batches of `batch_size` and `path` is rewritten atomically with
    all of them. Features are stored as `dtype` (float16 halves the file; the
    recipe trains on them).
    """
    path = Path(path)
    cached = {}
    if path.exists():
        with np.load(path) as stored:
            cached = {name: stored[name] for name in stored.files}
    if view is not None and view not in VIEWS:
        raise ValueError(f"`view` must be None or one of {sorted(VIEWS)}, got {view!r}.")
    scale, transform = VIEWS[view] if view else (1.0, lambda image: image)
    suffix = f"|{view}" if view else ""
    missing = [p for p, _ in items if Path(p).name + suffix not in cached]
    desc = f"encoding images ({view})" if view else "encoding images"
    for start in tqdm(range(0, len(missing), batch_size), desc=desc, disable=not missing):
        chunk = missing[start : start + batch_size]
        images = np.stack([transform(load_image(p, round(model.image_size * scale))) for p in chunk])
        features = model.encode_images(images)
        for p, f in zip(chunk, np.asarray(features)):
            cached[Path(p).name + suffix] = f.astype(dtype)
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        with open(tmp, "wb") as f:  # a file object: np.savez adds no ".npz" to the name
            np.savez(f, **cached)
        os.replace(tmp, path)
    return cached


def caption_pairs(items, features, vocabulary, max_length):
    """Every (image, caption) pair as arrays: feature rows `[n]` into
    `features` order, and tokens `[n, max_length + 2]` (start ... end, 0-padded)."""
    rows, tokens = [], []
    for i, (_, captions) in enumerate(items):
        for caption in captions:
            ids = vocabulary.encode(normalize_caption(caption))[:max_length]
            row = np.zeros(max_length + 2, np.int32)
            row[: len(ids) + 2] = [BOS, *ids, EOS]
            rows.append(i)
            tokens.append(row)
    return np.array(rows, np.int64), np.stack(tokens)


def text_captions(vocabulary, max_length, exclude):
    """Multi30k's 29,000 English training descriptions of Flickr30k images as
    token rows (`caption_pairs`' layout), to train a captioner's decoder as a
    language model too (`caption_dataset(text_tokens=...)`). Left out: a
    description equal to one of the captions `exclude` (normalized: Flickr30k
    holds Flickr8k's images, and Multi30k one caption of most of them, which
    must not reach a model tested on them), one longer than `max_length` words
    and one with a word outside `vocabulary`."""
    excluded = {normalize_caption(c) for c in exclude}
    rows = []
    for sentence in load_pairs("de-en", "train")[1]:
        text = normalize_caption(sentence)
        ids = vocabulary.encode(text)
        if text in excluded or not 0 < len(ids) <= max_length or UNK in list(ids):
            continue
        row = np.zeros(max_length + 2, np.int32)
        row[: len(ids) + 2] = [BOS, *ids, EOS]
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, max_length + 2), np.int32)


def pairs_per_pass(captions, text_tokens=None):
    """How many (features, caption) pairs a pass of `caption_dataset` has
    before batching: the `captions` image captions, and as many text-only
    ones (all of `text_tokens`, if fewer)."""
    return captions + (min(captions, len(text_tokens)) if text_tokens is not None else 0)


def caption_dataset(features, rows, tokens, batch_size, shuffle=False, seed=0, epochs=(0,), steps_per_epoch=None,
                    views=1, text_tokens=None):
    """Yields `((features, tokens_in), tokens_out)`; pass `e` of `epochs` in an
    order drawn from `(seed, e)` alone, so a resumed run sees the batches of an
    unbroken one (`.skip(n)` to resume mid-epoch). Every batch is full.

    With `views` = k > 1, `features` holds k views of each of its `m =
    len(features) // k` images (view j of image i at row `i + j * m`: the
    image itself, then e.g. its mirror image), and each caption of each pass
    is paired with one of its image's views, also drawn from `(seed, e)`.

    With `text_tokens` (`text_captions`), each pass also has as many text-only
    captions as image captions (all of them, if fewer; drawn from `(seed,
    e)`), each paired with an all-zero feature grid: no image."""
    import tensorflow as tf  # here: `VIEWS` (a recipe's flags) needs no TensorFlow

    n, block = len(rows), len(features) // views
    if text_tokens is not None:
        features = np.concatenate([features, np.zeros_like(features[:1])])  # the blank "image", last
    passes = []
    for e in epochs:
        image_rows, captions = rows + block * np.random.default_rng([seed, e, 1]).integers(0, views, n), tokens
        if text_tokens is not None:
            extra = pairs_per_pass(n, text_tokens) - n
            text = np.random.default_rng([seed, e, 2]).permutation(len(text_tokens))[:extra]
            image_rows = np.concatenate([image_rows, np.full(len(text), len(features) - 1)])
            captions = np.concatenate([tokens, text_tokens[text]])
        order = np.random.default_rng([seed, e]).permutation(len(captions)) if shuffle else np.arange(len(captions))
        used = len(captions) // batch_size * batch_size
        if steps_per_epoch:
            used = min(used, steps_per_epoch * batch_size)
        passes.append((image_rows[order[:used]], captions[order[:used]]))
    image_rows = np.concatenate([p[0] for p in passes]) if passes else np.zeros([0], np.int64)
    captions = np.concatenate([p[1] for p in passes]) if passes else tokens[:0]
    table = tf.constant(features)  # [images, locations, channels], float16

    def pair(row, caption):
        return (tf.cast(tf.gather(table, row), tf.float32), caption[:, :-1]), caption[:, 1:]

    ds = tf.data.Dataset.from_tensor_slices((image_rows, captions))
    ds = ds.batch(batch_size, drop_remainder=True).map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
