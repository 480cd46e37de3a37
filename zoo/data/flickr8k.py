"""Flickr8k for image captioning: images, their 5 captions, a fixed split.

The data comes from `download.flickr8k_dir()`: the mirror's 850-image subset
(Kaggle `captions.txt`) or the full 8,091 images from the public zips
(`Flickr8k.token.txt`); `read_captions` reads both layouts.

Split: by a stable hash of the image file name, so an image is in the same
split on every machine, whatever the order of the captions file, and in the
mirror subset as in the full set (no test image of one is trained on in the
other). bucket = first 8 bytes of sha256(name) as a big-endian integer, mod
100: test if bucket < 9, val if < 18, else train (82 / 9 / 9 %). On the
mirror's 850 images: 692 train, 83 val, 75 test. This is not the official
Flickr_8k.{train,dev,test}Images.txt split (6,000 / 1,000 / 1,000), which the
mirror lacks.

Folds, for k-fold cross-validation (`fold_of`, `fold_images`,
`load_flickr8k_fold`): also by the hash of the name, so every image is tested
in exactly one fold of k, whatever the order or the other images. fold = the
next 8 bytes of the same sha256, mod k; of the images outside the test fold,
those whose third 8 bytes mod 100 fall below `FOLD_VAL_PERCENT` are the
validation images, the rest train. On the mirror's 850 images, k = 5: test
folds of 154-189 images (a hash, not a deal: sizes vary), 59-65 val images.
"""

import csv
import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from zoo.data import download

SPLITS = ("train", "val", "test", "all")
TEST_PERCENT = 9
VAL_PERCENT = 9
FOLD_VAL_PERCENT = 10  # of the images outside the test fold
KAGGLE_HEADER = "image,caption"
_TOKEN_LINE = re.compile(r"(?P<name>[^\t#]+)#\d+\t(?P<caption>.*)")
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")  # alphanumerics, joined by inner ' or -


def read_captions(path, images=None):
    """Returns `{image name: [captions]}` from a Flickr8k captions file.

    Both layouts, told apart by the content: the Kaggle CSV (header
    `image,caption`, then one `name.jpg,caption` row per caption, quoted when
    the caption holds commas or quotes) and the original `Flickr8k.token.txt`
    (`name.jpg#k<TAB>caption` per line). Names keep their order of first
    appearance, captions their file order; captions are stripped of outer
    whitespace, otherwise raw. Blank lines are skipped.

    Raises:
        ValueError: a malformed line, naming the file, line number and line;
            a name that leads outside the images folder (an absolute path,
            `..`; with `images`, the folder, also a symlink leading out),
            naming the file, line and name.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ValueError(f"{path} holds no captions: it is empty.")
    if lines[first].strip() == KAGGLE_HEADER:
        rows = _kaggle_rows(path, text, lines)
    else:
        rows = _token_rows(path, lines)
    captions = {}
    for number, name, caption in rows:
        if _outside(name, images):
            where = f"--images {images}" if images is not None else "the images folder"
            raise ValueError(f"{path}, line {number}: image {name!r} is outside {where}; a captions file may name "
                             f"only the images inside it.")
        captions.setdefault(name, []).append(caption)
    return captions


def _outside(name, images):
    """Whether the image `name` lies outside the folder `images` (by its name
    alone where `images` is None): absolute, `..`, or a symlink leading out."""
    if images is None:
        return Path(name).is_absolute() or ".." in Path(name).parts
    folder = Path(images).resolve()
    return not (folder / name).resolve().is_relative_to(folder)


def _malformed(path, number, line, expected):
    return ValueError(f"{path}, line {number}: expected {expected}, got {line!r}.")


def _kaggle_rows(path, text, lines):
    expected = "'name.jpg,caption' (Kaggle CSV)"
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, end = True, 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num  # a quoted caption may span lines
            if not row:
                continue
            if header:  # the first non-blank line, checked by read_captions
                header = False
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise _malformed(path, start, lines[start - 1], expected)
            yield start, row[0].strip(), row[1].strip()
    except csv.Error as e:
        number = min(reader.line_num, len(lines))
        raise _malformed(path, number, lines[number - 1], f"{expected} ({e})") from e


def _token_rows(path, lines):
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _TOKEN_LINE.fullmatch(line)
        if not match or not match["caption"].strip():
            raise _malformed(path, number, line, f"'name.jpg#k<TAB>caption' (Flickr8k.token.txt) or {KAGGLE_HEADER!r}")
        yield number, match["name"].strip(), match["caption"].strip()


def split_of(name):
    """Returns "train", "val" or "test" for the image file name `name` (see the module docstring)."""
    bucket = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % 100
    return "test" if bucket < TEST_PERCENT else "val" if bucket < TEST_PERCENT + VAL_PERCENT else "train"


def _hash_part(name, part):
    """The `part`-th 8 bytes of sha256(name) as a big-endian integer."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[8 * part : 8 * part + 8], "big")


def _check_fold(fold, folds):
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"`folds` must be an integer >= 2, got {folds!r}.")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"`fold` must be an integer in [0, {folds}) for folds={folds}, got {fold!r}.")


def fold_of(name, folds):
    """Returns the fold in [0, `folds`) whose test set holds the image file name `name`."""
    _check_fold(0, folds)
    return _hash_part(name, 1) % folds


def fold_images(names, fold, folds):
    """Returns `(train, val, test)`, the distinct `names` of fold `fold` of
    `folds`, each sorted: test = the names `fold_of` puts in `fold`; of the
    others, about `FOLD_VAL_PERCENT` % are val (by hash), the rest train.

    Example:

    >>> train, val, test = fold_images([f"{i}.jpg" for i in range(100)], 0, 5)
    >>> len(train) + len(val) + len(test), sorted(set(train) & set(test))
    (100, [])
    """
    _check_fold(fold, folds)
    split = {"train": [], "val": [], "test": []}
    for name in sorted(set(names)):
        if fold_of(name, folds) == fold:
            split["test"].append(name)
        else:
            split["val" if _hash_part(name, 2) % 100 < FOLD_VAL_PERCENT else "train"].append(name)
    return split["train"], split["val"], split["test"]


def split_images(names, split):
    """Returns the distinct `names` in `split` ("train", "val", "test" or "all"), sorted.

    Example:

    >>> split_images(["b.jpg", "a.jpg", "a.jpg"], "all")
    ['a.jpg', 'b.jpg']
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}, got {split!r}.")
    return sorted(name for name in set(names) if split == "all" or split_of(name) == split)


def load_image(image, size=224):
    """Returns `image` as RGB float32 `[size, size, 3]` in [0, 255].

    The whole image is resized to size x size (bilinear, antialiased when
    shrinking): the aspect ratio is not kept and nothing is cropped, as in the
    usual captioning pipelines (neuraltalk2, the Keras captioning example).

    Args:
        image: one of
            - a path (str, `os.PathLike`) to an image file Pillow reads;
            - the encoded bytes of such a file (`bytes`, e.g. `f.read()` or
              an HTTP body; a `bytes` path to an existing file is read as a
              path);
            - a `PIL.Image.Image`;
            - an array `[H, W, 3]`, `[H, W, 1]` or `[H, W]` (grayscale): uint8
              as is; uint16 is 16-bit and is scaled to [0, 255] (divided by
              257, as 16-bit files are); other integers and floats must
              already be in [0, 255]. Every image is rounded to 8-bit pixels
              before it is resized, as the training images (JPEG files) are,
              so the same pixels give the same caption whatever the array's
              dtype. A float array whose values all lie in
              (0, 1] is refused with a ValueError that says to multiply it
              by 255: it is almost surely scaled to [0, 1], which read as
              [0, 255] would be a black image (an all-zero array is black
              in both scales and is accepted).
            A file's EXIF orientation is applied; grayscale, palette, CMYK and
            other modes are converted to RGB; transparent pixels are laid on
            white. 16-bit images (Pillow modes "I;16*", and "I", 32-bit
            integers, which is how Pillow reads some 16-bit files) are scaled
            from [0, 65535] to [0, 255]; an "I" image with values outside
            [0, 65535] is scaled from its own minimum and maximum. 32-bit
            float images ("F") follow the rule of float arrays.
        size: the side of the square output, in pixels.

    Raises:
        FileNotFoundError: no file at `image`.
        TypeError: `image` is none of the above.
        ValueError: an unreadable, truncated or non-image file or bytes, or a
            bad array; the message names the path (or shape) and the reason.
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"`size` must be a positive integer, got {size!r}.")
    if isinstance(image, np.ndarray):
        return _load_array(image, size)
    if isinstance(image, Image.Image):
        return _load_pil(image, size, "the PIL image")
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if len(data) < 4096 and os.path.isfile(os.fsdecode(data) if b"\0" not in data else ""):
            image = os.fsdecode(data)  # a bytes path, as `open` accepts
        else:
            return _load_encoded(io.BytesIO(data), size, f"given as {len(data)} bytes")
    if not isinstance(image, (str, os.PathLike)):
        raise TypeError(
            f"`image` must be a path, the bytes of an image file, a PIL image or an array "
            f"[H, W, 3] / [H, W], got {type(image).__name__}."
        )
    if not os.fspath(image):
        raise FileNotFoundError("`image` is an empty path: give an image file.")
    path = Path(image)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not an image file.")
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}.")
    return _load_encoded(path, size, str(path))


def _load_encoded(source, size, name):
    """Reads a file or file-like object with Pillow; errors name `name`."""
    try:
        with Image.open(source) as opened:
            opened.load()
            return _load_pil(ImageOps.exif_transpose(opened), size, name)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        reason = "not an image format Pillow reads" if isinstance(e, Image.UnidentifiedImageError) else e
        raise ValueError(f"could not read the image {name}: {reason}") from e
    except ValueError as e:
        if str(e).startswith(("an image array", "a float image")):
            raise ValueError(f"{name}: {e}") from e
        raise ValueError(f"could not read the image {name}: {e}") from e


def _load_pil(image, size, name):
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # Pillow's convert("RGB") clips these to 255: scale them instead.
        array = np.asarray(image)
        if image.mode != "F":
            array = _scale_wide_integers(array.astype(np.float64), image.mode)
        return _load_array(np.asarray(array, np.float32), size)
    return np.asarray(_to_rgb(image).resize((size, size), Image.Resampling.BILINEAR), np.float32)


def _scale_wide_integers(array, mode):
    """16-bit values (or 32-bit ones that fit in 16 bits) -> [0, 255]; other
    32-bit ones from their own range."""
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if mode.startswith("I;16") or (low >= 0 and high <= 65535):
        return array / 257.0
    return (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)


def _to_rgb(image):
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _load_array(array, size):
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or array.ndim == 3 and array.shape[-1] == 3) or array.size == 0:
        raise ValueError(f"an image array must be [H, W, 3] or [H, W], got shape {array.shape}.")
    if array.dtype == np.uint8:  # exactly as a file's pixels
        return np.asarray(Image.fromarray(array).convert("RGB").resize((size, size), Image.Resampling.BILINEAR),
                          np.float32)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"an image array must hold numbers, got dtype {array.dtype}.")
    floating = np.issubdtype(array.dtype, np.floating)
    if array.dtype == np.uint16:  # 16-bit, like a 16-bit file
        array = array / 257.0
    array = array.astype(np.float32)
    low, high = float(array.min()), float(array.max())
    if not np.isfinite(array).all() or low < 0 or high > 255:
        raise ValueError(f"an image array must hold values in [0, 255], got [{low}, {high}].")
    if floating and 0 < high <= 1.0:
        raise ValueError(
            f"a float image array must hold values in [0, 255], and this one's all lie in [{low:g}, {high:g}], "
            f"which looks like [0, 1] scaling: multiply it by 255."
        )
    # 8-bit pixels, as the models were trained on (JPEG files): the same pixels give the same
    # input whatever the array's dtype.
    return _load_array(np.rint(array).astype(np.uint8), size)


def load_flickr8k(split, limit=None):
    """Returns `[(image path, [captions])]` of `split`, sorted by image name.

    Args:
        split: "train", "val", "test" or "all" (see the module docstring).
        limit: keep only the first `limit` images.

    Captions of a name with no image file are dropped (the full set's token
    file lists `2258277193_586949ec62.jpg.1`, which has none).
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}, got {split!r}.")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"`limit` must be None or a non-negative integer, got {limit!r}.")
    directory = download.flickr8k_dir()
    kaggle = directory / "captions.txt"
    captions = read_captions(kaggle if kaggle.is_file() else directory / "Flickr8k.token.txt")
    images = directory / "Images"
    names = [name for name in split_images(captions, split) if (images / name).is_file()]
    return [(str(images / name), captions[name]) for name in names[:limit]]


def load_flickr8k_fold(fold, folds):
    """Returns `(train, val, test)`, each `[(image path, [captions])]` sorted
    by image name, for fold `fold` of `folds` (`fold_images` over every image
    of `load_flickr8k("all")`)."""
    _check_fold(fold, folds)
    items = load_flickr8k("all")
    by_name = {Path(path).name: (path, captions) for path, captions in items}
    return tuple([by_name[name] for name in names] for names in fold_images(by_name, fold, folds))


def normalize_caption(text):
    """Returns `text` lowercased, as words of letters and digits joined by
    single spaces; an apostrophe or hyphen is kept only inside a word.

    The usual (Karpathy) preprocessing for training and BLEU, except that it
    keeps "snow-covered" and "don't" whole where Karpathy's drops the mark.
    Flickr8k's tokenized clitics ("dog 's") become "dog s", as in Karpathy's.

    Example:

    >>> normalize_caption('A black-and-white dog \\'s ball , "Rex" ; 2 kids\\' toys .')
    'a black-and-white dog s ball rex 2 kids toys'
    """
    return " ".join(_WORD.findall(text.replace("\u2019", "'").lower()))
