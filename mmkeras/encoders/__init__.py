"""One encoder per modality, each a functional Keras model."""

from mmkeras.encoders.audio_encoder import AudioEncoder
from mmkeras.encoders.image_encoder import ImageEncoder
from mmkeras.encoders.text_encoder import TextEncoder
from mmkeras.encoders.video_encoder import VideoEncoder
from mmkeras.encoders.vision_transformer_encoder import VisionTransformerEncoder

__all__ = [
    "AudioEncoder",
    "ImageEncoder",
    "TextEncoder",
    "VideoEncoder",
    "VisionTransformerEncoder",
]
