import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import MODALITIES
from mmkeras.data import is_packed
from mmkeras.data import make_dataset
from mmkeras.data import open_packed
from mmkeras.data import pack
from mmkeras.data import raw_dataset
from mmkeras.data import read_manifest
from mmkeras.data.media import uniform_frame_indices
from mmkeras.data.packing import _sample_frames

_TARGETS = ("label", "scores")


def _line(i, split):
    """Record `i`: modalities and targets vary with it."""
    record = {
        "label": "abc"[i % 3],
        "scores": [float(i)] * (1 + i % 2),
        "text": f"caption {i}" if i % 4 else "",
    }
    if split:
        record["split"] = split
    if i % 2:
        record["image"] = "images/red.png" if i % 3 else "images/photo.jpg"
    if i % 3:
        record["audio"] = "audio/tone.wav"
    video = ["video/clip.mp4", "video/frames", "video/anim.gif", None][i % 4]
    if video:
        record["video"] = video
    return record


@pytest.fixture(scope="module")
def manifest(media_dir):
    splits = ["train"] * 7 + ["test"] * 3 + [None] * 2
    path = media_dir / "packing.jsonl"
    path.write_text(
        "".join(json.dumps(_line(i, s)) + "\n" for i, s in enumerate(splits))
    )
    return read_manifest(str(path), target_fields=_TARGETS)


@pytest.fixture(scope="module")
def packed(manifest, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("packed"))
    return pack(manifest, directory, num_shards=3, verbose=False)


def _examples(source, modalities=MODALITIES, max_video_frames=None):
    dataset = raw_dataset(
        source, modalities, _TARGETS, max_video_frames=max_video_frames
    )
    return list(dataset.as_numpy_iterator())


def _assert_same_examples(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert sorted(a) == sorted(e)
        for key in e:
            np.testing.assert_array_equal(a[key], e[key], err_msg=key)


def test_packed_examples_equal_the_manifest_examples(manifest, packed):
    assert packed.splits() == ["test", "train", "unsplit"]
    for split in packed.splits():
        _assert_same_examples(
            _examples(packed.split(split)), _examples(manifest.split(split))
        )
    spec = raw_dataset(packed.split("train"), MODALITIES, _TARGETS)
    expected = raw_dataset(manifest.split("train"), MODALITIES, _TARGETS)
    assert spec.element_spec == expected.element_spec


def test_dataset_json_describes_the_pack(manifest, packed):
    directory = packed.directory
    assert is_packed(directory) and not is_packed(os.path.dirname(directory))
    with open(os.path.join(directory, "dataset.json")) as file:
        description = json.load(file)
    assert description["source"] == os.path.abspath(manifest.path)
    assert description["modalities"] == list(MODALITIES)
    assert description["target_kinds"] == {
        "label": "string",
        "scores": "numbers",
    }
    assert description["splits"]["train"]["files"] == [
        f"train-{i:05d}-of-00003.tfrecord" for i in range(3)
    ]
    assert description["splits"]["unsplit"]["files"] == [
        f"unsplit-{i:05d}-of-00002.tfrecord" for i in range(2)
    ]
    for split in description["splits"].values():
        for name in split["files"]:
            assert os.path.isfile(os.path.join(directory, name))
    reopened = open_packed(directory)
    assert reopened == packed
    assert reopened.modalities == MODALITIES
    assert reopened.target_fields == _TARGETS
    assert reopened.labels() == ["a", "b", "c"] == manifest.labels()
    counts = [reopened.count(s) for s in ("train", "test", "dev", None)]
    assert counts == [7, 3, 0, 12]


def test_records_are_dealt_to_shards_in_turn(packed):
    files = packed.split("train").files
    counts = [sum(1 for _ in tf.data.TFRecordDataset(f)) for f in files]
    assert counts == [3, 2, 2]
    first = tf.train.Example.FromString(
        next(iter(tf.data.TFRecordDataset(files[1]))).numpy()
    )
    assert first.features.feature["text"].bytes_list.value == [b"caption 1"]
    # Record 0 has no text: an empty list, read back as "".
    first = tf.train.Example.FromString(
        next(iter(tf.data.TFRecordDataset(files[0]))).numpy()
    )
    assert list(first.features.feature["text"].bytes_list.value) == []


def test_frames_are_sampled_when_packing_and_when_reading(
    manifest, packed, tmp_path
):
    sampled = read_manifest(
        manifest.path, target_fields=_TARGETS, max_video_frames=2
    )
    repacked = pack(sampled, str(tmp_path), verbose=False)
    assert repacked.max_video_frames == 2
    _assert_same_examples(
        _examples(repacked.split("train")),
        _examples(manifest.split("train"), max_video_frames=2),
    )
    # Frames packed in full are sampled as they are read.
    _assert_same_examples(
        _examples(packed.split("train"), ("video",), max_video_frames=3),
        _examples(manifest.split("train"), ("video",), max_video_frames=3),
    )


@pytest.mark.parametrize("count", [0, 2, 3, 4, 9])
def test_sample_frames_eagerly_and_in_a_dataset(count):
    frames = tf.constant([str(i) for i in range(count)], tf.string, [count])
    expected = [str(i).encode() for i in uniform_frame_indices(count, 3)]
    assert _sample_frames(frames, 3).numpy().tolist() == expected
    dataset = tf.data.Dataset.from_tensors(frames).map(
        lambda f: _sample_frames(f, 3)
    )
    assert next(iter(dataset)).numpy().tolist() == expected


def test_make_dataset_reads_a_shuffled_pack(packed):
    dataset = make_dataset(
        packed.split("train"),
        lambda raw: raw["scores"][0],
        batch_size=7,
        modalities=("text",),
        target_fields=("scores",),
        shuffle=True,
        seed=0,
    )
    epochs = [next(iter(dataset)).numpy().tolist() for _ in range(4)]
    assert all(sorted(epoch) == list(range(7)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1


def test_shard_count_follows_the_size_target(manifest, tmp_path, capsys):
    packed = pack(manifest, str(tmp_path / "big"))
    assert [len(packed.split(s).files) for s in packed.splits()] == [1, 1, 1]
    output = capsys.readouterr().out.splitlines()
    assert output[0] == "Packing 3 test records into 1 shards"
    assert output[1].endswith("test-00000-of-00001.tfrecord: 3 records, 0.0 MB")
    assert len(output) == 6
    small = pack(manifest, str(tmp_path / "small"), shard_size_mb=1e-4)
    assert small.description["splits"]["train"]["files"][-1] == (
        "train-00006-of-00007.tfrecord"
    )


def test_bad_requests_are_rejected(manifest, packed, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a packed dataset"):
        open_packed(str(tmp_path))
    with pytest.raises(ValueError, match="No split 'dev'.*'test', 'train'"):
        packed.split("dev")
    with pytest.raises(ValueError, match="not a string target field"):
        packed.labels("scores")
    with pytest.raises(ValueError, match=r"has no field \['other'\]"):
        raw_dataset(packed.split("test"), ("text",), ("other",))
    with pytest.raises(ValueError, match="num_shards"):
        pack(manifest, str(tmp_path), num_shards=0)
    (tmp_path / "dataset.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="has format 'other'"):
        open_packed(str(tmp_path))
