"""Clients for TensorFlow Serving's gRPC and REST APIs.

Both work against this package's model server and the official
`tensorflow_model_server`:

- `PredictionClient` (gRPC): predict, classify, regress, metadata, status,
  with deadlines, retries on UNAVAILABLE, TLS and a bearer token;
- `RestClient` (HTTP/JSON): predict (row or columnar), metadata, status;
  failures raise `RestError` with the HTTP status and the server's error.
"""

from serving.client.channel import TlsConfig
from serving.client.grpc_client import DEFAULT_SIGNATURE
from serving.client.grpc_client import DEFAULT_TIMEOUT_SECONDS
from serving.client.grpc_client import MAX_MESSAGE_BYTES
from serving.client.grpc_client import SIGNATURE_DEF_FIELD
from serving.client.grpc_client import PredictionClient
from serving.client.rest_client import RestClient
from serving.client.rest_client import RestError

__all__ = [
    "DEFAULT_SIGNATURE",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_MESSAGE_BYTES",
    "SIGNATURE_DEF_FIELD",
    "PredictionClient",
    "RestClient",
    "RestError",
    "TlsConfig",
]
