"""PredictionService: every RPC is answered, and bad calls keep serving."""

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from serving import tensors
from serving.server.limits import RequestLimits
from serving.server.manager import ModelManager
from serving.server.prediction_service import PredictionService

INVALID = grpc.StatusCode.INVALID_ARGUMENT


class _Expired:
    """A ServicerContext whose client deadline has already passed."""

    def time_remaining(self):
        return -1.0

    def abort(self, code, details):
        raise grpc.RpcError(code, details)


class _Manager:
    def __init__(self):
        self.lookups = 0

    def resolve(self, model_spec):
        self.lookups += 1
        raise AssertionError("an expired request must not be looked up")


def test_every_rpc_skips_work_for_an_expired_request():
    manager = _Manager()
    service = PredictionService(manager, batching_options=None, limits=None)
    calls = [
        (service.Predict, predict_pb2.PredictRequest()),
        (service.Classify, classification_pb2.ClassificationRequest()),
        (service.Regress, regression_pb2.RegressionRequest()),
        (service.MultiInference, inference_pb2.MultiInferenceRequest()),
    ]
    for rpc, request in calls:
        with pytest.raises(grpc.RpcError) as raised:
            rpc(request, _Expired())
        assert raised.value.args[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert manager.lookups == 0


def test_classify_on_a_signature_not_shaped_for_it_is_invalid_argument(
    prediction_stub, model_name, expect_rpc_error
):
    # The toy's serving_default takes two inputs; Classify needs one.
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = model_name
    request.input.example_list.examples.add()

    with expect_rpc_error(INVALID, "Expected one input Tensor."):
        prediction_stub.Classify(request)


def test_limits_given_to_the_service_apply_to_predict(
    start_prediction_server, latest_servable, model_name, expect_rpc_error
):
    manager = ModelManager()
    manager.add(latest_servable)
    stub, _ = start_prediction_server(manager, limits=RequestLimits(max_rank=1))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.inputs["text"].CopyFrom(tensors.to_tensor_proto(["a"]))
    request.inputs["x"].CopyFrom(
        tensors.to_tensor_proto(np.ones((1, 2), np.float32))
    )

    with expect_rpc_error(INVALID, "rank 2, more than the server's limit of 1"):
        stub.Predict(request, timeout=30)
