import collections
import hashlib

import numpy as np

from mmkeras.data import read_manifest
from mmkeras.data import synthetic


def _digest(directory):
    manifest = read_manifest(str(directory / "manifest.jsonl"))
    digest = hashlib.sha256()
    for record in manifest.records:
        digest.update(open(record["image"], "rb").read())
        digest.update(record["text"].encode())
    return digest.hexdigest()


def test_deterministic_balanced_and_valid(tmp_path):
    synthetic.write_dataset(tmp_path / "a", num_examples=60, seed=3)
    synthetic.write_dataset(tmp_path / "b", num_examples=60, seed=3)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    manifest = read_manifest(str(tmp_path / "a" / "manifest.jsonl"))
    counts = collections.Counter(r["label"] for r in manifest.records)
    assert set(counts) == set(synthetic.LABELS)
    assert set(counts.values()) == {10}
    assert {
        len(manifest.split(s)) for s in ("train", "validation", "test")
    } == {42, 6, 12}
    suffixes = {r["image"].rsplit(".", 1)[1] for r in manifest.records}
    assert suffixes == {"png", "jpg"}


def test_caption_carries_the_sound_but_never_the_shape(tmp_path):
    synthetic.write_dataset(tmp_path, num_examples=30, seed=1)
    for record in read_manifest(str(tmp_path / "manifest.jsonl")).records:
        shape, sound = record["label"].split("_")
        assert sound in record["text"].split()
        assert not any(s in record["text"] for s in synthetic.SHAPES)


def test_shape_pixels_have_the_named_colour():
    rng = np.random.default_rng(0)
    pixels = synthetic.draw_shape("square", "blue", "centre", 32, rng)
    assert tuple(pixels[16, 16]) == synthetic.COLOURS["blue"]
    assert pixels[0, 0].min() > 150  # light background in the corner
