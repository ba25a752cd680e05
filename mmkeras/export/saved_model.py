"""SavedModel export in TensorFlow Serving's layout, with raw inputs."""

import os
import shutil

import keras
import tensorflow as tf

SIGNATURE_NAME = "serving_default"
INPUT_IMAGE = "image"
INPUT_TEXT = "text"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLASS_IDS = "class_ids"
OUTPUT_MODALITY_WEIGHTS = "modality_weights"


def next_version(model_dir):
    """One more than the highest numeric version under `model_dir`, or 1."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def export_classifier(
    classifier, preprocessor, base_path, model_name, version=None
):
    """Exports `preprocessor` + `classifier` as `<base>/<name>/<version>/`.

    The `serving_default` signature takes raw inputs, so a client sends
    what it has and the preprocessing that training used runs in the
    server:

    - `image`: DT_STRING `(batch,)`, encoded PNG/JPEG bytes;
    - `text`: DT_STRING `(batch,)`, captions;

    and returns `probabilities` (float32 `(batch, classes)`), `class_ids`
    (int64 `(batch,)`) and `modality_weights` (float32 `(batch,
    modalities)`, in the backbone's sorted modality order).

    The version appears atomically: it is written to a temporary sibling
    directory whose name is not a number (servers ignore it), then renamed.

    Args:
        classifier: a `MultimodalClassifier`.
        preprocessor: the `ImageTextPreprocessor` used in training.
        base_path: str. The model base path's parent directory.
        model_name: str.
        version: int or None. Defaults to one above the highest existing.

    Returns:
        str, the path of the new version directory.
    """
    model_dir = os.path.join(base_path, model_name)
    version = next_version(model_dir) if version is None else int(version)
    final_dir = os.path.join(model_dir, str(version))
    if os.path.exists(final_dir):
        raise FileExistsError(
            f"Version {version} already exists at {final_dir}; versions are "
            "immutable, export a new one."
        )
    os.makedirs(model_dir, exist_ok=True)
    temp_dir = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(temp_dir, ignore_errors=True)
    try:
        _write_archive(classifier, preprocessor, temp_dir)
        os.rename(temp_dir, final_dir)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return final_dir


def _write_archive(classifier, preprocessor, directory):
    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.track(preprocessor)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name=INPUT_IMAGE),
            tf.TensorSpec([None], tf.string, name=INPUT_TEXT),
        ]
    )
    def serve(image, text):
        features = preprocessor({"image": image, "text": text})
        logits, weights = classifier.call_with_modality_weights(features)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return {
            OUTPUT_PROBABILITIES: probabilities,
            OUTPUT_CLASS_IDS: tf.argmax(probabilities, axis=-1),
            OUTPUT_MODALITY_WEIGHTS: tf.cast(weights, tf.float32),
        }

    archive.add_endpoint(SIGNATURE_NAME, serve)
    archive.write_out(directory, verbose=False)
