"""Callbacks that let a run survive interruptions and show its progress.

Keras' own callbacks, each with what a run that may be killed at any
moment and restarted with the same command needs: a backup that falls
back to the previous one and is never taken of broken weights, a best
checkpoint that remembers its best value, a CSV history with one row per
finished epoch however often the run restarted, and a NaN stop that
keeps the backup.
"""

import csv
import json
import logging
import os
import shutil

import keras
import numpy as np

from mmkeras.training.snapshot import load_snapshot
from mmkeras.training.snapshot import save_snapshot
from mmkeras.training.snapshot import training_variables

logger = logging.getLogger(__name__)
SNAPSHOT_FILE = "latest.weights.npz"


class NonFiniteLoss(FloatingPointError):
    """Training produced a NaN or infinite loss or weights."""


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN(raise_error=True)` that says where it happened.

    Raising, rather than Keras' default graceful stop, skips every
    callback's `on_train_end`, so `BackupAndRestore` keeps its backup
    instead of deleting it. Put it before the backup callback, so the
    step whose loss is not finite is never backed up.

    Raises:
        NonFiniteLoss: with the epoch and step (both counted from 1).
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        try:
            super().on_batch_end(batch, logs)
        except RuntimeError:
            loss = (logs or {}).get("loss")
            raise NonFiniteLoss(
                f"the training loss became {float(loss)} at epoch "
                f"{self.epoch + 1}, step {batch + 1}"
            ) from None


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` with two backups, for runs killed at any moment.

    Keras' callback with `double_checkpoint=True` (a backup that cannot be
    read, e.g. truncated by a kill during its write, falls back to the
    previous one), and four repairs:

    - With a step frequency it also saves at each epoch's end, so a
      restart after an epoch boundary does not run that epoch again.
    - A step backup of a resumed run records the epoch it is in (Keras
      counts epochs from the ends it has seen, so before the first end
      of a resumed run it would record epoch 0: a second interruption
      would then start over).
    - An unreadable `training_metadata.json` falls back to the previous
      backup too, as unreadable weights do.
    - Weights that are not finite are never saved: `NonFiniteLoss` is
      raised instead, so the backup kept is the last good one.
    - The state is a `snapshot` (`.npz` of the variables' values, written
      atomically) instead of `save_weights`' HDF5 file, which costs
      several times more per backup for the object-graph walk.

    A backup taken mid-epoch holds the weights and optimizer state of that
    step; Keras restarts its epoch from the first batch.

    Args:
        backup_dir: str. Holds only the backup.
        save_freq: "epoch" or int, steps between backups.
        verbose: int. Print a line when a run resumes.

    Attributes:
        resumed_from: dict `{"epoch": int, "batch": int}` of the backup a
            run resumed from (epoch counted from 0), or None.
    """

    def __init__(self, backup_dir, save_freq="epoch", verbose=0):
        super().__init__(
            backup_dir, save_freq=save_freq, double_checkpoint=True
        )
        self._weights_path = os.path.join(backup_dir, SNAPSHOT_FILE)
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self.verbose = verbose
        self.resumed_from = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.resumed_from = _read_json(self._training_metadata_path)
        if self.resumed_from is None:
            return
        epoch = self.resumed_from["epoch"]
        step = self.resumed_from.get("batch", 0)
        where = f"epoch {epoch + 1}"
        if step:
            where += f" (weights of step {step + 1}; the epoch restarts)"
        message = f"Resumed from the backup in {self.backup_dir} at {where}."
        logger.info(message)
        if self.verbose:
            print(message, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()

    def _load_model(self):
        metadata = self._training_metadata_path
        if os.path.exists(metadata) and _read_json(metadata) is None:
            # OSError is what makes Keras fall back to the previous backup.
            raise OSError(f"{metadata} cannot be read")
        if os.path.exists(self._weights_path):
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            load_snapshot(self._weights_path, training_variables(self.model))
        if os.path.exists(metadata):
            self.model._initial_epoch = _read_json(metadata)["epoch"]

    def _save_model(self):
        if not all_finite(self.model.trainable_variables):
            raise NonFiniteLoss(
                f"the weights stopped being finite at epoch "
                f"{self._current_epoch + 1}, step {self._last_batch_seen + 1}"
            )
        os.makedirs(self.backup_dir, exist_ok=True)
        metadata = self._training_metadata_path
        for path in (self._weights_path, metadata):
            if os.path.exists(path):  # the previous backup, to fall back to
                shutil.copyfile(path, f"{path}.bkp")
        save_snapshot(self._weights_path, training_variables(self.model))
        _write_json(
            metadata,
            {"epoch": self._current_epoch, "batch": self._last_batch_seen},
        )


class SplitValidation(keras.callbacks.Callback):
    """Metrics over a whole validation split, after every epoch.

    The base of the tasks' validation callbacks: `measure()` computes the
    task's metrics over every record of the split (never averaged per
    batch), and each float among them joins the epoch's logs as
    `val_<name>`, where `History`, the progress line, `CSVLogger`,
    `TensorBoard` and `BestCheckpoint` see them. Put it before those
    callbacks.

    Args:
        records: list of `Record`, the validation split.
        batch_size: int.
    """

    def __init__(self, records, batch_size=64):
        super().__init__()
        self.records = records
        self.batch_size = batch_size

    def measure(self):
        """dict of metric name to value, for `self.model` on the split."""
        raise NotImplementedError

    def on_epoch_end(self, epoch, logs=None):
        metrics = self.measure()
        if logs is not None:
            for name, value in metrics.items():
                if isinstance(value, float):
                    logs[f"val_{name}"] = value


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """The best model so far, in one `.keras` file, across restarts.

    `ModelCheckpoint(save_best_only=True)`, made cheap enough for every
    epoch and safe against kills. An improvement writes a snapshot of the
    model's variables (`<name>.weights.npz`, atomically: tens of
    milliseconds, where a `.keras` file costs a second for the demo
    classifier) and records the best value in `<name>.json`; `best_value`
    reads it back for a resumed run's `initial_value_threshold`, so a
    restart must beat the best so far. At the end of training (this run's
    or, after a kill, the next one's) the snapshot becomes the `.keras`
    file, written to a partial file and renamed.

    Args:
        filepath: str, ending in `.keras`.
        monitor: str. A logged value, e.g. "val_loss".
        mode: "min" or "max".
        initial_value_threshold: float or None. The value to beat.
    """

    def __init__(self, filepath, monitor, mode, initial_value_threshold=None):
        super().__init__(
            filepath,
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            initial_value_threshold=initial_value_threshold,
        )
        self.record_path = record_path(filepath)
        self.snapshot_path = os.path.splitext(filepath)[0] + ".weights.npz"

    def _save_model(self, epoch, batch, logs):
        if not self._should_save_model(epoch, batch, logs, self.filepath):
            return
        save_snapshot(self.snapshot_path, self.model.weights)
        record = {"monitor": self.monitor, "epoch": epoch}
        if self.best is not None:
            record["value"] = float(self.best)
        _write_json(self.record_path, record)

    def on_train_end(self, logs=None):
        if not os.path.exists(self.snapshot_path):
            return
        variables = self.model.weights
        current = [keras.ops.convert_to_numpy(v) for v in variables]
        load_snapshot(self.snapshot_path, variables)
        directory, name = os.path.split(self.filepath)
        partial = os.path.join(directory, f".partial-{name}")
        self.model.save(partial)
        os.replace(partial, self.filepath)
        os.remove(self.snapshot_path)
        for variable, value in zip(variables, current, strict=True):
            variable.assign(value)


def record_path(filepath):
    """Where `BestCheckpoint` records the best value of `filepath`."""
    return os.path.splitext(filepath)[0] + ".json"


def best_value(filepath, monitor):
    """The best `monitor` value recorded for `filepath`, or None."""
    record = _read_json(record_path(filepath))
    if not record or record.get("monitor") != monitor:
        return None
    return record.get("value")


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` whose file holds one row per finished epoch, always.

    The file is opened at the first epoch a run trains (not at the start
    of `fit`, when a restored backup's epoch is not yet known): rows of
    that epoch and later ones, written by an interrupted run before its
    last backup, are dropped, and the rest is kept and appended to, with
    its own columns. A run from epoch 0 starts a new file.

    Args:
        filename: str.
    """

    def __init__(self, filename):
        super().__init__(filename, append=True)
        self.first_epoch = None

    def on_train_begin(self, logs=None):
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is not None:
            return
        self.first_epoch = epoch
        header = keep_epochs_before(self.filename, epoch)
        super().on_train_begin(logs)
        if header:
            self.keys = header[1:]


def keep_epochs_before(path, epoch):
    """Drops the rows of a CSV history from `epoch` on; returns its header
    (or None when no row is left, and then no file either)."""
    if not os.path.exists(path):
        return None
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, kept = rows[:1], [r for r in rows[1:] if _epoch_of(r) < epoch]
    if not header or not kept:
        os.remove(path)
        return None
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(header + kept)
    return header[0]


def read_history(path):
    """A CSV history as a dict of column to list of floats (NaN where
    missing), in epoch order."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = {name: [] for name in (rows[0] if rows else {})}
    for row in rows:
        for name, value in row.items():
            columns[name].append(_float(value))
    return columns


def all_finite(variables):
    """Whether every value of every variable is finite."""
    return all(
        np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in variables
    )


def _epoch_of(row):
    try:
        return int(row[0])
    except (IndexError, ValueError):
        return float("inf")


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _read_json(path):
    """A small JSON file's content, or None if it is absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, value):
    """Writes atomically: a reader sees the old file or the new one."""
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(partial, path)
