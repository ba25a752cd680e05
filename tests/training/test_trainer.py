"""Training from files on disk, for a few steps, for any modalities."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmkeras.data import read_manifest
from mmkeras.data import synthetic
from mmkeras.training import TrainConfig
from mmkeras.training import load_task
from mmkeras.training import train
from mmkeras.training.baselines import late_fusion
from mmkeras.training.evaluation import check_targets
from mmkeras.training.evaluation import evaluate
from mmkeras.training.evaluation import predict_split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    return synthetic.write_dataset(
        directory,
        num_examples=36,
        modalities=("audio", "image", "text", "video"),
        image_size=16,
    )


def _config(manifest, output_dir, **overrides):
    values = dict(
        manifest=manifest,
        output_dir=str(output_dir),
        epochs=1,
        batch_size=8,
        hidden_dim=8,
        image_size=16,
        clip_seconds=0.5,
        num_frames=3,
        verbose=0,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.parametrize(
    "modalities",
    [("audio",), ("image",), ("text",), ("video",), ("image", "text")],
    ids="+".join,
)
def test_trains_from_files_on_any_modalities(manifest, modalities, tmp_path):
    result = train(_config(manifest, tmp_path, modalities=modalities))
    assert result.task.preprocessor.modalities == modalities
    assert np.isfinite(result.history["loss"][0])
    test = read_manifest(manifest).split("test")
    metrics = evaluate(load_task(str(tmp_path)), test)
    usable = [r for r in test if any(r.get(m) for m in modalities)]
    assert metrics["examples"] == len(usable)
    assert metrics["unanswered"] == len(test) - len(usable)
    assert 0 <= metrics["accuracy"] <= 1


def test_the_saved_config_and_modalities(manifest, tmp_path):
    train(_config(manifest, tmp_path, fusion="gated", modality_dropout=0.5))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["fusion"] == "gated"
    assert saved["modalities"] == ["audio", "image", "text", "video"]
    task = load_task(str(tmp_path))
    assert task.metadata["train_config"] == saved
    assert type(task.backbone.fusion).__name__ == "GatedFusion"


def test_a_modality_the_manifest_lacks_is_named(tmp_path):
    path = synthetic.write_dataset(
        tmp_path / "data", num_examples=18, modalities=("text",)
    )
    with pytest.raises(ValueError, match="has no image field"):
        train(_config(path, tmp_path / "run", modalities=("image",)))


def test_an_unknown_label_at_evaluation_names_file_and_line(manifest, tmp_path):
    task = train(_config(manifest, tmp_path, modalities=("text",))).task
    lines = open(manifest).read().splitlines()
    record = json.loads(lines[0])
    record["label"] = "hexagon"
    # Beside the manifest, so that its relative paths still resolve.
    other = os.path.join(os.path.dirname(manifest), "other.jsonl")
    with open(other, "w") as f:
        f.write(json.dumps(record) + "\n")
    records = read_manifest(other).split(None)
    with pytest.raises(ValueError, match=f"{other} line 1: label 'hexagon'"):
        check_targets(task, records, other)


def test_examples_without_the_models_modalities_are_left_out(
    manifest, tmp_path
):
    task = train(_config(manifest, tmp_path, modalities=("image",))).task
    records = read_manifest(manifest).split("test")
    outputs, targets, answered = predict_split(task, records)
    assert len(targets) == len(records)
    np.testing.assert_array_equal(
        answered, [r.get("image") is not None for r in records]
    )
    assert len(outputs["probabilities"]) == answered.sum()


def test_late_fusion_averages_only_the_models_that_answered():
    first = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])
    second = np.array([[0.4, 0.6], [0.3, 0.7], [0.5, 0.5]])
    fused = late_fusion(
        [first, second],
        [np.array([True, False, False]), np.array([True, True, False])],
    )
    np.testing.assert_allclose(
        fused, [[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]], atol=1e-12
    )


def test_deterministic_training_repeats_itself(manifest, tmp_path):
    # In subprocesses: op determinism, once on, stays on in a process.
    for run in ("a", "b"):
        completed = subprocess.run(
            [sys.executable, "-m", "mmkeras.cli", "train", "--deterministic"]
            + [f"--manifest={manifest}", f"--output-dir={tmp_path / run}"]
            + ["--epochs=1", "--batch-size=8", "--hidden-dim=8"]
            + ["--image-size=16", "--clip-seconds=0.5", "--num-frames=3"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 0, completed.stderr
    first = load_task(str(tmp_path / "a")).get_weights()
    second = load_task(str(tmp_path / "b")).get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_comparison_lines_by_hand():
    from mmkeras.training.comparison import comparison_lines

    names = ["a", "b"]
    targets = ["a", "b", "b", "a"]
    fused = {
        None: np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]]),
        "image": np.array([[0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.7, 0.3]]),
    }
    singles = {"image": np.array([[0.2, 0.8]] * 4)}
    answered = {"image": np.array([True, True, True, False])}
    conditions = [{"image": "degraded"}, {}, {"image": "degraded"}, {}]
    lines = comparison_lines(
        names, targets, fused, singles, answered, conditions
    )
    assert lines[0].split() == ["fused", "model,", "over", "gRPC", "0.7500"]
    assert lines[1].split()[-1] == "0.7500"  # fused, image removed
    assert lines[2].split()[-1] == "0.5000"  # image alone
    # Late fusion: the image model's answers; uniform (class a) for the last.
    assert lines[3].split()[-1] == "0.7500"
    assert lines[4].split()[-1] == "0.5000"  # chance
    assert (
        "  image degraded" + " " * 19 + "(  2) 1.000 / 0.500 / 0.500" in lines
    )
