import json

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import MODALITIES
from mmkeras.data import make_dataset
from mmkeras.data import raw_dataset
from mmkeras.data import read_manifest
from mmkeras.data.manifest import Record
from mmkeras.data.media import read_video_frames
from mmkeras.data.pipeline import _read_files
from mmkeras.data.pipeline import _record_columns

_LINES = [
    {
        "image": "images/red.png",
        "text": "a red square",
        "audio": "audio/tone.wav",
        "video": "video/clip.mp4",
        "label": "x",
        "scores": [1, 2.5],
    },
    {
        "image": "images/photo.jpg",
        "video": "video/frames",
        "label": "y",
        "scores": [3],
    },
    {
        "text": "only words",
        "video": "video/anim.gif",
        "label": "x",
        "scores": [0.5, 0, 1],
    },
    {"audio": "audio/tone.wav", "label": "y", "scores": [7]},
]


@pytest.fixture(scope="module")
def manifest(media_dir):
    path = media_dir / "pipeline.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in _LINES))
    return read_manifest(str(path), target_fields=("label", "scores"))


def _expected(record, max_frames=None):
    """The raw example of a record, read eagerly in Python."""

    def read(name):
        path = record.get(name)
        return open(path, "rb").read() if path else b""

    video = record.get("video")
    return {
        "image": read("image"),
        "audio": read("audio"),
        "text": (record.get("text") or "").encode(),
        "video": read_video_frames(video, max_frames) if video else [],
        "label": record["label"].encode(),
        "scores": np.array(record["scores"], np.float32),
    }


def _assert_same(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        if key == "video":
            assert list(actual[key]) == value, key
        elif key == "scores":
            np.testing.assert_array_equal(actual[key], value)
        else:
            assert actual[key] == value, key


def test_raw_examples_hold_file_bytes_and_targets(manifest):
    dataset = raw_dataset(
        manifest.records, MODALITIES, target_fields=("label", "scores")
    )
    spec = dataset.element_spec
    assert spec["video"].shape.as_list() == [None]
    assert spec["scores"] == tf.TensorSpec([None], tf.float32)
    for key in ("image", "audio", "text", "label"):
        assert spec[key] == tf.TensorSpec([], tf.string), key
    examples = list(dataset.as_numpy_iterator())
    assert len(examples) == 4
    for example, record in zip(examples, manifest.records, strict=True):
        _assert_same(example, _expected(record))
    # Missing modalities: empty bytes, no frame.
    assert examples[3]["image"] == b"" and len(examples[3]["video"]) == 0
    assert len(examples[1]["video"]) == 4 and len(examples[0]["video"]) == 7


def test_reading_eagerly_matches_reading_in_the_dataset(manifest):
    columns = _record_columns(manifest.records, MODALITIES, ("label",), 2)
    dataset = raw_dataset(manifest.records, MODALITIES, max_video_frames=2)
    for i, in_map in enumerate(dataset.as_numpy_iterator()):
        row = {
            key: tf.convert_to_tensor(value[i])
            for key, value in columns.items()
        }
        eager = _read_files(row, max_video_frames=2)
        assert sorted(eager) == sorted(in_map)
        for key in eager:
            np.testing.assert_array_equal(eager[key].numpy(), in_map[key])


def test_only_requested_fields_and_sampled_frames(manifest):
    dataset = raw_dataset(
        manifest.records, ("video",), target_fields=(), max_video_frames=3
    )
    examples = list(dataset.as_numpy_iterator())
    assert all(list(example) == ["video"] for example in examples)
    for example, record in zip(examples, manifest.records, strict=True):
        expected = _expected(record, max_frames=3)["video"]
        assert list(example["video"]) == expected
    assert [len(e["video"]) for e in examples] == [3, 3, 3, 0]


def _preprocess(raw):
    """A stand-in for a task preprocessor, made of plain TF ops."""
    image = tf.cond(
        tf.strings.length(raw["image"]) > 0,
        lambda: tf.image.resize(
            tf.io.decode_image(
                raw["image"], channels=3, expand_animations=False
            ),
            (4, 4),
        ),
        lambda: tf.zeros((4, 4, 3)),
    )
    features = {
        "images": image,
        "text_length": tf.strings.length(raw["text"]),
        "num_frames": tf.shape(raw["video"])[0],
    }
    return features, tf.cast(raw["label"] == "y", tf.int32)


def test_batches_match_the_preprocessor_applied_eagerly(manifest):
    dataset = make_dataset(
        manifest.records,
        _preprocess,
        batch_size=3,
        modalities=("image", "text", "video"),
    )
    batches = list(dataset.as_numpy_iterator())
    assert [len(labels) for _, labels in batches] == [3, 1]
    features = {
        key: np.concatenate([f[key] for f, _ in batches])
        for key in batches[0][0]
    }
    labels = np.concatenate([labels for _, labels in batches])
    for i, record in enumerate(manifest.records):
        raw = _expected(record)
        raw["video"] = tf.constant(raw["video"], tf.string, [len(raw["video"])])
        raw = {key: tf.convert_to_tensor(value) for key, value in raw.items()}
        expected_features, expected_label = _preprocess(raw)
        for key, value in expected_features.items():
            np.testing.assert_allclose(features[key][i], value, atol=1e-5)
        assert labels[i] == expected_label
    dropped = make_dataset(
        manifest.records,
        _preprocess,
        batch_size=3,
        modalities=("image", "text", "video"),
        drop_remainder=True,
    )
    assert dropped.element_spec[1].shape == (3,)
    assert len(list(dropped)) == 1


def test_shuffle_reorders_each_epoch_and_keeps_every_example():
    records = [
        Record(i + 1, {"text": f"t{i}", "label": "x"}) for i in range(32)
    ]
    for cache in (False, True):
        dataset = raw_dataset(
            records, ("text",), shuffle=True, seed=3, cache=cache
        ).batch(32)
        first = next(iter(dataset))["text"].numpy().tolist()
        second = next(iter(dataset))["text"].numpy().tolist()
        assert first != second
        assert (
            sorted(first)
            == sorted(second)
            == sorted(r["text"].encode() for r in records)
        )
    ordered = raw_dataset(records, ("text",)).batch(32)
    assert next(iter(ordered))["text"].numpy().tolist() == [
        r["text"].encode() for r in records
    ]


def test_shuffle_happens_before_files_are_read():
    records = [Record(1, {"image": "/nonexistent.png", "label": "x"})]
    dataset = raw_dataset(records, ("image",), shuffle=True)
    # The graph shuffles the paths: the dataset before the read map is a
    # ShuffleDataset whose elements are still file names.
    upstream = dataset._input_dataset
    assert type(upstream).__name__ == "_ShuffleDataset"
    assert next(iter(upstream))["image"].numpy() == b"/nonexistent.png"


def test_bad_sources_are_rejected(manifest):
    with pytest.raises(ValueError, match="no records"):
        raw_dataset([], ("text",))
    with pytest.raises(TypeError, match="received Manifest"):
        raw_dataset(manifest, ("text",))
    with pytest.raises(ValueError, match="max_video_frames"):
        raw_dataset(manifest.records, ("video",), max_video_frames=0)
    mixed = [
        Record(1, {"text": "a", "label": "x"}),
        Record(2, {"text": "b", "label": [1.0]}),
    ]
    with pytest.raises(ValueError, match="mixes strings and lists"):
        raw_dataset(mixed, ("text",))
    with pytest.raises(ValueError, match="line 1 has no target field 'y'"):
        raw_dataset(mixed, ("text",), target_fields=("y",))
    text_only = read_manifest(
        manifest.path, modalities=("text",), on_error="skip"
    )
    with pytest.raises(ValueError, match="line 1 has image 'images/red.png'"):
        raw_dataset(text_only.records, ("image",))
