import hashlib

import pytest

from zoo.data import download


@pytest.fixture
def fake_file(tmp_path, monkeypatch):
    """A registered file whose public URL is a local file:// URL."""
    source = tmp_path / "public" / "corpus.txt"
    source.parent.mkdir()
    source.write_text("hello\n")
    digest = hashlib.sha256(b"hello\n").hexdigest()
    monkeypatch.setitem(download.FILES, "fake/corpus.txt", (source.as_uri(), digest))
    monkeypatch.delenv(download.DATA_ENV, raising=False)
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    return source


def test_download_goes_to_cache_and_is_reused(fake_file, tmp_path):
    path = download.fetch("fake/corpus.txt")
    assert path == tmp_path / "cache" / "fake" / "corpus.txt"
    assert path.read_text() == "hello\n"
    fake_file.unlink()  # a second fetch must not need the network
    assert download.fetch("fake/corpus.txt").read_text() == "hello\n"


def test_corrupt_download_leaves_nothing_in_cache(fake_file, tmp_path):
    fake_file.write_text("tampered\n")
    with pytest.raises(ValueError, match="sha256") as error:
        download.fetch("fake/corpus.txt")
    assert fake_file.as_uri() in str(error.value)
    cache = tmp_path / "cache" / "fake"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_failed_download_names_url_and_variable(fake_file, tmp_path):
    fake_file.unlink()
    with pytest.raises(OSError, match=download.DATA_ENV) as error:
        download.fetch("fake/corpus.txt")
    assert fake_file.as_uri() in str(error.value)
    assert list((tmp_path / "cache" / "fake").iterdir()) == []


def test_mirror_missing_file_names_file_url_and_variable(fake_file, tmp_path, monkeypatch):
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path / "mirror"))
    with pytest.raises(FileNotFoundError) as error:
        download.fetch("fake/corpus.txt")
    message = str(error.value)
    assert "fake/corpus.txt" in message and download.DATA_ENV in message
    assert fake_file.as_uri() in message


def test_mirror_corrupt_file_is_refused(fake_file, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "fake").mkdir(parents=True)
    (mirror / "fake" / "corpus.txt").write_text("other\n")
    monkeypatch.setenv(download.DATA_ENV, str(mirror))
    with pytest.raises(ValueError, match="corrupt"):
        download.fetch("fake/corpus.txt")


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="multi30k/train.de.gz"):
        download.fetch("multi30k/train.xx.gz")


def test_every_registered_mirror_file_matches_its_sha256(mirror):
    for name in download.FILES:
        assert download.fetch(name).is_file()
