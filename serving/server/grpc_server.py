"""Starting the gRPC server that exposes the services.

Listens on HOST:PORT and, with a socket path, on a UNIX socket too, both
with the same credentials (TLS when an SSLConfig is given), as TensorFlow
Serving does. With `enable_profiler`, TensorFlow's ProfilerService is
served on the same port, as TensorFlow Serving's --enable_profiler does.
--grpc_channel_arguments become server options that take precedence over
the built-in message-size ones.
"""

import dataclasses
import logging
import os
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server.model_service import ModelService
from serving.server.prediction_service import PredictionService
from serving.server.profiler_service import ProfilerService
from serving.server.server_core import ServerCore

logger = logging.getLogger(__name__)

# Like TensorFlow Serving, listen on every interface by default.
DEFAULT_HOST = "0.0.0.0"
# TensorFlow Serving's default --grpc_max_threads. Requests run TensorFlow
# ops, which release the GIL, so threads do overlap.
DEFAULT_MAX_WORKERS = 4 * (os.cpu_count() or 1)
# TensorFlow Serving lifts gRPC's 4 MiB default: images and batches are big.
MAX_MESSAGE_BYTES = 2**31 - 1
MESSAGE_SIZE_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)


@dataclasses.dataclass(frozen=True)
class GrpcServerOptions:
    """How the gRPC server listens.

    Args:
        host: str. The interface to bind.
        max_workers: int. Threads answering RPCs concurrently.
        socket_path: str. Also listen on this UNIX socket, if non-empty.
        channel_arguments: tuple[(str, int | str)]. Extra server options.
        credentials: grpc.ServerCredentials | None. None means plaintext.
        interceptors: tuple[grpc.ServerInterceptor]. Run before servicers.
        enable_profiler: bool. Serve tensorflow.ProfilerService too.
    """

    host: str = DEFAULT_HOST
    max_workers: int = DEFAULT_MAX_WORKERS
    socket_path: str = ""
    channel_arguments: tuple = ()
    credentials: grpc.ServerCredentials | None = None
    interceptors: tuple = ()
    enable_profiler: bool = False


def start_grpc_server(
    manager,
    port,
    options=GrpcServerOptions(),
    core=None,
    health=None,
    prediction_service=None,
):
    """Starts serving PredictionService and ModelService for a manager.

    Args:
        manager: ModelManager. The servables to serve.
        port: int. The port to bind; 0 lets the OS pick a free one.
        options: GrpcServerOptions.
        core: ServerCore | None. Applies HandleReloadConfigRequest; by
            default a core with an empty config over `manager`.
        health: ServingHealth | None. Adds the gRPC health service.
        prediction_service: PredictionService | None. By default an
            unbatched one over `manager`.

    Returns:
        (grpc.Server, int): the started server and the TCP port it listens
        on.

    Raises:
        OSError: if an address cannot be bound.
        ValueError: if `core` manages another manager.
    """
    core = core or ServerCore(manager)
    if core.manager is not manager:
        raise ValueError("`core` must manage the `manager` being served.")
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=options.max_workers, thread_name_prefix="grpc-worker"
        ),
        interceptors=options.interceptors,
        # gRPC keeps the first value of a repeated key: flags go first.
        options=tuple(options.channel_arguments) + MESSAGE_SIZE_OPTIONS,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        prediction_service or PredictionService(manager), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(core), server
    )
    if health is not None:
        health.add_to_server(server)
    if options.enable_profiler:
        server.add_generic_rpc_handlers((ProfilerService().rpc_handler(),))
        logger.info("Profiler service is enabled")
    bound_port = _listen(server, f"{options.host}:{port}", options.credentials)
    if options.socket_path:
        _listen(server, f"unix:{options.socket_path}", options.credentials)
    server.start()
    return server, bound_port


def _listen(server, address, credentials):
    try:
        if credentials is None:
            bound_port = server.add_insecure_port(address)
        else:
            bound_port = server.add_secure_port(address, credentials)
    except RuntimeError as error:
        raise OSError(f"Cannot listen on {address}: {error}") from error
    if bound_port == 0:
        raise OSError(f"Cannot listen on {address}: gRPC could not bind it")
    return bound_port
