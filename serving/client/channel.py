"""Building the gRPC channel: message sizes, retries, TLS.

Retries use gRPC's own retry policy (a service config), not a loop in
Python: gRPC retries a call that failed with UNAVAILABLE (server down or
restarting, connection refused, overloaded queue) after a randomised,
exponentially growing backoff, up to `max_attempts` tries, all within the
call's deadline. gRPC caps attempts at 5. No other status is retried, so
a bad request fails at once.
"""

import dataclasses
import json

import grpc

# Match the server: inputs and outputs (images, batches) exceed gRPC's 4 MiB.
MAX_MESSAGE_BYTES = 2**31 - 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_INITIAL_BACKOFF_SECONDS = 0.1
DEFAULT_MAX_BACKOFF_SECONDS = 2.0
MAX_ATTEMPTS_LIMIT = 5  # gRPC's own cap
_SERVICES = (
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
)


@dataclasses.dataclass(frozen=True)
class TlsConfig:
    """TLS settings for a client.

    Args:
        root_certificates: bytes | None. PEM of the CAs trusted to sign the
            server's certificate; None uses the system's roots.
        certificate_chain: bytes | None. PEM client certificate, for
            servers that require mutual TLS.
        private_key: bytes | None. PEM key of that certificate.
        server_name: str | None. Name to check the server certificate
            against, when it differs from the address's host.
    """

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None


def create_channel(
    address,
    max_message_bytes=MAX_MESSAGE_BYTES,
    max_attempts=DEFAULT_MAX_ATTEMPTS,
    initial_backoff=DEFAULT_INITIAL_BACKOFF_SECONDS,
    max_backoff=DEFAULT_MAX_BACKOFF_SECONDS,
    tls=None,
):
    """Opens a channel to "host:port" (see `PredictionClient` for args).

    Raises:
        ValueError: for max_attempts outside 1..5 or non-positive backoffs.
    """
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    options += _retry_options(max_attempts, initial_backoff, max_backoff)
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.root_certificates,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )
    return grpc.secure_channel(address, credentials, options=options)


def _retry_options(max_attempts, initial_backoff, max_backoff):
    if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise ValueError(
            f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT} (gRPC's "
            f"limit), got {max_attempts}. Use 1 to disable retries."
        )
    if max_attempts == 1:
        return [("grpc.enable_retries", 0)]
    if initial_backoff <= 0 or max_backoff < initial_backoff:
        raise ValueError(
            "Backoffs must satisfy 0 < initial_backoff <= max_backoff, got "
            f"initial_backoff={initial_backoff}, max_backoff={max_backoff}."
        )
    policy = {
        "maxAttempts": max_attempts,
        "initialBackoff": f"{initial_backoff}s",
        "maxBackoff": f"{max_backoff}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    config = {
        "methodConfig": [
            {
                "name": [{"service": service} for service in _SERVICES],
                "retryPolicy": policy,
            }
        ]
    }
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(config)),
    ]
