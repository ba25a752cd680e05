import keras
import numpy as np
import pytest

from mmkeras.encoders import ImageEncoder
from mmkeras.encoders import TextEncoder
from mmkeras.layers import AttentionFusion
from mmkeras.models import MultimodalBackbone
from mmkeras.models import MultimodalClassifier
from mmkeras.models import image_text_classifier
from tests.test_case import assert_all_close


def _inputs(batch=3):
    rng = np.random.default_rng(0)
    return {
        "images": rng.uniform(-1, 1, (batch, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(1, 30, (batch, 6)).astype("int32"),
        "padding_mask": np.array([[True] * 4 + [False] * 2] * batch),
    }


def _classifier(dtype=None):
    return image_text_classifier(
        vocabulary_size=30,
        num_classes=4,
        image_size=(16, 16),
        sequence_length=6,
        hidden_dim=16,
        dtype=dtype,
    )


def test_backbone_inputs_are_the_union_of_encoder_inputs():
    backbone = MultimodalBackbone(
        {
            "text": TextEncoder(30, 6, 16),
            "image": ImageEncoder((16, 16), 16),
        },
        AttentionFusion(16),
    )
    assert sorted(backbone.input) == ["images", "padding_mask", "token_ids"]
    assert backbone.modality_names == ["image", "text"]
    outputs = backbone(_inputs())
    assert outputs["fused"].shape == (3, 16)
    np.testing.assert_allclose(
        np.sum(outputs["modality_weights"], axis=1), 1.0, atol=1e-6
    )


def test_logits_and_modality_weights():
    classifier = _classifier()
    logits, weights = classifier.call_with_modality_weights(_inputs())
    assert logits.shape == (3, 4) and weights.shape == (3, 2)
    assert_all_close(classifier(_inputs()), logits)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_outputs_float32_logits(policy):
    classifier = _classifier(dtype=policy)
    assert classifier.backbone.encoders["image"].dtype_policy.name == policy
    assert classifier.head.get_layer("hidden").compute_dtype == policy[6:]
    logits = classifier(_inputs())
    assert logits.dtype == "float32"
    assert np.all(np.isfinite(np.asarray(logits)))


def test_one_fit_step_changes_weights_and_save_load(tmp_path):
    classifier = _classifier()
    classifier.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [w.copy() for w in classifier.get_weights()]
    history = classifier.fit(
        _inputs(), np.array([0, 1, 2]), epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    after = classifier.get_weights()
    assert any(
        not np.allclose(b, a) for b, a in zip(before, after, strict=True)
    )

    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, MultimodalClassifier)
    assert_all_close(loaded(_inputs()), classifier(_inputs()))


def test_rejects_bad_arguments():
    with pytest.raises(TypeError, match="MultimodalBackbone"):
        MultimodalClassifier(keras.layers.Dense(2), num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        MultimodalClassifier(_classifier().backbone, num_classes=1)
