"""Character corpora: fetch through the mirror, 90/10 split, vocabulary, windows."""

import hashlib

import numpy as np
import pytest

from zoo.data import download, text
from zoo.data.text import (
    UNKNOWN,
    UNKNOWN_ID,
    CharVocabulary,
    char_dataset,
    load_text,
    split_text,
)


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """A mirror holding a small stand-in for tinyshakespeare/input.txt, registered
    with its own sha256, so the real fetch code path runs without the dataset."""
    content = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 10
    path = tmp_path / "mirror" / "tinyshakespeare" / "input.txt"
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    url, _ = download.FILES["tinyshakespeare/input.txt"]
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    monkeypatch.setitem(download.FILES, "tinyshakespeare/input.txt", (url, digest))
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path / "mirror"))
    return path, content


def test_load_text_reads_the_mirror_and_splits_90_10(fake_mirror):
    path, content = fake_mirror
    n = len(content) * 9 // 10
    assert load_text("tinyshakespeare") == content
    assert load_text("tinyshakespeare", "train") == content[:n]
    assert load_text("tinyshakespeare", "val") == content[n:]
    path.write_text(content + "tampered", encoding="utf-8")
    with pytest.raises(ValueError, match="sha256"):
        load_text("tinyshakespeare")


def test_real_corpora_have_their_published_sizes(mirror):
    shakespeare = load_text("tinyshakespeare")
    assert len(shakespeare) == 1_115_394 and len(set(shakespeare)) == 65
    train, val = (
        load_text("tinyshakespeare", "train"),
        load_text("tinyshakespeare", "val"),
    )
    assert (len(train), len(val)) == (1_003_854, 111_540) and train + val == shakespeare
    assert train.startswith("First Citizen:")
    assert len(load_text("nietzsche")) == 600_893
    # Nietzsche's validation text has a character its training text lacks.
    vocabulary = CharVocabulary.from_text(load_text("nietzsche", "train"))
    assert vocabulary.unknown(load_text("nietzsche", "val")) == ["Æ"]


def test_bad_names_are_named():
    with pytest.raises(
        ValueError,
        match="`corpus` must be one of .*'tinyshakespeare'.*got 'shakespeare'",
    ):
        load_text("shakespeare")
    with pytest.raises(ValueError, match="`split` must be one of .*got 'test'"):
        load_text("tinyshakespeare", "test")
    with pytest.raises(ValueError, match="`train_fraction` must be in"):
        split_text("abc", 1.0)


def test_split_is_first_90_percent_then_the_rest():
    sample = "".join(chr(ord("a") + i % 26) for i in range(101))
    train, val = split_text(sample)
    assert (len(train), len(val)) == (90, 11) and (train, val) == (
        sample[:90],
        sample[90:],
    )


def test_vocabulary_round_trip_and_unknown_characters():
    vocabulary = CharVocabulary.from_text("to be, or not to be\n")
    assert vocabulary.chars == sorted(set("to be, or not to be\n"))
    assert vocabulary.size == len(vocabulary.chars) + 1
    ids = vocabulary.encode("not to be")
    assert ids.dtype == np.int32 and UNKNOWN_ID not in ids
    assert vocabulary.decode(ids) == "not to be"
    assert vocabulary.encode("bez!").tolist()[2:] == [UNKNOWN_ID, UNKNOWN_ID]
    assert vocabulary.decode(vocabulary.encode("bez!")) == "be" + UNKNOWN * 2
    assert vocabulary.decode([999, -1]) == UNKNOWN * 2
    assert vocabulary.unknown("zebra!") == ["!", "a", "z"]
    assert CharVocabulary.from_json(vocabulary.to_json()) == vocabulary
    assert vocabulary.encode("").shape == (0,) and vocabulary.decode([]) == ""


def test_vocabulary_rejects_bad_characters():
    for chars, message in [
        ([], "non-empty"),
        (["ab"], "single characters"),
        ("aa", "distinct"),
        ("a" + UNKNOWN, "distinct"),
    ]:
        with pytest.raises(ValueError, match=message):
            CharVocabulary(chars)
    with pytest.raises(ValueError, match="Not a character vocabulary"):
        CharVocabulary.from_json("{}")


def batches(ds):
    return [(np.asarray(x), np.asarray(y)) for x, y in ds]


def is_window_of(ids, row):
    starts = [
        i
        for i in range(len(ids) - len(row) + 1)
        if np.array_equal(ids[i : i + len(row)], row)
    ]
    return bool(starts)


def test_validation_windows_are_fixed_consecutive_and_shifted():
    ids = np.arange(1, 104, dtype=np.int32)  # 103 distinct ids: easy to locate windows
    out = batches(char_dataset(ids, 10, 4))
    assert len(out) == 2  # (103 - 11) // 10 + 1 = 10 windows -> 2 full batches of 4
    x = np.concatenate([b[0] for b in out])
    y = np.concatenate([b[1] for b in out])
    assert x.shape == (8, 10) and x.dtype == np.int32
    np.testing.assert_array_equal(
        x[:, 0], 1 + 10 * np.arange(8)
    )  # window i starts at 10 i
    np.testing.assert_array_equal(y, x + 1)  # targets: the next character
    assert batches(char_dataset(ids, 10, 4))[0][0].tolist() == out[0][0].tolist()


def test_training_windows_are_jittered_reshuffled_and_stay_inside_the_text():
    ids = np.arange(1, 204, dtype=np.int32)
    ds = char_dataset(ids, 10, 4, shuffle=True, seed=3)
    epochs = [np.concatenate([x for x, _ in batches(ds)]) for _ in range(2)]
    for x in epochs:
        assert x.shape == (20, 10)
        for row in x:
            assert (
                is_window_of(ids, row) and row[-1] + 1 <= ids[-1]
            )  # its target exists
    assert not np.array_equal(
        epochs[0], epochs[1]
    )  # a new order and new cuts every epoch
    starts = np.concatenate([x[:, 0] for x in epochs]) - 1
    assert np.any(starts % 10 != 0)  # jittered away from the fixed cuts


def test_too_short_text_is_an_error():
    with pytest.raises(ValueError, match="fewer than `batch_size`=8"):
        char_dataset(np.arange(50, dtype=np.int32), 10, 8)
    assert text.TRAIN_FRACTION == 0.9
