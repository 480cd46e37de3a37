"""Fetch public dataset files: a local mirror, a cache, or the public URL.

Lookup order for a file such as "multi30k/train.de.gz":
1. `$ZOO_DATA_DIR/multi30k/train.de.gz` when `ZOO_DATA_DIR` is set (a local
   mirror of the public files, e.g. on a machine without internet);
2. `$ZOO_CACHE_DIR` (default `~/.cache/zoo`), where downloads are kept;
3. the public URL, downloaded to a temporary file, checked against its
   sha256, then renamed into the cache (a half-download never stays there).

Flickr8k is a directory, not one file, and its mirror layout (`Images/*.jpg` +
Kaggle `captions.txt`) differs from the public zips: `flickr8k_dir()` returns it.
"""

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from zoo.io import atomic_write, sha256

DATA_ENV = "ZOO_DATA_DIR"
CACHE_ENV = "ZOO_CACHE_DIR"

_MULTI30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"

# name -> (public URL, sha256)
FILES = {
    "multi30k/test_2016_flickr.de.gz": (_MULTI30K + "test_2016_flickr.de.gz", "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"),
    "multi30k/test_2016_flickr.en.gz": (_MULTI30K + "test_2016_flickr.en.gz", "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"),
    "multi30k/test_2016_flickr.fr.gz": (_MULTI30K + "test_2016_flickr.fr.gz", "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90"),
    "multi30k/train.de.gz": (_MULTI30K + "train.de.gz", "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
    "multi30k/train.en.gz": (_MULTI30K + "train.en.gz", "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
    "multi30k/train.fr.gz": (_MULTI30K + "train.fr.gz", "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c"),
    "multi30k/val.de.gz": (_MULTI30K + "val.de.gz", "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
    "multi30k/val.en.gz": (_MULTI30K + "val.en.gz", "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
    "multi30k/val.fr.gz": (_MULTI30K + "val.fr.gz", "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9"),
    "spa-eng/spa-eng.zip": ("http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip", "0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f"),
    "tinyshakespeare/input.txt": ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    "nietzsche/nietzsche.txt": ("https://s3.amazonaws.com/text-datasets/nietzsche.txt", "23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647"),
    "weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5": ("https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5", "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da"),
}

# Downloaded but never mirrored: the mirror holds Flickr8k extracted (see FLICKR8K_MIRROR).
# sha256 None = not pinned yet: nobody here could download the zips to hash them (no internet),
# so a download only prints its hash, to be checked (content, not just hash) and pinned here.
DOWNLOAD_ONLY = {
    "flickr8k/Flickr8k_Dataset.zip": ("https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip", None),
    "flickr8k/Flickr8k_text.zip": ("https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip", None),
}

# The mirror's flickr8k/: sha256 of captions.txt and of every Images/* file concatenated in name order.
FLICKR8K_MIRROR = {
    "captions.txt": "1f64199044088bc04efbf4496856d1f076a04eba9c7519bd6c3b909feb70afab",
    "Images": "9fb426826ba07ef91f349f95152ede5bc202aaf7b80cf332e1e212b1d934ab19",
}


def cache_dir():
    """`$ZOO_CACHE_DIR` (`~` expanded; unset or empty: `~/.cache/zoo`)."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "zoo"


def writable_cache_dir(directory):
    """Creates `directory` (inside the cache) if needed and checks that files can
    be written there; else raises an OSError of the same kind naming the
    directory, the `ZOO_CACHE_DIR` variable and what is wrong."""
    directory = Path(directory)
    value = os.environ.get(CACHE_ENV)
    setting = f"{CACHE_ENV}={value}" if value else f"the default cache (set {CACHE_ENV} to choose another)"
    hint = f"Point {CACHE_ENV} at a writable directory, or {DATA_ENV} at a local mirror of the files."
    for parent in [directory, *directory.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"cannot use {directory} as the download cache ({setting}): {parent} is a file, "
                    f"not a directory. {hint}"
                )
            break
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise type(e)(
            e.errno, f"cannot write in the download cache {directory} ({setting}): {e.strerror or e}. {hint}"
        ) from None
    return directory


def fetch(name):
    """Returns the local path of the dataset file `name`, checked by sha256."""
    files = {**FILES, **DOWNLOAD_ONLY}
    if name not in files:
        raise ValueError(f"`name` must be one of {sorted(files)}, got {name!r}.")
    url, expected = files[name]
    mirror = os.environ.get(DATA_ENV)
    if mirror:
        path = Path(mirror) / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: {DATA_ENV}={mirror} is set, so the mirror must "
                f"hold {name} (public URL: {url}). Unset {DATA_ENV} to download it."
            )
        _check(path, expected, url, f"the mirror {DATA_ENV}={mirror}")
        return path
    path = cache_dir() / name
    if path.is_file():
        _check(path, expected, url, f"the cache {path.parent} (delete it to refetch)")
        return path
    writable_cache_dir(path.parent)

    def download(tmp):  # checked before it takes its final name: a half-download never stays
        try:
            urllib.request.urlretrieve(url, tmp)
        except OSError as e:
            raise OSError(
                f"could not download {name} from {url} ({e}); without internet, "
                f"point {DATA_ENV} at a local mirror of the files."
            ) from e
        _check(tmp, expected, url, "the download")

    print(f"Downloading {url} -> {path}")
    return atomic_write(path, download)


def _check(path, expected, url, where):
    actual = sha256(path)
    if expected is None:  # not pinned yet (see DOWNLOAD_ONLY)
        print(f"Warning: {path} has sha256 {actual}; none is pinned yet for {url}.")
    elif actual != expected:
        raise ValueError(
            f"{path} from {where} is corrupt: sha256 {actual}, expected {expected} "
            f"(public URL: {url})."
        )


def flickr8k_dir():
    """Returns the Flickr8k directory: `Images/*.jpg` and a captions file.

    With `ZOO_DATA_DIR` set: the mirror's `flickr8k/` (850 images, `captions.txt`),
    checked against FLICKR8K_MIRROR. Otherwise `$ZOO_CACHE_DIR/flickr8k/`, made once
    from the two public zips (8,091 images, `Flickr8k.token.txt`).
    """
    mirror = os.environ.get(DATA_ENV)
    if mirror:
        directory = Path(mirror) / "flickr8k"
        _check_flickr8k_mirror(directory)
        return directory
    directory = cache_dir() / "flickr8k"  # also where fetch keeps the two zips
    if not (directory / "Images").is_dir():
        text, images = fetch("flickr8k/Flickr8k_text.zip"), fetch("flickr8k/Flickr8k_Dataset.zip")
        tmp = Path(tempfile.mkdtemp(dir=writable_cache_dir(directory), prefix=".extract."))
        try:  # Images/ is renamed into place last, so its presence means a complete extraction
            (tmp / "Images").mkdir()
            _extract(text, lambda name: name == "Flickr8k.token.txt", tmp)
            _extract(images, lambda name: name.endswith(".jpg"), tmp / "Images")
            os.replace(tmp / "Flickr8k.token.txt", directory / "Flickr8k.token.txt")
            os.replace(tmp / "Images", directory / "Images")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _extract(archive, wanted, directory):
    """Copies the members of `archive` whose base name is `wanted` into `directory`, flat
    (the dataset zip nests them in `Flicker8k_Dataset/`; `__MACOSX/` holds only resource forks)."""
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            name = member.rsplit("/", 1)[-1]
            if wanted(name) and not member.startswith("__MACOSX/"):
                with z.open(member) as src, open(directory / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def _check_flickr8k_mirror(directory):
    """Checks the mirror's captions.txt and Images/* against FLICKR8K_MIRROR. Hashing 850
    images every time would be wasteful: a passed check is remembered in the cache, keyed on
    the files' names, sizes and mtimes (a rewritten file changes them, so is hashed again)."""
    captions, images = directory / "captions.txt", directory / "Images"
    if not captions.is_file() or not images.is_dir():
        urls = ", ".join(url for url, _ in DOWNLOAD_ONLY.values())
        raise FileNotFoundError(
            f"{directory} must hold captions.txt and Images/: {DATA_ENV}={directory.parent} is set "
            f"(public zips: {urls}). Unset {DATA_ENV} to download them."
        )
    files = [captions] + sorted(p for p in images.iterdir() if p.is_file())
    stats = [(p.name, s.st_size, s.st_mtime_ns) for p, s in ((p, p.stat()) for p in files)]
    key = hashlib.sha256(json.dumps([str(directory.resolve()), stats, FLICKR8K_MIRROR]).encode()).hexdigest()
    marker = cache_dir() / "flickr8k-mirror-checked"
    if marker.is_file() and marker.read_text() == key:
        return
    where = f"the mirror {DATA_ENV}={directory.parent}"
    _check(captions, FLICKR8K_MIRROR["captions.txt"], DOWNLOAD_ONLY["flickr8k/Flickr8k_text.zip"][0], where)
    digest = hashlib.sha256()
    for path in files[1:]:
        digest.update(path.read_bytes())
    if digest.hexdigest() != FLICKR8K_MIRROR["Images"]:
        raise ValueError(
            f"{images} from {where} is corrupt: sha256 of its {len(files) - 1} files concatenated in "
            f"name order {digest.hexdigest()}, expected {FLICKR8K_MIRROR['Images']}."
        )
    try:  # a half-written marker only fails to match, so no atomic write is needed
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(key)
    except OSError:
        pass  # a read-only cache: check again next time
