"""A user's own data files: tables, aligned text files, texts, and what is wrong with them."""

import pandas as pd
import pytest

from zoo.data import user_files


def test_table_formats_give_the_same_pairs(tmp_path):
    frame = pd.DataFrame({"de": ["Hallo.", "Ein Hund, rot.", " "], "en": ["Hello.", 'A "red" dog.', "Empty."]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.tsv").write_text("de\ten\nHallo.\tHello.\nEin Hund, rot.\tA \"red\" dog.\n \tEmpty.\n")
    expected = (["Hallo.", "Ein Hund, rot."], ["Hello.", 'A "red" dog.'])
    formats = ["p.csv", "p.tsv"]
    try:
        frame.to_parquet(tmp_path / "p.parquet")
        formats.append("p.parquet")
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pytest.fail("pyarrow is needed for Parquet tables")
    for name in formats:
        pairs = user_files.read_pairs(tmp_path / name, "de", "en")
        assert (pairs.sources, pairs.targets) == expected, name
        assert pairs.dropped == 1 and pairs.files[0]["rows"] == 3 and len(pairs.files[0]["sha256"]) == 64


def test_column_numbers_read_a_table_without_header(tmp_path):
    # Tatoeba's spa.txt: `english<TAB>spanish`, no header row, a .txt name.
    (tmp_path / "spa.txt").write_text("Go.\tVe.\nI see.\tYa veo.\n")
    pairs = user_files.read_pairs(tmp_path / "spa.txt", "1", "0")
    assert (pairs.sources, pairs.targets) == (["Ve.", "Ya veo."], ["Go.", "I see."])
    assert pairs.files[0]["rows"] == 2  # the first line is a pair, not a header
    with pytest.raises(ValueError, match="has no column 2; it has '0', '1'"):
        user_files.read_pairs(tmp_path / "spa.txt", "2", "0")


def test_missing_columns_name_the_ones_found(tmp_path):
    (tmp_path / "p.tsv").write_text("german\tenglish\nHallo.\tHello.\n")
    with pytest.raises(ValueError, match="has no column 'source', 'target'; it has 'german', 'english'"):
        user_files.read_pairs(tmp_path / "p.tsv")


def test_one_column_for_both_sides_is_refused(tmp_path):
    (tmp_path / "p.tsv").write_text("de\ten\nHallo.\tHello.\n")
    for column in ("de", "1"):
        with pytest.raises(ValueError, match=f"must name two columns, got '{column}' for both"):
            user_files.read_pairs(tmp_path / "p.tsv", column, column)


def test_a_repeated_header_row_is_named_by_its_line(tmp_path):
    (tmp_path / "p.tsv").write_text("de\ten\nHallo.\tHello.\nde\ten\nJa.\tYes.\n")
    with pytest.raises(ValueError, match=r"p.tsv repeats its header row at line 3 \(tables joined"):
        user_files.read_pairs(tmp_path / "p.tsv", "de", "en")


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_bytes("source\ttarget\nHallo.\tHello.\nGr\u00fc\u00df.\tHi.\n".encode() + b"Gr\xfc\xdf.\tHi.\n")
    with pytest.raises(ValueError, match=rf"{path} line 4 is not UTF-8 text \(byte 0xfc\)"):
        user_files.read_pairs(path)


def test_misaligned_text_files_give_both_line_counts(tmp_path):
    (tmp_path / "a.de").write_text("Hallo.\nTschüss.\n")
    (tmp_path / "a.en").write_text("Hello.\n")
    with pytest.raises(ValueError, match="has 2 lines but --target-file .* has 1"):
        user_files.read_aligned(tmp_path / "a.de", tmp_path / "a.en")
    (tmp_path / "a.en").write_text("Hello.\n   \n")
    pairs = user_files.read_aligned(tmp_path / "a.de", tmp_path / "a.en")
    assert (pairs.sources, pairs.targets, pairs.dropped) == (["Hallo."], ["Hello."], 1)


@pytest.mark.parametrize("name, message", [("missing.tsv", "is not a file"), ("p.xlsx", "must end in one of")])
def test_wrong_files_are_named(tmp_path, name, message):
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        user_files.read_pairs(tmp_path / name)


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    rows = [(f"q{i}", f"a{i}") for i in range(100)]
    pairs = user_files.Pairs([s for s, _ in rows], [t for _, t in rows], [])
    train, val, test = user_files.split_pairs(pairs, seed=3)
    assert (len(train.sources), len(val.sources), len(test.sources)) == (90, 5, 5)
    assert sorted(train.sources + val.sources + test.sources) == sorted(pairs.sources)
    assert all(f"a{s[1:]}" == t for part in (train, val, test) for s, t in zip(part.sources, part.targets))
    again = user_files.split_pairs(pairs, seed=3)
    assert again[2].sources == test.sources and user_files.split_pairs(pairs, seed=4)[2].sources != test.sources
    with pytest.raises(ValueError, match="too few"):
        user_files.split_pairs(user_files.Pairs(["a", "b"], ["c", "d"], []), seed=0)


def test_texts_are_joined_and_checked(tmp_path):
    (tmp_path / "a.txt").write_text("To be,\n")
    (tmp_path / "b.txt").write_bytes(b"or not\xff")
    assert user_files.read_text([tmp_path / "a.txt", tmp_path / "a.txt"]) == "To be,\n\nTo be,\n"
    with pytest.raises(ValueError, match=r"b.txt line 1 is not UTF-8"):
        user_files.read_text([tmp_path / "a.txt", tmp_path / "b.txt"])
    (tmp_path / "c.txt").write_text("  \n")
    with pytest.raises(ValueError, match="hold no text"):
        user_files.read_text(tmp_path / "c.txt")


def test_image_captions_split_by_name_and_missing_images_listed(tmp_path):
    from zoo.data.flickr8k import split_of

    images = tmp_path / "images"
    images.mkdir()
    names = [f"img{i}.jpg" for i in range(40)]
    for name in names[:-2]:
        (images / name).write_bytes(b"")  # only the names matter here
    (tmp_path / "captions.csv").write_text("image,caption\n" + "".join(f"{n},a dog number {i}\n"
                                                                     for i, n in enumerate(names)))
    splits, files, missing = user_files.read_image_captions(images, tmp_path / "captions.csv")
    assert missing == ["img38.jpg", "img39.jpg"] and files[0]["rows"] == 40
    for split, items in splits.items():
        assert all(split_of(p.split("/")[-1]) == split for p, _ in items)
    assert sum(len(items) for items in splits.values()) == 38
    (tmp_path / "none.csv").write_text("image,caption\nother.jpg,a cat\n")
    with pytest.raises(ValueError, match="none of the 1 images"):
        user_files.read_image_captions(images, tmp_path / "none.csv")
