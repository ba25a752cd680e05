"""Backbones (encoders + fusion) and fit-ready tasks."""

from mmkeras.models.multimodal_backbone import MultimodalBackbone
from mmkeras.models.multimodal_classifier import MultimodalClassifier
from mmkeras.models.presets import multimodal_classifier
from mmkeras.models.task import Task

__all__ = [
    "MultimodalBackbone",
    "MultimodalClassifier",
    "Task",
    "multimodal_classifier",
]
