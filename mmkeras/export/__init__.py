"""Exports: SavedModel in TF Serving's layout, TFLite for devices, and
the op check of an export against a TF Serving release."""

from mmkeras.export.op_check import check_export
from mmkeras.export.saved_model import export_task
from mmkeras.export.saved_model import next_version
from mmkeras.export.tflite import export_tflite

__all__ = ["check_export", "export_task", "export_tflite", "next_version"]
