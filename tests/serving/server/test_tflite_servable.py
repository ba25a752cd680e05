"""--prefer_tflite_model: a version's model.tflite run by LiteRT answers
Predict and GetModelMetadata like the SavedModel it was converted from."""

import shutil
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf

from serving.client import PredictionClient
from serving.server import loader
from serving.server import tflite_servable
from serving.server.config.model_config import single_model_config
from serving.server.manager import ModelManager
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore

X = np.array([[1.0, 2.0], [-3.0, 0.5]], np.float32)


class _AffineModel(tf.Module):
    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable([[2.0, -1.0], [0.5, 3.0]])

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def serve(self, x):
        return {
            "y": tf.matmul(x, self.kernel) + 1.0,
            "norm": tf.norm(x, axis=1),
        }


@pytest.fixture(scope="module")
def tflite_base_path(tmp_path_factory):
    """Version 1 holds both saved_model.pb and model.tflite."""
    version_path = tmp_path_factory.mktemp("affine") / "affine" / "1"
    model = _AffineModel()
    tf.saved_model.save(
        model, str(version_path), signatures={"serving_default": model.serve}
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(version_path))
    (version_path / tflite_servable.TFLITE_FILENAME).write_bytes(
        converter.convert()
    )
    return version_path.parent


def _serve(serve_core, base_path, prefer_tflite):
    core = ServerCore(
        ModelManager(),
        LoadOptions(max_num_load_retries=0, prefer_tflite_model=prefer_tflite),
    )
    core.reload_config(single_model_config("affine", str(base_path)))
    return core, serve_core(core)


def test_tflite_servable_answers_like_the_saved_model(
    tflite_base_path, serve_core
):
    tflite_core, tflite_address = _serve(serve_core, tflite_base_path, True)
    _, saved_model_address = _serve(serve_core, tflite_base_path, False)

    with PredictionClient(tflite_address) as client:
        from_tflite = client.predict("affine", {"x": X})
    with PredictionClient(saved_model_address) as client:
        from_saved_model = client.predict("affine", {"x": X})

    [servable] = tflite_core.manager.versions("affine")
    assert isinstance(
        servable.signatures["serving_default"], tflite_servable.TfliteSignature
    )
    assert sorted(from_tflite) == sorted(from_saved_model) == ["norm", "y"]
    for name in from_tflite:
        np.testing.assert_allclose(
            from_tflite[name], from_saved_model[name], rtol=1e-6
        )


def test_tflite_metadata_describes_named_inputs_and_outputs(
    tflite_base_path, serve_core
):
    _, address = _serve(serve_core, tflite_base_path, True)

    with PredictionClient(address) as client:
        signatures = client.metadata("affine")

    assert signatures["serving_default"] == {
        "inputs": {"x": ("float32", (-1, 2))},
        "outputs": {"norm": ("float32", (-1,)), "y": ("float32", (-1, 2))},
    }


@pytest.mark.parametrize("interpreters", [1, 3])
def test_tflite_signature_is_safe_to_call_from_many_threads(
    tflite_base_path, interpreters
):
    servable = loader.load_servable(
        "affine",
        str(tflite_base_path),
        1,
        prefer_tflite=True,
        num_tflite_interpreters=interpreters,
    )
    signature = servable.signatures["serving_default"]
    assert len(servable.runtime) == interpreters

    def run(scale):
        x = X * scale
        return x, signature.run({"x": x}, ("y",))["y"]

    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(32)))

    kernel = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
    for x, y in results:
        np.testing.assert_allclose(y, x @ kernel + 1.0, rtol=1e-5)


def test_without_model_tflite_the_saved_model_is_served(
    tflite_base_path, tmp_path
):
    base_path = tmp_path / "affine"
    shutil.copytree(tflite_base_path, base_path)
    (base_path / "1" / tflite_servable.TFLITE_FILENAME).unlink()

    servable = loader.load_servable(
        "affine", str(base_path), 1, prefer_tflite=True
    )

    assert not isinstance(
        servable.signatures["serving_default"], tflite_servable.TfliteSignature
    )


def test_corrupt_tflite_file_fails_with_its_path(tmp_path):
    version_path = tmp_path / "affine" / "1"
    version_path.mkdir(parents=True)
    tflite_path = version_path / tflite_servable.TFLITE_FILENAME
    tflite_path.write_bytes(b"not a flatbuffer")

    with pytest.raises(ValueError, match="Cannot load TFLite model"):
        loader.load_servable(
            "affine", str(tmp_path / "affine"), 1, prefer_tflite=True
        )
