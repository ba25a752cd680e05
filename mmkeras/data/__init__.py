"""Manifests, media files, tf.data pipelines and packed TFRecords."""

from mmkeras.data.manifest import MODALITIES
from mmkeras.data.manifest import Manifest
from mmkeras.data.manifest import ManifestError
from mmkeras.data.manifest import Record
from mmkeras.data.manifest import SkippedRecord
from mmkeras.data.manifest import read_manifest
from mmkeras.data.packing import PackedDataset
from mmkeras.data.packing import PackedSplit
from mmkeras.data.packing import is_packed
from mmkeras.data.packing import open_packed
from mmkeras.data.packing import pack
from mmkeras.data.pipeline import make_dataset
from mmkeras.data.pipeline import raw_dataset

__all__ = [
    "MODALITIES",
    "Manifest",
    "ManifestError",
    "PackedDataset",
    "PackedSplit",
    "Record",
    "SkippedRecord",
    "is_packed",
    "make_dataset",
    "open_packed",
    "pack",
    "raw_dataset",
    "read_manifest",
]
