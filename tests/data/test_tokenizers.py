"""The vocabularies live together in zoo.data.tokenizers; the old import path still works."""

import pytest

from zoo.data import text, tokenizers


def test_char_vocabulary_lives_beside_word_vocabulary_and_keeps_its_old_import():
    assert tokenizers.CharVocabulary.__module__ == tokenizers.WordVocabulary.__module__ == "zoo.data.tokenizers"
    assert text.CharVocabulary is tokenizers.CharVocabulary
    assert (text.UNKNOWN_ID, text.UNKNOWN) == (tokenizers.UNKNOWN_ID, tokenizers.UNKNOWN) == (0, "\ufffd")


@pytest.mark.parametrize("cls, data, kind", [
    (tokenizers.CharVocabulary, '{"words": ["a"]}', "character"),
    (tokenizers.WordVocabulary, '{"chars": ["a"]}', "word"),
])
def test_each_vocabulary_refuses_the_others_file(tmp_path, cls, data, kind):
    path = tmp_path / "vocabulary.json"
    path.write_text(data)
    with pytest.raises(ValueError) as info:
        cls.from_file(path)
    key = "chars" if kind == "character" else "words"
    assert str(info.value) == (
        f'{path} is not a {cls.__name__} file: Not a {kind} vocabulary: expected {{"{key}": [...]}}, got {data}.'
    )
