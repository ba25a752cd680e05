"""Turning a handler's outcome into an RPC status, for every servicer.

Each RPC calls a plain function that takes the ModelManager and the request
and returns the response; every failure becomes an RPC status here, so
that no request can take the server down:

- `ServingError` -> its own code and message;
- a TensorFlow error raised while the model runs -> the gRPC code with the
  same number (InvalidArgumentError -> INVALID_ARGUMENT, ...) and the op's
  message;
- anything else -> INTERNAL, logged with its traceback.
"""

import logging

import grpc
import tensorflow as tf

from serving.server import errors

logger = logging.getLogger(__name__)


def answer(context, handler, manager, request):
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


def unimplemented(context, rpc_name, hint):
    context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{rpc_name} is not implemented by this model server yet. {hint}",
    )
