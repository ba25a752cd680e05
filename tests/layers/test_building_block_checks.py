"""The shared layer checks for every building block of mmkeras.layers.

Config round trip, `.keras` save/load with equal outputs, float32 /
mixed_float16 / mixed_bfloat16, and an XLA-compiled fit step, as the
fusion layers and encoders get in their own test files. FoldFrames and
UnfoldFrames are left to tests/layers/test_frame_folding.py: they move
frames between the batch and time axes, so no per-example fit step can
wrap them (the VideoEncoder's checks cover them inside a model).
"""

import numpy as np
import pytest

from mmkeras.layers import FrameMask
from mmkeras.layers import LogMelSpectrogram
from mmkeras.layers import MaskedMeanPooling
from mmkeras.layers import PositionEmbedding
from mmkeras.layers import SinusoidalPositionEncoding
from mmkeras.layers import TransformerBlock
from tests.test_case import run_layer_checks

RNG = np.random.default_rng(0)
TOKENS = RNG.normal(size=(2, 5, 8)).astype("float32")
PADDING = np.array([[True] * 5, [True] * 3 + [False] * 2])

CASES = {
    "transformer_block": (
        lambda dtype: TransformerBlock(8, 2, 16, dtype=dtype),
        TOKENS,
        {"padding_mask": PADDING},
        (),
    ),
    "masked_mean_pooling": (
        lambda dtype: MaskedMeanPooling(dtype=dtype),
        TOKENS,
        {"padding_mask": PADDING},
        (),
    ),
    "position_embedding": (
        lambda dtype: PositionEmbedding(5, dtype=dtype),
        TOKENS,
        None,
        (),
    ),
    "sinusoidal_position_encoding": (
        lambda dtype: SinusoidalPositionEncoding(dtype=dtype),
        TOKENS,
        None,
        (),
    ),
    "frame_mask": (
        lambda dtype: FrameMask(3, 2, dtype=dtype),
        np.array([[True] * 6 + [False] * 2] * 2),
        None,
        (),
    ),
    "log_mel_spectrogram": (
        lambda dtype: LogMelSpectrogram(
            8000, 8, frame_length=200, frame_step=80, dtype=dtype
        ),
        RNG.normal(size=(2, 480)).astype("float32"),
        None,
        ((),),  # documented: the spectrogram is float32 under every policy
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_checks(name, tmp_path):
    make_layer, inputs, call_kwargs, float32_outputs = CASES[name]
    run_layer_checks(
        make_layer,
        inputs,
        tmp_path,
        call_kwargs=call_kwargs,
        float32_outputs=float32_outputs,
    )


def test_image_standardization_checks(tmp_path):
    from mmkeras.layers import ImageStandardization

    images = np.random.default_rng(0).uniform(-1, 1, (2, 6, 6, 3))
    run_layer_checks(
        lambda dtype: ImageStandardization(dtype=dtype),
        images.astype("float32"),
        tmp_path,
    )


def test_image_standardization_removes_a_colour_cast():
    from mmkeras.layers import ImageStandardization

    rng = np.random.default_rng(0)
    image = rng.uniform(-0.5, 0.5, (1, 8, 8, 3)).astype("float32")
    cast = image + np.array([0.3, -0.2, 0.1], "float32")
    layer = ImageStandardization(epsilon=0.0)
    np.testing.assert_allclose(layer(cast), layer(image), atol=1e-5)
    out = np.asarray(layer(image))
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(), 1.0, atol=1e-4)
