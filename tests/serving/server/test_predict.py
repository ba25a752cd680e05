"""PredictionService.Predict over real gRPC against the toy SavedModel."""

from concurrent import futures

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server import loader
from serving.server import predict
from serving.server.manager import ModelManager

INVALID = grpc.StatusCode.INVALID_ARGUMENT
TEXT = ["a", "héllo"]
X = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)


def _request(model_name, inputs, **model_spec):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    for field, value in model_spec.items():
        if field == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, field, value)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tensors.to_tensor_proto(value))
    return request


def test_predict_runs_the_latest_version(prediction_client, model_name):
    outputs = prediction_client.predict(model_name, {"text": TEXT, "x": X})

    assert sorted(outputs) == ["length", "y"]
    # tf.strings.length counts bytes: "héllo" arrives as 6 UTF-8 bytes.
    np.testing.assert_array_equal(outputs["length"], [1, 6])
    np.testing.assert_allclose(outputs["y"], X * 2)


def test_response_model_spec_names_model_version_and_default_signature(
    prediction_stub, model_name
):
    request = _request(model_name, {"text": TEXT, "x": X})
    assert request.model_spec.signature_name == ""

    response = prediction_stub.Predict(request)

    assert response.model_spec.name == model_name
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"


def test_explicit_latest_version(prediction_client, model_name):
    outputs = prediction_client.predict(
        model_name, {"text": TEXT, "x": X}, version=2
    )

    np.testing.assert_allclose(outputs["y"], X * 2)


def test_explicit_older_version_runs_when_loaded(model_name, model_base_path):
    # The server binary loads only the latest version (TF Serving's default
    # policy), but the manager serves any version it is given.
    manager = ModelManager()
    for version in (1, 2):
        manager.add(
            loader.load_servable(model_name, str(model_base_path), version)
        )
    request = _request(model_name, {"text": TEXT, "x": X}, version=1)

    response = predict.predict(manager, request)

    assert response.model_spec.version.value == 1
    np.testing.assert_allclose(tensors.to_ndarray(response.outputs["y"]), X)


def test_version_not_loaded_is_not_found(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(
        grpc.StatusCode.NOT_FOUND,
        f"Servable not found for request: Specific({model_name}, 1)",
    ):
        prediction_client.predict(model_name, {"text": TEXT, "x": X}, version=1)


def test_unknown_model_is_not_found(prediction_client, expect_rpc_error):
    with expect_rpc_error(
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    ):
        prediction_client.predict("nope", {"text": TEXT, "x": X})


def test_unknown_signature_is_failed_precondition(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "classify" not found.',
    ):
        prediction_client.predict(
            model_name, {"x": X}, signature_name="classify"
        )


def test_missing_model_spec_is_invalid_argument(
    prediction_stub, expect_rpc_error
):
    with expect_rpc_error(INVALID, "Missing ModelSpec"):
        prediction_stub.Predict(predict_pb2.PredictRequest())


def test_version_label_is_invalid_argument(
    prediction_stub, model_name, expect_rpc_error
):
    request = _request(model_name, {"x": X}, version_label="stable")

    with expect_rpc_error(INVALID, "Unrecognized servable version label"):
        prediction_stub.Predict(request)


def test_missing_input_names_it_and_the_expected_ones(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(
        INVALID,
        "input size does not match signature: 1!=2",
        "len({text,x})",
        "Missing but required: {text}.",
    ):
        prediction_client.predict(model_name, {"x": X})


def test_extra_input_is_named(prediction_client, model_name, expect_rpc_error):
    with expect_rpc_error(INVALID, "Sent extra: {z}. Missing but required: {}"):
        prediction_client.predict(model_name, {"text": TEXT, "x": X, "z": X})


def test_misnamed_input_is_named_with_the_expected_set(
    prediction_client, model_name, expect_rpc_error
):
    # TF Serving's message since SignatureDef defaults (2.14).
    with expect_rpc_error(
        INVALID,
        "Signature input alias: text(feed name: serving_default_text:0) not "
        "found in request and no default value provided. Inputs expected to "
        "be in the request {words,x}, or default input alias set: ",
    ):
        prediction_client.predict(model_name, {"words": TEXT, "x": X})


def test_wrong_dtype_names_tensor_and_both_dtypes(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(
        INVALID,
        'Input "x" of signature "serving_default" expects dtype float32, '
        "but the request sent float64.",
    ):
        prediction_client.predict(
            model_name, {"text": TEXT, "x": X.astype(np.float64)}
        )


def test_shape_other_than_the_signature_records_runs_in_the_graph(
    prediction_client, model_name
):
    # The signature records x as (None, 2); like TF Serving, the graph
    # (x * version) decides, and it takes a vector or three columns.
    outputs = prediction_client.predict(
        model_name, {"text": ["abc"], "x": np.ones((1, 3), np.float32)}
    )
    vector = prediction_client.predict(model_name, {"text": TEXT, "x": X[0]})

    np.testing.assert_allclose(outputs["y"], [[2.0, 2.0, 2.0]])
    np.testing.assert_allclose(vector["y"], X[0] * 2)
    np.testing.assert_array_equal(vector["length"], [1, 6])


def test_corrupt_tensor_content_is_invalid_argument(
    prediction_stub, model_name, expect_rpc_error
):
    request = _request(model_name, {"text": TEXT, "x": X})
    x_proto = request.inputs["x"]
    x_proto.tensor_content = x_proto.tensor_content[:-3]

    with expect_rpc_error(
        INVALID, "tensor parsing error: x", "tensor_content has 13 bytes"
    ):
        prediction_stub.Predict(request)


def test_error_inside_the_model_keeps_its_tensorflow_code(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(INVALID, "Unknown image file format"):
        prediction_client.predict(
            model_name,
            {"image_bytes": b"not an image"},
            signature_name="decode_image",
        )


def test_output_filter_returns_only_the_named_outputs(
    prediction_client, model_name
):
    outputs = prediction_client.predict(
        model_name, {"text": TEXT, "x": X}, output_filter=["y"]
    )

    assert list(outputs) == ["y"]
    np.testing.assert_allclose(outputs["y"], X * 2)


@pytest.mark.parametrize(
    "output_filter, message",
    [
        (["y", "logits"], "output tensor alias not found in signature: logits"),
        (["y", "y"], "duplicate output tensor alias: y"),
    ],
)
def test_bad_output_filter_is_invalid_argument(
    prediction_client, model_name, expect_rpc_error, output_filter, message
):
    with expect_rpc_error(INVALID, message):
        prediction_client.predict(
            model_name, {"text": TEXT, "x": X}, output_filter=output_filter
        )


def test_server_keeps_answering_after_bad_requests(
    prediction_client, prediction_stub, model_name
):
    corrupt = _request(model_name, {"text": TEXT, "x": X})
    corrupt.inputs["text"].tensor_shape.dim[0].size = -7
    bad_calls = [
        lambda: prediction_stub.Predict(corrupt),
        lambda: prediction_client.predict(model_name, {"x": "oops"}),
        lambda: prediction_client.predict(
            model_name, {"image_bytes": b""}, signature_name="decode_image"
        ),
        lambda: prediction_client.predict(
            model_name, {"text": TEXT, "x": [[1, 2]]}
        ),
    ]
    for bad_call in bad_calls:
        with pytest.raises(grpc.RpcError):
            bad_call()

    outputs = prediction_client.predict(model_name, {"text": TEXT, "x": X})

    np.testing.assert_allclose(outputs["y"], X * 2)


def test_concurrent_predicts_each_get_their_own_answer(
    prediction_client, model_name
):
    def run(scale):
        x = X * scale
        return x, prediction_client.predict(model_name, {"text": TEXT, "x": x})

    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(16)))

    for x, outputs in results:
        np.testing.assert_allclose(outputs["y"], x * 2)
