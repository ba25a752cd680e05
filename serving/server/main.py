"""`mmkeras-model-server`: serve a SavedModel like `tensorflow_model_server`.

    mmkeras-model-server --port=8500 --model_name=toy \
        --model_base_path=/models/toy

Loads the highest numbered version under --model_base_path, serves it over
gRPC on all interfaces, logs "Running gRPC ModelServer at 0.0.0.0:PORT ..."
to stderr once ready, and exits 0 after SIGTERM or SIGINT once in-flight
requests have finished (or a grace period has passed). A model that cannot
be loaded exits 1 with a message naming the path.
"""

import logging
import signal
import sys
import threading

from serving.server import flags
from serving.server import grpc_server
from serving.server import loader
from serving.server.manager import ModelManager

logger = logging.getLogger("serving.server")

SHUTDOWN_GRACE_SECONDS = 5.0
READY_MESSAGE = "Running gRPC ModelServer at %s:%d ..."


def main(argv=None):
    """Runs the server until SIGTERM/SIGINT; returns the exit code."""
    server_flags = flags.parse_flags(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    try:
        servable = loader.load_latest(
            server_flags.model_name, server_flags.model_base_path
        )
    except (OSError, ValueError) as error:
        logger.error("Cannot load model %r: %s", server_flags.model_name, error)
        return 1
    logger.info(
        "Loaded model %s version %d from %s",
        servable.name,
        servable.version,
        servable.path,
    )
    manager = ModelManager()
    manager.add(servable)
    try:
        server, port = grpc_server.start_grpc_server(manager, server_flags.port)
    except OSError as error:
        logger.error("%s", error)
        return 1
    logger.info(READY_MESSAGE, grpc_server.DEFAULT_HOST, port)
    _wait_for_stop_signal()
    server.stop(SHUTDOWN_GRACE_SECONDS).wait()
    logger.info("Server stopped")
    return 0


def _configure_logging():
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s] %(message)s",
        force=True,
    )


def _wait_for_stop_signal():
    stop_requested = threading.Event()

    def request_stop(signal_number, frame):
        logger.info(
            "Received %s, shutting down", signal.strsignal(signal_number)
        )
        stop_requested.set()

    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, request_stop) for sig in handled}
    try:
        stop_requested.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
