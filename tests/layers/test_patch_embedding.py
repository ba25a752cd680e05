import numpy as np
import pytest

from mmkeras.layers import PatchEmbedding
from tests.test_case import run_layer_checks


def test_layer_checks(tmp_path):
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3))
    run_layer_checks(
        lambda dtype: PatchEmbedding(4, 6, dtype=dtype),
        images.astype("float32"),
        tmp_path,
    )


def test_tokens_are_patch_projections_in_row_major_order():
    layer = PatchEmbedding(patch_size=2, hidden_dim=1)
    images = np.arange(4 * 6 * 3, dtype="float32").reshape(1, 4, 6, 3)
    layer.build(images.shape)
    # A kernel of ones sums each patch: the token is its pixel sum.
    layer.projection.kernel.assign(np.ones((2, 2, 3, 1)))
    tokens = np.asarray(layer(images))[0, :, 0]
    expected = [
        images[0, r : r + 2, c : c + 2].sum()
        for r in range(0, 4, 2)
        for c in range(0, 6, 2)
    ]
    np.testing.assert_allclose(tokens, expected)


def test_rejects_sides_not_divisible_by_patch_size():
    with pytest.raises(ValueError, match="divisible by patch_size=4"):
        PatchEmbedding(4, 8)(np.zeros((1, 8, 10, 3)))
