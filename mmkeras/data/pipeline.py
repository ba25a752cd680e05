"""tf.data pipelines from manifest records to batches for `model.fit`."""

import tensorflow as tf


def make_dataset(
    records,
    preprocessor,
    class_names,
    batch_size,
    shuffle=False,
    seed=None,
):
    """Builds a batched `(features, label_id)` dataset from manifest records.

    One readable chain: file reads (parallel) -> cache of the raw bytes ->
    shuffle -> preprocessing (parallel; the same layer that the exported
    signature runs, so training and serving see identical inputs) ->
    batch -> prefetch.

    Args:
        records: list of `mmkeras.data.manifest.Record` with `image`,
            `text` and `label`.
        preprocessor: callable mapping `{"image": bytes, "text": str}`
            scalars to model inputs, e.g. `ImageTextPreprocessor`.
        class_names: list of str. A label's id is its index here.
        batch_size: int.
        shuffle: bool. Reshuffle every epoch.
        seed: int or None. Shuffle seed.

    Returns:
        A `tf.data.Dataset`.
    """
    label_ids = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({r["label"] for r in records} - set(label_ids))
    if unknown:
        raise ValueError(
            f"Labels {unknown} are not among the class names {class_names}."
        )
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            {
                "image": [r["image"] for r in records],
                "text": [r["text"] for r in records],
            },
            [label_ids[r["label"]] for r in records],
        )
    )
    dataset = dataset.map(_read_image_file, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(
            len(records), seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.map(
        lambda raw, label: (preprocessor(raw), label),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not shuffle,
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _read_image_file(raw, label):
    return {"image": tf.io.read_file(raw["image"]), "text": raw["text"]}, label
