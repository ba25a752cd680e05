"""Backbones (encoders + fusion) and fit-ready tasks."""

from mmkeras.models.dual_encoder import DualEncoder
from mmkeras.models.gallery import Gallery
from mmkeras.models.gallery import load_gallery
from mmkeras.models.gallery import save_gallery
from mmkeras.models.multimodal_backbone import MultimodalBackbone
from mmkeras.models.multimodal_classifier import MultimodalClassifier
from mmkeras.models.presets import dual_encoder
from mmkeras.models.presets import multimodal_classifier
from mmkeras.models.speech_recognizer import SpeechRecognizer
from mmkeras.models.task import Task
from mmkeras.models.video_summarizer import VideoSummarizer
from mmkeras.models.video_summarizer import video_summarizer

__all__ = [
    "DualEncoder",
    "Gallery",
    "MultimodalBackbone",
    "MultimodalClassifier",
    "SpeechRecognizer",
    "Task",
    "VideoSummarizer",
    "dual_encoder",
    "load_gallery",
    "multimodal_classifier",
    "save_gallery",
    "video_summarizer",
]
