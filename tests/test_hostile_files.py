"""A user's files that are malformed or hostile: tables whose rows do not fit
their header, characters that split lines behind the reader's back, Parquet
columns that are not text, captions files that name images outside the
images folder. Each is refused naming the file and the line (or column), or
read as the file says, never turned into wrong pairs silently."""

import re

import numpy as np
import pandas as pd
import pytest

from zoo.data import user_files

# -- tables: every row has the header's number of fields -------------------------------


@pytest.mark.parametrize(
    "name, text, line, fields",
    [
        ("p.csv", "source,target\nHallo,Welt.,Hello world.\nJa.,Yes.\n", 2, 3),  # pandas made column 1 the index
        ("p.csv", "source,target\nJa.,Yes.\nHallo,Welt.,Hello world.\n", 3, 3),
        ("p.csv", "source,target\nJa.,Yes.\nNur eine Seite.\n", 3, 1),  # pandas filled the target with nothing
        ("p.tsv", 'source\ttarget\n"Hallo\tWelt."\tHello world.\nJa.\tYes.\n', 2, 3),  # a quoted tab
        ("p.tsv", "source\ttarget\nJa.\tYes.\tOui.\nNein.\tNo.\n", 2, 3),
        ("p.tsv", "source\ttarget\nJa.\tYes.\nNein.\n", 3, 1),
        ("spa.txt", "Go.\tVe.\nI see.\tYa veo.\tCC-BY\n", 2, 3),  # by position: the first row sets the count
    ],
)
def test_rows_with_another_number_of_fields_are_refused(tmp_path, name, text, line, fields):
    path = tmp_path / name
    path.write_text(text)
    columns = ("1", "0") if name.endswith(".txt") else ("source", "target")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} line {line} has {fields} fields?, not "):
        user_files.read_pairs(path, *columns)


def test_a_quoted_csv_field_may_hold_commas_quotes_and_line_ends(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b'source,target\r\n"Hallo, Welt.","Hello,\r\n""world"" ."\r\nJa.,Yes.\r\n\r\n"a,b",c\r\n')
    pairs = user_files.read_pairs(path)  # a line end inside a field is "\n", as everywhere
    assert (pairs.sources, pairs.targets) == (["Hallo, Welt.", "Ja.", "a,b"], ['Hello,\n"world" .', "Yes.", "c"])
    assert pairs.files[0]["rows"] == 3
    path.write_text('source,target\n"Hallo,\nWelt.",Hello.\nJa.,Yes.,Oui.\n')
    with pytest.raises(ValueError, match=r"p.csv line 4 has 3 fields, not the 2 of its header"):
        user_files.read_pairs(path)  # lines counted in the file, not in rows


@pytest.mark.parametrize("name, text, line", [
    ("p.tsv", "source\ttarget\nHallo.\rJa.\tHello.\rYes.\nNein.\tNo.\n", 2),
    ("p.csv", "source,target\nJa.,Yes.\n\"Hallo.\rJa.\",Hello.\n", 3),
    ("p.tsv", "source\ttarget\rHallo.\tHello.\r", 1),  # old Mac line ends
])
def test_a_lone_carriage_return_is_refused_by_its_line(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_bytes(text.encode())
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} line {line} holds a carriage return"):
        user_files.read_pairs(path)


def test_a_column_named_twice_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("source,source,target\nHallo.,Ja.,Hello.\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} names column 'source' twice in its header"):
        user_files.read_pairs(path)


@pytest.mark.parametrize(
    "column, dtype, kind",
    [
        (pd.Series([np.array(["Hallo", "Welt"]), np.array(["Ja"])]), "object", "ndarray"),  # was "['Hallo' 'Welt']"
        (pd.Series([None, 1], dtype="Int64"), "Int64", "int"),  # was "1.0"
        (pd.Series([1.5, 2.0]), "float64", "float"),
        (pd.Series([True, False]), "bool", "bool"),
        (pd.Series([b"Hallo.", b"Ja."]), "object", "bytes"),
        (pd.Series([{"de": "Hallo."}, {"de": "Ja."}]), "object", "dict"),
    ],
)
def test_parquet_columns_that_are_not_strings_are_refused(tmp_path, column, dtype, kind):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"source": column, "target": ["Hello.", "Yes."]}).to_parquet(path)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} column 'source' \(dtype {dtype}\) holds {kind} "
                                         r"values, not strings: row \d+ is "):
        user_files.read_pairs(path)


def test_parquet_strings_and_nulls_are_read(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"source": ["Hallo.", None, "Ja."], "target": pd.Series(["Hello.", "x", "Yes."], dtype="string")}
                 ).to_parquet(path)
    pairs = user_files.read_pairs(path)
    assert (pairs.sources, pairs.targets, pairs.dropped) == (["Hallo.", "Ja."], ["Hello.", "Yes."], 1)


# -- lines: "\n" ends a line, nothing else --------------------------------------------

SPLITLINES = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]  # str.splitlines splits on them


@pytest.mark.parametrize("char", SPLITLINES, ids=[f"U+{ord(c):04X}" for c in SPLITLINES])
def test_aligned_files_end_lines_at_newlines_only(tmp_path, char):
    (tmp_path / "a.de").write_text(f"Hallo{char}Welt.\nJa.\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("Hello world.\r\nYes.\r\n", encoding="utf-8")
    pairs = user_files.read_aligned(tmp_path / "a.de", tmp_path / "a.en")
    assert (pairs.sources, pairs.targets) == ([f"Hallo{char}Welt.", "Ja."], ["Hello world.", "Yes."])
    assert user_files.read_lines(tmp_path / "a.de") == [f"Hallo{char}Welt.", "Ja."]


@pytest.mark.parametrize("char", SPLITLINES, ids=[f"U+{ord(c):04X}" for c in SPLITLINES])
def test_table_rows_end_at_newlines_only(tmp_path, char):
    path = tmp_path / "p.tsv"
    path.write_text(f"source\ttarget\nHallo{char}Welt.\tHello world.\nJa.\tYes.\n", encoding="utf-8")
    pairs = user_files.read_pairs(path)
    assert (pairs.sources, pairs.targets) == ([f"Hallo{char}Welt.", "Ja."], ["Hello world.", "Yes."])


def test_a_lone_carriage_return_in_an_aligned_file_is_refused(tmp_path):
    (tmp_path / "a.de").write_bytes(b"Ja.\nHallo.\rWelt.\n")
    (tmp_path / "a.en").write_bytes(b"Yes.\nHello.\n")
    with pytest.raises(ValueError, match=rf"--source-file: {re.escape(str(tmp_path / 'a.de'))} line 2 holds a "
                                         r"carriage return"):
        user_files.read_aligned(tmp_path / "a.de", tmp_path / "a.en")


def test_undecodable_bytes_are_named_by_newline_counted_lines(tmp_path):
    path = tmp_path / "a.de"
    path.write_bytes("Hallo\u2028Welt.\nJa.\n".encode() + b"Gr\xfc\xdf.\n")
    with pytest.raises(ValueError, match=r"line 3 is not UTF-8"):
        user_files.read_lines(path)


# -- captions: images inside --images only -----------------------------------------------


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"img{i}.jpg").write_bytes(b"")
    (tmp_path / "secret.jpg").write_bytes(b"")
    return folder


@pytest.mark.parametrize("layout", ["csv", "token"])
@pytest.mark.parametrize("name", ["../secret.jpg", "{outside}", "sub/../../secret.jpg", "link.jpg", "linked/x.jpg"])
def test_captions_naming_images_outside_the_folder_are_refused(tmp_path, images, layout, name):
    (images / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    (images / "linked").symlink_to(tmp_path)
    (tmp_path / "x.jpg").write_bytes(b"")
    name = name.format(outside=tmp_path / "secret.jpg")
    if layout == "csv":
        text = f"image,caption\nimg0.jpg,a dog\nimg1.jpg,a cat\n{name},a secret\n"
        line = 4
    else:
        text = f"img0.jpg#0\ta dog\nimg1.jpg#0\ta cat\n{name}#0\ta secret\n"
        line = 3
    captions = tmp_path / "captions.txt"
    captions.write_text(text)
    with pytest.raises(ValueError, match=rf"{re.escape(str(captions))}, line {line}: image {re.escape(repr(name))} "
                                         rf"is outside --images {re.escape(str(images))}"):
        user_files.read_image_captions(images, captions)


def test_captions_may_name_images_in_subfolders(tmp_path, images):
    (images / "sub").mkdir()
    (images / "sub" / "img9.jpg").write_bytes(b"")
    (tmp_path / "captions.csv").write_text("image,caption\nimg0.jpg,a dog\nsub/img9.jpg,a cat\n")
    splits, _, missing = user_files.read_image_captions(images, tmp_path / "captions.csv")
    assert missing == [] and sorted(p for items in splits.values() for p, _ in items) == [
        str(images / "img0.jpg"), str(images / "sub" / "img9.jpg")]


def test_a_lone_carriage_return_in_a_captions_file_is_refused(tmp_path, images):
    captions = tmp_path / "captions.csv"
    captions.write_bytes(b"image,caption\nimg0.jpg,a dog\rimg1.jpg,a cat\nimg2.jpg,a bird\n")  # was two captions
    with pytest.raises(ValueError, match=rf"--captions: {re.escape(str(captions))} line 2 holds a carriage return"):
        user_files.read_image_captions(images, captions)
