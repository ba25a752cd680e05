import numpy as np
import pytest

from mmkeras.encoders import ImageEncoder
from tests.test_case import run_layer_checks

IMAGES = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3))


def test_layer_checks(tmp_path):
    run_layer_checks(
        lambda dtype: ImageEncoder((16, 16), 16, num_layers=2, dtype=dtype),
        IMAGES.astype("float32"),
        tmp_path,
    )


def test_default_constructor_outputs_and_all_true_mask():
    encoder = ImageEncoder((16, 16), 16)
    assert encoder.num_layers == 3
    outputs = encoder(IMAGES)
    # Three 2x2 max pools: 16 -> 8 -> 4 -> 2, a 2x2 feature map, 4 tokens.
    assert outputs["pooled_output"].shape == (2, 16)
    assert outputs["sequence_output"].shape == (2, 4, 16)
    np.testing.assert_array_equal(outputs["sequence_mask"], np.ones((2, 4)))
    assert outputs["sequence_mask"].dtype == "bool"
    np.testing.assert_allclose(
        outputs["pooled_output"],
        np.max(outputs["sequence_output"], axis=1),
        atol=1e-5,
    )


@pytest.mark.parametrize("dtype", ["mixed_float16", "mixed_bfloat16"])
def test_sequence_mask_stays_bool_under_mixed_precision(dtype):
    outputs = ImageEncoder((16, 16), 8, num_layers=2, dtype=dtype)(IMAGES)
    assert outputs["sequence_mask"].dtype == "bool"


def test_flatten_pooling_checks(tmp_path):
    run_layer_checks(
        lambda dtype: ImageEncoder(
            (16, 16), 8, num_layers=2, pooling="flatten", dtype=dtype
        ),
        IMAGES.astype("float32"),
        tmp_path,
    )


def test_flatten_pooling_tells_where_an_object_is():
    # The same blob moved right by 4 pixels (the two pools' stride), far
    # from the borders: convolutions and pools are shift-equivariant, so a
    # maximum over positions cannot tell the two apart; the flattened
    # feature map does.
    images = np.full((2, 24, 24, 3), -1.0, "float32")
    images[0, 10:14, 8:12] = 1.0
    images[1, 10:14, 12:16] = 1.0
    for pooling, should_differ in (("max", False), ("flatten", True)):
        encoder = ImageEncoder((24, 24), 8, num_layers=2, pooling=pooling)
        pooled = np.asarray(encoder(images)["pooled_output"])
        differs = not np.allclose(pooled[0], pooled[1], atol=1e-5)
        assert differs == should_differ, pooling


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling must be one of"):
        ImageEncoder((16, 16), 8, pooling="mean")
