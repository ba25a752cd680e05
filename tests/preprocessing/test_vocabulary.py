import pytest

from mmkeras.preprocessing import learn_vocabulary
from mmkeras.preprocessing import load_vocabulary
from mmkeras.preprocessing import save_vocabulary


def test_special_tokens_words_then_character_pieces():
    vocabulary = learn_vocabulary(["a red circle", "a blue circle"])
    assert vocabulary[:2] == ["[PAD]", "[UNK]"]
    assert {"red", "blue", "circle"} <= set(vocabulary)
    assert "##r" in vocabulary and "c" in vocabulary


def test_deterministic_and_min_count():
    captions = ["b a", "a c", "a"]
    assert learn_vocabulary(captions) == learn_vocabulary(captions)
    assert "a" in learn_vocabulary(captions, min_count=3)


def test_too_small_max_size_is_an_error():
    with pytest.raises(ValueError, match="raise max_size"):
        learn_vocabulary(["abcdefgh"], max_size=5)


def test_save_and_load(tmp_path):
    vocabulary = learn_vocabulary(["hello world"])
    path = tmp_path / "vocabulary.txt"
    save_vocabulary(vocabulary, path)
    assert load_vocabulary(path) == vocabulary
