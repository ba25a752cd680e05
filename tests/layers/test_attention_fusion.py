import keras
import numpy as np
import pytest

from mmkeras.layers import AttentionFusion
from tests.test_case import check_fusion_contract
from tests.test_case import run_layer_checks


def _identity_fusion():
    """Projections and scorer set by hand: p_i = m_i, s_i = sum(tanh(p_i))."""
    fusion = AttentionFusion(hidden_dim=2)
    fusion.build({"a": (None, 2), "b": (None, 2)})
    for name in ("a", "b"):
        fusion.projections[name].set_weights([np.eye(2), np.zeros(2)])
    fusion.score_hidden.set_weights([np.eye(2), np.zeros(2)])
    fusion.score_output.set_weights([np.ones((2, 1)), np.zeros(1)])
    return fusion


def test_hand_computed_weights_and_output():
    fusion = _identity_fusion()
    fused, weights = fusion(
        {"a": np.array([[1.0, 0.0]]), "b": np.array([[0.0, 2.0]])}
    )
    # s_a = tanh(1) = 0.761594, s_b = tanh(2) = 0.964028;
    # alpha_a = 1 / (1 + exp(s_b - s_a)) = 0.449562.
    np.testing.assert_allclose(weights, [[0.449562, 0.550438]], atol=1e-5)
    # fused = 0.449562 * [1, 0] + 0.550438 * [0, 2]
    np.testing.assert_allclose(fused, [[0.449562, 1.100876]], atol=1e-5)


def test_missing_modality_gets_zero_weight_and_others_renormalise():
    fusion = _identity_fusion()
    inputs = {
        "a": np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]),
        "b": np.array([[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]]),
    }
    fused, weights = fusion(
        inputs,
        modality_mask={
            "a": np.array([True, True, False]),
            "b": np.array([True, False, False]),
        },
    )
    weights, fused = np.asarray(weights), np.asarray(fused)
    np.testing.assert_allclose(weights[0].sum(), 1.0, atol=1e-6)
    np.testing.assert_allclose(weights[1], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(fused[1], [1.0, 0.0], atol=1e-6)
    # Every modality missing: zeros, never NaN.
    np.testing.assert_array_equal(weights[2], [0.0, 0.0])
    np.testing.assert_array_equal(fused[2], [0.0, 0.0])


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_all_missing_is_finite_under_every_policy(policy):
    # Example 1 projects +-3e4 inputs with random kernels; an unlucky draw
    # overflows float16 (65504) legitimately, so fix the draw.
    keras.utils.set_random_seed(0)
    fusion = AttentionFusion(hidden_dim=4, dtype=policy)
    large = np.full((2, 3), 3e4, "float32")  # near float16's limit
    fused, weights = fusion(
        {"image": large, "text": -large},
        modality_mask={
            "image": np.array([False, True]),
            "text": np.array([False, True]),
        },
    )
    assert np.all(np.isfinite(np.asarray(fused, "float32")))
    np.testing.assert_array_equal(np.asarray(weights)[0], [0.0, 0.0])
    np.testing.assert_allclose(np.asarray(weights)[1].sum(), 1.0, atol=1e-3)


def test_weights_follow_sorted_modality_order():
    fusion = AttentionFusion(hidden_dim=4)
    _, weights = fusion(
        {"text": np.ones((1, 3)), "audio": np.ones((1, 5))},
        modality_mask={"text": np.array([False])},
    )
    assert fusion.modality_names == ["audio", "text"]
    np.testing.assert_allclose(weights, [[1.0, 0.0]], atol=1e-6)


def test_errors_name_the_problem():
    fusion = AttentionFusion(hidden_dim=4)
    with pytest.raises(ValueError, match="modality 'a'.*shape"):
        fusion({"a": np.ones((1, 2, 3)), "b": np.ones((1, 3))})
    fusion = AttentionFusion(hidden_dim=4)
    with pytest.raises(ValueError, match=r"\['c'\]"):
        fusion(
            {"a": np.ones((1, 2)), "b": np.ones((1, 3))},
            modality_mask={"c": np.array([True])},
        )


def test_missing_modality_contract():
    example = {
        "audio": np.array([[0.5, -1.0]], "float32"),
        "image": np.array([[1.0, 0.25, -2.0]], "float32"),
        "text": np.array([[-0.5, 0.5, 1.0]], "float32"),
    }
    check_fusion_contract(
        lambda dtype: AttentionFusion(hidden_dim=4, dtype=dtype), example
    )


def test_serialization(tmp_path):
    inputs = {
        "image": np.random.rand(2, 6).astype("float32"),
        "text": np.random.rand(2, 3).astype("float32"),
    }
    run_layer_checks(
        lambda dtype: AttentionFusion(hidden_dim=4, score_dim=3, dtype=dtype),
        inputs,
        tmp_path,
        call_kwargs={"modality_mask": {"text": np.array([True, False])}},
        float32_outputs=(1,),
    )


def test_trains_in_a_functional_model():
    image = keras.Input((6,), name="image")
    text = keras.Input((3,), name="text")
    fused, _ = AttentionFusion(hidden_dim=4)({"image": image, "text": text})
    model = keras.Model(
        {"image": image, "text": text}, keras.layers.Dense(1)(fused)
    )
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    x = {"image": np.ones((4, 6)), "text": np.ones((4, 3))}
    history = model.fit(x, np.ones((4, 1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.allclose(b, a)
        for b, a in zip(before, model.get_weights(), strict=True)
    )


def test_context_scores_see_the_mean_of_the_present_modalities():
    fusion = AttentionFusion(hidden_dim=2, use_context=True)
    fusion.build({"a": (None, 2), "b": (None, 2)})
    for name in ("a", "b"):
        fusion.projections[name].set_weights([np.eye(2), np.zeros(2)])
    fusion.score_hidden.set_weights([np.eye(2), np.zeros(2)])
    fusion.score_context.set_weights([np.array([[1.0, 0.0], [0.0, -1.0]])])
    fusion.score_output.set_weights([np.ones((2, 1)), np.zeros(1)])
    inputs = {"a": np.array([[1.0, 0.0]]), "b": np.array([[0.0, 2.0]])}
    _, weights = fusion(inputs)
    # m = [0.5, 1]; C m = [0.5, -1]. s_a = tanh(1.5) + tanh(-1),
    # s_b = tanh(0.5) + tanh(1).
    s_a = np.tanh(1.5) + np.tanh(-1.0)
    s_b = np.tanh(0.5) + np.tanh(1.0)
    expected = 1 / (1 + np.exp(s_b - s_a))
    np.testing.assert_allclose(weights, [[expected, 1 - expected]], atol=1e-5)
    # With b missing, m = p_a: the context holds only what is present.
    _, weights = fusion(inputs, modality_mask={"b": np.array([False])})
    np.testing.assert_allclose(weights, [[1.0, 0.0]], atol=1e-6)


def test_missing_modality_contract_with_context():
    example = {
        "audio": np.array([[0.5, -1.0]], "float32"),
        "image": np.array([[1.0, 0.25, -2.0]], "float32"),
        "text": np.array([[-0.5, 0.5, 1.0]], "float32"),
    }
    check_fusion_contract(
        lambda dtype: AttentionFusion(4, use_context=True, dtype=dtype),
        example,
    )


def test_serialization_with_context(tmp_path):
    inputs = {
        "image": np.random.rand(2, 6).astype("float32"),
        "text": np.random.rand(2, 3).astype("float32"),
    }
    run_layer_checks(
        lambda dtype: AttentionFusion(4, use_context=True, dtype=dtype),
        inputs,
        tmp_path,
        call_kwargs={"modality_mask": {"text": np.array([True, False])}},
        float32_outputs=(1,),
    )
