import collections
import hashlib
import json
import os
import wave

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import synthetic

SMALL = dict(image_size=16, clip_seconds=0.1, num_frames=3)
FILE_FIELDS = ("audio", "image", "video")


def _records(manifest_path):
    with open(manifest_path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _tree_digest(directory):
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(directory)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    directory = tmp_path_factory.mktemp("all")
    manifest_path = synthetic.write_dataset(
        directory, 60, seed=3, modalities=synthetic.MODALITIES, **SMALL
    )
    return directory, _records(manifest_path)


def test_same_arguments_write_the_same_bytes(tmp_path, everything):
    directory, _ = everything
    synthetic.write_dataset(
        tmp_path, 60, seed=3, modalities=synthetic.MODALITIES, **SMALL
    )
    assert _tree_digest(tmp_path) == _tree_digest(directory)


def test_another_seed_writes_other_bytes(tmp_path, everything):
    directory, _ = everything
    synthetic.write_dataset(
        tmp_path, 60, seed=4, modalities=synthetic.MODALITIES, **SMALL
    )
    assert _tree_digest(tmp_path) != _tree_digest(directory)


def test_labels_are_balanced_and_every_split_has_every_label(everything):
    _, records = everything
    assert collections.Counter(r["label"] for r in records) == {
        label: 10 for label in synthetic.LABELS
    }
    splits = collections.Counter(r["split"] for r in records)
    assert splits == {"train": 42, "validation": 6, "test": 12}
    for split in splits:
        labels = {r["label"] for r in records if r["split"] == split}
        assert labels == set(synthetic.LABELS)
    # Shuffled: not grouped by label or split.
    assert [r["label"] for r in records[:6]] != list(synthetic.LABELS)
    assert [r["split"] for r in records[:42]] != ["train"] * 42


def test_full_size_split_counts():
    plan = synthetic.plan_dataset(1800, seed=0)
    splits = collections.Counter(e["split"] for e in plan)
    assert splits == {"train": 1260, "validation": 180, "test": 360}


def test_missing_modalities_are_left_out_and_none_lacks_all(everything):
    directory, records = everything
    for record in records:
        conditions = record["conditions"]
        assert sorted(conditions) == list(synthetic.MODALITIES)
        for modality in synthetic.MODALITIES:
            missing = conditions[modality] == "missing"
            assert (modality in record) != missing, record
        assert any(m in record for m in synthetic.MODALITIES)
    for record in records:
        for field in FILE_FIELDS:
            if field in record:
                assert os.path.exists(directory / record[field])
    written = len(os.listdir(directory / "images"))
    assert written == sum("image" in r for r in records)
    suffixes = {r["image"].rsplit(".", 1)[1] for r in records if "image" in r}
    assert suffixes == {"png", "jpg"}


def test_condition_rates_are_close_to_the_design():
    plan = synthetic.plan_dataset(3000, seed=1, modalities=synthetic.MODALITIES)

    def rates(modality):
        counts = collections.Counter(
            "snr" if isinstance(c, float) else c
            for c in (e["conditions"][modality] for e in plan)
        )
        return {name: count / len(plan) for name, count in counts.items()}

    expected = dict(synthetic.IMAGE_RATES)
    for modality in ("image", "video"):
        observed = rates(modality)
        assert observed.keys() == expected.keys()
        for name, rate in expected.items():
            assert abs(observed[name] - rate) < 0.03, (modality, name)
    observed = rates("text")
    for name, rate in synthetic.TEXT_RATES:
        assert abs(observed[name] - rate) < 0.03, name
    assert abs(rates("audio")["missing"] - synthetic.AUDIO_MISSING) < 0.03
    snrs = [
        e["conditions"]["audio"]
        for e in plan
        if e["conditions"]["audio"] != "missing"
    ]
    assert -12.0 <= min(snrs) < -11.0 and 14.0 < max(snrs) <= 15.0
    assert abs(np.mean(snrs) - 1.5) < 0.5
    assert all(s == round(s, 1) for s in snrs)


def test_one_modality_is_kept_when_the_draws_drop_all():
    plan = synthetic.plan_dataset(600, seed=2, modalities=("text",))
    assert all(e["conditions"]["text"] != "missing" for e in plan)
    plan = synthetic.plan_dataset(1200, seed=2, modalities=("audio", "text"))
    assert not any(set(e["conditions"].values()) == {"missing"} for e in plan)


def test_a_modality_draws_the_same_whatever_else_is_asked():
    alone = synthetic.plan_dataset(120, seed=5, modalities=("image",))
    together = synthetic.plan_dataset(120, seed=5)
    for one, all_three in zip(alone, together, strict=True):
        assert one["label"] == all_three["label"]
        if set(all_three["conditions"].values()) != {"missing"}:
            image = all_three["conditions"]["image"]
            if image != "missing":
                assert one["conditions"]["image"] == image


def test_captions_name_the_true_class_another_or_none(everything):
    _, records = everything
    rng = np.random.default_rng(0)
    for label in synthetic.LABELS:
        for _ in range(40):
            true = synthetic.make_caption(label, "true", rng)
            assert synthetic.named_classes(true) == [label], true
            lie = synthetic.make_caption(label, "contradicting", rng)
            named = synthetic.named_classes(lie)
            assert len(named) == 1 and named != [label], lie
            neutral = synthetic.make_caption(label, "neutral", rng)
            assert synthetic.named_classes(neutral) == [], neutral
    kinds = {"true": 0, "neutral": 0, "contradicting": 0}
    for record in records:
        condition = record["conditions"]["text"]
        if condition == "missing":
            continue
        kinds[condition] += 1
        named = synthetic.named_classes(record["text"])
        if condition == "true":
            assert named == [record["label"]]
        elif condition == "neutral":
            assert named == []
        else:
            assert len(named) == 1 and named != [record["label"]]
    assert all(kinds.values())


def test_synonyms_belong_to_one_class_each():
    names = [n for names in synthetic.SYNONYMS.values() for n in names]
    assert len(names) == len(set(names))
    for label, synonyms in synthetic.SYNONYMS.items():
        for name in synonyms:
            assert synthetic.named_classes(f"a {name} here") == [label]


def test_wav_files_are_16_bit_mono_at_one_or_two_times_the_rate(tmp_path):
    manifest_path = synthetic.write_dataset(
        tmp_path, 90, seed=0, modalities=("audio",), clip_seconds=0.1
    )
    rates = collections.Counter()
    for record in _records(manifest_path):
        with wave.open(str(tmp_path / record["audio"]), "rb") as f:
            assert f.getnchannels() == 1
            assert f.getsampwidth() == 2
            assert f.getcomptype() == "NONE"
            assert f.getframerate() in (8000, 16000)
            assert f.getnframes() == round(f.getframerate() * 0.1)
            rates[f.getframerate()] += 1
    assert rates[8000] > rates[16000] > 0


def test_video_folders_hold_num_frames_pngs(everything):
    directory, records = everything
    videos = [r["video"] for r in records if "video" in r]
    assert videos
    for video in videos:
        names = sorted(os.listdir(directory / video))
        assert names == ["frame_000.png", "frame_001.png", "frame_002.png"]
    frame = tf.io.decode_png(
        tf.io.read_file(str(directory / videos[0] / "frame_000.png"))
    )
    assert frame.shape == (16, 16, 3)


def test_a_subset_of_modalities_writes_only_those(tmp_path):
    manifest_path = synthetic.write_dataset(
        tmp_path, 30, seed=0, modalities=("text", "audio"), clip_seconds=0.1
    )
    assert sorted(os.listdir(tmp_path)) == ["audio", "manifest.jsonl"]
    for record in _records(manifest_path):
        assert sorted(record["conditions"]) == ["audio", "text"]
        assert "image" not in record and "video" not in record
    manifest_path = synthetic.write_dataset(
        tmp_path / "new" / "text", 18, seed=0, modalities=("text",)
    )
    assert os.listdir(tmp_path / "new" / "text") == ["manifest.jsonl"]
    assert all("text" in r for r in _records(manifest_path))


def test_bad_arguments_say_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="non-empty subset"):
        synthetic.plan_dataset(60, modalities=("image", "smell"))
    with pytest.raises(ValueError, match="non-empty subset"):
        synthetic.plan_dataset(60, modalities=())
    with pytest.raises(ValueError, match="at least 18"):
        synthetic.write_dataset(tmp_path, 12)


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_a_clean_sound_peaks_at_the_class_pitch(sample_rate):
    for label in synthetic.LABELS:
        rng = np.random.default_rng(0)
        samples = synthetic.make_sound(label, 40.0, sample_rate, 0.5, rng)
        spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
        frequencies = np.fft.rfftfreq(len(samples), 1 / sample_rate)
        peak = frequencies[np.argmax(spectrum)]
        # Bins are 2 Hz apart; the pitch jitter is at most 3%.
        assert abs(peak / synthetic.PITCHES[label] - 1) <= 0.03 + 2 / peak


def test_low_snr_buries_the_class_pitch():
    # The share of energy within 5% of the class pitch, averaged over
    # clips: most of it at +15 dB, little at -12 dB (noise 16x louder).
    def share_at_pitch(snr_db):
        shares = []
        for seed in range(20):
            rng = np.random.default_rng(seed)
            samples = synthetic.make_sound("ring", snr_db, 8000, 0.5, rng)
            power = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
            frequencies = np.fft.rfftfreq(len(samples), 1 / 8000)
            pitch = synthetic.PITCHES["ring"]
            band = np.abs(frequencies / pitch - 1) < 0.05
            shares.append(power[band].sum() / power.sum())
        return np.mean(shares)

    assert share_at_pitch(15.0) > 0.6
    assert share_at_pitch(-12.0) < 0.15


def test_shapes_differ_by_class():
    masks = {
        label: synthetic.shape_mask(label, 32, (16.0, 16.0), 10.0)
        for label in synthetic.LABELS
    }
    for a in synthetic.LABELS:
        for b in synthetic.LABELS:
            if a < b:
                overlap = np.sum(masks[a] & masks[b])
                union = np.sum(masks[a] | masks[b])
                assert overlap / union < 0.85, (a, b)
    # Hand-checked pixels (row, col) that tell similar shapes apart.
    assert masks["circle"][16, 16] and not masks["ring"][16, 16]
    assert masks["square"][10, 10] and not masks["cross"][10, 10]
    assert not masks["diamond"][10, 10] and masks["diamond"][8, 16]
    assert masks["triangle"][22, 10] and not masks["triangle"][8, 10]
    assert masks["square"][9, 9] and not masks["circle"][9, 9]


def test_a_clean_image_shows_the_shape_against_its_background():
    rng = np.random.default_rng(0)
    pixels = synthetic.draw_image("cross", False, 32, rng).astype(float)
    # Replay the draws to find where the shape was put.
    rng = np.random.default_rng(0)
    synthetic._background(32, rng)
    radius = rng.uniform(0.18, 0.32) * 32
    centre = rng.uniform(radius, 32 - radius, 2)
    mask = synthetic.shape_mask("cross", 32, centre, radius)
    inside = pixels[mask].mean(axis=0)
    outside = pixels[~mask].mean(axis=0)
    assert np.linalg.norm(inside - outside) > 60
    assert pixels[mask].std(axis=0).max() < 10  # one colour plus grain


def test_a_caption_names_its_pictures_colour_unless_it_describes_another():
    rng = np.random.default_rng(0)
    for _ in range(200):
        for condition in ("true", "neutral", "contradicting"):
            caption = synthetic.make_caption("ring", condition, rng, "pink")
            named = [c for c in synthetic.COLOUR_WORDS if c in caption.split()]
            if condition == "contradicting":
                assert "pink" not in named
            else:
                assert named in ([], ["pink"])


def test_a_clean_shape_has_its_palette_colour():
    rng = np.random.default_rng(1)
    for name, rgb in synthetic.PALETTE.items():
        pixels = synthetic.draw_image("square", False, 32, rng, colour=name)
        distance = np.linalg.norm(pixels.astype(float) - rgb, axis=-1)
        # A square of half-side >= 0.8 * 0.18 * 32 covers >= 21 pixels.
        assert np.sum(distance < 45) >= 21, name
