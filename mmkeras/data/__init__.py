"""Manifests, tf.data pipelines and synthetic demo datasets."""

from mmkeras.data.manifest import Manifest
from mmkeras.data.manifest import ManifestError
from mmkeras.data.manifest import read_manifest
from mmkeras.data.pipeline import make_dataset

__all__ = ["Manifest", "ManifestError", "make_dataset", "read_manifest"]
