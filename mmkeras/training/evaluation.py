"""Measuring a task on a split, locally or through a model server."""

import numpy as np

from mmkeras.data.pipeline import raw_dataset


def evaluate(task, split, batch_size=64, predict=None):
    """The task's metrics over every example of a split.

    The task's `serving_default` outputs are gathered over the whole split
    and handed to `task.evaluate_outputs`, so metrics are computed over the
    full set, never averaged per batch.

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
    modalities = task.preprocessor.modalities
    target_field = task.preprocessor.label_field
    predict = predict or _local_predict(task)
    batches = raw_dataset(split, modalities, target_fields=(target_field,))
    outputs, targets = [], []
    for batch in batches.padded_batch(batch_size).as_numpy_iterator():
        targets.extend(t.decode("utf-8") for t in batch.pop(target_field))
        outputs.append(predict(batch))
    merged = {
        key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]
    }
    return task.evaluate_outputs(merged, targets)


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
