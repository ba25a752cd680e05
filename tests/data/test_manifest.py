import json

import pytest
import tensorflow as tf

from mmkeras.data import ManifestError
from mmkeras.data import read_manifest


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "images").mkdir()
    png = tf.io.encode_png(tf.zeros((4, 4, 3), tf.uint8)).numpy()
    (tmp_path / "images" / "ok.png").write_bytes(png)
    (tmp_path / "images" / "broken.png").write_bytes(b"\x89PNG garbage")
    return tmp_path


def _write(data_dir, lines):
    path = data_dir / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _record(**overrides):
    record = {"image": "images/ok.png", "text": "hi", "label": "x"}
    record.update(overrides)
    return json.dumps(record)


def test_reads_records_with_absolute_image_paths(data_dir):
    path = _write(data_dir, [_record(split="train"), "", _record(label="y")])
    manifest = read_manifest(path)
    assert [r.line for r in manifest.records] == [1, 3]
    assert manifest.records[0]["image"] == str(data_dir / "images" / "ok.png")
    assert manifest.labels() == ["x", "y"]
    assert len(manifest.split("train")) == 1


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"image": ', "line 2: invalid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (
            json.dumps({"image": "images/ok.png", "label": "x"}),
            "line 2: missing field 'text'",
        ),
        (_record(text=""), "line 2: field 'text' must be a non-empty string"),
        (
            _record(image="images/none.png"),
            "line 2: field 'image': file 'images/none.png' does not exist",
        ),
        (
            _record(image="images/broken.png"),
            "line 2: field 'image': file 'images/broken.png' is not a "
            "decodable",
        ),
    ],
)
def test_bad_record_names_file_and_line(data_dir, bad_line, message):
    path = _write(data_dir, [_record(), bad_line, _record()])
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    assert str(error.value).startswith(f"{path} {message}")


def test_skip_policy_counts_and_reports_lines(data_dir, caplog):
    path = _write(
        data_dir,
        [_record(), "{oops", _record(image="images/broken.png"), _record()],
    )
    manifest = read_manifest(path, on_error="skip")
    assert [r.line for r in manifest.records] == [1, 4]
    assert [s.line for s in manifest.skipped] == [2, 3]
    assert "skipped 2 bad records (lines 2, 3)" in caplog.text


def test_missing_manifest_and_bad_policy(data_dir):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_manifest(str(data_dir / "nope.jsonl"))
    with pytest.raises(ValueError, match="on_error"):
        read_manifest(_write(data_dir, [_record()]), on_error="ignore")
