"""Building blocks: fusion, transformer blocks, pooling."""

from mmkeras.layers.attention_fusion import AttentionFusion
from mmkeras.layers.masked_mean_pooling import MaskedMeanPooling
from mmkeras.layers.masked_softmax import masked_softmax
from mmkeras.layers.transformer_block import TransformerBlock

__all__ = [
    "AttentionFusion",
    "MaskedMeanPooling",
    "TransformerBlock",
    "masked_softmax",
]
