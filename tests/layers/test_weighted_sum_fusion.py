import math

import numpy as np
import pytest

from mmkeras.layers import WeightedSumFusion
from tests.test_case import check_fusion_contract
from tests.test_case import run_layer_checks


def _identity_fusion():
    """p_i = m_i; logits [0, ln 3], so alpha = [1/4, 3/4] when both present."""
    fusion = WeightedSumFusion(hidden_dim=2)
    fusion.build({"a": (None, 2), "b": (None, 2)})
    for name in ("a", "b"):
        fusion.projections[name].set_weights([np.eye(2), np.zeros(2)])
    fusion.modality_logits.assign([0.0, math.log(3.0)])
    return fusion


def test_hand_computed_weights_and_output():
    fusion = _identity_fusion()
    fused, weights = fusion(
        {
            "a": np.array([[1.0, 0.0], [4.0, 4.0]]),
            "b": np.array([[0.0, 2.0], [-4.0, 8.0]]),
        }
    )
    # alpha = softmax([0, ln 3]) = [1, 3] / 4, the same for every example.
    np.testing.assert_allclose(weights, [[0.25, 0.75], [0.25, 0.75]])
    # 0.25 * [1, 0] + 0.75 * [0, 2] = [0.25, 1.5];
    # 0.25 * [4, 4] + 0.75 * [-4, 8] = [1 - 3, 1 + 6] = [-2, 7].
    np.testing.assert_allclose(fused, [[0.25, 1.5], [-2.0, 7.0]], atol=1e-6)


def test_missing_modality_renormalises_over_the_rest():
    fusion = WeightedSumFusion(hidden_dim=2)
    fusion.build({"a": (None, 2), "b": (None, 2), "c": (None, 2)})
    for name in ("a", "b", "c"):
        fusion.projections[name].set_weights([np.eye(2), np.zeros(2)])
    fusion.modality_logits.assign([0.0, math.log(3.0), math.log(4.0)])
    ones = np.ones((2, 2))
    fused, weights = fusion(
        {"a": ones, "b": 2 * ones, "c": 100 * ones},
        modality_mask={"c": np.array([True, False])},
    )
    # All present: [1, 3, 4] / 8. Without c: [1, 3] / 4.
    np.testing.assert_allclose(
        weights, [[0.125, 0.375, 0.5], [0.25, 0.75, 0.0]], atol=1e-6
    )
    # Without c: 0.25 * 1 + 0.75 * 2 = 1.75 (c's 100 is ignored).
    np.testing.assert_allclose(np.asarray(fused)[1], [1.75, 1.75], atol=1e-6)


def test_missing_modality_contract():
    example = {
        "audio": np.array([[0.5, -1.0, 2.0]], "float32"),
        "image": np.array([[1.0, 0.25]], "float32"),
        "text": np.array([[-0.5, 0.5, 1.0, 0.0]], "float32"),
    }
    check_fusion_contract(
        lambda dtype: WeightedSumFusion(hidden_dim=4, dtype=dtype), example
    )


def test_layer_checks(tmp_path):
    inputs = {
        "image": np.random.default_rng(0).normal(size=(3, 6)),
        "text": np.random.default_rng(1).normal(size=(3, 4)),
    }
    run_layer_checks(
        lambda dtype: WeightedSumFusion(hidden_dim=4, dtype=dtype),
        {k: v.astype("float32") for k, v in inputs.items()},
        tmp_path,
        call_kwargs={"modality_mask": {"text": np.array([True, False, True])}},
        float32_outputs=(1,),
    )


def test_logits_stay_float32_under_mixed_precision():
    fusion = WeightedSumFusion(hidden_dim=2, dtype="mixed_float16")
    fusion.build({"a": (None, 2), "b": (None, 2)})
    # 1e-4 apart: lost if the logits were rounded to float16 near 10.
    fusion.modality_logits.assign([10.0, 10.0001])
    _, weights = fusion({"a": np.ones((1, 2)), "b": np.ones((1, 2))})
    assert np.asarray(weights)[0, 1] > np.asarray(weights)[0, 0]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="positive integer hidden_dim"):
        WeightedSumFusion(hidden_dim=0)
    fusion = WeightedSumFusion(hidden_dim=2)
    with pytest.raises(ValueError, match="modality 'a'.*shape"):
        fusion({"a": np.ones((1, 2, 3)), "b": np.ones((1, 3))})
    fusion = WeightedSumFusion(hidden_dim=2)
    fusion({"a": np.ones((1, 2)), "b": np.ones((1, 3))})
    with pytest.raises(ValueError, match=r"built for modalities \['a', 'b'\]"):
        fusion({"a": np.ones((1, 2))})
