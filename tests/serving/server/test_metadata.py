"""PredictionService.GetModelMetadata over real gRPC."""

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _request(model_name, *fields):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    request.metadata_field.extend(fields)
    return request


def test_client_parses_dtypes_and_shapes(prediction_client, model_name):
    signatures = prediction_client.metadata(model_name)

    assert signatures["serving_default"] == {
        "inputs": {"text": ("string", (-1,)), "x": ("float32", (-1, 2))},
        "outputs": {"length": ("int32", (-1,)), "y": ("float32", (-1, 2))},
    }
    assert signatures["decode_image"]["inputs"] == {
        "image_bytes": ("string", ())
    }


def test_response_packs_a_signature_def_map_and_names_the_servable(
    prediction_stub, model_name
):
    response = prediction_stub.GetModelMetadata(
        _request(model_name, "signature_def")
    )

    assert response.model_spec.name == model_name
    assert response.model_spec.version.value == 2
    signature_def_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_def_map)
    serving_default = signature_def_map.signature_def["serving_default"]
    assert serving_default.method_name == "tensorflow/serving/predict"
    assert sorted(serving_default.inputs) == ["text", "x"]


def test_unsupported_metadata_field_is_invalid_argument(
    prediction_stub, model_name, expect_rpc_error
):
    request = _request(model_name, "signature_def", "warmup")

    with expect_rpc_error(INVALID, "Metadata field warmup is not supported"):
        prediction_stub.GetModelMetadata(request)


def test_missing_metadata_field_is_invalid_argument(
    prediction_stub, model_name, expect_rpc_error
):
    with expect_rpc_error(
        INVALID,
        "GetModelMetadataRequest must specify at least one metadata_field",
    ):
        prediction_stub.GetModelMetadata(_request(model_name))


def test_unknown_version_is_not_found(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(
        grpc.StatusCode.NOT_FOUND,
        f"Servable not found for request: Specific({model_name}, 9)",
    ):
        prediction_client.metadata(model_name, version=9)
