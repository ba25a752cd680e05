"""--enable_signature_method_name_check: off by default, as in TF Serving."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server import errors
from serving.server import flags
from serving.server import loader
from serving.server import predict
from serving.server.manager import ModelManager


@pytest.fixture(scope="module")
def custom_method_manager(tmp_path_factory):
    """A model whose one signature has a method name of its own."""
    path = tmp_path_factory.mktemp("custom") / "custom" / "1"
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], "x")
        utils = tf.compat.v1.saved_model.utils
        signature = tf.compat.v1.saved_model.build_signature_def(
            {"x": utils.build_tensor_info(x)},
            {"y": utils.build_tensor_info(x + 1.0)},
            method_name="example.com/custom",
        )
        with tf.compat.v1.Session(graph=graph) as session:
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(
                session,
                ["serve"],
                signature_def_map={"serving_default": signature},
            )
            builder.save()
    manager = ModelManager()
    manager.add(loader.load_servable("custom", str(path.parent), 1))
    return manager


def _request():
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "custom"
    request.inputs["x"].CopyFrom(
        tensors.to_tensor_proto(np.array([1.0], np.float32))
    )
    return request


def test_the_check_is_off_by_default():
    assert (
        flags.parse_flags(
            ["--model_base_path=/m"]
        ).enable_signature_method_name_check
        is False
    )
    assert flags.parse_flags(
        ["--model_base_path=/m", "--enable_signature_method_name_check"]
    ).enable_signature_method_name_check


def test_without_the_check_predict_runs_any_signature(custom_method_manager):
    response = predict.predict(custom_method_manager, _request())

    assert tensors.to_ndarray(response.outputs["y"]).tolist() == [2.0]


def test_with_the_check_predict_refuses_other_methods_as_internal(
    method_name_check, custom_method_manager
):
    with pytest.raises(errors.ServingError) as raised:
        predict.predict(custom_method_manager, _request())

    assert raised.value.code == grpc.StatusCode.INTERNAL
    assert raised.value.message == (
        "Expected prediction signature method_name to be one of "
        "{tensorflow/serving/predict, tensorflow/serving/classify, "
        "tensorflow/serving/regress}. Was: example.com/custom"
    )
