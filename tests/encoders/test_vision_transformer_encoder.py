import numpy as np
import pytest

from mmkeras.encoders import VisionTransformerEncoder
from tests.test_case import run_layer_checks

IMAGES = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3))


def _encoder(dtype=None):
    return VisionTransformerEncoder(
        (16, 16), patch_size=8, hidden_dim=8, num_layers=1, dtype=dtype
    )


def test_layer_checks(tmp_path):
    run_layer_checks(_encoder, IMAGES.astype("float32"), tmp_path)


def test_one_token_per_patch_and_mean_pooling():
    encoder = VisionTransformerEncoder((16, 12), patch_size=4, hidden_dim=8)
    outputs = encoder(np.zeros((3, 16, 12, 3)))
    assert outputs["sequence_output"].shape == (3, 12, 8)
    assert outputs["pooled_output"].shape == (3, 8)
    np.testing.assert_array_equal(outputs["sequence_mask"], np.ones((3, 12)))
    np.testing.assert_allclose(
        outputs["pooled_output"],
        np.mean(outputs["sequence_output"], axis=1),
        atol=1e-5,
    )


def test_position_embedding_makes_patch_order_matter():
    # Without positions, attention and mean pooling would be invariant to
    # swapping two patches.
    encoder = _encoder()
    swapped = IMAGES.copy()
    swapped[:, :8, :8] = IMAGES[:, 8:, 8:]
    swapped[:, 8:, 8:] = IMAGES[:, :8, :8]
    original = encoder(IMAGES)["pooled_output"]
    permuted = encoder(swapped)["pooled_output"]
    assert np.max(np.abs(np.asarray(original) - np.asarray(permuted))) > 1e-4


def test_image_size_must_be_divisible_by_patch_size():
    with pytest.raises(ValueError, match="divisible by patch_size=5"):
        VisionTransformerEncoder((16, 16), patch_size=5, hidden_dim=8)
