"""tf.data pipelines from manifest records or packed TFRecords to batches.

`raw_dataset` yields one dict of raw tensors per example, the same from a
manifest and from its packed TFRecords; `make_dataset` maps a task's
preprocessor over it and batches. Files are read inside the tf.data graph,
in parallel, and nothing keeps every file's bytes in memory.
"""

import os

import numpy as np
import tensorflow as tf

from mmkeras.data import media
from mmkeras.data.manifest import check_modalities


def raw_dataset(
    source,
    modalities,
    target_fields=("label",),
    max_video_frames=None,
    shuffle=False,
    seed=None,
    cache=False,
    deterministic=None,
):
    """An unbatched dataset of raw example dicts, files read in the graph.

    Each element has one key per requested modality and target field:

    - `image`, `audio`: tf.string scalar, the file's bytes (encoded image,
      WAV); `""` when the record has no such file;
    - `text`: tf.string scalar, the text; `""` when missing;
    - `video`: tf.string `(None,)`, one encoded image per frame (a
      folder's frame files as they are, a clip's frames as PNG); no
      element when missing;
    - each target field: tf.string scalar, or float32 `(None,)` for a
      list of numbers.

    With `shuffle`, the order is shuffled before any file is read (the
    shuffle buffer holds paths, not bytes), differently every epoch.

    Args:
        source: list of `Record` (e.g. `manifest.split("train")`), or a
            `PackedSplit` (`open_packed(directory).split("train")`).
        modalities: tuple of str from `MODALITIES`.
        target_fields: tuple of str. Fields every record has.
        max_video_frames: int or None. Keep at most this many frames per
            video, spread uniformly (see `media.uniform_frame_indices`).
        shuffle: bool. Shuffle the examples, reshuffled every epoch.
        seed: int or None. Shuffle seed.
        cache: bool. Keep the read bytes in memory after the first epoch;
            only for datasets that fit in memory.
        deterministic: bool or None. Keep the (seeded) order through the
            parallel reads; None: only when not shuffling (a shuffled
            order is random anyway, and out-of-order reads are faster).
            Multi-worker training needs it: workers split the examples by
            their position.

    Returns:
        A `tf.data.Dataset` of dicts.

    Example:
    >>> from mmkeras.data.manifest import Record
    >>> records = [Record(1, {"text": "hi", "label": "a"})]
    >>> dataset = raw_dataset(records, modalities=("image", "text"))
    >>> example = next(iter(dataset.as_numpy_iterator()))
    >>> sorted(example.items())
    [('image', b''), ('label', b'a'), ('text', b'hi')]
    """
    modalities = check_modalities(modalities)
    target_fields = tuple(target_fields)
    if max_video_frames is not None and max_video_frames < 1:
        raise ValueError(
            "max_video_frames must be positive or None, received "
            f"{max_video_frames}."
        )
    # With a cache, files are read once, in order, then shuffled in memory.
    shuffle_paths = shuffle and not cache
    if isinstance(source, (list, tuple)):
        columns = _record_columns(
            source, modalities, target_fields, max_video_frames
        )
        dataset = tf.data.Dataset.from_tensor_slices(columns)
        count = len(source)
        if shuffle_paths:
            dataset = dataset.shuffle(
                count, seed=seed, reshuffle_each_iteration=True
            )

        def read(example):
            return _read_files(example, max_video_frames)

    elif hasattr(source, "serialized_dataset"):
        dataset = source.serialized_dataset(shuffle_paths, seed, deterministic)
        count = source.count
        read = source.parser(modalities, target_fields, max_video_frames)
    else:
        raise TypeError(
            "source must be a list of manifest Records or a PackedSplit, "
            f"received {type(source).__name__}."
        )
    if deterministic is None:
        deterministic = not shuffle
    dataset = dataset.map(
        read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
    )
    if cache:
        dataset = dataset.cache()
        if shuffle:
            dataset = dataset.shuffle(
                count, seed=seed, reshuffle_each_iteration=True
            )
    return dataset


def make_dataset(
    source,
    preprocessor,
    batch_size,
    modalities,
    target_fields=("label",),
    shuffle=False,
    seed=None,
    max_video_frames=None,
    drop_remainder=False,
    cache=False,
    deterministic=None,
):
    """Batches of preprocessed examples, ready for `model.fit`.

    One readable chain: `raw_dataset` (shuffle the paths, then read the
    files in parallel) -> `map(preprocessor)` (parallel; deterministic
    unless shuffling) -> batch -> prefetch. The preprocessor is the task's
    own, the one its exported signature runs, so training and serving see
    identical inputs.

    Args:
        source: list of `Record` or a `PackedSplit`, as in `raw_dataset`.
        preprocessor: callable. Takes one raw example dict (see
            `raw_dataset`) and returns what the model trains on, e.g.
            `(features, targets)`.
        batch_size: int.
        modalities: tuple of str from `MODALITIES`.
        target_fields: tuple of str.
        shuffle: bool. Reshuffle every epoch.
        seed: int or None. Shuffle seed.
        max_video_frames: int or None. As in `raw_dataset`.
        drop_remainder: bool. Drop a last, smaller batch.
        cache: bool or "inputs". True: as in `raw_dataset` (the read
            bytes are kept; every epoch decodes them again). "inputs":
            keep the preprocessed examples after the first epoch, so
            later epochs decode nothing; only for a deterministic
            preprocessor (no augmentation) whose outputs fit in memory.
        deterministic: bool or None. As in `raw_dataset`.

    Returns:
        A `tf.data.Dataset` of batches.

    Example:
    >>> from mmkeras.data.manifest import Record
    >>> records = [Record(i, {"text": "ab" * i, "label": "x"}) for i in (1, 2)]
    >>> dataset = make_dataset(
    ...     records,
    ...     lambda raw: (tf.strings.length(raw["text"]), raw["label"]),
    ...     batch_size=2,
    ...     modalities=("text",),
    ... )
    >>> lengths, labels = next(iter(dataset))
    >>> lengths.numpy().tolist()
    [2, 4]
    """
    if cache not in (False, True, "inputs"):
        raise ValueError(
            f"cache must be True, False or 'inputs', received {cache!r}."
        )
    cache_inputs = cache == "inputs"
    dataset = raw_dataset(
        source,
        modalities,
        target_fields,
        max_video_frames=max_video_frames,
        # Cached inputs are shuffled after the cache, in memory.
        shuffle=shuffle and not cache_inputs,
        seed=seed,
        cache=cache is True,
        deterministic=deterministic,
    )
    if deterministic is None:
        deterministic = not shuffle
    dataset = dataset.map(
        preprocessor,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    if cache_inputs:
        dataset = dataset.cache()
        if shuffle:
            count = len(source) if isinstance(source, list) else source.count
            dataset = dataset.shuffle(
                count, seed=seed, reshuffle_each_iteration=True
            )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _record_columns(records, modalities, target_fields, max_video_frames):
    """Column tensors of paths, texts and targets, one row per record."""
    if not records:
        raise ValueError("source has no records; check the split name.")
    columns = {}
    for name in modalities:
        values = [r.get(name) or "" for r in records]
        if name != "text":
            _check_validated_paths(records, name, values)
        if name == "video":
            columns.update(_video_columns(values, max_video_frames))
        else:
            columns[name] = values
    for field in target_fields:
        columns[field] = _target_column(records, field)
    return columns


def _check_validated_paths(records, name, paths):
    for record, path in zip(records, paths, strict=True):
        if not isinstance(path, str) or (path and not os.path.isabs(path)):
            raise ValueError(
                f"The record of line {record.line} has {name} {path!r}, "
                f"which read_manifest did not check: read the manifest "
                f"with {name!r} among its modalities."
            )


def _video_columns(paths, max_video_frames):
    """Clip paths, and the kept frame files of frame folders (ragged)."""
    clips, frame_files = [], []
    for path in paths:
        files = []
        if path and os.path.isdir(path):
            listed = media.list_frame_files(path)
            indices = media.uniform_frame_indices(len(listed), max_video_frames)
            files = [listed[i] for i in indices]
            path = ""
        clips.append(path)
        frame_files.append(files)
    return {
        "video_clip": clips,
        "video_frame_files": _ragged(frame_files, tf.string),
    }


def _target_column(records, field):
    values = []
    for record in records:
        if field not in record.fields:
            raise ValueError(
                f"The record of line {record.line} has no target field "
                f"{field!r}."
            )
        values.append(record[field])
    if all(isinstance(value, str) for value in values):
        return values
    if all(isinstance(value, list) for value in values):
        return _ragged(values, tf.float32)
    raise ValueError(
        f"Target field {field!r} mixes strings and lists of numbers; every "
        "record must have the same kind."
    )


def _ragged(rows, dtype):
    flat = [value for row in rows for value in row]
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, dtype=dtype, shape=[len(flat)]),
        [len(row) for row in rows],
    )


def _read_files(example, max_video_frames):
    """Replaces paths by file bytes; `""` paths give `""` or no frame."""
    raw = {}
    for name, value in example.items():
        if name in ("image", "audio"):
            raw[name] = tf.cond(
                tf.strings.length(value) > 0,
                lambda path=value: tf.io.read_file(path),
                lambda: tf.constant(""),
            )
        elif name == "video_clip":
            raw["video"] = tf.cond(
                tf.strings.length(value) > 0,
                lambda path=value: _clip_frames(path, max_video_frames),
                lambda: tf.map_fn(
                    tf.io.read_file,
                    example["video_frame_files"],
                    fn_output_signature=tf.string,
                ),
            )
        elif name != "video_frame_files":
            raw[name] = value
    return raw


def _clip_frames(path, max_frames):
    """PNG frames of a clip, decoded by PyAV in a `tf.py_function`."""

    def read(path_tensor):
        frames = media.read_video_frames(
            path_tensor.numpy().decode("utf-8"), max_frames
        )
        # A returned list would be taken as one output per element.
        return np.array(frames, dtype=object).reshape(len(frames))

    frames = tf.py_function(read, [path], tf.string)
    frames.set_shape([None])
    return frames
