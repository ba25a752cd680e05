"""Reading the files the flags point at, before anything starts.

Every config file is read and checked at startup, so that a typo in any
of them stops the server with a message naming the file (and, for text
protos, the line and column) instead of surfacing later.
"""

import dataclasses
from typing import Any

import grpc

from serving.server import auth
from serving.server import tls
from serving.server.config import bundle_config
from serving.server.config import messages
from serving.server.config import model_config
from serving.server.config.text_proto import read_text_proto


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """What the flags' files say.

    Args:
        model_server_config: ModelServerConfig. The models to serve.
        monitoring_config: MonitoringConfig. Empty without the flag.
        bundle_config: SessionBundleConfig. How versions load and run
            (session, batching, warmup, TFLite), from the flags or the
            --platform_config_file (see `bundle_config`).
        credentials: grpc.ServerCredentials | None. TLS or ALTS, if
            configured.
        auth_token: str. Required bearer token, or "" for none.
    """

    model_server_config: Any
    monitoring_config: Any
    bundle_config: Any
    credentials: Any
    auth_token: str

    @property
    def batching_parameters(self):
        """BatchingParameters, or None when batching is off."""
        if not self.bundle_config.HasField("batching_parameters"):
            return None
        return self.bundle_config.batching_parameters


def read_settings(server_flags):
    """Reads and checks every file named by the flags.

    Raises:
        OSError: if a file cannot be read (the message names it).
        ValueError: if a file's content is invalid (naming the file).
    """
    return ServerSettings(
        model_server_config=_model_server_config(server_flags),
        monitoring_config=_optional(
            server_flags.monitoring_config_file, messages.MonitoringConfig
        ),
        bundle_config=(
            bundle_config.from_platform_config_file(
                server_flags.platform_config_file
            )
            if server_flags.platform_config_file
            else bundle_config.from_flags(server_flags)
        ),
        credentials=_credentials(server_flags),
        auth_token=(
            auth.read_token_file(server_flags.auth_token_file)
            if server_flags.auth_token_file
            else ""
        ),
    )


def _model_server_config(server_flags):
    if not server_flags.model_config_file:
        return model_config.single_model_config(
            server_flags.model_name, server_flags.model_base_path
        )
    path = server_flags.model_config_file
    config = read_text_proto(path, messages.ModelServerConfig)
    try:
        model_config.validate_model_server_config(config)
    except ValueError as error:
        raise ValueError(
            f"Invalid model config file {path!r}: {error}"
        ) from error
    return config


def _credentials(server_flags):
    if server_flags.use_alts_credentials:
        # Google's ALTS: needs the handshaker service of a Google Cloud VM.
        return grpc.alts_server_credentials()
    path = server_flags.ssl_config_file
    if not path:
        return None
    ssl_config = read_text_proto(path, messages.SSLConfig)
    return tls.server_credentials(ssl_config, source=repr(path))


def _optional(path, message_class):
    return read_text_proto(path, message_class) if path else message_class()
