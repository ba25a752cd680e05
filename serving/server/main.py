"""`mmkeras-model-server`: serve SavedModels like `tensorflow_model_server`.

    mmkeras-model-server --port=8500 --model_name=toy \
        --model_base_path=/models/toy
    mmkeras-model-server --model_config_file=/models/models.config \
        --model_config_file_poll_wait_seconds=60

Reads every config file the flags name, loads the versions each model's
policy asks for, serves gRPC on all interfaces, logs "Running gRPC
ModelServer at 0.0.0.0:PORT ..." once ready, then keeps watching the base
paths (and the config file) for changes. SIGTERM or SIGINT stops accepting
calls, lets in-flight requests finish within a grace period, and exits 0,
also when it arrives while models are still loading. A bad config file or
a model that cannot be loaded at startup exits 1 with a message naming it.
"""

import functools
import importlib.metadata
import logging
import signal
import sys
import threading

import tensorflow as tf

from serving.server import errors
from serving.server import flags
from serving.server import grpc_server
from serving.server import method_names
from serving.server import settings
from serving.server.auth import BearerTokenInterceptor
from serving.server.batching.options import options_from_parameters
from serving.server.config import bundle_config
from serving.server.health import ServingHealth
from serving.server.manager import ModelManager
from serving.server.metrics import Metrics
from serving.server.poller import Poller
from serving.server.prediction_service import PredictionService
from serving.server.rest.server import (
    DEFAULT_NUM_THREADS as DEFAULT_REST_THREADS,
)
from serving.server.rest.server import RestServer
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore
from serving.server.server_core import reload_config_file
from serving.server.session_servable import BFLOAT16
from serving.server.session_servable import DEFAULT_TAGS
from serving.server.session_servable import SessionOptions

logger = logging.getLogger("serving.server")

SHUTDOWN_GRACE_SECONDS = 5.0
READY_MESSAGE = "Running gRPC ModelServer at %s:%d ..."
SOCKET_READY_MESSAGE = "Running gRPC ModelServer at UNIX socket %s ..."
REST_READY_MESSAGE = "Exporting HTTP/REST API at:localhost:%d ..."
DEFAULT_MONITORING_PATH = "/monitoring/prometheus/metrics"
# With batching, each request waiting for its batch holds a gRPC worker:
# TF Serving advises about twice max_batch_size threads so batches fill.
MAX_BATCHING_WORKERS = 256
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
ALTS_HINT = (
    "--use_alts_credentials: gRPC offers ALTS only on Google Cloud VMs, and "
    "refuses to listen with it elsewhere."
)
# The installed package this server ships in.
DISTRIBUTION = "mmkeras"


def main(argv=None):
    """Runs the server until SIGTERM/SIGINT; returns the exit code."""
    server_flags = flags.parse_flags(sys.argv[1:] if argv is None else argv)
    if server_flags.version:
        print(version_text())
        return 0
    _configure_logging()
    stop_requested = threading.Event()
    # Installed before loading, so a SIGTERM during a long load is a clean
    # exit rather than a traceback.
    previous = _handle_stop_signals(stop_requested)
    try:
        return _serve(server_flags, stop_requested)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(server_flags, stop_requested):
    try:
        server_settings = settings.read_settings(server_flags)
    except (OSError, ValueError) as error:
        logger.error("%s", error)
        return 1
    _log_notices(server_flags, server_settings)
    metrics = _metrics(server_settings)
    # Before loading: warmup requests are checked like live ones.
    method_names.enable_check(server_flags.enable_signature_method_name_check)
    manager = ModelManager()
    core = ServerCore(
        manager,
        _load_options(server_flags, server_settings.bundle_config),
        stop_requested,
        on_load=metrics.record_load if metrics else None,
    )
    try:
        core.reload_config(server_settings.model_server_config)
    except errors.ServingError as error:
        if not stop_requested.is_set():
            logger.error("Cannot load models: %s", error.message)
            return 1
    if stop_requested.is_set():
        logger.info("Stopped while loading models")
        return 0
    health = (
        ServingHealth()
        if server_flags.enable_grpc_healthcheck_service
        else None
    )
    batching_options = _batching_options(server_settings.batching_parameters)
    service = PredictionService(
        manager,
        batching_options=batching_options,
        on_batch=metrics.record_batch_size if metrics else None,
        tensor_content=server_flags.enable_serialization_as_tensor_content,
    )
    try:
        server, port = grpc_server.start_grpc_server(
            manager,
            server_flags.port,
            _grpc_options(
                server_flags, server_settings, metrics, batching_options
            ),
            core=core,
            health=health,
            prediction_service=service,
        )
    except OSError as error:
        logger.error("%s", error)
        if server_flags.use_alts_credentials:
            logger.error(ALTS_HINT)
        service.close()
        return 1
    try:
        rest = _start_rest(
            server_flags, server_settings, manager, metrics, service
        )
    except OSError as error:
        logger.error("%s", error)
        _shut_down(server, None, service, health, [])
        return 1
    _announce(server_flags, port, health)
    pollers = _start_pollers(server_flags, core)
    stop_requested.wait()
    _shut_down(server, rest, service, health, pollers)
    return 0


def _metrics(server_settings):
    prometheus = server_settings.monitoring_config.prometheus_config
    return Metrics() if prometheus.enable else None


def _batching_options(parameters):
    """BatchingParameters (text proto) -> BatchingOptions, or None."""
    if parameters is None:
        return None
    return options_from_parameters(parameters)


def _start_rest(server_flags, server_settings, manager, metrics, service):
    """Starts the REST API when --rest_api_port is set; returns it or None."""
    if not server_flags.rest_api_port:
        return None
    prometheus = server_settings.monitoring_config.prometheus_config
    rest = RestServer(
        manager,
        server_flags.rest_api_port,
        timeout_ms=server_flags.rest_api_timeout_in_ms,
        monitoring_path=(
            (prometheus.path or DEFAULT_MONITORING_PATH) if metrics else None
        ),
        metrics=metrics,
        auth_token=server_settings.auth_token or None,
        num_threads=server_flags.rest_api_num_threads or DEFAULT_REST_THREADS,
        # REST and gRPC share one batcher, so their requests batch together;
        # packed outputs decode fastest into JSON.
        predictor=functools.partial(
            service.predictor.predict, tensor_content=True
        ),
        runner=service.predictor.runner,
        cors=server_flags.rest_api_enable_cors_support,
    )
    port = rest.start()
    logger.info(REST_READY_MESSAGE, port)
    return rest


def _load_options(server_flags, bundle):
    """LoadOptions from the flags and the SessionBundleConfig."""
    session_config = bundle.session_config
    return LoadOptions(
        max_num_load_retries=server_flags.max_num_load_retries,
        load_retry_interval_seconds=max(
            server_flags.load_retry_interval_micros, 0
        )
        / 1e6,
        enable_model_warmup=bundle.enable_model_warmup,
        warmup_iterations=bundle_config.warmup_iterations(bundle),
        prefer_tflite_model=bundle.prefer_tflite_model,
        allow_version_labels_for_unavailable_models=(
            server_flags.allow_version_labels_for_unavailable_models
        ),
        session_options=SessionOptions(
            session_config.intra_op_parallelism_threads,
            session_config.inter_op_parallelism_threads,
            tuple(bundle.saved_model_tags) or DEFAULT_TAGS,
            session_config.SerializeToString(),
            bundle.mixed_precision,
        ),
        num_load_threads=server_flags.num_load_threads,
        num_tflite_interpreters=bundle_config.num_tflite_interpreters(bundle),
        per_model_batching=(
            bundle.HasField("batching_parameters")
            and bundle.enable_per_model_batching_params
        ),
    )


def _log_notices(server_flags, server_settings):
    """One line for each setting accepted that changes nothing here."""
    for flag, reason in server_flags.inapplicable_flags():
        logger.info("%s is accepted, but %s.", flag, reason)
    bundle = server_settings.bundle_config
    if server_flags.platform_config_file:
        logger.info(
            "Using --platform_config_file %s: the batching, session, "
            "warmup and TFLite flags are ignored.",
            server_flags.platform_config_file,
        )
    unapplied = bundle_config.unapplied_fields(bundle)
    if unapplied:
        logger.warning(
            "Platform config fields this server does not apply: %s.",
            ", ".join(unapplied),
        )
    if bundle.mixed_precision not in ("", BFLOAT16):
        logger.warning(
            "%s auto mixed precision is not supported. Valid option: bfloat16",
            bundle.mixed_precision,
        )
    fraction = bundle.session_config.gpu_options.per_process_gpu_memory_fraction
    if fraction and not tf.config.list_physical_devices("GPU"):
        logger.info(
            "per_process_gpu_memory_fraction=%g is accepted, but no GPU is "
            "visible, so it has no effect.",
            fraction,
        )


def version_text():
    """What --version prints, in TensorFlow Serving's two lines."""
    return (
        f"TensorFlow ModelServer: {_server_version()}\n"
        f"TensorFlow Library: {tf.__version__}"
    )


def _server_version():
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version} ({flags.PROGRAM_NAME})"


def _grpc_options(server_flags, server_settings, metrics, batching_options):
    interceptors = ()
    # Metrics first, so that calls the token check rejects are counted.
    if metrics is not None:
        interceptors += (metrics.grpc_interceptor(),)
    if server_settings.auth_token:
        interceptors += (BearerTokenInterceptor(server_settings.auth_token),)
    return grpc_server.GrpcServerOptions(
        max_workers=_grpc_threads(server_flags, batching_options),
        socket_path=server_flags.grpc_socket_path,
        channel_arguments=server_flags.grpc_channel_arguments,
        credentials=server_settings.credentials,
        interceptors=interceptors,
        enable_profiler=server_flags.enable_profiler,
    )


def _grpc_threads(server_flags, batching_options):
    """--grpc_max_threads, or TF Serving's default raised so that batches
    can fill."""
    if server_flags.grpc_max_threads:
        return server_flags.grpc_max_threads
    if batching_options is None:
        return grpc_server.DEFAULT_MAX_WORKERS
    return min(
        max(
            grpc_server.DEFAULT_MAX_WORKERS, 2 * batching_options.max_batch_size
        ),
        MAX_BATCHING_WORKERS,
    )


def _announce(server_flags, port, health):
    logger.info(READY_MESSAGE, grpc_server.DEFAULT_HOST, port)
    if server_flags.grpc_socket_path:
        logger.info(SOCKET_READY_MESSAGE, server_flags.grpc_socket_path)
    if health is not None:
        health.mark_serving()


def _start_pollers(server_flags, core):
    pollers = []
    if server_flags.file_system_poll_wait_seconds > 0:
        pollers.append(
            Poller(
                server_flags.file_system_poll_wait_seconds,
                core.poll,
                "file-system-poll",
            )
        )
    config_file = server_flags.model_config_file
    if config_file and server_flags.model_config_file_poll_wait_seconds > 0:
        pollers.append(
            Poller(
                server_flags.model_config_file_poll_wait_seconds,
                lambda: reload_config_file(core, config_file),
                "model-config-poll",
            )
        )
    return [poller.start() for poller in pollers]


def _shut_down(server, rest, service, health, pollers):
    if health is not None:
        health.mark_shutting_down()
    for poller in pollers:
        poller.stop(timeout=SHUTDOWN_GRACE_SECONDS)
    # gRPC's stop() only starts the grace period, so both drain at once.
    grpc_stopped = server.stop(SHUTDOWN_GRACE_SECONDS)
    if rest is not None:
        rest.stop(SHUTDOWN_GRACE_SECONDS)
    grpc_stopped.wait()
    # After the transports: queued batches still answer in-flight calls.
    service.close()
    logger.info("Server stopped")


def _configure_logging():
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s] %(message)s",
        force=True,
    )
    # Imported before this ran, TensorFlow gave its logger a handler of its
    # own; without it, its records go through the one above, once.
    logging.getLogger("tensorflow").handlers.clear()


def _handle_stop_signals(stop_requested):
    def request_stop(signal_number, frame):
        logger.info(
            "Received %s, shutting down", signal.strsignal(signal_number)
        )
        stop_requested.set()

    return {sig: signal.signal(sig, request_stop) for sig in _STOP_SIGNALS}


if __name__ == "__main__":
    sys.exit(main())
