import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import make_dataset
from mmkeras.data import read_manifest
from mmkeras.data import synthetic
from mmkeras.preprocessing import ImagePreprocessor
from mmkeras.preprocessing import ImageTextPreprocessor
from mmkeras.preprocessing import WordPieceTokenizer
from mmkeras.preprocessing import learn_vocabulary


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    return read_manifest(synthetic.write_dataset(directory, num_examples=24))


def _preprocessor(records):
    return ImageTextPreprocessor(
        ImagePreprocessor((16, 16)),
        WordPieceTokenizer(learn_vocabulary(r["text"] for r in records), 12),
    )


def test_batches_match_the_preprocessor_applied_directly(manifest):
    records = manifest.records[:10]
    preprocessor = _preprocessor(records)
    class_names = manifest.labels()
    dataset = make_dataset(records, preprocessor, class_names, batch_size=4)
    batches = list(dataset.as_numpy_iterator())
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    features, labels = batches[0]
    assert sorted(features) == ["images", "padding_mask", "token_ids"]
    assert features["images"].shape == (4, 16, 16, 3)
    expected = preprocessor(
        {
            "image": tf.stack(
                [tf.io.read_file(r["image"]) for r in records[:4]]
            ),
            "text": tf.constant([r["text"] for r in records[:4]]),
        }
    )
    for key in features:
        np.testing.assert_allclose(features[key], expected[key], atol=1e-5)
    np.testing.assert_array_equal(
        labels, [class_names.index(r["label"]) for r in records[:4]]
    )


def test_shuffle_reorders_each_epoch_but_keeps_every_example(manifest):
    records = manifest.records
    dataset = make_dataset(
        records,
        _preprocessor(records),
        manifest.labels(),
        24,
        shuffle=True,
        seed=1,
    )
    first = next(iter(dataset))[0]["token_ids"].numpy()
    second = next(iter(dataset))[0]["token_ids"].numpy()
    assert not np.array_equal(first, second)
    assert sorted(map(tuple, first)) == sorted(map(tuple, second))


def test_unknown_label_is_an_error(manifest):
    records = manifest.records[:3]
    with pytest.raises(ValueError, match="not among the class names"):
        make_dataset(records, _preprocessor(records), ["nothing"], 2)
