import numpy as np

from mmkeras.encoders import TextEncoder
from tests.test_case import run_layer_checks

TOKEN_IDS = np.array([[5, 6, 7, 8, 0, 0], [9, 3, 0, 0, 0, 0]], "int32")
PADDING_MASK = TOKEN_IDS != 0


def _encoder(dtype=None):
    return TextEncoder(20, 6, 16, num_layers=1, num_heads=2, dtype=dtype)


def test_layer_checks(tmp_path):
    run_layer_checks(
        _encoder,
        {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK},
        tmp_path,
    )


def test_sequence_mask_is_the_padding_mask():
    outputs = _encoder()({"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK})
    assert outputs["sequence_mask"].dtype == "bool"
    np.testing.assert_array_equal(outputs["sequence_mask"], PADDING_MASK)
    assert outputs["sequence_output"].shape == (2, 6, 16)


def test_padding_content_does_not_change_real_tokens_or_pooled_output():
    encoder = _encoder()
    rng = np.random.default_rng(1)
    garbage = np.where(PADDING_MASK, TOKEN_IDS, rng.integers(1, 20, (2, 6)))
    garbage = garbage.astype("int32")
    clean = encoder({"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK})
    dirty = encoder({"token_ids": garbage, "padding_mask": PADDING_MASK})
    np.testing.assert_allclose(
        dirty["pooled_output"], clean["pooled_output"], atol=1e-5
    )
    real = PADDING_MASK[..., None]
    np.testing.assert_allclose(
        np.where(real, dirty["sequence_output"], 0),
        np.where(real, clean["sequence_output"], 0),
        atol=1e-5,
    )


def test_intermediate_dim_sets_the_feed_forward_width():
    default = TextEncoder(20, 6, 16, num_layers=1, num_heads=2)
    wide = TextEncoder(
        20, 6, 16, num_layers=1, num_heads=2, intermediate_dim=64
    )
    inputs = {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK}
    default(inputs), wide(inputs)
    # A block's feed-forward network: 16 -> width -> 16, with biases.
    extra = (16 * 64 + 64 + 64 * 16) - (16 * 32 + 32 + 32 * 16)
    assert wide.count_params() - default.count_params() == extra
    restored = TextEncoder.from_config(wide.get_config())
    assert restored.intermediate_dim == 64
