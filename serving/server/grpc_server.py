"""Starting the gRPC server that exposes the services on a port."""

from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.server.model_service import ModelService
from serving.server.prediction_service import PredictionService

# Like TensorFlow Serving, listen on every interface by default.
DEFAULT_HOST = "0.0.0.0"
# Requests run TensorFlow ops, which release the GIL, so threads do overlap.
DEFAULT_MAX_WORKERS = 8
# TensorFlow Serving lifts gRPC's 4 MiB default: images and batches are big.
MAX_MESSAGE_BYTES = 2**31 - 1
MESSAGE_SIZE_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)


def start_grpc_server(
    manager, port, host=DEFAULT_HOST, max_workers=DEFAULT_MAX_WORKERS
):
    """Starts serving PredictionService and ModelService for a manager.

    Args:
        manager: ModelManager. The servables to serve.
        port: int. The port to bind; 0 lets the OS pick a free one.
        host: str. The interface to bind.
        max_workers: int. Threads answering RPCs concurrently.

    Returns:
        (grpc.Server, int): the started server and the port it listens on.

    Raises:
        OSError: if the address cannot be bound.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="grpc-worker"
        ),
        options=MESSAGE_SIZE_OPTIONS,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(manager), server
    )
    address = f"{host}:{port}"
    try:
        bound_port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"Cannot listen on {address}: {error}") from error
    server.start()
    return server, bound_port
