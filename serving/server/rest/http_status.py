"""TensorFlow Serving's HTTP status for each canonical (gRPC) status code.

Follows `ToHTTPStatusCode` in TensorFlow Serving's http_server.cc, so a
REST client sees the same status the official server would send, e.g.
FAILED_PRECONDITION (an unknown signature over gRPC) -> 400 and
DEADLINE_EXCEEDED -> 504.
"""

import json

import grpc

_CLIENT_CLOSED_REQUEST = 499

HTTP_STATUS_BY_CODE = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: _CLIENT_CLOSED_REQUEST,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def http_status(code):
    """Maps a grpc.StatusCode to TensorFlow Serving's HTTP status."""
    return HTTP_STATUS_BY_CODE.get(code, 500)


def error_body(message):
    """The `{"error": message}` body every failed REST call returns."""
    return json.dumps({"error": message}).encode("utf-8")
