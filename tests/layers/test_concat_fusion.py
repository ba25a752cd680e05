import numpy as np
import pytest

from mmkeras.layers import ConcatFusion
from tests.test_case import check_fusion_contract
from tests.test_case import run_layer_checks


def _hand_set_fusion():
    """p_i = m_i; output = [a0 + b0, a1 - b1] + [0.5, 0]."""
    fusion = ConcatFusion(hidden_dim=2)
    fusion.build({"a": (None, 2), "b": (None, 2)})
    for name in ("a", "b"):
        fusion.projections[name].set_weights([np.eye(2), np.zeros(2)])
    kernel = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]])
    fusion.output_projection.set_weights([kernel, np.array([0.5, 0.0])])
    return fusion


def test_hand_computed_output_and_uniform_weights():
    fusion = _hand_set_fusion()
    inputs = {"a": np.array([[1.0, 2.0]] * 3), "b": np.array([[3.0, 4.0]] * 3)}
    fused, weights = fusion(
        inputs, modality_mask={"b": np.array([True, False, False])}
    )
    # Example 0: concat [1, 2, 3, 4] -> [1 + 3 + 0.5, 2 - 4] = [4.5, -2].
    # Example 1: b missing, concat [1, 2, 0, 0] -> [1 + 0.5, 2] = [1.5, 2].
    np.testing.assert_allclose(
        np.asarray(fused)[:2], [[4.5, -2.0], [1.5, 2.0]], atol=1e-6
    )
    # No learned weighting: uniform over present modalities.
    np.testing.assert_allclose(weights[:2], [[0.5, 0.5], [1.0, 0.0]])


def test_every_modality_missing_gives_zero_not_the_bias():
    fusion = _hand_set_fusion()
    fused, weights = fusion(
        {"a": np.ones((1, 2)), "b": np.ones((1, 2))},
        modality_mask={"a": np.array([False]), "b": np.array([False])},
    )
    # The output projection alone would give its bias [0.5, 0].
    np.testing.assert_array_equal(fused, [[0.0, 0.0]])
    np.testing.assert_array_equal(weights, [[0.0, 0.0]])


def test_uniform_weights_over_three_modalities():
    fusion = ConcatFusion(hidden_dim=2)
    ones = np.ones((2, 3))
    _, weights = fusion(
        {"a": ones, "b": ones, "c": ones},
        modality_mask={"b": np.array([True, False])},
    )
    np.testing.assert_allclose(
        weights, [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5]], atol=1e-7
    )


def test_missing_modality_contract():
    example = {
        "image": np.array([[1.0, 0.25, -2.0]], "float32"),
        "text": np.array([[-0.5, 0.5]], "float32"),
    }
    check_fusion_contract(
        lambda dtype: ConcatFusion(hidden_dim=4, dtype=dtype), example
    )


def test_layer_checks(tmp_path):
    rng = np.random.default_rng(0)
    run_layer_checks(
        lambda dtype: ConcatFusion(hidden_dim=4, dtype=dtype),
        {
            "image": rng.normal(size=(3, 6)).astype("float32"),
            "text": rng.normal(size=(3, 4)).astype("float32"),
        },
        tmp_path,
        call_kwargs={"modality_mask": {"image": np.array([True, True, False])}},
        float32_outputs=(1,),
    )


def test_errors_name_the_problem():
    fusion = ConcatFusion(hidden_dim=2)
    with pytest.raises(ValueError, match="non-empty dict"):
        fusion(np.ones((1, 2)))
    fusion = ConcatFusion(hidden_dim=2)
    with pytest.raises(TypeError, match="modality_mask must be a dict"):
        fusion(
            {"a": np.ones((1, 2)), "b": np.ones((1, 2))},
            modality_mask=np.array([True]),
        )


def test_output_shape():
    fusion = ConcatFusion(hidden_dim=5)
    shapes = {"a": (None, 2), "b": (None, 3), "c": (None, 4)}
    assert fusion.compute_output_shape(shapes) == ((None, 5), (None, 3))
