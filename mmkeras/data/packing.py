"""Packing a manifest's files into sharded TFRecords, and reading them back.

Reading thousands of small files is slow on network and cloud storage;
a few large sequential files are fast. `pack` reads every record once,
through the same `raw_dataset` as training from the manifest, and writes
`{split}-{i:05d}-of-{n:05d}.tfrecord` shards plus `dataset.json`.
`open_packed(directory).split(name)` is then a source that `raw_dataset`
and `make_dataset` read to exactly the same raw examples.

Records are dealt to the shards in turn (record `i` to shard `i % n`), so
every shard samples the whole split, and reading the shards interleaved
in order gives back the manifest's order.
"""

import dataclasses
import json
import math
import os

import tensorflow as tf

from mmkeras.data import media
from mmkeras.data.manifest import check_modalities
from mmkeras.data.pipeline import raw_dataset

DATASET_FILE = "dataset.json"
FORMAT = "mmkeras.packed.v1"
# Shuffling a packed split mixes shards; this buffer of serialized
# examples then mixes records across them. Bounded: examples can be large.
SHUFFLE_BUFFER = 512
# Shards read at once when shuffling (all of them when not, for order).
SHUFFLE_CYCLE_LENGTH = 16


def is_packed(path):
    """Whether `path` is a folder written by `pack` (has `dataset.json`).

    Args:
        path: str.

    Returns:
        bool.
    """
    return os.path.isfile(os.path.join(path, DATASET_FILE))


def pack(
    manifest, output_dir, num_shards=None, shard_size_mb=100, verbose=True
):
    """Writes a manifest's examples as sharded TFRecords, split by split.

    Each record becomes a `tf.train.Example` with one feature per modality
    of the manifest (a bytes list: the image file, the UTF-8 text, the WAV
    file, or a video's encoded frames; empty when the record lacks it) and
    one per target field (bytes for a string, a float list for numbers).
    Videos keep at most `manifest.max_video_frames` frames. Records
    without a `split` field form the split "unsplit".

    `{output_dir}/dataset.json` records the modalities, target fields and
    their kinds, each split's shard files and record count, the sorted
    labels of each string target, and the source manifest. It is written
    last, so a folder whose packing was interrupted is not `is_packed`.

    Args:
        manifest: `Manifest`. From `read_manifest`.
        output_dir: str. Created if needed.
        num_shards: int or None. Shards per split; by default enough for
            about `shard_size_mb` each, estimated from the source files.
        shard_size_mb: float. Target shard size when `num_shards` is None.
        verbose: bool. Print one line per split and per shard.

    Returns:
        The `PackedDataset` written.
    """
    if num_shards is not None and num_shards < 1:
        raise ValueError(
            f"num_shards must be positive or None, received {num_shards}."
        )
    if shard_size_mb <= 0:
        raise ValueError(
            f"shard_size_mb must be positive, received {shard_size_mb}."
        )
    os.makedirs(output_dir, exist_ok=True)
    target_kinds = {
        field: "string"
        if isinstance(manifest.records[0][field], str)
        else "numbers"
        for field in manifest.target_fields
    }
    splits = {}
    for split in manifest.splits():
        records = manifest.split(split)
        if num_shards is None:
            size = sum(_source_bytes(r, manifest) for r in records)
            count = math.ceil(size / (shard_size_mb * 2**20))
        else:
            count = num_shards
        count = max(1, min(count, len(records)))
        files = [
            f"{split}-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)
        ]
        if verbose:
            print(f"Packing {len(records)} {split} records into {count} shards")
        _write_shards(
            raw_dataset(
                records,
                manifest.modalities,
                manifest.target_fields,
                max_video_frames=manifest.max_video_frames,
            ),
            [os.path.join(output_dir, name) for name in files],
            verbose,
        )
        splits[split] = {"count": len(records), "files": files}
    description = {
        "format": FORMAT,
        "source": os.path.abspath(manifest.path),
        "modalities": list(manifest.modalities),
        "target_fields": list(manifest.target_fields),
        "target_kinds": target_kinds,
        "labels": {
            field: manifest.labels(field)
            for field, kind in target_kinds.items()
            if kind == "string"
        },
        "max_video_frames": manifest.max_video_frames,
        "splits": splits,
    }
    path = os.path.join(output_dir, DATASET_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as file:
        json.dump(description, file, indent=2)
    os.replace(path + ".tmp", path)
    return open_packed(output_dir)


def _source_bytes(record, manifest):
    """Estimated bytes of a record's example, from its files' sizes."""
    size = 0
    for name in manifest.modalities:
        value = record.get(name)
        if not value:
            continue
        if name == "text":
            size += len(value.encode("utf-8"))
        elif os.path.isdir(value):
            files = media.list_frame_files(value)
            indices = media.uniform_frame_indices(
                len(files), manifest.max_video_frames
            )
            size += sum(os.path.getsize(files[i]) for i in indices)
        else:
            # A clip's frames are stored as PNG: more than the clip's size.
            size += os.path.getsize(value)
    return size


def _write_shards(dataset, paths, verbose):
    writers = [tf.io.TFRecordWriter(path) for path in paths]
    counts = [0] * len(paths)
    try:
        for index, raw in enumerate(dataset.as_numpy_iterator()):
            shard = index % len(paths)
            writers[shard].write(_example(raw).SerializeToString())
            counts[shard] += 1
    finally:
        for writer in writers:
            writer.close()
    if verbose:
        for path, count in zip(paths, counts, strict=True):
            megabytes = os.path.getsize(path) / 2**20
            print(f"  {path}: {count} records, {megabytes:.1f} MB")


def _example(raw):
    """A `tf.train.Example` of one raw example dict (numpy values)."""
    features = {}
    for name, value in raw.items():
        if name == "video":
            values = list(value)
        elif isinstance(value, bytes):
            values = [value] if value else []
        else:
            features[name] = tf.train.Feature(
                float_list=tf.train.FloatList(value=value.tolist())
            )
            continue
        features[name] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=values)
        )
    return tf.train.Example(features=tf.train.Features(feature=features))


@dataclasses.dataclass(frozen=True)
class PackedSplit:
    """Shard files of one split (or all); a source for `raw_dataset`.

    Args:
        files: tuple of str. The shards, in order.
        count: int. Records in the shards.
        modalities: tuple of str. Modalities stored.
        target_kinds: dict. Target field -> "string" or "numbers".
    """

    files: tuple
    count: int
    modalities: tuple
    target_kinds: dict

    def serialized_dataset(self, shuffle, seed, deterministic=None):
        """The serialized examples; with `shuffle`, shards and records
        are shuffled, differently every epoch; `deterministic` as in
        `raw_dataset`."""
        if deterministic is None:
            deterministic = not shuffle
        files = tf.data.Dataset.from_tensor_slices(list(self.files))
        cycle_length = len(self.files)
        if shuffle:
            files = files.shuffle(
                len(self.files), seed=seed, reshuffle_each_iteration=True
            )
            cycle_length = min(cycle_length, SHUFFLE_CYCLE_LENGTH)
        # One record per shard in turn: the order `pack` dealt them in.
        dataset = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=cycle_length,
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )
        if shuffle:
            dataset = dataset.shuffle(
                SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True
            )
        return dataset

    def parser(self, modalities, target_fields, max_video_frames):
        """A function from a serialized example to its raw example dict."""
        missing = [m for m in modalities if m not in self.modalities]
        missing += [t for t in target_fields if t not in self.target_kinds]
        if missing:
            raise ValueError(
                f"The packed dataset has no field {missing}; it has the "
                f"modalities {self.modalities} and the target fields "
                f"{tuple(self.target_kinds)}."
            )
        spec = {name: tf.io.RaggedFeature(tf.string) for name in modalities}
        for field in target_fields:
            dtype = (
                tf.string
                if self.target_kinds[field] == "string"
                else tf.float32
            )
            spec[field] = tf.io.RaggedFeature(dtype)

        def parse(serialized):
            features = tf.io.parse_single_example(serialized, spec)
            raw = {}
            for name, values in features.items():
                if name == "video":
                    raw[name] = _sample_frames(values, max_video_frames)
                elif values.dtype == tf.string:
                    # Zero or one element: "" when the example lacks it.
                    raw[name] = tf.strings.reduce_join(values)
                else:
                    raw[name] = values
            return raw

        return parse


def _sample_frames(frames, max_frames):
    """The rule of `media.uniform_frame_indices`, in TF ops."""
    if max_frames is None:
        return frames
    count = tf.shape(frames)[0]
    steps = tf.range(max_frames)
    uniform = (2 * steps + 1) * count // (2 * max_frames)
    return tf.cond(
        count > max_frames,
        lambda: tf.gather(frames, uniform),
        lambda: frames,
    )


@dataclasses.dataclass(frozen=True)
class PackedDataset:
    """A folder written by `pack`, as described by its `dataset.json`.

    Args:
        directory: str.
        description: dict. The contents of `dataset.json`.
    """

    directory: str
    description: dict

    @property
    def modalities(self):
        """tuple of str, the modalities stored."""
        return tuple(self.description["modalities"])

    @property
    def target_fields(self):
        """tuple of str, the target fields stored."""
        return tuple(self.description["target_fields"])

    @property
    def max_video_frames(self):
        """int or None, the frames kept per video when packing."""
        return self.description["max_video_frames"]

    def splits(self):
        """Sorted names of the packed splits."""
        return sorted(self.description["splits"])

    def labels(self, field="label"):
        """Sorted distinct values of a string target field."""
        labels = self.description["labels"]
        if field not in labels:
            raise ValueError(
                f"{field!r} is not a string target field; those are "
                f"{tuple(labels)}."
            )
        return list(labels[field])

    def count(self, split):
        """Records in a split (None: in all); 0 for a split not packed."""
        if split is not None and split not in self.description["splits"]:
            return 0
        return self.split(split).count

    def split(self, name):
        """A split's shards (None: every split's), for `raw_dataset`.

        Args:
            name: str or None. "unsplit" holds records without a split.

        Returns:
            A `PackedSplit`.
        """
        splits = self.description["splits"]
        if name is None:
            chosen = [splits[n] for n in self.splits()]
        elif name in splits:
            chosen = [splits[name]]
        else:
            raise ValueError(
                f"No split {name!r} in {self.directory}; it has "
                f"{self.splits()}."
            )
        return PackedSplit(
            files=tuple(
                os.path.join(self.directory, file)
                for split in chosen
                for file in split["files"]
            ),
            count=sum(split["count"] for split in chosen),
            modalities=self.modalities,
            target_kinds=dict(self.description["target_kinds"]),
        )


def open_packed(directory):
    """Opens a folder written by `pack`.

    Args:
        directory: str.

    Returns:
        A `PackedDataset`.

    Raises:
        FileNotFoundError: the folder has no `dataset.json`.
        ValueError: `dataset.json` is not of this format.
    """
    path = os.path.join(directory, DATASET_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: {directory} is not a packed dataset "
            "(write one with mmkeras.data.packing.pack)."
        )
    with open(path, encoding="utf-8") as file:
        description = json.load(file)
    if description.get("format") != FORMAT:
        raise ValueError(
            f"{path} has format {description.get('format')!r}; expected "
            f"{FORMAT!r}."
        )
    check_modalities(description["modalities"])
    return PackedDataset(directory=directory, description=description)
