"""Every encoder honours the same contract, so backbones can mix them."""

import keras
import numpy as np
import pytest

from mmkeras.encoders import AudioEncoder
from mmkeras.encoders import ImageEncoder
from mmkeras.encoders import TextEncoder
from mmkeras.encoders import VideoEncoder
from mmkeras.encoders import VisionTransformerEncoder
from mmkeras.layers import AttentionFusion
from mmkeras.models.multimodal_backbone import MultimodalBackbone

RNG = np.random.default_rng(0)
INPUTS = {
    "images": RNG.uniform(-1, 1, (2, 16, 16, 3)),
    "token_ids": np.array([[3, 4, 0, 0], [5, 0, 0, 0]], "int32"),
    "padding_mask": np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool),
    "audio_waveform": RNG.uniform(-1, 1, (2, 1200)).astype("float32"),
    "audio_mask": np.arange(1200)[None] < np.array([[1200], [1000]]),
    "video_frames": RNG.uniform(-1, 1, (2, 3, 16, 16, 3)),
    "frame_mask": np.array([[True, True, True], [True, False, False]]),
}


def _encoders():
    return {
        "image": ImageEncoder((16, 16), 8, num_layers=2),
        "patches": VisionTransformerEncoder((16, 16), 8, 8, num_layers=1),
        "text": TextEncoder(10, 4, 8),
        "audio": AudioEncoder(8000, 8, num_mel_bins=8),
        "video": VideoEncoder(ImageEncoder((16, 16), 8, num_layers=2), 8),
    }


@pytest.mark.parametrize("modality", sorted(_encoders()))
def test_outputs_pooled_sequence_and_mask(modality):
    encoder = _encoders()[modality]
    outputs = encoder(
        keras.tree.map_structure(lambda t: INPUTS[t.name], encoder.input)
    )
    assert sorted(outputs) == [
        "pooled_output",
        "sequence_mask",
        "sequence_output",
    ]
    batch, tokens, width = outputs["sequence_output"].shape
    assert outputs["pooled_output"].shape == (batch, width) == (2, 8)
    assert outputs["sequence_mask"].shape == (batch, tokens)
    assert outputs["sequence_mask"].dtype == "bool"
    assert np.all(np.any(outputs["sequence_mask"], axis=1))


def test_all_encoders_share_one_backbone():
    backbone = MultimodalBackbone(_encoders(), AttentionFusion(hidden_dim=8))
    assert sorted(backbone.input) == sorted(INPUTS)
    outputs = backbone(INPUTS)
    assert outputs["fused"].shape == (2, 8)
    assert outputs["modality_weights"].shape == (2, 5)
