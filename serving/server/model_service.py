"""gRPC servicer for tensorflow.serving.ModelService."""

from tensorflow_serving.apis import model_service_pb2_grpc

from serving.server import status
from serving.server.rpc import answer
from serving.server.rpc import unimplemented

_RESTART = "Restart the server to load a different model."


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest is UNIMPLEMENTED.

    Args:
        manager: ModelManager. The servables to report on.
    """

    def __init__(self, manager):
        self._manager = manager

    def GetModelStatus(self, request, context):
        return answer(context, status.get_model_status, self._manager, request)

    def HandleReloadConfigRequest(self, request, context):
        unimplemented(
            context, "ModelService.HandleReloadConfigRequest", _RESTART
        )
