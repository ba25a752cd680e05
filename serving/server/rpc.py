"""Turning a handler's outcome into an RPC status, for every servicer.

Each RPC calls a plain function that takes the ModelManager and the request
and returns the response; every failure becomes an RPC status here, so
that no request can take the server down:

- a request whose client deadline has already passed -> DEADLINE_EXCEEDED,
  without running the handler;
- `ServingError` -> its own code and message;
- a TensorFlow error raised while the model runs -> the gRPC code with the
  same number (InvalidArgumentError -> INVALID_ARGUMENT, ...) and the op's
  message;
- running out of memory -> RESOURCE_EXHAUSTED;
- anything else -> INTERNAL, logged with its traceback.
"""

import logging

import grpc
import tensorflow as tf

from serving.server import deadlines
from serving.server import errors

logger = logging.getLogger(__name__)


def answer(context, handler, *args):
    """Returns `handler(*args)` or aborts the RPC with the matching status.

    Args:
        context: grpc.ServicerContext.
        handler: callable. Usually `fn(manager, request)`.
        *args: passed to the handler.
    """
    try:
        deadlines.check(deadline(context))
        return handler(*args)
    except errors.ServingError as error:
        code, message = error.code, error.message
        logger.info("Rejected request: %s: %s", code.name, message)
    except tf.errors.OpError as error:
        code = errors.status_code_for_tf_error(error)
        message = error.message
        logger.warning("Model failed: %s: %s", code.name, message)
    except MemoryError:
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
        message = "Out of memory while answering the request."
        logger.error("Out of memory while answering a request")
    except Exception as error:  # the server must keep serving
        logger.exception("Unexpected error while answering a request")
        code = grpc.StatusCode.INTERNAL
        message = f"{type(error).__name__}: {error}"
    context.abort(code, message)


def deadline(context):
    """The client's deadline as a `time.monotonic()` value, or None."""
    return deadlines.from_time_remaining(context.time_remaining())
