"""gRPC servicer for tensorflow.serving.PredictionService."""

from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server import metadata
from serving.server import predict
from serving.server.rpc import answer
from serving.server.rpc import unimplemented

_USE_PREDICT = "Call PredictionService.Predict with the signature instead."


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; the other RPCs are UNIMPLEMENTED.

    Args:
        manager: ModelManager. The servables to answer for.
    """

    def __init__(self, manager):
        self._manager = manager

    def Predict(self, request, context):
        return answer(context, predict.predict, self._manager, request)

    def GetModelMetadata(self, request, context):
        return answer(
            context, metadata.get_model_metadata, self._manager, request
        )

    def Classify(self, request, context):
        unimplemented(context, "PredictionService.Classify", _USE_PREDICT)

    def Regress(self, request, context):
        unimplemented(context, "PredictionService.Regress", _USE_PREDICT)

    def MultiInference(self, request, context):
        unimplemented(context, "PredictionService.MultiInference", _USE_PREDICT)
