import hashlib
import os
from pathlib import Path

import pytest

from zoo.data import tokenizers
from zoo.data.download import DATA_ENV


@pytest.fixture
def mirror():
    """The local mirror of the public datasets (CI points ZOO_DATA_DIR at it)."""
    path = os.environ.get(DATA_ENV)
    if not path or not os.path.isdir(path):
        pytest.skip(f"{DATA_ENV} does not point at a dataset mirror")
    return path


SAVED_MODELS = Path(__file__).resolve().parent.parent / "saved_models"


def tree_digest(directory):
    """sha256 over every file's relative path and bytes under `directory`."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def shipped_untouched():
    """Fails the test if anything under the repository's saved_models/ changed."""
    before = tree_digest(SAVED_MODELS)
    yield
    assert tree_digest(SAVED_MODELS) == before, "saved_models/ changed: only an explicit --ship may write there"


@pytest.fixture(scope="session")  # data, and factories of fresh models: nothing a test can change
def tiny_corpus():
    """A small synthetic parallel corpus (German-like -> English-like)."""
    colors = {"rot": "red", "blau": "blue", "grün": "green", "gelb": "yellow"}
    things = {"Hund": "dog", "Ball": "ball", "Hut": "hat", "Auto": "car"}
    sources, targets = [], []
    for de_c, en_c in colors.items():
        for de_t, en_t in things.items():
            sources.append(f"Der {de_t} ist {de_c}.")
            targets.append(f"The {en_t} is {en_c}.")
    return sources, targets


# Small builder arguments per task, so every registered model is tested cheaply.
TINY = {
    "translation": {"embedding_dim": 8, "units": 8, "dropout": 0.1},
    "text-generation": {"embedding_dim": 8, "units": 8, "dropout": 0.1},
    "captioning": {"embedding_dim": 8, "units": 8, "dropout": 0.1, "image_size": 63},
}

TINY_CHARS = "abcdefgh \n"


@pytest.fixture(scope="session")
def tiny_char_model():
    """Build a tiny character model of `name` with a 10-character vocabulary."""
    import zoo
    from zoo.data.text import CharVocabulary

    def make(name, **overrides):
        vocabulary = CharVocabulary(TINY_CHARS)
        model = zoo.build(name, vocabulary_size=vocabulary.size,
                          **{**TINY["text-generation"], **overrides})
        model.set_vocabulary(vocabulary)
        model.build_for_inference()
        return model

    return make


@pytest.fixture(scope="session")
def tiny_translator(tiny_corpus):
    """Build a tiny translation model of `name` with tokenizers on the corpus."""
    import zoo

    sources, targets = tiny_corpus
    protos = tokenizers.train_sentencepiece(sources, 40), tokenizers.train_sentencepiece(targets, 40)

    def make(name, **overrides):
        sizes = [tokenizers.tokenizer(p).vocabulary_size() for p in protos]
        model = zoo.build(name, source_vocabulary_size=sizes[0], target_vocabulary_size=sizes[1],
                          **{**TINY["translation"], **overrides})
        model.set_tokenizers(*protos)
        model.build_for_inference()
        return model

    return make


TINY_CAPTIONS = ["a dog runs on the grass", "a man rides a red bike", "two dogs play in the snow"]


@pytest.fixture(scope="session")
def tiny_captioner():
    """Build a tiny captioner of `name`: random encoder weights, 63 x 63 images
    (a 3 x 3 feature grid), a vocabulary of the words of `TINY_CAPTIONS`."""
    import zoo
    from zoo.data.tokenizers import WordVocabulary

    def make(name, **overrides):
        vocabulary = WordVocabulary.from_texts(TINY_CAPTIONS)
        model = zoo.build(name, vocabulary_size=vocabulary.size, **{**TINY["captioning"], **overrides})
        model.set_vocabulary(vocabulary)
        model.build_for_inference()
        return model

    return make


@pytest.fixture
def de_en_shards(tmp_path):
    """examples/de-en-small.tsv cut into 3 tables with headers, the second gzip-compressed: a directory of shards."""
    import gzip

    root = Path(__file__).resolve().parent.parent
    header, *rows = (root / "examples" / "de-en-small.tsv").read_text().splitlines()
    directory = tmp_path / "shards"
    directory.mkdir()
    for i in range(3):
        data = "\n".join([header, *rows[i::3]]).encode() + b"\n"
        (directory / f"part-{i}.tsv{'.gz' * (i == 1)}").write_bytes(gzip.compress(data) if i == 1 else data)
    return directory
