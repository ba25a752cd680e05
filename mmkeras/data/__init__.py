"""Manifests, media files, tf.data pipelines and packed TFRecords."""

from mmkeras.data.manifest import MODALITIES
from mmkeras.data.manifest import Manifest
from mmkeras.data.manifest import ManifestError
from mmkeras.data.manifest import Record
from mmkeras.data.manifest import SkippedRecord
from mmkeras.data.manifest import read_manifest
from mmkeras.data.pipeline import make_dataset
from mmkeras.data.pipeline import raw_dataset

__all__ = [
    "MODALITIES",
    "Manifest",
    "ManifestError",
    "Record",
    "SkippedRecord",
    "make_dataset",
    "raw_dataset",
    "read_manifest",
]
