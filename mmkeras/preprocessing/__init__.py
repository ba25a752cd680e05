"""Preprocessing layers made of TF ops: usable in tf.data and in exports."""

from mmkeras.preprocessing.frame_sampler import FrameSampler
from mmkeras.preprocessing.image_preprocessor import ImagePreprocessor
from mmkeras.preprocessing.image_text_preprocessor import ImageTextPreprocessor
from mmkeras.preprocessing.vocabulary import learn_vocabulary
from mmkeras.preprocessing.vocabulary import load_vocabulary
from mmkeras.preprocessing.vocabulary import save_vocabulary
from mmkeras.preprocessing.wav_decoder import WavDecoder
from mmkeras.preprocessing.word_piece_tokenizer import WordPieceTokenizer

__all__ = [
    "FrameSampler",
    "ImagePreprocessor",
    "ImageTextPreprocessor",
    "WavDecoder",
    "WordPieceTokenizer",
    "learn_vocabulary",
    "load_vocabulary",
    "save_vocabulary",
]
