import numpy as np
import pytest
import tensorflow as tf

from mmkeras.preprocessing import WordPieceTokenizer
from mmkeras.preprocessing import learn_vocabulary

VOCABULARY = ["[PAD]", "[UNK]", "a", "red", "circle", "##s", "hums", ","]


def _ids(tokenizer, text):
    return tokenizer(tf.constant(text))["token_ids"].numpy().tolist()


def test_tokenizes_lowercases_and_splits_word_pieces():
    tokenizer = WordPieceTokenizer(VOCABULARY, sequence_length=6)
    # "circles" -> circle ##s; "Réd" loses case and accent; "," splits off.
    assert _ids(tokenizer, "A Réd circles, hums") == [2, 3, 4, 5, 7, 6]


def test_pads_truncates_and_marks_unknown():
    tokenizer = WordPieceTokenizer(VOCABULARY, sequence_length=4)
    outputs = tokenizer(tf.constant(["red zebra", "a red red red red"]))
    np.testing.assert_array_equal(
        outputs["token_ids"], [[3, 1, 0, 0], [2, 3, 3, 3]]
    )
    np.testing.assert_array_equal(
        outputs["padding_mask"], [[True, True, False, False], [True] * 4]
    )


def test_same_result_eagerly_and_inside_dataset_map():
    tokenizer = WordPieceTokenizer(VOCABULARY, sequence_length=5)
    texts = ["a red circle", "circles hum", ""]
    eager = tokenizer(tf.constant(texts))
    mapped = list(
        tf.data.Dataset.from_tensor_slices(texts)
        .map(tokenizer)
        .batch(3)
        .as_numpy_iterator()
    )[0]
    for key in ("token_ids", "padding_mask"):
        np.testing.assert_array_equal(mapped[key], eager[key].numpy())
    assert eager["token_ids"].dtype == tf.int32


def test_vocabulary_is_validated():
    with pytest.raises(ValueError, match=r"vocabulary\[0\] must be '\[PAD\]'"):
        WordPieceTokenizer(["a", "[PAD]", "[UNK]"], sequence_length=4)
    with pytest.raises(ValueError, match=r"must contain '\[UNK\]'"):
        WordPieceTokenizer(["[PAD]", "a"], sequence_length=4)
    with pytest.raises(TypeError, match="string tensor"):
        WordPieceTokenizer(VOCABULARY, 4)(tf.constant([1, 2]))


def test_config_round_trip_keeps_vocabulary():
    tokenizer = WordPieceTokenizer(VOCABULARY, sequence_length=5)
    revived = WordPieceTokenizer.from_config(tokenizer.get_config())
    assert _ids(revived, "a red circle") == _ids(tokenizer, "a red circle")


def test_learned_vocabulary_covers_every_training_word():
    captions = ["a red thing that hums", "Two blue items; it beeps."]
    tokenizer = WordPieceTokenizer(learn_vocabulary(captions), 12)
    ids = tokenizer(tf.constant(captions))["token_ids"].numpy()
    unknown_id = tokenizer.vocabulary.index("[UNK]")
    assert not (ids == unknown_id).any()
    # A word unseen as a whole still splits into known character pieces.
    unseen = _ids(tokenizer, "thumb")
    assert unknown_id not in unseen and unseen[1] != 0


def test_a_text_over_max_text_bytes_is_refused_before_tokenizing():
    tokenizer = WordPieceTokenizer(VOCABULARY, sequence_length=4)
    assert tokenizer.max_text_bytes == 4 * 256
    long_text = "a " * 600
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"text 1 is 1200 bytes, over the limit of 1024 "
        r"\(max_text_bytes\)",
    ):
        tokenizer(tf.constant(["a", long_text]))
    bounded = WordPieceTokenizer(VOCABULARY, 4, max_text_bytes=3)
    assert bounded(tf.constant("a a"))["token_ids"].shape == (4,)
    assert (
        WordPieceTokenizer.from_config(bounded.get_config()).max_text_bytes == 3
    )


def test_max_text_bytes_inside_dataset_map():
    tokenizer = WordPieceTokenizer(VOCABULARY, 4, max_text_bytes=8)
    dataset = tf.data.Dataset.from_tensor_slices(["a red", "a red circle"])
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="text 0 is 12 bytes"
    ):
        list(dataset.map(tokenizer))
