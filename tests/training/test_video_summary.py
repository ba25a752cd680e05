"""Reading summarisation manifests: every bad record is a one-line error
naming the file, the line and the field."""

import json

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data.manifest import ManifestError
from mmkeras.data.media import write_video
from mmkeras.training.summary_report import read_clip
from mmkeras.training.video_summary import read_summary_manifest


def _png(size, value=0):
    pixels = np.full((size, size, 3), value, np.uint8)
    return tf.io.encode_png(pixels).numpy()


@pytest.fixture
def folder(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        (frames / f"{i:03d}.png").write_bytes(_png(8, 40 * i))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "000.png").write_bytes(_png(8))
    (mixed / "001.png").write_bytes(_png(16))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "000.png").write_bytes(_png(8))
    (broken / "001.png").write_bytes(b"not an image")
    pixels = np.zeros((6, 16, 16, 3), np.uint8)
    write_video(str(tmp_path / "clip.gif"), pixels, 6)
    return tmp_path


def _manifest(folder, *records):
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_a_good_manifest_gives_targets_queries_and_shots(folder):
    path = _manifest(
        folder,
        {
            "video": "frames",
            "annotations": [[1, 1, 5, 5], [1, 2, 5, 3]],
            "query": "a red ball",
            "shots": [[0, 2], [2, 4]],
            "fps": 2,
            "split": "train",
        },
        {"video": "clip.gif", "annotations": [[0, 1, 1, 0, 0, 0]]},
    )
    source = read_summary_manifest(path)
    first, second = source.records
    # TVSum-like 1-5 scores are scaled to [0, 1] per annotator.
    assert first["importance"] == [0.0, 0.125, 1.0, 0.75]
    assert first["text"] == "a red ball"
    target = json.loads(first["summary_target"])
    assert target["shots"] == [[0, 2], [2, 4]]
    assert target["annotations"][1] == [0.0, 0.25, 1.0, 0.5]
    # 0/1 annotations (an annotator's own summary) stay as they are.
    assert second["importance"] == [0, 1, 1, 0, 0, 0]
    assert second["text"] == ""
    assert [len(source.split("train")), len(source.split("test"))] == [1, 0]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"video": "frames"}, "field 'annotations' must be a non-empty list"),
        (
            {"video": "frames", "annotations": [[1, 2], [1, 2, 3]]},
            "annotators give 2 to 3 frame scores",
        ),
        (
            {"video": "frames", "annotations": [["a", 1]]},
            "must hold numbers only",
        ),
        (
            {"video": "frames", "annotations": [[0.5]], "query": 3},
            "field 'query' must be a string",
        ),
        (
            {"video": "frames", "annotations": [[0.5]], "fps": 0},
            "field 'fps' must be a positive number",
        ),
        (
            {"video": "frames", "annotations": [[0.1, 0.2]], "shots": [[0, 1]]},
            "field 'shots' must cut the 2 annotated frames",
        ),
        (
            {"video": "mixed", "annotations": [[0.1, 0.2]]},
            "frames of different sizes in",
        ),
        (
            {"video": "broken", "annotations": [[0.1, 0.2]]},
            "field 'video': frame 001.png in",
        ),
        (
            {"video": "missing.mp4", "annotations": [[0.1]]},
            "does not exist",
        ),
    ],
)
def test_bad_records_name_the_file_line_and_field(folder, record, message):
    good = {"video": "frames", "annotations": [[0.1, 0.9]]}
    path = _manifest(folder, good, record)
    with pytest.raises(ManifestError) as error:
        read_summary_manifest(path)
    text = str(error.value)
    assert text.startswith(f"{path} line 2: ")
    assert message in text
    assert "\n" not in text
    skipped = read_summary_manifest(path, skip_bad_records=True)
    assert [s.line for s in skipped.skipped] == [2]
    assert len(skipped.records) == 1


def test_summarize_reads_clips_and_refuses_bad_ones(folder, tmp_path):
    frames, count, kept = read_clip(str(folder / "frames"), max_frames=3)
    # Longer than the model's max_frames: sampled down, the count kept.
    assert (count, kept, len(frames)) == (4, [0, 2, 3], 3)
    with pytest.raises(ValueError, match=r"different sizes \(8x8, 16x16\)"):
        read_clip(str(folder / "mixed"), max_frames=10)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="the clip has no frames"):
        read_clip(str(empty), max_frames=10)
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="broken.mp4: FFmpeg cannot read"):
        read_clip(str(tmp_path / "broken.mp4"), max_frames=10)
