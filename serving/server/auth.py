"""Optional bearer-token authentication (beyond TensorFlow Serving).

With --auth_token_file, every gRPC call must carry the metadata
`authorization: Bearer <token>`; others end with UNAUTHENTICATED before
reaching a servicer. The health service stays open: Kubernetes' gRPC
probes and most load balancers cannot send credentials, and it reveals
nothing about the models.
"""

import hmac

import grpc

HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"
_SCHEME = "Bearer "


def read_token_file(path):
    """Reads the token from a file, ignoring surrounding whitespace.

    Raises:
        OSError: if the file cannot be read.
        ValueError: if it holds no token.
    """
    with open(path, encoding="utf-8") as token_file:
        token = token_file.read().strip()
    if not token:
        raise ValueError(
            f"Auth token file {path!r} is empty; write the token clients "
            "must send as 'authorization: Bearer <token>'."
        )
    return token


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Rejects calls without the right bearer token (except health checks).

    Args:
        token: str. The token clients must present.
    """

    def __init__(self, token):
        self._expected = (_SCHEME + token).encode("utf-8")
        self._reject = grpc.unary_unary_rpc_method_handler(_unauthenticated)

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(HEALTH_SERVICE_PREFIX):
            return continuation(handler_call_details)
        if self._authorized(handler_call_details.invocation_metadata):
            return continuation(handler_call_details)
        return self._reject

    def _authorized(self, metadata):
        for key, value in metadata or ():
            if key == "authorization":
                presented = (
                    value.encode("utf-8") if isinstance(value, str) else value
                )
                # Constant time, so the token cannot be guessed byte by byte.
                return hmac.compare_digest(presented, self._expected)
        return False


def _unauthenticated(request, context):
    context.abort(
        grpc.StatusCode.UNAUTHENTICATED,
        "Missing or invalid bearer token: send the metadata "
        "'authorization: Bearer <token>'.",
    )
