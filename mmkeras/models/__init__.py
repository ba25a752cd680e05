"""Backbones (encoders + fusion) and fit-ready tasks."""

from mmkeras.models.multimodal_backbone import MultimodalBackbone
from mmkeras.models.multimodal_classifier import MultimodalClassifier
from mmkeras.models.presets import image_text_classifier

__all__ = [
    "MultimodalBackbone",
    "MultimodalClassifier",
    "image_text_classifier",
]
