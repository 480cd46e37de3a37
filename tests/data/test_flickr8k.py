import csv
import doctest
import hashlib
import random
import zipfile

import numpy as np
import pytest
from PIL import Image

from zoo.data import download, flickr8k

# name -> captions, with a comma and quotes in one caption, and names not in sorted order.
CAPTIONS = {
    "b.jpg": ['A dog , a ball and a " red " hat .', "A dog runs ."],
    "a.jpg": ["A man 's hat .", "Two kids ; one snow-covered hill ."],
}
ROWS = [("b.jpg", CAPTIONS["b.jpg"][0]), ("a.jpg", CAPTIONS["a.jpg"][0]),
        ("b.jpg", CAPTIONS["b.jpg"][1]), ("a.jpg", CAPTIONS["a.jpg"][1])]


def write_kaggle(path, rows=ROWS):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return path


def write_token(path, rows=ROWS):
    counts = {}
    lines = []
    for name, caption in rows:
        counts[name] = counts.get(name, -1) + 1
        lines.append(f"{name}#{counts[name]}\t{caption}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_both_layouts_read_the_same(tmp_path):
    kaggle = flickr8k.read_captions(write_kaggle(tmp_path / "captions.txt"))
    token = flickr8k.read_captions(write_token(tmp_path / "Flickr8k.token.txt"))
    assert kaggle == token == CAPTIONS
    assert list(kaggle) == list(token) == ["b.jpg", "a.jpg"]  # order of first appearance


def test_kaggle_quoting_is_parsed_by_csv_rules(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text('image,caption\r\nx.jpg,"A dog , a "" red "" ball ."\r\n\r\nx.jpg,Plain .  \r\n')
    assert flickr8k.read_captions(path) == {"x.jpg": ['A dog , a " red " ball .', "Plain ."]}


@pytest.mark.parametrize("text, number, line", [
    ("image,caption\na.jpg,ok .\na.jpg,too,many\n", 3, "a.jpg,too,many"),
    ("image,caption\na.jpg,ok .\nb.jpg\n", 3, "b.jpg"),
    ("image,caption\na.jpg,ok .\na.jpg,\n", 3, "a.jpg,"),
    ('image,caption\na.jpg,"ok" bad .\n', 2, 'a.jpg,"ok" bad .'),
    ("a.jpg#0\tok .\na.jpg#1 no tab\n", 2, "a.jpg#1 no tab"),
    ("a.jpg#0\tok .\na.jpg\tno index\n", 2, "a.jpg\tno index"),
    ("a.jpg#0\tok .\n\na.jpg#1\t  \n", 3, "a.jpg#1\t  "),
    ("name;caption\na.jpg;x\n", 1, "name;caption"),
])
def test_malformed_line_names_file_number_and_line(tmp_path, text, number, line):
    path = tmp_path / "captions.txt"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        flickr8k.read_captions(path)
    message = str(error.value)
    assert str(path) in message and f"line {number}:" in message and repr(line) in message


def test_empty_captions_file_is_refused(tmp_path):
    (tmp_path / "captions.txt").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        flickr8k.read_captions(tmp_path / "captions.txt")


def test_split_sizes_disjoint_and_independent_of_order():
    names = [f"{i}_{i * 7919 % 10007:x}.jpg" for i in range(10_000)]
    splits = {s: flickr8k.split_images(names, s) for s in ("train", "val", "test")}
    assert sum(map(len, splits.values())) == len(names)
    assert set().union(*splits.values()) == set(names) == set(flickr8k.split_images(names, "all"))
    for split, percent in ("train", 82), ("val", 9), ("test", 9):
        assert abs(len(splits[split]) / len(names) - percent / 100) < 0.015
    shuffled = random.Random(0).sample(names, len(names)) + names[:100]  # reordered, with duplicates
    for split, chosen in splits.items():
        assert flickr8k.split_images(shuffled, split) == chosen == sorted(chosen)
        assert flickr8k.split_images(names[:500], split) == [n for n in chosen if n in set(names[:500])]


def test_split_is_pinned_by_sha256_of_the_name():
    # The same on every machine and Python version (hashlib, not hash()): a change here moves images.
    expected = {
        "1000268201_693b08cb0e.jpg": "train", "1003163366_44323f5815.jpg": "train",
        "1001773457_577c3a7d70.jpg": "val", "101654506_8eb26cfb60.jpg": "val",
        "1002674143_1b742ab4b8.jpg": "test", "101669240_b2d3e7f17b.jpg": "test",
    }
    assert {name: flickr8k.split_of(name) for name in expected} == expected


def test_bad_split_lists_allowed_values():
    with pytest.raises(ValueError, match="'train', 'val', 'test', 'all'.*'dev'"):
        flickr8k.split_images(["a.jpg"], "dev")
    with pytest.raises(ValueError, match="'dev'"):
        flickr8k.load_flickr8k("dev")


@pytest.fixture
def real_flickr8k(mirror, tmp_path, monkeypatch):
    """The mirror's Flickr8k, with the check's marker in a temporary cache."""
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    return download.flickr8k_dir()


def test_real_mirror_images_captions_and_splits(real_flickr8k):
    everything = flickr8k.load_flickr8k("all")
    assert len(everything) == 850 and all(len(captions) == 5 for _, captions in everything)
    sizes = {s: len(flickr8k.load_flickr8k(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 692, "val": 83, "test": 75}
    assert len(flickr8k.load_flickr8k("test", limit=3)) == 3
    path, captions = everything[0]
    assert path == str(real_flickr8k / "Images" / "1000268201_693b08cb0e.jpg")
    assert captions[0] == "A child in a pink dress is climbing up a set of stairs in an entry way ."


def test_load_real_image_as_path_or_array(real_flickr8k):
    path = real_flickr8k / "Images" / "1000268201_693b08cb0e.jpg"
    image = flickr8k.load_image(path)
    assert image.shape == (224, 224, 3) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 255 and image.std() > 10
    assert flickr8k.load_image(str(path), size=32).shape == (32, 32, 3)
    pixels = np.asarray(Image.open(path))
    np.testing.assert_array_equal(flickr8k.load_image(pixels), image)
    for same in (pixels.astype(np.float32), pixels.astype(np.int64), pixels.astype(np.uint16) * 257,
                 np.minimum(pixels + 0.3, 255)):  # the same 8-bit pixels in other dtypes: the same input
        np.testing.assert_array_equal(flickr8k.load_image(same), image, err_msg=str(same.dtype))


RED = (200, 50, 10)


@pytest.mark.parametrize("mode, suffix, expected", [
    ("L", ".png", (128, 128, 128)),
    ("L", ".jpg", (128, 128, 128)),
    ("P", ".png", RED),
    ("RGBA", ".png", RED),
    ("CMYK", ".jpg", RED),
    ("1", ".png", (255, 255, 255)),
])
def test_load_image_converts_modes_to_rgb(tmp_path, mode, suffix, expected):
    color = 128 if mode == "L" else 255 if mode == "1" else RED
    image = Image.new("RGB" if mode not in ("L", "1") else mode, (40, 30), color)
    if mode == "P":  # an adaptive palette holds RED exactly (the default web palette dithers)
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    elif mode in ("RGBA", "CMYK"):
        image = image.convert(mode)
    path = tmp_path / f"image{suffix}"
    image.save(path)
    assert Image.open(path).mode == mode
    loaded = flickr8k.load_image(path, size=16)
    assert loaded.shape == (16, 16, 3) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, np.broadcast_to(expected, loaded.shape), atol=6)


def test_transparent_pixels_are_laid_on_white(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    np.testing.assert_array_equal(flickr8k.load_image(tmp_path / "clear.png", size=4), np.full((4, 4, 3), 255))


def test_grayscale_array_and_bad_arrays():
    gray = np.full((10, 20), 100, np.uint8)
    np.testing.assert_array_equal(flickr8k.load_image(gray, size=8), np.full((8, 8, 3), 100))
    with pytest.raises(ValueError, match=r"\(10, 20, 4\)"):
        flickr8k.load_image(np.zeros((10, 20, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        flickr8k.load_image(np.full((10, 20, 3), 300.0))
    with pytest.raises(ValueError, match="size"):
        flickr8k.load_image(gray, size=0)


def test_corrupt_and_non_image_files_raise_value_error(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("not an image\n")
    for name in "truncated.jpg", "text.jpg":
        with pytest.raises(ValueError, match="could not read the image") as error:
            flickr8k.load_image(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        flickr8k.load_image(tmp_path / "missing.jpg")


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """A 2-image mirror whose hashes replace the real ones; the cache is temporary."""
    directory = tmp_path / "mirror" / "flickr8k"
    (directory / "Images").mkdir(parents=True)
    for name, color in ("a.jpg", RED), ("b.jpg", (0, 0, 255)):
        Image.new("RGB", (20, 10), color).save(directory / "Images" / name)
    write_kaggle(directory / "captions.txt")
    images = b"".join((directory / "Images" / n).read_bytes() for n in ("a.jpg", "b.jpg"))
    monkeypatch.setattr(download, "FLICKR8K_MIRROR", {
        "captions.txt": download.sha256(directory / "captions.txt"),
        "Images": hashlib.sha256(images).hexdigest(),
    })
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    return directory


def test_mirror_check_is_remembered_until_a_file_changes(fake_mirror, monkeypatch):
    assert download.flickr8k_dir() == fake_mirror
    assert [(p.split("/")[-1], c) for p, c in flickr8k.load_flickr8k("all")] == sorted(CAPTIONS.items())

    def no_hashing(*args):
        raise AssertionError("hashed again")

    monkeypatch.setattr(download, "_check", no_hashing)
    download.flickr8k_dir()  # remembered: nothing hashed
    (fake_mirror / "captions.txt").write_text("image,caption\na.jpg,other .\n")
    with pytest.raises(AssertionError, match="hashed again"):
        download.flickr8k_dir()


def test_tampered_mirror_image_is_refused(fake_mirror):
    Image.new("RGB", (20, 10), (1, 2, 3)).save(fake_mirror / "Images" / "b.jpg")
    with pytest.raises(ValueError, match="corrupt") as error:
        download.flickr8k_dir()
    assert str(fake_mirror / "Images") in str(error.value) and download.DATA_ENV in str(error.value)


def test_tampered_mirror_captions_are_refused(fake_mirror):
    write_kaggle(fake_mirror / "captions.txt", ROWS[:3])
    with pytest.raises(ValueError, match="captions.txt .*corrupt"):
        flickr8k.load_flickr8k("all")


def test_mirror_without_flickr8k_names_variable_and_urls(tmp_path, monkeypatch):
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=download.DATA_ENV) as error:
        download.flickr8k_dir()
    assert "Flickr8k_Dataset.zip" in str(error.value)


def test_download_extracts_public_zip_layout(tmp_path, monkeypatch, capsys):
    # The public zips, served from file:// URLs: images nested in Flicker8k_Dataset/, a
    # __MACOSX/ fork to skip, and the token file's known orphan "2258277193_586949ec62.jpg.1".
    public = tmp_path / "public"
    public.mkdir()
    Image.new("RGB", (20, 10), RED).save(tmp_path / "a.jpg")
    with zipfile.ZipFile(public / "Flickr8k_Dataset.zip", "w") as z:
        z.write(tmp_path / "a.jpg", "Flicker8k_Dataset/a.jpg")
        z.writestr("__MACOSX/Flicker8k_Dataset/._a.jpg", b"fork")
    with zipfile.ZipFile(public / "Flickr8k_text.zip", "w") as z:
        z.writestr("Flickr8k.token.txt", "a.jpg#0\tA red box .\n2258277193_586949ec62.jpg.1#0\tNo image .\n")
        z.writestr("Flickr_8k.trainImages.txt", "a.jpg\n")
    for name in download.DOWNLOAD_ONLY:
        monkeypatch.setitem(download.DOWNLOAD_ONLY, name, ((public / name.split("/")[1]).as_uri(), None))
    monkeypatch.delenv(download.DATA_ENV, raising=False)
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))

    directory = download.flickr8k_dir()
    assert sorted(p.name for p in (directory / "Images").iterdir()) == ["a.jpg"]
    assert "none is pinned yet" in capsys.readouterr().out  # sha256 None: a warning, not a failure
    assert flickr8k.load_flickr8k("all") == [(str(directory / "Images" / "a.jpg"), ["A red box ."])]
    (public / "Flickr8k_Dataset.zip").unlink()
    assert download.flickr8k_dir() == directory  # extracted once, reused offline


def test_normalize_caption():
    assert doctest.testmod(flickr8k).failed == 0
    assert flickr8k.normalize_caption("  Two  DOGS ,  playing\ttug-of-war !") == "two dogs playing tug-of-war"
    assert flickr8k.normalize_caption("A man\u2019s hat - 'big' -- end-") == "a man's hat big end"
    assert flickr8k.normalize_caption(" . , ") == ""
