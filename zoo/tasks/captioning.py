"""Image captioning: image files in, captions out, around a `Captioner` network.

Everything that turns a captioning network into its product lives here:
reading images of any kind (`caption`), attention maps over the image, the
evaluation with BLEU and CIDEr-D (`evaluate`, `quick_check`) and its
retrieval baseline (`nearest_neighbour_captions`), the SavedModel (`export`),
the held-out split of a user's images (`held_out`) and the `zoo caption`
verb (`command`). The network (`zoo.models.captioner`) maps image features to
word ids through `encode` and `decode_step`.
"""

import contextlib
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from zoo import decoding, viz
from zoo.checks import boolean, finite_number, integer
from zoo.data import image_graph, user_files
from zoo.data.flickr8k import load_flickr8k, load_flickr8k_fold, load_image, normalize_caption
from zoo.data.tokenizers import BOS, EOS, PAD
from zoo.evaluate import check_model, decode_in_batches, own_items
from zoo.io import atomic_write
from zoo.metrics import caption_scores

EVALUATION_BATCH = 32  # `caption`'s default batch_size


def caption(model, images, beam_size=3, max_length=20, alpha=0.0, batch_size=32, return_attention=False,
            min_length=0, no_repeat_ngram_size=0, allow_unk=False):
    """Captions images.

    Args:
        images: one image or a list of them (an array `[N, H, W, 3]` is N
            images). An image is a path, the encoded bytes of an image
            file, a `PIL.Image.Image` or an array `[H, W, 3]` (or `[H, W]`),
            of any size and color mode; uint8 arrays as they are, float
            arrays in [0, 255], never [0, 1] (see
            `zoo.data.flickr8k.load_image`).
        beam_size: 1 for greedy decoding, else the beam width.
        max_length: most words per caption.
        alpha: length penalty exponent of beam search (0: none).
        batch_size: images decoded together.
        return_attention: also return, per image, `(words, weights)` with
            `weights` `[len(words), h, w]`: where the model looked for each
            word (the end token last).
        min_length: fewest words before the end token may be chosen.
        no_repeat_ngram_size: if > 0, no n-gram of this size appears twice.
        allow_unk: whether `<unk>` may be emitted (never, by default).

    Returns:
        A caption (str) for one image, else a list of them.

    Raises:
        TypeError: an argument of the wrong type (an image neither a path,
            bytes, a PIL image nor an array), naming it.
        ValueError: a value out of range, or an image that cannot be read,
            naming the argument (or the image's index) and the value.
    """
    if model.vocabulary is None:
        raise ValueError("This model has no vocabulary: call `set_vocabulary` or load a trained model.")
    if isinstance(images, np.ndarray) and images.ndim not in (2, 3, 4):
        raise ValueError(
            f"`images` must be an array [H, W, 3], [H, W] or [N, H, W, 3], got shape {images.shape}."
        )
    single = _is_one_image(images)
    if not single and (isinstance(images, (dict, set, frozenset, str)) or not hasattr(images, "__iter__")):
        raise TypeError(
            f"`images` must be an image (a path, bytes, a PIL image or an array) or a list of images, "
            f"got {type(images).__name__}."
        )
    images = [images] if single else list(images)
    for i, image in enumerate(images):
        if not (isinstance(image, np.ndarray) or _is_one_image(image)):  # load_image checks shapes
            raise TypeError(
                f"`images[{i}]` must be a path, the bytes of an image file, a PIL image or an array "
                f"[H, W, 3] / [H, W], got {type(image).__name__}."
            )
    beam_size = integer("beam_size", beam_size, minimum=1)
    if beam_size > model.vocabulary_size:  # a hypothesis per word at most; more would only exhaust the memory
        raise ValueError(f"`beam_size` must be at most the vocabulary size "
                         f"({model.vocabulary_size}), got {beam_size}.")
    max_length = integer("max_length", max_length, minimum=1, maximum=decoding.MAX_OUTPUT_TOKENS)
    alpha = finite_number("alpha", alpha, minimum=0)
    batch_size = integer("batch_size", batch_size, minimum=1)
    return_attention = boolean("return_attention", return_attention)
    options = decoding.search_options(min_length, no_repeat_ngram_size, allow_unk)

    def load(i, image):
        try:
            return load_image(image, model.image_size)
        except ValueError as e:
            raise ValueError(f"`images[{i}]`: {e}" if not single else str(e)) from e

    sequences, maps = [], []
    for start in range(0, len(images), batch_size):
        pixels = np.stack([load(start + i, x) for i, x in enumerate(images[start : start + batch_size])])
        found, attention = model.decode_features(model.encode_images(pixels), beam_size, max_length, alpha,
                                                return_attention=return_attention, **options)
        sequences += found
        maps += attention
    texts = [model.vocabulary.decode(s) for s in sequences]
    if return_attention:
        extra = [attention_maps(model, s, m) for s, m in zip(sequences, maps)]
        return (texts[0], extra[0]) if single else (texts, extra)
    return texts[0] if single else texts

def attention_maps(model, sequence, weights):
    """`(words, maps [len(words), h, w])` of a decoded `sequence` and its
    attention `[steps, locations]`; "<end>" is the last word if it was chosen."""
    h, w, _ = model.feature_shape
    weights = np.asarray(weights).reshape(-1, h, w)
    words = model.vocabulary.decode(sequence).split()
    words = (words + ["<end>"])[: len(weights)]
    return words, weights[: len(words)]


def _is_one_image(image):
    """A path, encoded bytes, a PIL image or one `[H, W(, C)]` array (not a list of them)."""
    if isinstance(image, np.ndarray):
        return image.ndim in (2, 3)
    if isinstance(image, (str, bytes, bytearray, memoryview, os.PathLike)):
        return True
    return type(image).__module__.startswith("PIL.")


# -- evaluation ---------------------------------------------------------------------


def evaluate(model, split="test", beam_sizes=(1, 3), limit=None, progress=False, fold=None):
    """Corpus BLEU-1..4 (lowercased, all 5 references), CIDEr-D (x 100, see
    `zoo.metrics.cider_d`) and images/s per beam size on a Flickr8k split
    (see `zoo.data.flickr8k`), or on `split = [(image path, [captions])]`.
    With `fold=(i, k)` the split is that of fold i of k-fold cross-validation
    (`zoo.data.flickr8k.load_flickr8k_fold`: "test" is fold i).

    Returns `{"greedy" or "beam<k>": {"bleu1", .., "bleu4", "cider", "images_per_second"},
    "split", "images"}`.
    """
    beam_sizes = check_model(model, "caption", limit, beam_sizes)
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
        items, split = own_items("split", split, one, shape)[:limit], "test"
    paths = [path for path, _ in items]
    references = [[normalize_caption(c) for c in captions] for _, captions in items]
    results = {"split": split if fold is None else f"{split} of fold {fold[0]} of {fold[1]}", "images": len(items)}
    for beam in beam_sizes:
        start = time.perf_counter()
        hypotheses = decode_in_batches(lambda chunk: model.caption(chunk, beam_size=beam),  # noqa: B023  called at once
                             paths, EVALUATION_BATCH, beam, progress, "image")
        seconds = time.perf_counter() - start
        scores = caption_scores(hypotheses, references, cider=True)
        scores["images_per_second"] = round(len(paths) / seconds, 1)
        results["greedy" if beam == 1 else f"beam{beam}"] = scores
    return results

def quick_check(model, card):
    """Greedy BLEU-4 on the first 20 test images (of its fold, for a model
    trained on a cross-validation fold): `zoo.evaluate.quick_check`."""
    data = card.get("data") or {}
    fold = (data.get("fold"), data["folds"]) if data.get("folds") else None  # its cross-validation fold's
    scores = evaluate(model, "test", beam_sizes=(1,), limit=20, fold=fold)["greedy"]
    where = f" of fold {fold[0]} of {fold[1]}" if fold else ""
    return {"slice": f"first 20 test images{where}, greedy", "bleu4": scores["bleu4"]}


def held_out(card, split):
    """`[(image path, [captions])]` of the `split` of the user's images the
    model was trained on, split by the hash of their names as its recipe did
    (`zoo.data.user_files.held_out`)."""
    config, data = card.get("config") or {}, card.get("data") or {}

    def rebuild():
        if not Path(config.get("images", "")).is_dir():
            raise ValueError(f"the model was trained on the images of {config.get('images')!r}: scoring it "
                             f"rebuilds its {split} split from that folder, which is not a folder here; run from "
                             f"where its recipe ran, or score it with zoo.evaluate on your data.")
        with contextlib.redirect_stdout(sys.stderr):
            splits, found, _ = user_files.read_image_captions(config["images"], config["captions"])
        part = splits[split]
        if len(part) != data.get(f"{split}_images", len(part)):
            raise ValueError(f"{config['images']} holds {len(part)} {split} images, the card records "
                             f"{data[f'{split}_images']}: these are not the images the model was scored on.")
        return part, found, data.get("files") or []

    return user_files.held_out(card, split, ("captions",), rebuild)


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


# -- export -----------------------------------------------------------------------


def _serving_function(model, beam_size=3, alpha=0.0, max_length=20):
    """encoded images -> captions by the model's compiled search, as `caption`
    (the pixels of `load_image`, read by `zoo.data.image_graph`)."""
    table = list(model.vocabulary.SPECIAL) + list(model.vocabulary.words)
    for control in (PAD, BOS, EOS):
        table[control] = ""  # `WordVocabulary.decode` drops them
    words = tf.constant(table)
    size = model.image_size

    def run(images):
        pixels = tf.map_fn(lambda data: image_graph.load(data, size), images,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        features = model.encode_images(pixels)
        output = model.search.padded_tokens(features, max_length, beam_size=beam_size, alpha=alpha, pad=PAD)
        text = tf.strings.reduce_join(tf.gather(words, tf.RaggedTensor.from_tensor(output, padding=PAD)),
                                      axis=-1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

    def caption(images):
        empty = lambda: tf.zeros([0], tf.string)  # noqa: E731
        return {"captions": tf.cond(tf.size(images) > 0, lambda: run(images), empty)}

    return tf.function(caption, autograph=False)


def export(model, directory, beam_size=3):
    """Writes a SavedModel whose `serving_default` maps encoded images (the
    bytes of JPEG, PNG, GIF or BMP files) to captions: the captions of
    `caption(images, beam_size=beam_size)` for the same bytes. The graph reads
    each file as `load_image` does (`zoo.data.image_graph`: the size in the
    header checked before decoding, EXIF orientation, Pillow's resizing), and
    refuses with an error naming the reason the few files it cannot read as
    Pillow does (e.g. an orientation given only in XMP, a transparent GIF)."""
    archive = keras.export.ExportArchive()
    for tracked in (model, *model.members):  # an ensemble's members hold their own variables
        archive.track(tracked)
    signature = [tf.TensorSpec([None], tf.string, name="images")]
    archive.add_endpoint("serving_default", _serving_function(model, beam_size=beam_size), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory

# -- the `zoo caption` verb -------------------------------------------------------------


def command(args, load):
    """`zoo caption IMAGE ... [--beam-size K] [--attention PNG]`: a line
    `path<TAB>caption` per image; an unreadable image is an error line on
    stderr and the others are captioned all the same (exit status 2)."""
    readable, unreadable = [], []
    for path in args.images:
        try:
            load_image(path, 8)
            readable.append(path)
        except (ValueError, OSError) as e:
            unreadable.append(" ".join(str(e).split()))
    model = load()
    captions, maps = caption(model, readable, beam_size=args.beam_size, return_attention=True) if readable else ([], [])
    for path, text in zip(readable, captions):
        print(f"{os.fsencode(path).decode('utf-8', 'replace')}\t{text}")
    for message in unreadable:
        print(f"zoo caption: error: {message}", file=sys.stderr)
    if args.attention and readable:
        words, weights = maps[0]
        figure = viz.caption_attention_figure(load_image(readable[0], model.image_size), words, weights, captions[0])
        Path(args.attention).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.attention, viz.to_png(figure))
    return 2 if unreadable else 0
