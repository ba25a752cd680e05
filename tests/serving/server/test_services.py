"""The RPCs this server does not implement yet say so, and keep serving."""

import grpc
import pytest
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import regression_pb2


@pytest.mark.parametrize(
    "service, rpc, request_type",
    [
        ("prediction", "Classify", classification_pb2.ClassificationRequest),
        ("prediction", "Regress", regression_pb2.RegressionRequest),
        ("prediction", "MultiInference", inference_pb2.MultiInferenceRequest),
        (
            "model",
            "HandleReloadConfigRequest",
            model_management_pb2.ReloadConfigRequest,
        ),
    ],
)
def test_unimplemented_rpcs_return_unimplemented(
    prediction_stub, model_stub, expect_rpc_error, service, rpc, request_type
):
    stub = prediction_stub if service == "prediction" else model_stub

    with expect_rpc_error(
        grpc.StatusCode.UNIMPLEMENTED, f"{rpc} is not implemented"
    ):
        getattr(stub, rpc)(request_type())
