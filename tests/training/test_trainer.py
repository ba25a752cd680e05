"""Training from files on disk, for a few steps, for any modalities."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mmkeras import cli
from mmkeras.data import read_manifest
from mmkeras.data import synthetic
from mmkeras.preprocessing.vocabulary import learn_vocabulary
from mmkeras.preprocessing.vocabulary import load_vocabulary
from mmkeras.training import TrainConfig
from mmkeras.training import load_task
from mmkeras.training import train
from mmkeras.training import trainer
from mmkeras.training.baselines import late_fusion
from mmkeras.training.callbacks import best_value
from mmkeras.training.callbacks import read_history
from mmkeras.training.compilation import choose_jit_compile
from mmkeras.training.evaluation import check_targets
from mmkeras.training.evaluation import evaluate
from mmkeras.training.evaluation import predict_split
from mmkeras.training.precision import resolve_precision

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
    # Both at once, which also shows that the result does not depend on
    # what else the machine runs.
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "mmkeras.cli", "train", "--deterministic"]
            + [f"--manifest={manifest}", f"--output-dir={tmp_path / run}"]
            + ["--epochs=1", "--batch-size=8", "--hidden-dim=8"]
            + ["--image-size=16", "--clip-seconds=0.5", "--num-frames=3"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in ("a", "b")
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
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


# The run's files, resuming and stopping on NaN: text-only runs, the
# cheapest to trace.
TEXT = ("text",)


def _with_callback(monkeypatch, callback):
    """`train` with one more callback after its own."""
    callbacks = trainer._callbacks
    monkeypatch.setattr(
        trainer, "_callbacks", lambda *args: callbacks(*args) + [callback]
    )


class _InterruptAt(keras.callbacks.Callback):
    """Interrupts (as Ctrl-C does) when epoch `epoch` (from 0) begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class _PoisonWeights(keras.callbacks.Callback):
    """Makes a weight NaN before the first step of epoch `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            variable = self.model.trainable_variables[0]
            variable.assign(np.full(variable.shape, np.nan, "float32"))


def _backup_epoch(output_dir):
    path = os.path.join(output_dir, "backup", "training_metadata.json")
    with open(path) as f:
        return json.load(f)["epoch"]


def _event_tags(directory):
    tags = set()
    for name in os.listdir(directory):
        for event in tf.data.TFRecordDataset(os.path.join(directory, name)):
            parsed = tf.compat.v1.Event.FromString(event.numpy())
            tags.update(v.tag for v in parsed.summary.value)
    return tags


def test_a_run_writes_its_files(manifest, tmp_path):
    result = train(_config(manifest, tmp_path, modalities=TEXT, epochs=2))
    assert sorted(os.listdir(tmp_path)) == [
        "best.json",
        "best.keras",
        "class_names.txt",
        "config.json",
        "curves.png",
        "history.csv",
        "logs",
        "task.keras",
        "vocabulary.txt",
    ]  # and no backup: training ended
    history = read_history(str(tmp_path / "history.csv"))
    assert history["epoch"] == [0, 1]
    # precision and jit_compile "auto" took this machine's choices.
    assert result.task.dtype_policy.name == resolve_precision("auto")
    assert result.task.jit_compile is choose_jit_compile("auto").jit_compile
    np.testing.assert_allclose(history["val_loss"], result.history["val_loss"])
    assert best_value(str(tmp_path / "best.keras"), "val_loss") == min(
        history["val_loss"]
    )
    assert "epoch_loss" in _event_tags(tmp_path / "logs" / "train")
    assert "epoch_accuracy" in _event_tags(tmp_path / "logs" / "validation")
    tokenizer = result.task.preprocessor.features.tokenizer
    assert load_vocabulary(tmp_path / "vocabulary.txt") == tokenizer.vocabulary
    assert load_vocabulary(tmp_path / "class_names.txt") == list(
        result.task.class_names
    )
    with Image.open(tmp_path / "curves.png") as curves:
        assert curves.size == (640, 200)  # loss, accuracy


def _write_changed(manifest, name, change):
    """A copy of the manifest beside it (its paths still resolve)."""
    path = os.path.join(os.path.dirname(manifest), name)
    records = [json.loads(line) for line in open(manifest)]
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(change(record)) + "\n")
    return path


def _new_words(record):
    if record.get("text"):
        record["text"] = "zebra quokka " + record["text"]
    return record


def test_a_resumed_run_keeps_its_plan_and_its_best_value(
    manifest, tmp_path, monkeypatch
):
    config = _config(manifest, tmp_path, modalities=TEXT, epochs=2)
    with monkeypatch.context() as patch:
        _with_callback(patch, _InterruptAt(epoch=1))
        with pytest.raises(KeyboardInterrupt):
            train(config)
    assert _backup_epoch(tmp_path) == 1
    vocabulary = load_vocabulary(tmp_path / "vocabulary.txt")
    # The interrupted run's best weights wait in a snapshot.
    best = tmp_path / "best.keras"
    assert not best.exists()
    with np.load(tmp_path / "best.weights.npz") as snapshot:
        first_best = [snapshot[name] for name in sorted(snapshot.files)]
    (tmp_path / "best.json").write_text(
        json.dumps({"monitor": "val_loss", "epoch": 0, "value": 0.0})
    )
    changed = _write_changed(manifest, "changed.jsonl", _new_words)
    assert (
        learn_vocabulary(
            r["text"]
            for r in read_manifest(changed).split("train")
            if r.get("text")
        )
        != vocabulary
    )

    with pytest.raises(ValueError, match=r"hidden_dim=8 \(now 16\); rerun"):
        train(dataclasses.replace(config, manifest=changed, hidden_dim=16))
    hexagon = _write_changed(
        manifest, "hexagon.jsonl", lambda r: {**r, "label": "hexagon"}
    )
    with pytest.raises(ValueError, match=r"labels \(hexagon\) that the"):
        train(dataclasses.replace(config, manifest=hexagon))

    result = train(dataclasses.replace(config, manifest=changed))
    assert len(result.history["loss"]) == 1  # epoch 2 only
    tokenizer = result.task.preprocessor.features.tokenizer
    assert tokenizer.vocabulary == vocabulary
    assert read_history(str(tmp_path / "history.csv"))["epoch"] == [0, 1]
    # A validation loss cannot beat 0: the best model stays the first's,
    # now written as a whole task.
    assert not (tmp_path / "best.weights.npz").exists()
    best_task = keras.saving.load_model(best)
    for variable, value in zip(best_task.weights, first_best, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert best_value(str(best), "val_loss") == 0.0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["manifest"] == changed


def test_a_truncated_backup_falls_back_to_the_previous_one(
    manifest, tmp_path, monkeypatch
):
    config = _config(
        manifest, tmp_path, modalities=TEXT, epochs=3, validate=False
    )
    with monkeypatch.context() as patch:
        _with_callback(patch, _InterruptAt(epoch=2))
        with pytest.raises(KeyboardInterrupt):
            train(config)
    latest = tmp_path / "backup" / "latest.weights.npz"
    with open(latest, "r+b") as f:
        f.truncate(latest.stat().st_size // 2)
    result = train(config)
    assert len(result.history["loss"]) == 2  # from the previous backup
    assert read_history(str(tmp_path / "history.csv"))["epoch"] == [0, 1, 2]


def test_a_nan_loss_is_one_line_and_keeps_the_last_good_backup(
    manifest, tmp_path, monkeypatch
):
    flags = [
        "train",
        f"--manifest={manifest}",
        f"--output-dir={tmp_path}",
        "--modalities=text",
        "--epochs=2",
        "--batch-size=8",
        "--hidden-dim=8",
        "--verbose=0",
    ]
    with monkeypatch.context() as patch:
        _with_callback(patch, _PoisonWeights(epoch=1))
        with pytest.raises(SystemExit) as raised:
            cli.main(flags)
    assert raised.value.code == (
        "mmkeras train: error: the training loss became nan at epoch 2, "
        f"step 1; the last good backup is kept in {tmp_path}/backup: rerun "
        "with a lower learning rate (--set learning_rate=0.0003) to resume "
        "from it"
    )
    assert _backup_epoch(tmp_path) == 1
    cli.main(flags)  # resumes at epoch 2, now without the poison
    assert read_history(str(tmp_path / "history.csv"))["epoch"] == [0, 1]
    assert not (tmp_path / "backup").exists()
