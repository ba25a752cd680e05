"""gRPC servicers for tensorflow.serving.PredictionService and ModelService.

The servicers only translate: each RPC calls a plain function that takes
the ModelManager and the request and returns the response, and every
failure becomes an RPC status here, so that no request can take the server
down:

- `ServingError` -> its own code and message;
- a TensorFlow error raised while the model runs -> the gRPC code with the
  same number (InvalidArgumentError -> INVALID_ARGUMENT, ...) and the op's
  message;
- anything else -> INTERNAL, logged with its traceback.
"""

import logging

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server import errors
from serving.server import metadata
from serving.server import predict
from serving.server import status

logger = logging.getLogger(__name__)

_USE_PREDICT = "Call PredictionService.Predict with the signature instead."
_RESTART = "Restart the server to load a different model."


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; the other RPCs are UNIMPLEMENTED.

    Args:
        manager: ModelManager. The servables to answer for.
    """

    def __init__(self, manager):
        self._manager = manager

    def Predict(self, request, context):
        return _answer(context, predict.predict, self._manager, request)

    def GetModelMetadata(self, request, context):
        return _answer(
            context, metadata.get_model_metadata, self._manager, request
        )

    def Classify(self, request, context):
        _unimplemented(context, "PredictionService.Classify")

    def Regress(self, request, context):
        _unimplemented(context, "PredictionService.Regress")

    def MultiInference(self, request, context):
        _unimplemented(context, "PredictionService.MultiInference")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest is UNIMPLEMENTED.

    Args:
        manager: ModelManager. The servables to report on.
    """

    def __init__(self, manager):
        self._manager = manager

    def GetModelStatus(self, request, context):
        return _answer(context, status.get_model_status, self._manager, request)

    def HandleReloadConfigRequest(self, request, context):
        _unimplemented(
            context, "ModelService.HandleReloadConfigRequest", _RESTART
        )


def _answer(context, handler, manager, request):
    try:
        return handler(manager, request)
    except errors.ServingError as error:
        code, message = error.code, error.message
        logger.info("Rejected request: %s: %s", code.name, message)
    except tf.errors.OpError as error:
        code = errors.status_code_for_tf_error(error)
        message = error.message
        logger.warning("Model failed: %s: %s", code.name, message)
    except Exception as error:  # the server must keep serving
        logger.exception("Unexpected error while answering a request")
        code = grpc.StatusCode.INTERNAL
        message = f"{type(error).__name__}: {error}"
    context.abort(code, message)


def _unimplemented(context, rpc_name, hint=_USE_PREDICT):
    context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{rpc_name} is not implemented by this model server yet. {hint}",
    )
