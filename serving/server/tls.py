"""Server credentials from TensorFlow Serving's SSLConfig (--ssl_config_file).

SSLConfig holds PEM text, not file names: `server_key`, `server_cert`,
`custom_ca` (trusted roots for client certificates) and `client_verify`,
which makes the server require and verify a client certificate (mutual
TLS), as TensorFlow Serving does.
"""

import grpc


def server_credentials(ssl_config, source="SSLConfig"):
    """Builds grpc.ServerCredentials from an SSLConfig message.

    Args:
        ssl_config: messages.SSLConfig.
        source: str. Where the config came from, named in errors.

    Raises:
        ValueError: for a missing key or certificate, or client_verify
            without custom_ca.
    """
    if not ssl_config.server_key or not ssl_config.server_cert:
        raise ValueError(
            f"{source} needs both server_key and server_cert (PEM text, not "
            "file names)."
        )
    if ssl_config.client_verify and not ssl_config.custom_ca:
        raise ValueError(
            f"{source} sets client_verify without custom_ca: put the PEM of "
            "the CA that signs client certificates in custom_ca."
        )
    return grpc.ssl_server_credentials(
        [(ssl_config.server_key.encode(), ssl_config.server_cert.encode())],
        root_certificates=ssl_config.custom_ca.encode() or None,
        require_client_auth=ssl_config.client_verify,
    )
