import keras
import numpy as np
import pytest

from mmkeras.encoders import ImageEncoder
from mmkeras.encoders import TextEncoder
from mmkeras.encoders import VideoEncoder
from mmkeras.encoders import VisionTransformerEncoder
from tests.test_case import run_layer_checks

FRAMES = np.random.default_rng(0).uniform(-1, 1, (2, 4, 16, 16, 3))
FRAME_MASK = np.array([[True] * 4, [True, True, False, False]])


def _encoder(dtype=None):
    image_encoder = ImageEncoder((16, 16), 8, num_layers=2, dtype=dtype)
    return VideoEncoder(image_encoder, hidden_dim=8, dtype=dtype)


def test_layer_checks(tmp_path):
    run_layer_checks(
        _encoder,
        {"video_frames": FRAMES.astype("float32"), "frame_mask": FRAME_MASK},
        tmp_path,
    )


def test_one_token_per_frame_and_frame_mask_passes_through():
    outputs = _encoder()({"video_frames": FRAMES, "frame_mask": FRAME_MASK})
    assert outputs["pooled_output"].shape == (2, 8)
    assert outputs["sequence_output"].shape == (2, 4, 8)
    np.testing.assert_array_equal(outputs["sequence_mask"], FRAME_MASK)


@pytest.mark.parametrize("architecture", ["conv", "vit"])
def test_padded_frames_do_not_change_the_unpadded_output(architecture):
    if architecture == "conv":
        image_encoder = ImageEncoder((16, 16), 8, num_layers=2)
    else:
        image_encoder = VisionTransformerEncoder((16, 16), 8, 8, num_layers=1)
    encoder = VideoEncoder(image_encoder, hidden_dim=8)
    short = FRAMES[1:, :2]
    unpadded = encoder(
        {"video_frames": short, "frame_mask": np.ones((1, 2), bool)}
    )
    garbage = np.full((1, 2, 16, 16, 3), np.nan)
    padded = encoder(
        {
            "video_frames": np.concatenate([short, garbage], axis=1),
            "frame_mask": FRAME_MASK[1:],
        }
    )
    np.testing.assert_allclose(
        padded["pooled_output"], unpadded["pooled_output"], atol=1e-5
    )
    np.testing.assert_allclose(
        padded["sequence_output"][:, :2],
        unpadded["sequence_output"],
        atol=1e-5,
    )


def test_image_encoder_weights_are_shared_across_frames():
    encoder = _encoder()
    image_weights = len(encoder.image_encoder.weights)
    projection = encoder.get_layer("projection")
    # The image encoder's pooled output for each frame feeds the projection.
    frame_features = keras.Model(encoder.inputs, projection.input)(
        {"video_frames": FRAMES, "frame_mask": FRAME_MASK}
    )
    per_image = encoder.image_encoder(FRAMES[0])["pooled_output"]
    np.testing.assert_allclose(frame_features[0], per_image, atol=1e-5)
    assert image_weights > 0
    assert len(encoder.weights) == image_weights + sum(
        len(encoder.get_layer(name).weights)
        for name in ("projection", "transformer_0", "final_norm")
    )


def test_rejects_a_model_that_is_not_an_image_encoder():
    with pytest.raises(TypeError, match="single images input"):
        VideoEncoder(TextEncoder(10, 4, 8), hidden_dim=8)
