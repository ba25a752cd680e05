"""Errors that become gRPC statuses.

Request handlers raise `ServingError` with the status code and message that
TensorFlow Serving would give; the gRPC layer turns it into the RPC status.
TensorFlow's own errors (raised while a model runs) already carry a
canonical code, which `status_code_for_tf_error` maps to the gRPC one.
"""

import grpc

# TensorFlow and gRPC share the canonical status code numbering
# (google.rpc.Code), so the mapping is by number, not by a hand-made table.
_STATUS_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failure with a gRPC status code and a message for clients.

    Args:
        code: grpc.StatusCode. The status the RPC ends with.
        message: str. The status details shown to the client.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message):
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def resource_exhausted(message):
    return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def unavailable(message):
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def deadline_exceeded(message="Deadline exceeded"):
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def unimplemented(message):
    return ServingError(grpc.StatusCode.UNIMPLEMENTED, message)


def internal(message):
    return ServingError(grpc.StatusCode.INTERNAL, message)


def status_code_for_tf_error(error):
    """Returns the grpc.StatusCode matching a `tf.errors.OpError`'s code."""
    return _STATUS_CODES_BY_NUMBER.get(
        error.error_code, grpc.StatusCode.UNKNOWN
    )
