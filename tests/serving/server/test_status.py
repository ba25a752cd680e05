"""ModelService.GetModelStatus over real gRPC."""

import grpc
from tensorflow_serving.apis import get_model_status_pb2

NOT_FOUND = grpc.StatusCode.NOT_FOUND


def test_latest_version_is_available(prediction_client, model_name):
    assert prediction_client.status(model_name) == [
        dict(version=2, state="AVAILABLE", error_code=0, error_message="")
    ]


def test_specific_version_is_available(prediction_client, model_name):
    [status] = prediction_client.status(model_name, version=2)

    assert status["state"] == "AVAILABLE"


def test_version_not_loaded_is_not_found(
    prediction_client, model_name, expect_rpc_error
):
    with expect_rpc_error(
        NOT_FOUND, f"Could not find version 1 of model {model_name}"
    ):
        prediction_client.status(model_name, version=1)


def test_unknown_model_is_not_found(prediction_client, expect_rpc_error):
    with expect_rpc_error(NOT_FOUND, "Could not find any versions of model x"):
        prediction_client.status("x")


def test_missing_model_spec_is_invalid_argument(model_stub, expect_rpc_error):
    with expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"
    ):
        model_stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest())
