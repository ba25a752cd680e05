"""gRPC servicer for tensorflow.serving.ModelService."""

from tensorflow_serving.apis import model_service_pb2_grpc

from serving.server import reload_config
from serving.server import status
from serving.server.rpc import answer


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest.

    Args:
        core: ServerCore. Its manager answers status requests; it applies
            reloaded configs.
    """

    def __init__(self, core):
        self._core = core

    def GetModelStatus(self, request, context):
        return answer(
            context, status.get_model_status, self._core.manager, request
        )

    def HandleReloadConfigRequest(self, request, context):
        return answer(
            context,
            reload_config.handle_reload_config_request,
            self._core,
            request,
        )
