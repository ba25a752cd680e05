import json
import re

import pytest

from mmkeras.data import MODALITIES
from mmkeras.data import ManifestError
from mmkeras.data import read_manifest


def _write(directory, lines, name="manifest.jsonl"):
    path = directory / name
    path.write_text(
        "\n".join(
            line if isinstance(line, str) else json.dumps(line)
            for line in lines
        )
        + "\n"
    )
    return str(path)


def _record(**overrides):
    record = {
        "image": "images/red.png",
        "text": "a red square",
        "audio": "audio/tone.wav",
        "video": "video/clip.mp4",
        "label": "x",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


def test_reads_every_modality_with_absolute_paths(media_dir):
    path = _write(
        media_dir,
        [
            _record(split="train", id=7),
            "",
            _record(video="video/frames", image="images/photo.jpg"),
            _record(video="video/anim.gif", audio=None, text="", label="y"),
        ],
    )
    manifest = read_manifest(path)
    assert manifest.modalities == MODALITIES
    assert manifest.target_fields == ("label",)
    assert [r.line for r in manifest.records] == [1, 3, 4]
    first, second, third = manifest.records
    assert first["image"] == str(media_dir / "images/red.png")
    assert first["audio"] == str(media_dir / "audio/tone.wav")
    assert first["video"] == str(media_dir / "video/clip.mp4")
    assert first["id"] == 7  # unknown fields are kept
    assert second["video"] == str(media_dir / "video/frames")
    assert third.get("audio") is None and third.get("text") is None
    assert third.get("image") == str(media_dir / "images/red.png")
    assert manifest.labels() == ["x", "y"]
    assert manifest.split("train") == [first]
    assert manifest.split("unsplit") == [second, third]
    assert manifest.split(None) == manifest.records
    assert manifest.splits() == ["train", "unsplit"]
    assert manifest.skipped == [] and manifest.describe_skipped() == ""


def test_modalities_are_inferred_or_chosen(media_dir):
    lines = [
        _record(image=..., audio=..., video=...),
        _record(image=..., audio=..., video="video/anim.gif"),
    ]
    path = _write(media_dir, lines)
    assert read_manifest(path).modalities == ("text", "video")
    manifest = read_manifest(path, modalities=("text",))
    assert manifest.modalities == ("text",)
    assert manifest.records[1]["video"] == "video/anim.gif"
    # Fields of modalities not read are left as written, unchecked.
    path = _write(media_dir, [_record(audio="audio/8bit.wav")])
    manifest = read_manifest(path, modalities=["text", "image"])
    assert manifest.modalities == ("image", "text")
    assert manifest.records[0]["audio"] == "audio/8bit.wav"
    with pytest.raises(ValueError, match="subset of"):
        read_manifest(path, modalities=("smell",))


def test_targets_may_be_lists_of_numbers_or_absent(media_dir):
    path = _write(
        media_dir,
        [
            _record(label=..., scores=[0.5, 1, 2e-3], caption_id="c1"),
            _record(label=..., scores=[1.0], caption_id="c2"),
        ],
    )
    manifest = read_manifest(path, target_fields=("scores", "caption_id"))
    assert manifest.records[0]["scores"] == [0.5, 1, 2e-3]
    assert manifest.labels("caption_id") == ["c1", "c2"]
    with pytest.raises(ValueError, match="lists of numbers, not string"):
        manifest.labels("scores")
    with pytest.raises(ValueError, match="not one of"):
        manifest.labels("label")
    assert len(read_manifest(path, target_fields=()).records) == 2


_BAD_RECORDS = [
    ('{"image": ', "invalid JSON"),
    ("[1, 2]", "expected a JSON object, found list"),
    (_record(label=...), "missing field 'label'"),
    (
        _record(label=3),
        "field 'label' must be a non-empty string or a non-empty list of "
        "numbers, found number 3",
    ),
    (_record(label=""), "field 'label' must be a non-empty string"),
    (
        _record(label=[1, "a"]),
        "field 'label' must be a non-empty string or a non-empty list of "
        "numbers, found list [1, 'a']",
    ),
    (
        _record(label=[1.0]),
        "field 'label' is a list of numbers here but a string in the "
        "records before",
    ),
    (_record(split=""), "field 'split' must be a non-empty string"),
    (_record(text=5), "field 'text' must be a string, found number 5"),
    (_record(image=["a.png"]), "field 'image' must be a path string"),
    (
        _record(image=None, audio=None, video=None, text=""),
        "no modality: a record needs at least one of the fields ('audio', "
        "'image', 'text', 'video')",
    ),
    (
        _record(image="images/none.png"),
        "field 'image': file 'images/none.png' does not exist",
    ),
    (
        _record(image="images/note.png"),
        "field 'image': file 'images/note.png': not a PNG/JPEG/GIF/BMP image",
    ),
    (_record(image="images"), "field 'image': folder 'images': a folder"),
    (
        _record(audio="audio/8bit.wav"),
        "field 'audio': file 'audio/8bit.wav': 8-bit PCM; convert to 16-bit "
        "PCM",
    ),
    (
        _record(audio="audio/float.wav"),
        "field 'audio': file 'audio/float.wav': 32-bit float; convert to "
        "16-bit PCM",
    ),
    (
        _record(audio="images/red.png"),
        "field 'audio': file 'images/red.png': not a RIFF/WAVE file",
    ),
    (
        _record(video="video/corrupt.mp4"),
        "field 'video': file 'video/corrupt.mp4': FFmpeg cannot read it",
    ),
    (
        _record(video="video/sound.wav"),
        "field 'video': file 'video/sound.wav': expected a folder of frame "
        "images, a GIF or an MP4",
    ),
    (
        _record(video="video/empty"),
        "field 'video': folder 'video/empty': no frame images",
    ),
]


@pytest.mark.parametrize("bad_line, message", _BAD_RECORDS)
def test_bad_record_names_file_and_line(media_dir, bad_line, message):
    path = _write(media_dir, [_record(), bad_line, _record()], "bad.jsonl")
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    assert str(error.value).startswith(f"{path} line 2: {message}")


def test_clip_without_video_stream_is_an_error(media_dir, tmp_path):
    (tmp_path / "sound.mp4").write_bytes(
        (media_dir / "audio/tone.wav").read_bytes()
    )
    path = _write(tmp_path, [{"video": "sound.mp4", "label": "x"}])
    with pytest.raises(
        ManifestError,
        match="line 1: field 'video': file 'sound.mp4': no video stream",
    ):
        read_manifest(path)


def test_headers_are_checked_but_pixels_are_not_decoded(media_dir, tmp_path):
    png = (media_dir / "images/red.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[:40])  # header intact, data cut
    path = _write(tmp_path, [{"image": "cut.png", "label": "x"}])
    assert read_manifest(path).records[0]["image"] == str(tmp_path / "cut.png")


def test_skip_policy_counts_reports_and_describes(media_dir, caplog):
    path = _write(
        media_dir,
        [
            _record(),
            "{oops",
            _record(audio="audio/8bit.wav"),
            _record(label="y"),
        ],
        "skip.jsonl",
    )
    manifest = read_manifest(path, on_error="skip")
    assert [r.line for r in manifest.records] == [1, 4]
    assert [s.line for s in manifest.skipped] == [2, 3]
    assert "skipped 2 bad records (lines 2, 3)" in caplog.text
    assert manifest.describe_skipped().splitlines() == [
        "line 2: invalid JSON (Expecting property name enclosed in double "
        "quotes)",
        "line 3: field 'audio': file 'audio/8bit.wav': 8-bit PCM; convert "
        "to 16-bit PCM",
    ]


def test_manifest_level_errors(media_dir):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_manifest(str(media_dir / "nope.jsonl"))
    good = _write(media_dir, [_record()], "good.jsonl")
    with pytest.raises(ValueError, match="on_error"):
        read_manifest(good, on_error="ignore")
    with pytest.raises(ValueError, match="max_video_frames"):
        read_manifest(good, max_video_frames=0)
    assert read_manifest(good, max_video_frames=3).max_video_frames == 3
    bad = _write(media_dir, ["{oops", _record(label=1)], "allbad.jsonl")
    with pytest.raises(ManifestError, match=re.escape(f"{bad}: no valid")):
        read_manifest(bad, on_error="skip")
    none = _write(media_dir, [{"label": "x", "note": "hi"}], "none.jsonl")
    with pytest.raises(ManifestError, match="no record has any of the"):
        read_manifest(none)


def test_non_utf8_line_is_a_bad_record(media_dir):
    path = media_dir / "latin.jsonl"
    path.write_bytes(
        json.dumps(_record()).encode() + b"\n" + b'{"text": "caf\xe9"}\n'
    )
    with pytest.raises(ManifestError, match="line 2: not UTF-8 text"):
        read_manifest(str(path))
