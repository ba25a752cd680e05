import os

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.export import export_classifier
from mmkeras.models import image_text_classifier
from mmkeras.preprocessing import ImagePreprocessor
from mmkeras.preprocessing import ImageTextPreprocessor
from mmkeras.preprocessing import WordPieceTokenizer
from mmkeras.preprocessing import learn_vocabulary

TEXTS = ["a red thing that hums", "a blue thing that beeps"]


@pytest.fixture(scope="module")
def trained_parts():
    preprocessor = ImageTextPreprocessor(
        ImagePreprocessor((16, 16)),
        WordPieceTokenizer(learn_vocabulary(TEXTS), 8),
    )
    classifier = image_text_classifier(
        vocabulary_size=preprocessor.tokenizer.vocabulary_size,
        num_classes=3,
        image_size=(16, 16),
        sequence_length=8,
        hidden_dim=16,
    )
    return classifier, preprocessor


@pytest.fixture(scope="module")
def exported(trained_parts, tmp_path_factory):
    base_path = tmp_path_factory.mktemp("models")
    path = export_classifier(*trained_parts, str(base_path), "demo")
    return base_path, path


def _images():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    return [
        tf.io.encode_png(pixels[0]).numpy(),
        tf.io.encode_jpeg(pixels[1]).numpy(),
    ]


def test_layout_is_base_name_version(exported):
    base_path, path = exported
    assert path == os.path.join(base_path, "demo", "1")
    assert os.listdir(os.path.join(base_path, "demo")) == ["1"]
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))


def test_serving_default_signature_names_and_dtypes(exported):
    signature = tf.saved_model.load(exported[1]).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert {k: (v.dtype, v.shape.as_list()) for k, v in inputs.items()} == {
        "image": (tf.string, [None]),
        "text": (tf.string, [None]),
    }
    outputs = signature.structured_outputs
    assert {k: v.dtype for k, v in outputs.items()} == {
        "probabilities": tf.float32,
        "class_ids": tf.int64,
        "modality_weights": tf.float32,
    }


def test_raw_inputs_give_the_in_process_answer(exported, trained_parts):
    classifier, preprocessor = trained_parts
    signature = tf.saved_model.load(exported[1]).signatures["serving_default"]
    images, texts = _images(), tf.constant(TEXTS)
    served = signature(image=tf.constant(images), text=texts)
    features = preprocessor({"image": tf.constant(images), "text": texts})
    logits, weights = classifier.call_with_modality_weights(features)
    expected = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(served["class_ids"], expected.argmax(-1))
    np.testing.assert_allclose(served["modality_weights"], weights, atol=1e-6)


def test_next_export_is_a_new_version_and_versions_are_immutable(
    trained_parts, tmp_path
):
    first = export_classifier(*trained_parts, str(tmp_path), "m")
    os.makedirs(tmp_path / "m" / ".tmp-stale")  # a crashed export's leftovers
    second = export_classifier(*trained_parts, str(tmp_path), "m")
    assert (os.path.basename(first), os.path.basename(second)) == ("1", "2")
    with pytest.raises(FileExistsError, match="Version 2 already exists"):
        export_classifier(*trained_parts, str(tmp_path), "m", version=2)
