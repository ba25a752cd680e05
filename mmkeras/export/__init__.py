"""Exports for serving: SavedModel in TF Serving's layout."""

from mmkeras.export.saved_model import export_task
from mmkeras.export.saved_model import next_version

__all__ = ["export_task", "next_version"]
