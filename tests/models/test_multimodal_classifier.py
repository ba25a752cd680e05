import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models import MultimodalClassifier
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import learn_vocabulary
from tests.test_case import as_tensors
from tests.test_case import raw_examples
from tests.test_case import run_task_test

CLASSES = ["ball", "box", "cone"]


def _classifier(modalities, dtype=None, fusion="attention", **kwargs):
    vocabulary = learn_vocabulary(raw_examples(["text"], 8)["text"])
    return multimodal_classifier(
        modalities,
        CLASSES,
        vocabulary=vocabulary,
        fusion=fusion,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        clip_seconds=0.3,
        num_frames=2,
        dtype=dtype,
        **kwargs,
    )


@pytest.mark.parametrize(
    "modalities",
    [["audio"], ["image"], ["text"], ["video"], ["image", "text"]],
    ids=lambda m: "+".join(m),
)
def test_task_checks_for_each_modality_and_a_pair(modalities, tmp_path):
    raw = raw_examples(modalities)
    run_task_test(
        _classifier(modalities), raw, ["ball", "box", "cone", "box"], tmp_path
    )


@pytest.mark.slow
def test_task_checks_with_all_four_modalities(tmp_path):
    modalities = ["audio", "image", "text", "video"]
    export_path = run_task_test(
        _classifier(modalities, modality_dropout=0.3),
        raw_examples(modalities),
        ["ball", "box", "cone", "box"],
        tmp_path,
    )
    signature = tf.saved_model.load(export_path).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert {k: (v.dtype, v.shape.as_list()) for k, v in inputs.items()} == {
        "audio": (tf.string, [None]),
        "image": (tf.string, [None]),
        "text": (tf.string, [None]),
        "video": (tf.string, [None, None]),
    }
    assert {k: v.dtype for k, v in signature.structured_outputs.items()} == {
        "probabilities": tf.float32,
        "class_ids": tf.int64,
        "class_names": tf.string,
        "modality_weights": tf.float32,
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "fusion", ["weighted_sum", "concat", "gated", "cross_attention"]
)
def test_every_fusion_builds_a_task_that_trains(fusion, tmp_path):
    raw = raw_examples(["image", "text"])
    run_task_test(
        _classifier(["image", "text"], fusion=fusion),
        raw,
        ["ball", "box", "cone", "box"],
        tmp_path,
    )


def test_an_empty_value_is_a_missing_modality_with_zero_weight():
    classifier = _classifier(["audio", "image", "text"])
    raw = raw_examples(["audio", "image", "text"], count=3)
    raw["image"][0] = b""
    raw["text"][1] = "  "
    raw["audio"][2] = b""
    outputs = classifier.predict_raw(as_tensors(raw))
    weights = outputs["modality_weights"].numpy()  # audio, image, text
    assert weights[0, 1] == 0 and weights[1, 2] == 0 and weights[2, 0] == 0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert list(outputs["class_names"].numpy()) == [
        CLASSES[i].encode() for i in outputs["class_ids"].numpy()
    ]


def test_every_modality_empty_is_an_invalid_argument():
    classifier = _classifier(["image", "text"])
    raw = {"image": tf.constant([b"", b""]), "text": tf.constant(["x", ""])}
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="every input empty"
    ):
        classifier.predict_raw(raw)


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_built_under_its_policy_with_float32_outputs(policy):
    classifier = _classifier(["image", "text"], dtype=policy)
    classifier.compile()
    assert classifier.dtype_policy.name == policy
    optimizer = type(classifier.optimizer).__name__
    expected = "LossScaleOptimizer" if policy == "mixed_float16" else "AdamW"
    assert optimizer == expected
    compute_dtype = keras.dtype_policies.get(policy).compute_dtype
    assert classifier.backbone.fusion.compute_dtype == compute_dtype
    outputs = classifier.predict_raw(
        as_tensors(raw_examples(["image", "text"]))
    )
    for key in ("probabilities", "modality_weights"):
        assert outputs[key].dtype == tf.float32
        assert np.all(np.isfinite(outputs[key].numpy()))


def test_classify_signature_parses_examples_and_names_classes(tmp_path):
    classifier = _classifier(["image", "text"])
    raw = raw_examples(["image", "text"], count=2)
    feature = {
        "image": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[raw["image"][0]])
        ),
        "text": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[raw["text"][0].encode()])
        ),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    signatures = classifier.serving_signatures()
    classified = signatures["classify"](
        tf.constant([example.SerializeToString()])
    )
    expected = classifier.predict_raw(
        as_tensors({"image": raw["image"][:1], "text": raw["text"][:1]})
    )
    np.testing.assert_allclose(
        classified["scores"], expected["probabilities"], atol=1e-6
    )
    assert classified["classes"].numpy().tolist() == [
        [c.encode() for c in CLASSES]
    ]


def test_evaluate_outputs_accuracy_and_log_loss():
    classifier = _classifier(["text"])
    outputs = {"probabilities": np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])}
    metrics = classifier.evaluate_outputs(outputs, ["ball", "box"])
    assert metrics["examples"] == 2
    assert metrics["accuracy"] == 0.5
    np.testing.assert_allclose(
        metrics["log_loss"], -(np.log(0.5) + np.log(0.1)) / 2, rtol=1e-6
    )


def test_an_unknown_label_fails_naming_it():
    classifier = _classifier(["text"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown label"):
        classifier.preprocessor(
            {"text": tf.constant(["x"]), "label": tf.constant(["sphere"])}
        )


def test_rejects_bad_arguments():
    backbone = _classifier(["text"]).backbone
    with pytest.raises(TypeError, match="MultimodalBackbone"):
        MultimodalClassifier(keras.layers.Dense(2), num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        MultimodalClassifier(backbone, num_classes=1)
    with pytest.raises(ValueError, match="modalities"):
        multimodal_classifier(["smell"], CLASSES)
    with pytest.raises(ValueError, match="fusion"):
        _classifier(["text"], fusion="magic")


def test_loss_adds_each_present_modalitys_own_cross_entropy():
    classifier = _classifier(["image", "text"], auxiliary_loss_weight=0.5)
    classifier.compile()
    raw = raw_examples(["image", "text"], count=3)
    raw["image"][1] = b""  # example 1 has no image: its image head is skipped
    x = classifier.preprocessor.features(as_tensors(raw))
    y = np.array([0, 2, 1], "int32")
    y_pred = classifier(x)
    loss = float(classifier.compute_loss(x, y, y_pred))

    def cross_entropy(logits, labels):
        logits = np.asarray(logits, np.float64)
        log_z = np.log(np.exp(logits).sum(-1))
        return log_z - np.take_along_axis(logits, labels[..., None], -1)[..., 0]

    fused = cross_entropy(y_pred["logits"], y).mean()
    per_modality = cross_entropy(
        y_pred["modality_logits"], np.stack([y, y], axis=1)
    )
    present = np.array([[1, 1], [0, 1], [1, 1]])  # image, text
    # Each modality's mean over the examples that have it, summed.
    auxiliary = sum(
        (per_modality[:, i] * present[:, i]).sum() / present[:, i].sum()
        for i in range(2)
    )
    np.testing.assert_allclose(loss, fused + 0.5 * auxiliary, rtol=1e-5)
