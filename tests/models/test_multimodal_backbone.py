import keras
import numpy as np
import pytest

from mmkeras.encoders import ImageEncoder
from mmkeras.encoders import TextEncoder
from mmkeras.layers import AttentionFusion
from mmkeras.layers import ConcatFusion
from mmkeras.layers import CrossAttentionFusion
from mmkeras.layers import GatedFusion
from mmkeras.layers import WeightedSumFusion
from mmkeras.models import MultimodalBackbone
from tests.test_case import assert_all_close
from tests.test_case import run_layer_checks

FUSIONS = {
    "attention": lambda dtype: AttentionFusion(8, dtype=dtype),
    "weighted_sum": lambda dtype: WeightedSumFusion(8, dtype=dtype),
    "concat": lambda dtype: ConcatFusion(8, dtype=dtype),
    "gated": lambda dtype: GatedFusion(8, dtype=dtype),
    "cross_attention": lambda dtype: CrossAttentionFusion(
        8, query_modality="text", num_heads=2, dtype=dtype
    ),
}


def _encoders(dtype=None):
    return {
        "image": ImageEncoder((8, 8), hidden_dim=8, num_layers=2, dtype=dtype),
        "text": TextEncoder(20, sequence_length=4, hidden_dim=8, dtype=dtype),
    }


def _inputs(batch=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "images": rng.uniform(-1, 1, (batch, 8, 8, 3)).astype("float32"),
        "token_ids": rng.integers(1, 20, (batch, 4)).astype("int32"),
        "padding_mask": np.array([[True, True, True, False]] * batch),
    }


def _token_encoder_without_sequence_mask(dtype=None):
    """A minimal encoder with the two standard outputs and no mask."""
    features = keras.Input((3, 5), name="audio_features")
    tokens = keras.layers.Dense(8, dtype=dtype, name="projection")(features)
    pooled = keras.layers.GlobalAveragePooling1D(dtype=dtype)(tokens)
    return keras.Model(
        features,
        {"pooled_output": pooled, "sequence_output": tokens},
        name="audio_encoder",
    )


@pytest.mark.parametrize("kind", sorted(FUSIONS))
def test_every_fusion_layer_fits_the_backbone(kind):
    backbone = MultimodalBackbone(_encoders(), FUSIONS[kind](None))
    assert sorted(backbone.input) == ["images", "padding_mask", "token_ids"]
    outputs = backbone(_inputs())
    assert sorted(outputs) == ["fused", "modality_features", "modality_weights"]
    assert outputs["fused"].shape == (3, 8)
    assert outputs["modality_weights"].dtype == "float32"
    np.testing.assert_allclose(
        np.sum(outputs["modality_weights"], axis=1), 1.0, atol=1e-6
    )


def test_token_level_fusion_gets_sequences_and_their_padding():
    encoders = _encoders()
    fusion = FUSIONS["cross_attention"](None)
    backbone = MultimodalBackbone(encoders, fusion)
    inputs = _inputs()
    image = encoders["image"](inputs["images"])
    text = encoders["text"](
        {k: inputs[k] for k in ("token_ids", "padding_mask")}
    )
    expected = fusion(
        {"image": image["sequence_output"], "text": text["sequence_output"]},
        padding_mask={"text": inputs["padding_mask"]},
    )
    fused, weights = expected
    outputs = backbone(inputs)
    assert_all_close(
        {k: outputs[k] for k in ("fused", "modality_weights")},
        {"fused": fused, "modality_weights": weights},
    )
    assert_all_close(
        outputs["modality_features"],
        {"image": image["pooled_output"], "text": text["pooled_output"]},
    )
    # The padded token's id changes nothing: the padding reached the fusion.
    changed = dict(inputs, token_ids=inputs["token_ids"].copy())
    changed["token_ids"][:, 3] = (changed["token_ids"][:, 3] + 7) % 20
    assert_all_close(backbone(changed), backbone(inputs))


def test_an_encoder_without_sequence_mask_has_no_padding():
    encoders = {
        "audio": _token_encoder_without_sequence_mask(),
        "text": _encoders()["text"],
    }
    fusion = FUSIONS["cross_attention"](None)
    backbone = MultimodalBackbone(encoders, fusion)
    inputs = dict(_inputs())
    del inputs["images"]
    inputs["audio_features"] = np.ones((3, 3, 5), "float32")
    outputs = backbone(inputs)
    audio = encoders["audio"](inputs["audio_features"])["sequence_output"]
    text = encoders["text"](
        {k: inputs[k] for k in ("token_ids", "padding_mask")}
    )["sequence_output"]
    expected = fusion(
        {"audio": audio, "text": text},
        padding_mask={"text": inputs["padding_mask"]},
    )
    assert_all_close(outputs["fused"], expected[0])


@pytest.mark.parametrize("kind", ["attention", "cross_attention"])
def test_presence_inputs_mark_missing_modalities(kind):
    backbone = MultimodalBackbone(
        _encoders(), FUSIONS[kind](None), modality_presence=True
    )
    assert sorted(backbone.input) == [
        "image_present",
        "images",
        "padding_mask",
        "text_present",
        "token_ids",
    ]
    inputs = dict(
        _inputs(),
        image_present=np.array([True, True, False]),
        text_present=np.array([True, False, False]),
    )
    outputs = backbone(inputs)
    weights = np.asarray(outputs["modality_weights"])
    np.testing.assert_allclose(weights[0].sum(), 1.0, atol=1e-6)
    np.testing.assert_array_equal(weights[1:], [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(outputs["fused"])[2], 0.0)


def test_modality_dropout_acts_in_training_only():
    backbone = MultimodalBackbone(
        _encoders(), FUSIONS["weighted_sum"](None), modality_dropout=0.5
    )
    inputs = _inputs(batch=64)
    weights = np.asarray(backbone(inputs)["modality_weights"])
    np.testing.assert_allclose(weights, 0.5)
    weights = np.asarray(backbone(inputs, training=True)["modality_weights"])
    dropped = weights == 0.0
    # Both present at rate 0.5: one of the two dropped in 3/4 of examples
    # (never both; weights still sum to 1).
    assert 0.5 < dropped.any(axis=1).mean() < 0.95
    assert not dropped.all(axis=1).any()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_layer_checks_with_cross_attention_presence_and_dropout(tmp_path):
    def make(dtype):
        return MultimodalBackbone(
            _encoders(dtype),
            FUSIONS["cross_attention"](dtype),
            modality_dropout=0.3,
            modality_presence=True,
            dtype=dtype,
        )

    inputs = dict(
        _inputs(),
        image_present=np.array([True, False, True]),
        text_present=np.array([True, True, False]),
    )
    run_layer_checks(
        make, inputs, tmp_path, float32_outputs=("modality_weights",)
    )


def test_config_round_trip_keeps_the_constructor_arguments(tmp_path):
    backbone = MultimodalBackbone(
        _encoders(), FUSIONS["gated"](None), modality_dropout=0.25
    )
    revived = MultimodalBackbone.from_config(backbone.get_config())
    assert revived.modality_dropout == 0.25
    assert not revived.modality_presence
    assert isinstance(revived.fusion, GatedFusion)
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    loaded = keras.saving.load_model(path)
    assert_all_close(loaded(_inputs()), backbone(_inputs()))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one encoder"):
        MultimodalBackbone({}, AttentionFusion(8))
    features = keras.Input((3, 5), name="audio_features")
    pooled_only = keras.Model(
        features,
        {"pooled_output": keras.layers.GlobalAveragePooling1D()(features)},
    )
    with pytest.raises(ValueError, match="'audio' encoder.*'sequence_output'"):
        MultimodalBackbone(
            {"audio": pooled_only, "text": _encoders()["text"]},
            CrossAttentionFusion(8, query_modality="text"),
        )


@pytest.mark.parametrize("stop", [False, True])
def test_stop_fusion_gradients_keeps_the_fusion_off_the_encoders(stop):
    import tensorflow as tf

    backbone = MultimodalBackbone(
        _encoders(), AttentionFusion(8), stop_fusion_gradients=stop
    )
    encoder_weights = backbone.encoders["image"].trainable_weights
    fusion_weights = backbone.fusion.trainable_weights
    with tf.GradientTape(persistent=True) as tape:
        outputs = backbone(_inputs())
        fused_loss = tf.reduce_sum(outputs["fused"] ** 2)
        head_loss = tf.reduce_sum(outputs["modality_features"]["image"] ** 2)
    fused_to_encoder = tape.gradient(fused_loss, encoder_weights)
    assert all(g is None for g in fused_to_encoder) == stop
    assert all(g is not None for g in tape.gradient(fused_loss, fusion_weights))
    # The per-modality features still train their encoder.
    head_to_encoder = tape.gradient(head_loss, encoder_weights)
    assert all(g is not None for g in head_to_encoder)
