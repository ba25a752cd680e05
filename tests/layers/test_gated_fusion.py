import math

import numpy as np
import pytest

from mmkeras.layers import GatedFusion
from tests.test_case import check_fusion_contract
from tests.test_case import run_layer_checks

LN3 = math.log(3.0)


def _hand_set_fusion():
    """p_i = m_i; gate logits = [0, 0, a0, 0]: b's first gate reads a0."""
    fusion = GatedFusion(hidden_dim=2)
    fusion.build({"a": (None, 2), "b": (None, 2)})
    for name in ("a", "b"):
        fusion.projections[name].set_weights([np.eye(2), np.zeros(2)])
    kernel = np.zeros((4, 4))
    kernel[0, 2] = 1.0  # concat feature a0 -> gate of b, feature 0
    fusion.gate.set_weights([kernel, np.zeros(4)])
    return fusion


def test_hand_computed_gates_output_and_weights():
    fusion = _hand_set_fusion()
    fused, weights = fusion(
        {"a": np.array([[LN3, 2.0]] * 2), "b": np.array([[4.0, 8.0]] * 2)},
        modality_mask={"b": np.array([True, False])},
    )
    fused, weights = np.asarray(fused), np.asarray(weights)
    # Gates: a = sigmoid([0, 0]) = [0.5, 0.5],
    # b = sigmoid([ln 3, 0]) = [0.75, 0.5].
    # fused = [0.5 * ln 3 + 0.75 * 4, 0.5 * 2 + 0.5 * 8] = [3.549306, 5].
    np.testing.assert_allclose(fused[0], [3.549306, 5.0], atol=1e-5)
    # Mean gates a = 0.5, b = 0.625, normalised: [0.5, 0.625] / 1.125.
    np.testing.assert_allclose(weights[0], [0.444444, 0.555556], atol=1e-6)
    # b missing: only a, gated by 0.5: [0.5 * ln 3, 0.5 * 2].
    np.testing.assert_allclose(fused[1], [0.549306, 1.0], atol=1e-6)
    np.testing.assert_array_equal(weights[1], [1.0, 0.0])


def test_gates_that_underflow_fall_back_to_uniform_weights():
    fusion = GatedFusion(hidden_dim=2, dtype="mixed_float16")
    fusion.build({"a": (None, 2), "b": (None, 2)})
    # sigmoid(-30) = 9e-14 is 0 in float16: every present gate is zero.
    fusion.gate.set_weights([np.zeros((4, 4)), np.full(4, -30.0)])
    fused, weights = fusion({"a": np.ones((1, 2)), "b": np.ones((1, 2))})
    np.testing.assert_array_equal(np.asarray(fused, "float32"), [[0.0, 0.0]])
    np.testing.assert_array_equal(weights, [[0.5, 0.5]])


def test_missing_modality_contract():
    example = {
        "audio": np.array([[0.5, -1.0]], "float32"),
        "image": np.array([[1.0, 0.25, -2.0]], "float32"),
        "text": np.array([[-0.5, 0.5, 1.0]], "float32"),
    }
    check_fusion_contract(
        lambda dtype: GatedFusion(hidden_dim=4, dtype=dtype), example
    )


def test_layer_checks(tmp_path):
    rng = np.random.default_rng(0)
    run_layer_checks(
        lambda dtype: GatedFusion(hidden_dim=4, dtype=dtype),
        {
            "image": rng.normal(size=(3, 6)).astype("float32"),
            "text": rng.normal(size=(3, 4)).astype("float32"),
        },
        tmp_path,
        call_kwargs={"modality_mask": {"text": np.array([False, True, True])}},
        float32_outputs=(1,),
    )


def test_errors_name_the_problem():
    fusion = GatedFusion(hidden_dim=2)
    with pytest.raises(ValueError, match=r"\['c'\]"):
        fusion(
            {"a": np.ones((1, 2)), "b": np.ones((1, 3))},
            modality_mask={"c": np.array([True])},
        )
