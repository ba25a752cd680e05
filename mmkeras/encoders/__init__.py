"""One encoder per modality, each a functional Keras model."""

from mmkeras.encoders.image_encoder import ImageEncoder
from mmkeras.encoders.text_encoder import PositionEmbedding
from mmkeras.encoders.text_encoder import TextEncoder

__all__ = ["ImageEncoder", "PositionEmbedding", "TextEncoder"]
