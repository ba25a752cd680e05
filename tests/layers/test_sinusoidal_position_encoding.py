import numpy as np

from mmkeras.layers import SinusoidalPositionEncoding
from tests.test_case import check_precision_policies
from tests.test_case import run_serialization_checks


def test_matches_the_transformer_formula_at_any_length():
    layer = SinusoidalPositionEncoding(max_wavelength=100.0)
    for length in (3, 11):
        encoded = np.asarray(layer(np.zeros((2, length, 6), "float32")))
        position = np.arange(length)[:, None]
        angles = position / 100.0 ** (2 * (np.arange(6) // 2) / 6)
        expected = np.where(
            np.arange(6) % 2 == 0, np.sin(angles), np.cos(angles)
        )
        np.testing.assert_allclose(encoded[0], expected, atol=1e-5)
        np.testing.assert_allclose(encoded[1], expected, atol=1e-5)


def test_adds_to_the_inputs():
    inputs = np.random.default_rng(0).normal(size=(1, 4, 5)).astype("float32")
    layer = SinusoidalPositionEncoding()
    np.testing.assert_allclose(
        layer(inputs) - inputs, layer(np.zeros_like(inputs)), atol=1e-6
    )


def test_serialization_and_precision(tmp_path):
    inputs = np.random.default_rng(1).normal(size=(2, 4, 6)).astype("float32")
    run_serialization_checks(
        SinusoidalPositionEncoding(max_wavelength=50.0), inputs, tmp_path
    )
    check_precision_policies(
        lambda dtype: SinusoidalPositionEncoding(dtype=dtype), inputs
    )
