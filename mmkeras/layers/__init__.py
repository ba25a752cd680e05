"""Building blocks: fusion, modality dropout, transformer blocks, pooling,
patch and position embeddings, audio and video frame helpers."""

from mmkeras.layers.attention_fusion import AttentionFusion
from mmkeras.layers.concat_fusion import ConcatFusion
from mmkeras.layers.cross_attention_fusion import CrossAttentionFusion
from mmkeras.layers.frame_folding import FoldFrames
from mmkeras.layers.frame_folding import UnfoldFrames
from mmkeras.layers.frame_mask import FrameMask
from mmkeras.layers.gated_fusion import GatedFusion
from mmkeras.layers.image_standardization import ImageStandardization
from mmkeras.layers.log_mel_spectrogram import LogMelSpectrogram
from mmkeras.layers.logit_scale import LogitScale
from mmkeras.layers.masked_mean_pooling import MaskedMeanPooling
from mmkeras.layers.masked_softmax import masked_softmax
from mmkeras.layers.modality_dropout import ModalityDropout
from mmkeras.layers.modality_fusion import ModalityFusion
from mmkeras.layers.patch_embedding import PatchEmbedding
from mmkeras.layers.position_embedding import PositionEmbedding
from mmkeras.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)
from mmkeras.layers.transformer_block import TransformerBlock
from mmkeras.layers.weighted_sum_fusion import WeightedSumFusion

__all__ = [
    "AttentionFusion",
    "ConcatFusion",
    "CrossAttentionFusion",
    "FoldFrames",
    "FrameMask",
    "GatedFusion",
    "ImageStandardization",
    "LogMelSpectrogram",
    "LogitScale",
    "MaskedMeanPooling",
    "ModalityDropout",
    "ModalityFusion",
    "PatchEmbedding",
    "PositionEmbedding",
    "SinusoidalPositionEncoding",
    "TransformerBlock",
    "UnfoldFrames",
    "WeightedSumFusion",
    "masked_softmax",
]
