import math

import numpy as np
import pytest

from mmkeras.layers import CrossAttentionFusion
from tests.test_case import POLICIES
from tests.test_case import check_fusion_contract
from tests.test_case import run_layer_checks

LN2 = math.log(2.0)


def _hand_set_fusion():
    """Every projection the identity, except queries scaled by sqrt(3) so
    that the attention score is the plain dot product q . k."""
    fusion = CrossAttentionFusion(hidden_dim=3, query_modality="a")
    fusion.build({"a": (None, 2, 3), "b": (None, 2, 3), "c": (None, 1, 3)})
    identity = [np.eye(3), np.zeros(3)]
    for name in ("a", "b", "c"):
        fusion.projections[name].set_weights(identity)
    fusion.query_dense.set_weights([math.sqrt(3.0) * np.eye(3), np.zeros(3)])
    for dense in (fusion.key_dense, fusion.value_dense, fusion.output_dense):
        dense.set_weights(identity)
    return fusion


def _hand_set_inputs(batch):
    """a: query [1, 0, 0] and a padding token; b: [ln 2, 0, 0] and a
    padding token; c: [0, 0, 3]. Padding holds large garbage."""

    def tile(tokens):
        return np.tile(np.array([tokens], "float32"), (batch, 1, 1))

    inputs = {
        "a": tile([[1.0, 0.0, 0.0], [50.0, 50.0, 50.0]]),
        "b": tile([[LN2, 0.0, 0.0], [100.0, 0.0, 0.0]]),
        "c": tile([[0.0, 0.0, 3.0]]),
    }
    padding_mask = {
        "a": np.array([[True, False]] * batch),
        "b": np.array([[True, False]] * batch),
    }
    return inputs, padding_mask


def test_hand_computed_attention_output_and_weights():
    fusion = _hand_set_fusion()
    inputs, padding_mask = _hand_set_inputs(batch=5)
    fused, weights = fusion(
        inputs,
        padding_mask=padding_mask,
        modality_mask={
            "a": np.array([True, True, False, False, True]),
            "b": np.array([True, True, True, False, False]),
            "c": np.array([True, False, True, False, False]),
        },
    )
    fused, weights = np.asarray(fused), np.asarray(weights)

    # 0: all present. Scores q . b1 = ln 2, q . c1 = 0 (b's padding hidden),
    # softmax = [2, 1] / 3. attention = 2/3 [ln 2, 0, 0] + 1/3 [0, 0, 3]
    # = [0.462098, 0, 1]; residual r = [1.462098, 0, 1]; layer norm:
    # mean 0.820699, std 0.610216 -> [1.051101, -1.344932, 0.293831].
    # Only the query's real token is pooled.
    np.testing.assert_allclose(
        fused[0], [1.051101, -1.344932, 0.293831], atol=1e-5
    )
    # Residual half to a, attention half split 2/3 : 1/3 between b and c.
    np.testing.assert_allclose(weights[0], [0.5, 1 / 3, 1 / 6], atol=1e-6)

    # 1: c missing. All attention on b1: r = [1 + ln 2, 0, 0] = [d, 0, 0],
    # norm([d, 0, 0]) = [2, -1, -1] / sqrt(2) whatever d > 0.
    np.testing.assert_allclose(
        fused[1], [1.414214, -0.707107, -0.707107], atol=1e-5
    )
    np.testing.assert_allclose(weights[1], [0.5, 0.5, 0.0], atol=1e-6)

    # 2: the query a missing: mean of the normalised real key tokens,
    # (norm(b1) + norm(c1)) / 2 = ([2, -1, -1] + [-1, -1, 2]) / (2 sqrt 2)
    # = [0.353553, -0.707107, 0.353553]; b and c have one token each.
    np.testing.assert_allclose(
        fused[2], [0.353553, -0.707107, 0.353553], atol=1e-5
    )
    np.testing.assert_allclose(weights[2], [0.0, 0.5, 0.5], atol=1e-6)

    # 3: nothing present: exact zeros.
    np.testing.assert_array_equal(fused[3], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(weights[3], [0.0, 0.0, 0.0])

    # 4: only the query: no key to attend to, so norm(q) = norm([1, 0, 0]).
    np.testing.assert_allclose(
        fused[4], [1.414214, -0.707107, -0.707107], atol=1e-5
    )
    np.testing.assert_array_equal(weights[4], [1.0, 0.0, 0.0])


def test_a_modality_that_is_all_padding_counts_as_missing():
    fusion = _hand_set_fusion()
    inputs, padding_mask = _hand_set_inputs(batch=1)
    padding_mask["c"] = np.array([[False]])
    fused, weights = fusion(inputs, padding_mask=padding_mask)
    # As example 1 above: c contributes nothing.
    np.testing.assert_allclose(
        fused, [[1.414214, -0.707107, -0.707107]], atol=1e-5
    )
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0.0]], atol=1e-6)


def _random_inputs(rng, batch=2):
    return {
        "image": rng.normal(size=(batch, 4, 5)).astype("float32"),
        "text": rng.normal(size=(batch, 3, 6)).astype("float32"),
    }


@pytest.mark.parametrize("policy", POLICIES)
def test_padding_content_changes_nothing_even_near_float16_limit(policy):
    fusion = CrossAttentionFusion(
        hidden_dim=4, query_modality="text", num_heads=2, dtype=policy
    )
    inputs = _random_inputs(np.random.default_rng(0))
    padding_mask = {
        "image": np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool),
        "text": np.array([[1, 1, 0], [1, 0, 0]], bool),
    }
    clean = {
        k: np.where(padding_mask[k][..., None], v, 0.0).astype("float32")
        for k, v in inputs.items()
    }
    garbage = {
        k: np.where(padding_mask[k][..., None], v, 6e4).astype("float32")
        for k, v in inputs.items()
    }
    expected = fusion(clean, padding_mask=padding_mask)
    actual = fusion(garbage, padding_mask=padding_mask)
    for a, e in zip(actual, expected, strict=True):
        a = np.asarray(a, "float32")
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, np.asarray(e, "float32"))
    np.testing.assert_allclose(
        np.asarray(actual[1]).sum(axis=1), 1.0, atol=1e-6
    )


def test_multi_head_weights_average_the_heads():
    fusion = CrossAttentionFusion(hidden_dim=4, query_modality="a", num_heads=2)
    rng = np.random.default_rng(1)
    inputs = {
        "a": rng.normal(size=(2, 3, 4)).astype("float32"),
        "b": rng.normal(size=(2, 2, 4)).astype("float32"),
        "c": rng.normal(size=(2, 5, 4)).astype("float32"),
    }
    _, weights = fusion(inputs)
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights[:, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(weights[:, 1:].sum(axis=1), 0.5, atol=1e-6)
    assert np.all(weights[:, 1:] > 0.0)
    assert fusion.token_level


def test_missing_modality_contract():
    rng = np.random.default_rng(2)
    example = {
        "audio": rng.normal(size=(1, 3, 4)).astype("float32"),
        "image": rng.normal(size=(1, 4, 5)).astype("float32"),
        "text": rng.normal(size=(1, 3, 6)).astype("float32"),
    }
    check_fusion_contract(
        lambda dtype: CrossAttentionFusion(
            hidden_dim=4, query_modality="text", num_heads=2, dtype=dtype
        ),
        example,
        call_kwargs={"padding_mask": {"text": np.array([[1, 1, 0]], bool)}},
    )


def test_layer_checks(tmp_path):
    run_layer_checks(
        lambda dtype: CrossAttentionFusion(
            hidden_dim=4,
            query_modality="text",
            num_heads=2,
            dropout=0.1,
            dtype=dtype,
        ),
        _random_inputs(np.random.default_rng(3), batch=3),
        tmp_path,
        call_kwargs={
            "padding_mask": {
                "text": np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]], bool)
            },
            "modality_mask": {"image": np.array([True, False, True])},
        },
        float32_outputs=(1,),
    )


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="divisible"):
        CrossAttentionFusion(hidden_dim=6, query_modality="a", num_heads=4)
    fusion = CrossAttentionFusion(hidden_dim=4, query_modality="video")
    with pytest.raises(ValueError, match="query modality 'video'"):
        fusion({"a": np.ones((1, 2, 3)), "b": np.ones((1, 2, 3))})
    fusion = CrossAttentionFusion(hidden_dim=4, query_modality="a")
    with pytest.raises(ValueError, match=r"\(batch, tokens, features\)"):
        fusion({"a": np.ones((1, 3)), "b": np.ones((1, 2, 3))})
    fusion = CrossAttentionFusion(hidden_dim=4, query_modality="a")
    with pytest.raises(ValueError, match=r"padding_mask has keys \['c'\]"):
        fusion(
            {"a": np.ones((1, 2, 3)), "b": np.ones((1, 2, 3))},
            padding_mask={"c": np.ones((1, 2), bool)},
        )
