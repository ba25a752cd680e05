import numpy as np
import pytest

from mmkeras.layers import MaskedMeanPooling
from mmkeras.layers import TransformerBlock
from tests.test_case import run_serialization_checks


def test_padding_does_not_change_real_tokens():
    block = TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(1, 3, 8)).astype("float32")
    padded = np.concatenate(
        [tokens, rng.normal(size=(1, 2, 8)).astype("float32") * 100], axis=1
    )
    mask = np.array([[True, True, True, False, False]])
    short = block(tokens, padding_mask=np.ones((1, 3), bool))
    long = block(padded, padding_mask=mask)
    np.testing.assert_allclose(long[:, :3], short, atol=1e-4)


def test_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        TransformerBlock(hidden_dim=6, num_heads=4, intermediate_dim=8)


def test_serialization(tmp_path):
    block = TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    run_serialization_checks(
        block, np.random.rand(2, 5, 8).astype("float32"), tmp_path
    )


def test_masked_mean_pooling():
    pooled = MaskedMeanPooling()(
        np.array([[[1.0], [3.0], [100.0]], [[5.0], [7.0], [9.0]]]),
        padding_mask=np.array([[True, True, False], [False, False, False]]),
    )
    np.testing.assert_allclose(pooled, [[2.0], [0.0]])
