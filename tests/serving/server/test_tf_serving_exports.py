"""SavedModels exported the ways TF Serving's users export them, served
over real gRPC and REST the way TF Serving serves them.

- `half_plus_two`: a TF1 graph written by SavedModelBuilder into the
  zero-padded version directory 00000123 (as in TF Serving's own test
  data): x is parsed from tf.Examples and recorded as (-1, 1), y = a*x + 2;
  signatures serving_default (predict x -> y), regress_x_to_y and
  classify_x_to_y (both on the tf.Examples), and regress_x_to_y_twice,
  reading the same feature from a second placeholder to give 2 * y.
- `keras_dense`: a Keras model saved by `model.export`, one Dense unit
  computing y = 0.5 * x + 2 on x of shape (None, 1).
- `scaler`: a TF2 `tf.saved_model.save` with several signatures:
  serving_default(x, scale=3.0) -> y = x * scale, where scale has a
  default value; and, on serialized tf.Examples with a float feature x,
  regress -> outputs = 2 * x and classify -> classes ["pos", "neg"] with
  scores [x, -x]. Each has its own input tensor, as TF2 exports do.
- `lite_session`: a TFLite file converted `from_session` (no signatures)
  from a TF1 graph y = 0.5 * x + 2, x a placeholder of shape (None, 1).
- `lite_metadata`: the same file with SignatureDefs in its metadata, as
  TFLite's signature_def_util writes them: serving_default (input ->
  output, naming the TF tensors "x:0" and "y:0").
"""

import logging

import grpc
import keras
import numpy as np
import pytest
import requests
import tensorflow as tf
from flatbuffers import flexbuffers
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.lite.python import schema_py_generated as schema_fb
from tensorflow.lite.tools import flatbuffer_utils
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import tensors
from serving.server import grpc_server
from serving.server import loader
from serving.server.config import messages
from serving.server.config.text_proto import parse_text_proto
from serving.server.manager import ModelManager
from serving.server.prediction_service import PredictionService
from serving.server.rest import RestServer
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore

FAST = LoadOptions(
    max_num_load_retries=0,
    load_retry_interval_seconds=0.01,
    prefer_tflite_model=True,
)
CLASSIFY = tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS = tf.saved_model.REGRESS_METHOD_NAME
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.Value("AVAILABLE")


def export_half_plus_two(path, a=0.5):
    """Writes TF Serving's half_plus_two as a TF1 user exports it."""
    graph = tf.Graph()
    with graph.as_default():
        examples = tf.compat.v1.placeholder(tf.string, [None], "tf_example")
        x = tf.identity(_parse_tf1_x(examples), name="x")
        slope = tf.compat.v1.Variable(a, name="a")
        y = tf.add(slope * x, 2.0, name="y")
        other_examples = tf.compat.v1.placeholder(tf.string, [None])
        y_twice = 2.0 * (slope * _parse_tf1_x(other_examples) + 2.0)
        utils = tf.compat.v1.saved_model.signature_def_utils
        signature_def_map = {
            "serving_default": utils.predict_signature_def({"x": x}, {"y": y}),
            "regress_x_to_y": utils.regression_signature_def(examples, y),
            "classify_x_to_y": utils.classification_signature_def(
                examples, None, y
            ),
            "regress_x_to_y_twice": utils.regression_signature_def(
                other_examples, y_twice
            ),
        }
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map=signature_def_map
            )
            builder.save()


def _parse_tf1_x(serialized):
    features = {"x": tf.io.FixedLenFeature([1], tf.float32)}
    return tf.io.parse_example(serialized, features)["x"]


def export_keras_dense(path):
    """A Keras user's export of y = 0.5 * x + 2."""
    x = keras.Input((1,), name="x")
    dense = keras.layers.Dense(1, name="y")
    model = keras.Model(x, dense(x))
    dense.set_weights([np.array([[0.5]]), np.array([2.0])])
    model.export(str(path), verbose=False)


# A tensor: TF2 records a signature default only for tensor defaults.
DEFAULT_SCALE = tf.constant(3.0)


class _Scaler(tf.Module):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.float32),
        ]
    )
    def scale(self, x, scale=DEFAULT_SCALE):
        return {"y": x * scale}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def regress(self, inputs):
        return {"outputs": 2.0 * _parse_x(inputs)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(self, inputs):
        x = _parse_x(inputs)
        classes = tf.tile([["pos", "neg"]], [tf.shape(x)[0], 1])
        return {"classes": classes, "scores": tf.stack([x, -x], axis=1)}


def _parse_x(serialized):
    features = {"x": tf.io.FixedLenFeature([], tf.float32)}
    return tf.io.parse_example(serialized, features)["x"]


def export_scaler(path):
    """A TF2 user's export with several signatures, one with a default."""
    module = _Scaler()
    signatures = {
        "serving_default": module.scale,
        "regress": module.regress,
        "classify": module.classify,
    }
    tf.saved_model.save(module, str(path), signatures=signatures)


def convert_half_plus_two_from_session():
    """An older TFLite user's conversion, which writes no signatures."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 1], "x")
        y = tf.add(0.5 * x, 2.0, name="y")
        with tf.compat.v1.Session(graph=graph) as session:
            converter = tf.compat.v1.lite.TFLiteConverter.from_session(
                session, [x], [y]
            )
            return converter.convert()


def with_metadata_signature_defs(model_bytes, signature_defs):
    """Embeds SignatureDefs in a TFLite model's metadata, as TFLite's
    signature_def_util.SetSignatureDefMap does: a flexbuffer map from key
    to serialized SignatureDef in a buffer named signature_defs_metadata."""
    builder = flexbuffers.Builder()
    with builder.Map():
        for key, signature_def in sorted(signature_defs.items()):
            builder.Key(key)
            # Builder.String only takes text; the C++ writer stores the
            # serialized proto's bytes as a flexbuffer string.
            builder._WriteBlob(
                signature_def.SerializeToString(),
                append_zero=True,
                type_=flexbuffers.Type.STRING,
            )
    model = flatbuffer_utils.convert_bytearray_to_object(model_bytes)
    buffer = schema_fb.BufferT()
    buffer.data = builder.Finish()
    model.buffers.append(buffer)
    metadata = schema_fb.MetadataT()
    metadata.name = "signature_defs_metadata"
    metadata.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), metadata]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _tf_tensor_info(name, shape):
    info = meta_graph_pb2.TensorInfo(name=name, dtype=types_pb2.DT_FLOAT)
    for size in shape:
        info.tensor_shape.dim.add(size=size)
    return info


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The base paths of the models above, by name."""
    root = tmp_path_factory.mktemp("exports")
    export_half_plus_two(root / "half_plus_two" / "00000123")
    export_keras_dense(root / "keras_dense" / "1")
    export_scaler(root / "scaler" / "1")
    lite = convert_half_plus_two_from_session()
    (root / "lite_session" / "1").mkdir(parents=True)
    (root / "lite_session" / "1" / "model.tflite").write_bytes(lite)
    serving_default = meta_graph_pb2.SignatureDef(
        method_name=tf.saved_model.PREDICT_METHOD_NAME
    )
    serving_default.inputs["input"].CopyFrom(_tf_tensor_info("x:0", [-1, 1]))
    serving_default.outputs["output"].CopyFrom(_tf_tensor_info("y:0", [-1, 1]))
    (root / "lite_metadata" / "1").mkdir(parents=True)
    (root / "lite_metadata" / "1" / "model.tflite").write_bytes(
        with_metadata_signature_defs(lite, {"serving_default": serving_default})
    )
    return {
        name: root / name
        for name in (
            "half_plus_two",
            "keras_dense",
            "scaler",
            "lite_session",
            "lite_metadata",
        )
    }


def _model_server_config(base_paths):
    entries = "".join(
        f'config {{ name: "{name}" base_path: "{path}" '
        'model_platform: "tensorflow" }'
        for name, path in sorted(base_paths.items())
    )
    return parse_text_proto(
        f"model_config_list {{ {entries} }}",
        messages.ModelServerConfig,
        "test",
    )


class Served:
    """The models of `exports`, behind one gRPC and one REST port."""

    def __init__(self, core, grpc_address, rest_url):
        self.core = core
        self.channel = grpc.insecure_channel(grpc_address)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(
            self.channel
        )
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.rest_url = rest_url
        self.http = requests.Session()

    def rest(self, method, path, body=None):
        """(HTTP status, parsed JSON) of a REST call."""
        response = self.http.request(
            method, self.rest_url + path, json=body, timeout=30
        )
        return response.status_code, response.json()


@pytest.fixture(scope="module")
def served(exports):
    core = ServerCore(ModelManager(), FAST)
    core.reload_config(_model_server_config(exports))
    service = PredictionService(core.manager)
    server, port = grpc_server.start_grpc_server(
        core.manager,
        0,
        grpc_server.GrpcServerOptions(host="127.0.0.1"),
        core=core,
        prediction_service=service,
    )
    rest = RestServer(
        core.manager,
        0,
        host="127.0.0.1",
        predictor=service.predictor.predict,
    )
    rest_port = rest.start()
    served = Served(core, f"127.0.0.1:{port}", f"http://127.0.0.1:{rest_port}")
    yield served
    served.http.close()
    served.channel.close()
    rest.stop(grace_seconds=1)
    server.stop(grace=None)
    service.close()


def _predict_request(model_name, inputs, signature_name=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tensors.to_tensor_proto(value))
    return request


def _outputs(response):
    return {
        name: tensors.to_ndarray(proto)
        for name, proto in response.outputs.items()
    }


# 1. Zero-padded version directories.


def test_zero_padded_directory_is_served_as_its_number(served):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"

    (status,) = served.models.GetModelStatus(request).model_version_status
    rest_status, rest_body = served.rest("GET", "/v1/models/half_plus_two")

    assert (status.version, status.state) == (123, AVAILABLE)
    assert rest_status == 200
    assert rest_body["model_version_status"][0]["version"] == "123"
    assert rest_body["model_version_status"][0]["state"] == "AVAILABLE"


def test_zero_padded_version_answers_by_its_number(served):
    request = _predict_request(
        "half_plus_two", {"x": np.array([[1.0]], np.float32)}
    )
    request.model_spec.version.value = 123

    response = served.predictions.Predict(request)
    status, body = served.rest(
        "POST",
        "/v1/models/half_plus_two/versions/123:predict",
        {"instances": [[4.0]]},
    )

    assert response.model_spec.version.value == 123
    np.testing.assert_allclose(_outputs(response)["y"], [[2.5]])
    assert (status, body) == (200, {"predictions": [[4.0]]})


def test_plain_directory_wins_over_a_padded_one_for_the_same_version(
    tmp_path, caplog
):
    base_path = tmp_path / "half_plus_two"
    export_half_plus_two(base_path / "00000123", a=0.5)
    export_half_plus_two(base_path / "123", a=3.0)
    core = ServerCore(ModelManager(), FAST)
    config = _model_server_config({"half_plus_two": base_path})

    with caplog.at_level(logging.WARNING, "serving.server.server_core"):
        core.reload_config(config)
        core.poll()

    (servable,) = core.manager.versions("half_plus_two")
    assert servable.version == 123
    assert servable.path == str(base_path / "123")
    y = servable.signatures["serving_default"](x=[[1.0]])["y"]
    np.testing.assert_allclose(y, [[5.0]])  # a = 3: loaded from 123/
    warnings = [r.getMessage() for r in caplog.records if "Duplicate" in r.msg]
    assert warnings == [
        "Duplicate version directories detected. Version 123 of model "
        "half_plus_two will be loaded from 123, 00000123 will be ignored."
    ]


def test_versions_read_like_tf_serving_reads_directory_names(tmp_path):
    for name in ("007", "12", "+3", "-4", "²", "1e3", "0x10", "9" * 20, "a1"):
        (tmp_path / name).mkdir()

    directories = loader.find_version_directories(str(tmp_path))

    assert directories.by_version == {7: "007", 12: "12", 3: "+3", -4: "-4"}
    assert loader.parse_version(" 42\t") == 42
    assert loader.parse_version(str(2**63)) is None


# 2. Request shapes: the SignatureDef's shape is advisory.


@pytest.mark.parametrize(
    "x, expected",
    [([1.0], [2.5]), ([1.0, 2.0, 5.0], [2.5, 3.0, 4.5])],
)
def test_shape_recorded_as_minus_one_by_one_takes_a_vector(served, x, expected):
    response = served.predictions.Predict(
        _predict_request("half_plus_two", {"x": np.array(x, np.float32)})
    )
    status, body = served.rest(
        "POST", "/v1/models/half_plus_two:predict", {"instances": x}
    )

    np.testing.assert_allclose(_outputs(response)["y"], expected)
    assert (status, body) == (200, {"predictions": expected})


def test_any_rank_the_graph_takes_is_answered(served):
    request = _predict_request(
        "half_plus_two", {"x": np.array([[[1.0]], [[2.0]]], np.float32)}
    )

    response = served.predictions.Predict(request)

    np.testing.assert_allclose(_outputs(response)["y"], [[[2.5]], [[3.0]]])


def test_shape_the_graph_cannot_take_fails_in_the_graph(served):
    # The Keras Dense layer is a MatMul: a vector is not a matrix.
    request = _predict_request(
        "keras_dense", {"x": np.array([1.0, 2.0], np.float32)}
    )

    with pytest.raises(grpc.RpcError) as raised:
        served.predictions.Predict(request)
    status, body = served.rest(
        "POST", "/v1/models/keras_dense:predict", {"inputs": {"x": [1.0]}}
    )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "In[0] is not a matrix" in raised.value.details()
    assert status == 400
    assert "In[0] is not a matrix" in body["error"]


def test_keras_export_answers_the_shape_it_records(served):
    request = _predict_request(
        "keras_dense", {"x": np.array([[1.0], [4.0]], np.float32)}
    )

    response = served.predictions.Predict(request)
    status, body = served.rest(
        "POST", "/v1/models/keras_dense:predict", {"instances": [[2.0]]}
    )

    # model.export names the output output_0.
    np.testing.assert_allclose(_outputs(response)["output_0"], [[2.5], [4.0]])
    assert (status, body) == (200, {"predictions": [[3.0]]})


# 3. Signature defaults.


def test_input_with_a_default_may_be_left_out_over_grpc(served):
    x = np.array([1.0, 2.0], np.float32)

    defaulted = served.predictions.Predict(_predict_request("scaler", {"x": x}))
    given = served.predictions.Predict(
        _predict_request("scaler", {"x": x, "scale": np.float32(10.0)})
    )

    np.testing.assert_allclose(_outputs(defaulted)["y"], [3.0, 6.0])
    np.testing.assert_allclose(_outputs(given)["y"], [10.0, 20.0])


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"instances": [1.0, 2.0]}, {"predictions": [3.0, 6.0]}),
        ({"instances": [{"x": 1.0}, {"x": 2.0}]}, {"predictions": [3.0, 6.0]}),
        ({"inputs": {"x": [1.0]}}, {"outputs": [3.0]}),
        ({"inputs": {"x": [1.0], "scale": 10}}, {"outputs": [10.0]}),
    ],
)
def test_input_with_a_default_may_be_left_out_over_rest(served, body, expected):
    status, answer = served.rest("POST", "/v1/models/scaler:predict", body)

    assert (status, answer) == (200, expected)


def test_input_without_a_default_is_still_required(served):
    request = _predict_request("scaler", {"scale": np.float32(2.0)})

    with pytest.raises(grpc.RpcError) as raised:
        served.predictions.Predict(request)
    status, body = served.rest(
        "POST", "/v1/models/scaler:predict", {"inputs": {"scale": 2.0}}
    )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "Signature input alias: x(feed name: serving_default_x:0) not found "
        "in request and no default value provided. Inputs expected to be in "
        "the request {scale}, or default input alias set: scale"
    )
    assert (status, body) == (
        400,
        {"error": "Missing named input: x in 'inputs' object."},
    )


# 4. MultiInference when each signature has its own input tensor.


def _multi_inference_request(model_name, tasks, xs):
    request = inference_pb2.MultiInferenceRequest()
    for signature_name, method_name in tasks:
        task = request.tasks.add()
        task.model_spec.name = model_name
        task.model_spec.signature_name = signature_name
        task.method_name = method_name
    for x in xs:
        example = request.input.example_list.examples.add()
        example.features.feature["x"].float_list.value.append(x)
    return request


def test_multi_inference_on_a_tf2_export(served):
    request = _multi_inference_request(
        "scaler",
        [("classify", CLASSIFY), ("regress", REGRESS)],
        [1.0, -2.5],
    )

    response = served.predictions.MultiInference(request)

    classification, regression = response.results
    examples = classification.classification_result.classifications
    classes = [[(c.label, c.score) for c in e.classes] for e in examples]
    values = [r.value for r in regression.regression_result.regressions]
    assert classes == [
        [("pos", 1.0), ("neg", -1.0)],
        [("pos", -2.5), ("neg", 2.5)],
    ]
    assert values == [2.0, -5.0]
    assert classification.model_spec.signature_name == "classify"
    assert regression.model_spec.version.value == 1


def test_multi_inference_on_tf1_signatures_with_different_inputs(served):
    # TF Serving feeds the examples to every input tensor the tasks name.
    request = _multi_inference_request(
        "half_plus_two",
        [("regress_x_to_y", REGRESS), ("regress_x_to_y_twice", REGRESS)],
        [2.0],
    )

    first, second = served.predictions.MultiInference(request).results

    assert [r.value for r in first.regression_result.regressions] == [3.0]
    assert [r.value for r in second.regression_result.regressions] == [6.0]


# 5. TFLite models without signatures, or with them in their metadata.


def _signature_def_map(served, model_name):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    request.metadata_field.append("signature_def")
    response = served.predictions.GetModelMetadata(request)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_defs)
    return signature_defs.signature_def


@pytest.mark.parametrize(
    "model_name, input_name, output_name",
    [("lite_session", "x", "y"), ("lite_metadata", "input", "output")],
)
def test_tflite_model_is_served_as_serving_default(
    served, model_name, input_name, output_name
):
    x = np.array([[1.0], [2.0], [5.0]], np.float32)

    response = served.predictions.Predict(
        _predict_request(model_name, {input_name: x})
    )
    status, body = served.rest(
        "POST",
        f"/v1/models/{model_name}:predict",
        {"instances": [{input_name: [4.0]}]},
    )
    (key,) = _signature_def_map(served, model_name)
    signature_def = _signature_def_map(served, model_name)[key]

    np.testing.assert_allclose(
        _outputs(response)[output_name], [[2.5], [3.0], [4.5]]
    )
    assert (status, body) == (200, {"predictions": [[4.0]]})
    assert key == "serving_default"
    assert signature_def.method_name == tf.saved_model.PREDICT_METHOD_NAME
    assert signature_def.inputs[input_name].name == "x"
    assert signature_def.outputs[output_name].name == "y"
    assert [
        d.size for d in signature_def.inputs[input_name].tensor_shape.dim
    ] == [
        -1,
        1,
    ]


def test_tflite_shape_it_cannot_run_is_internal_and_the_next_call_works(
    served,
):
    # Elementwise ops take any shape up to rank 6 (XNNPack's limit).
    bad = _predict_request("lite_session", {"x": np.ones((1,) * 7, np.float32)})
    good = _predict_request("lite_session", {"x": np.ones((1, 1), np.float32)})

    with pytest.raises(grpc.RpcError) as raised:
        served.predictions.Predict(bad)
    response = served.predictions.Predict(good)

    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "Failed to invoke TfLite interpreter" in raised.value.details()
    np.testing.assert_allclose(_outputs(response)["y"], [[2.5]])


def test_tflite_metadata_naming_an_unknown_tensor_fails_the_load(tmp_path):
    signature_def = meta_graph_pb2.SignatureDef()
    signature_def.inputs["input"].CopyFrom(_tf_tensor_info("z:0", [-1, 1]))
    signature_def.outputs["output"].CopyFrom(_tf_tensor_info("y:0", [-1, 1]))
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.tflite").write_bytes(
        with_metadata_signature_defs(
            convert_half_plus_two_from_session(), {"broken": signature_def}
        )
    )

    with pytest.raises(ValueError) as raised:
        loader.load_servable("lite", str(tmp_path), 1, prefer_tflite=True)

    assert str(raised.value) == (
        "Signature 'broken' input input references an unknown tensor 'z:0'; "
        "the model's input tensors are ['x']."
    )


# Found along the way: Predict outputs in typed fields, as TF Serving.


def test_predict_outputs_are_in_typed_fields_as_clients_read_them(served):
    request = _predict_request(
        "half_plus_two", {"x": np.array([1.0, 2.0, 5.0], np.float32)}
    )

    y = served.predictions.Predict(request).outputs["y"]

    # What TF Serving's client examples read.
    assert list(y.float_val) == [2.5, 3.0, 4.5]
    assert y.tensor_content == b""


def test_serialization_as_tensor_content_packs_outputs(exports):
    core = ServerCore(ModelManager(), FAST)
    core.reload_config(
        _model_server_config({"half_plus_two": exports["half_plus_two"]})
    )
    service = PredictionService(core.manager, tensor_content=True)
    request = _predict_request(
        "half_plus_two", {"x": np.array([1.0, 5.0], np.float32)}
    )

    y = service.predictor.predict(request).outputs["y"]

    assert list(y.float_val) == []
    np.testing.assert_array_equal(
        np.frombuffer(y.tensor_content, np.float32), [2.5, 4.5]
    )
