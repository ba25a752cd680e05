"""Preprocessing layers made of TF ops: usable in tf.data and in exports."""

from mmkeras.preprocessing.classifier_preprocessor import ClassifierPreprocessor
from mmkeras.preprocessing.decode_limits import DecodeLimits
from mmkeras.preprocessing.decode_limits import limits_of
from mmkeras.preprocessing.dual_encoder_preprocessor import (
    DualEncoderPreprocessor,
)
from mmkeras.preprocessing.frame_sampler import FrameSampler
from mmkeras.preprocessing.image_preprocessor import ImagePreprocessor
from mmkeras.preprocessing.multimodal_preprocessor import MultimodalPreprocessor
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer
from mmkeras.preprocessing.video_preprocessor import VideoPreprocessor
from mmkeras.preprocessing.video_summary_preprocessor import (
    VideoSummaryPreprocessor,
)
from mmkeras.preprocessing.vocabulary import learn_vocabulary
from mmkeras.preprocessing.vocabulary import load_vocabulary
from mmkeras.preprocessing.vocabulary import save_vocabulary
from mmkeras.preprocessing.wav_decoder import WavDecoder
from mmkeras.preprocessing.word_piece_tokenizer import WordPieceTokenizer

__all__ = [
    "ClassifierPreprocessor",
    "DecodeLimits",
    "DualEncoderPreprocessor",
    "FrameSampler",
    "ImagePreprocessor",
    "MultimodalPreprocessor",
    "PreprocessingLayer",
    "VideoPreprocessor",
    "VideoSummaryPreprocessor",
    "WavDecoder",
    "WordPieceTokenizer",
    "learn_vocabulary",
    "limits_of",
    "load_vocabulary",
    "save_vocabulary",
]
