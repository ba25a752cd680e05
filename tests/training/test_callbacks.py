"""The callbacks of a resumable run, on a one-layer model."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from mmkeras.training.callbacks import BestCheckpoint
from mmkeras.training.callbacks import NonFiniteLoss
from mmkeras.training.callbacks import ResumableBackup
from mmkeras.training.callbacks import ResumableCSVLogger
from mmkeras.training.callbacks import StopOnNonFiniteLoss
from mmkeras.training.callbacks import best_value
from mmkeras.training.callbacks import keep_epochs_before

X = np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2)
Y = X.sum(axis=1, keepdims=True)


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


class _Interrupt(keras.callbacks.Callback):
    """Raises before the given step (both counted from 0)."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at = (epoch, step)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def _fit(model, callbacks, epochs=3, y=Y, **kwargs):
    return model.fit(
        X,
        y,
        batch_size=1,
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
        **kwargs,
    )


def _metadata(backup_dir, suffix=""):
    path = os.path.join(backup_dir, f"training_metadata.json{suffix}")
    with open(path) as f:
        return json.load(f)


def _interrupted(backup_dir, epoch, step, save_freq=2):
    with pytest.raises(KeyboardInterrupt):
        _fit(
            _model(),
            [ResumableBackup(backup_dir, save_freq), _Interrupt(epoch, step)],
        )


def test_step_backups_and_an_epoch_end_backup(tmp_path):
    backup_dir = str(tmp_path / "backup")
    _interrupted(backup_dir, epoch=1, step=5)
    # Steps 1 and 3 of epoch 1 were backed up (every 2); the previous one
    # is kept beside the latest.
    assert _metadata(backup_dir) == {"epoch": 1, "batch": 3}
    assert _metadata(backup_dir, ".bkp") == {"epoch": 1, "batch": 1}
    _interrupted(str(tmp_path / "b"), epoch=1, step=0)
    assert _metadata(str(tmp_path / "b")) == {"epoch": 1, "batch": 0}


def test_a_resumed_runs_step_backups_record_its_epoch(tmp_path):
    backup_dir = str(tmp_path / "backup")
    _interrupted(backup_dir, epoch=1, step=5)
    backup = ResumableBackup(backup_dir, save_freq=2)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [backup, _Interrupt(1, 3)])
    assert backup.resumed_from == {"epoch": 1, "batch": 3}
    # Keras' own callback would record epoch 0 here (no epoch end seen).
    assert _metadata(backup_dir) == {"epoch": 1, "batch": 1}


@pytest.mark.parametrize(
    "damaged", ["latest.weights.npz", "training_metadata.json"]
)
def test_a_truncated_backup_falls_back_to_the_previous_one(tmp_path, damaged):
    backup_dir = str(tmp_path / "backup")
    _interrupted(backup_dir, epoch=1, step=5)
    path = os.path.join(backup_dir, damaged)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    backup = ResumableBackup(backup_dir, save_freq=2)
    history = _fit(_model(), [backup])
    assert backup.resumed_from == {"epoch": 1, "batch": 1}
    assert len(history.history["loss"]) == 2  # epochs 1 and 2
    assert not os.path.exists(backup_dir)  # deleted once training ends


class _BreakWeights(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            variable = self.model.trainable_variables[0]
            variable.assign(np.full(variable.shape, np.nan, "float32"))


def test_non_finite_weights_are_never_backed_up(tmp_path):
    backup_dir = str(tmp_path / "backup")
    with pytest.raises(NonFiniteLoss, match="epoch 1, step 4"):
        _fit(_model(), [_BreakWeights(), ResumableBackup(backup_dir, 2)])
    assert _metadata(backup_dir) == {"epoch": 0, "batch": 1}


def test_a_nan_loss_raises_where_it_happened_and_keeps_the_backup(tmp_path):
    backup_dir = str(tmp_path / "backup")
    y = Y.copy()
    y[5] = np.nan
    callbacks = [StopOnNonFiniteLoss(), ResumableBackup(backup_dir, 2)]
    with pytest.raises(NonFiniteLoss) as raised:
        _fit(_model(), callbacks, y=y, shuffle=False)
    assert (
        str(raised.value) == "the training loss became nan at epoch 1, step 6"
    )
    assert _metadata(backup_dir) == {"epoch": 0, "batch": 3}


def _validated_fit(model, callback, epochs=2):
    return model.fit(
        X,
        Y,
        batch_size=4,
        epochs=epochs,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[callback],
    )


def test_the_best_checkpoint_records_its_value(tmp_path):
    path = str(tmp_path / "best.keras")
    history = _validated_fit(_model(), BestCheckpoint(path, "val_loss", "min"))
    assert best_value(path, "val_loss") == pytest.approx(
        min(history.history["val_loss"])
    )
    assert best_value(path, "val_accuracy") is None
    assert sorted(os.listdir(tmp_path)) == ["best.json", "best.keras"]
    keras.saving.load_model(path)


def test_a_restarted_best_checkpoint_must_beat_the_recorded_best(tmp_path):
    path = str(tmp_path / "best.keras")
    callback = BestCheckpoint(
        path, "val_loss", "min", initial_value_threshold=0
    )
    _validated_fit(_model(), callback)
    assert os.listdir(tmp_path) == []


def _write_history(path, epochs):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "loss"])
        writer.writerows([e, 1.0 / (e + 1)] for e in epochs)


def _epochs(path):
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_a_resumed_history_drops_the_epochs_it_runs_again(tmp_path):
    path = str(tmp_path / "history.csv")
    _write_history(path, [0, 1, 2])
    _fit(_model(), [ResumableCSVLogger(path)], epochs=4, initial_epoch=2)
    assert _epochs(path) == [0, 1, 2, 3]
    with open(path) as f:
        assert f.readline().strip() == "epoch,loss"


def test_a_run_from_the_first_epoch_starts_a_new_history(tmp_path):
    path = str(tmp_path / "history.csv")
    _write_history(path, [0, 1, 2, 3, 4])
    _fit(_model(), [ResumableCSVLogger(path)], epochs=2)
    assert _epochs(path) == [0, 1]


def test_keep_epochs_before(tmp_path):
    path = str(tmp_path / "history.csv")
    _write_history(path, [0, 1, 2])
    assert keep_epochs_before(path, 2) == ["epoch", "loss"]
    assert _epochs(path) == [0, 1]
    assert keep_epochs_before(path, 0) is None
    assert not os.path.exists(path)
    assert keep_epochs_before(path, 3) is None
