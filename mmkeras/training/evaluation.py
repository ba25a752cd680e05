"""Measuring a task on a split, locally or through a model server."""

import numpy as np

from mmkeras.data.pipeline import raw_dataset


def evaluate(task, split, batch_size=64, predict=None):
    """The task's metrics over every answerable example of a split.

    The task's `serving_default` outputs are gathered over the whole split
    and handed to `task.evaluate_outputs`, so metrics are computed over the
    full set, never averaged per batch. An example with none of the
    model's modalities cannot be answered; it is left out and counted as
    `unanswered`.

    Args:
        task: an `mmkeras.models.Task` (it defines the metrics).
        split: what `make_dataset` reads: a list of manifest records or a
            packed split.
        batch_size: int.
        predict: callable from a dict of numpy raw values (one batch) to a
            dict of numpy outputs; None runs the task in-process. Pass a
            client's call to measure a served model.

    Returns:
        dict of metric name to value.
    """
    outputs, targets, answered = predict_split(task, split, batch_size, predict)
    metrics = task.evaluate_outputs(outputs, np.asarray(targets)[answered])
    metrics["unanswered"] = int(np.sum(~answered))
    return metrics


def predict_split(task, split, batch_size=64, predict=None, without=()):
    """`serving_default` outputs for every answerable example of a split.

    Args:
        task, split, batch_size, predict: as for `evaluate`.
        without: modalities to send empty (missing) in every example.

    Returns:
        `(outputs, targets, answered)`: dict of numpy arrays over the
        answered examples, in order; the list of every example's target;
        and a bool array, False for examples left with no modality.
    """
    modalities = task.preprocessor.modalities
    target_field = task.preprocessor.label_field
    predict = predict or _local_predict(task)
    batches = raw_dataset(split, modalities, target_fields=(target_field,))
    outputs, targets, answered = [], [], []
    for batch in batches.padded_batch(batch_size).as_numpy_iterator():
        targets.extend(t.decode("utf-8") for t in batch.pop(target_field))
        for modality in without:
            batch[modality] = np.full_like(batch[modality], b"")
        keep = _has_some_value(batch)
        answered.append(keep)
        if keep.any():
            outputs.append(predict({k: v[keep] for k, v in batch.items()}))
    merged = {
        key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]
    }
    return merged, targets, np.concatenate(answered)


def _has_some_value(batch):
    """bool per example: does any modality hold a non-empty value?"""
    rows = []
    for modality, values in batch.items():
        filled = np.vectorize(len, otypes=[int])(values) > 0
        if modality == "text":
            strip = np.vectorize(lambda v: len(v.strip()), otypes=[int])
            filled = strip(values) > 0
        rows.append(filled.reshape(len(values), -1).any(axis=1))
    return np.any(rows, axis=0)


def _local_predict(task):
    def predict(raw):
        return {k: v.numpy() for k, v in task.predict_raw(raw).items()}

    return predict


def check_targets(task, records, source_path):
    """Raises ValueError naming the file and line of an unknown label."""
    field = task.preprocessor.label_field
    known = set(task.class_names)
    for record in records:
        if record[field] not in known:
            raise ValueError(
                f"{source_path} line {record.line}: label "
                f"{record[field]!r} is not one of the model's classes "
                f"({', '.join(task.class_names)})."
            )
