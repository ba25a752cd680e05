"""Command-line flags of the model server: TensorFlow Serving's names,
meanings and defaults, plus --auth_token_file.

Both `--flag=value` and `--flag value` are accepted; a boolean flag alone
(`--enable_batching`) means true, and `=true/false/1/0` set it explicitly,
as in TensorFlow Serving. An unknown flag is an error (exit code 2) rather
than silently ignored, so that a typo such as `--model_base=...` cannot
start a server with the wrong model.

Every flag of TensorFlow Serving 2.21's `tensorflow_model_server` is
accepted. Those that cannot apply to this server (TPU and XLA switches,
GPU memory without a GPU, knobs of TensorFlow Serving's C++ internals)
are still parsed and checked; `inapplicable_flags` names the ones given,
with the reason, for one log line each at startup.

Two deliberate differences: the poll intervals accept fractions of a
second (TensorFlow Serving takes whole seconds, which parse the same), and
inconsistent combinations that TensorFlow Serving only logs (--rest_api_port
equal to --port) are rejected up front.
"""

import argparse
import dataclasses
import os

PROGRAM_NAME = "mmkeras-model-server"
DEFAULT_PORT = 8500
DEFAULT_MODEL_NAME = "default"
DEFAULT_REST_API_TIMEOUT_MS = 30000
DEFAULT_FILE_SYSTEM_POLL_WAIT_SECONDS = 1.0
DEFAULT_MAX_NUM_LOAD_RETRIES = 5
DEFAULT_LOAD_RETRY_INTERVAL_MICROS = 60 * 1000 * 1000
_INT32_RANGE = range(-(2**31), 2**31)
_TRUE_WORDS = ("true", "1")
_FALSE_WORDS = ("false", "0")
# TensorFlow Serving's default: one interpreter per schedulable CPU.
DEFAULT_NUM_TFLITE_POOLS = os.cpu_count() or 1
# Flags given (not None) that change nothing here, and why.
_INAPPLICABLE = {
    "num_unload_threads": "unloading a version only drops its references "
    "here, which needs no thread pool",
    "flush_filesystem_caches": "base paths are read through the operating "
    "system, and this server keeps no file system caches to flush",
    "remove_unused_fields_from_bundle_metagraph": "a loaded version keeps "
    "only its SignatureDefs of the MetaGraph, whatever the value",
    "num_tflite_interpreters_per_pool": "each request runs whole on one of "
    "the --num_tflite_pools interpreters",
    "xla_cpu_compilation_enabled": "XLA JIT compilation stays available: "
    "functions with jit_compile run whatever the value",
    "xla_gpu_compilation_enabled": "XLA JIT compilation stays available: "
    "functions with jit_compile run whatever the value",
    "skip_initialize_tpu": "this server does not run on TPUs",
    "thread_pool_factory_config_file": "per-request thread pools cannot be "
    "given to a Python session call; sessions use the "
    "--tensorflow_*_parallelism threads",
}


@dataclasses.dataclass(frozen=True)
class ServerFlags:
    """The parsed flags; see `--help` (or TensorFlow Serving) for each.

    Args:
        port: int. gRPC port; 0 picks a free one.
        model_name: str. The model's name when not using a config file.
        model_base_path: str | None. Its directory of numbered versions.
        model_config_file: str. A ModelServerConfig text proto; when set,
            model_name and model_base_path are ignored.
        grpc_channel_arguments: tuple[(str, int | str)]. Parsed from
            "key=value,key=value"; values that are int32 become ints.
        load_retry_interval_micros: int. Wait between load retries.
        The other fields keep TensorFlow Serving's flag names.
    """

    port: int = DEFAULT_PORT
    model_name: str = DEFAULT_MODEL_NAME
    model_base_path: str | None = None
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: float = 0.0
    file_system_poll_wait_seconds: float = DEFAULT_FILE_SYSTEM_POLL_WAIT_SECONDS
    max_num_load_retries: int = DEFAULT_MAX_NUM_LOAD_RETRIES
    load_retry_interval_micros: int = DEFAULT_LOAD_RETRY_INTERVAL_MICROS
    allow_version_labels_for_unavailable_models: bool = False
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    prefer_tflite_model: bool = False
    saved_model_tags: tuple = ("serve",)
    enable_signature_method_name_check: bool = False
    enable_batching: bool = False
    batching_parameters_file: str = ""
    rest_api_port: int = 0
    rest_api_timeout_in_ms: int = DEFAULT_REST_API_TIMEOUT_MS
    rest_api_num_threads: int = 0
    grpc_max_threads: int = 0
    monitoring_config_file: str = ""
    grpc_socket_path: str = ""
    grpc_channel_arguments: tuple = ()
    enable_grpc_healthcheck_service: bool = False
    ssl_config_file: str = ""
    auth_token_file: str = ""
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    tensorflow_session_config_file: str = ""
    per_process_gpu_memory_fraction: float = 0.0
    mixed_precision: str = ""
    platform_config_file: str = ""
    enable_per_model_batching_parameters: bool = False
    num_load_threads: int = 0
    num_tflite_pools: int = DEFAULT_NUM_TFLITE_POOLS
    rest_api_enable_cors_support: bool = False
    use_alts_credentials: bool = False
    enable_profiler: bool = True
    enable_serialization_as_tensor_content: bool = False
    version: bool = False
    num_unload_threads: int | None = None
    flush_filesystem_caches: bool | None = None
    remove_unused_fields_from_bundle_metagraph: bool | None = None
    num_tflite_interpreters_per_pool: int | None = None
    xla_cpu_compilation_enabled: bool | None = None
    xla_gpu_compilation_enabled: bool | None = None
    skip_initialize_tpu: bool | None = None
    thread_pool_factory_config_file: str | None = None

    def session_threads(self):
        """(intra-op, inter-op) threads, as TensorFlow Serving derives them:
        the two specific flags if either is set, else the session flag for
        both; 0 means auto."""
        intra = self.tensorflow_intra_op_parallelism
        inter = self.tensorflow_inter_op_parallelism
        if intra or inter:
            return intra, inter
        both = self.tensorflow_session_parallelism
        return both, both

    def inapplicable_flags(self):
        """[(flag, reason)] for the flags given that change nothing here."""
        return [
            (f"--{name}", reason)
            for name, reason in _INAPPLICABLE.items()
            if getattr(self, name) is not None
        ]


def parse_flags(argv):
    """Parses command-line arguments (without the program name).

    Raises:
        SystemExit: with code 2 and a usage message on stderr for an unknown
            flag, a missing model, an invalid value or an inconsistent
            combination of flags.
    """
    parser = _build_parser()
    # Unknown flags are reported before missing ones: a misspelt
    # --model_base_path is the likelier mistake, and this names it.
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.version:
        return ServerFlags(**vars(args))
    problem = _inconsistency(args)
    if problem:
        parser.error(problem)
    return ServerFlags(**vars(args))


def _inconsistency(args):
    if args.model_base_path is None and not args.model_config_file:
        return (
            "--model_base_path is required unless --model_config_file is "
            "given: the directory holding one numbered subdirectory per "
            "model version"
        )
    if args.batching_parameters_file and not args.enable_batching:
        return (
            "--batching_parameters_file is set without setting "
            "--enable_batching to true"
        )
    if (
        args.tensorflow_session_parallelism
        and args.tensorflow_intra_op_parallelism
        and args.tensorflow_inter_op_parallelism
    ):
        return (
            "Either configure --tensorflow_session_parallelism or "
            "(--tensorflow_intra_op_parallelism, "
            "--tensorflow_inter_op_parallelism) separately. You cannot "
            "configure all."
        )
    if args.use_alts_credentials and args.ssl_config_file:
        return (
            "Either use_alts_credentials must be false or ssl_config_file "
            "must be empty."
        )
    if args.rest_api_port and args.rest_api_port == args.port:
        return (
            f"--rest_api_port cannot be the same as --port ({args.port}); "
            "use a different port for the HTTP/REST API"
        )
    return None


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=PROGRAM_NAME,
        description=(
            "Serves SavedModels over TensorFlow Serving's gRPC API "
            "(PredictionService, ModelService) with its flags."
        ),
        # Prefixes of flag names would make typos silently valid.
        allow_abbrev=False,
    )
    _add_model_flags(parser)
    _add_lifecycle_flags(parser)
    _add_session_flags(parser)
    _add_request_flags(parser)
    _add_transport_flags(parser)
    _add_inapplicable_flags(parser)
    _add_bool(parser, "--version", False, "Print the versions and exit.")
    return parser


def _add_model_flags(parser):
    parser.add_argument(
        "--model_name",
        default=DEFAULT_MODEL_NAME,
        help="Name of the model (ignored if --model_config_file is set).",
    )
    parser.add_argument(
        "--model_base_path",
        help="Directory with one numbered subdirectory per version "
        "(ignored if --model_config_file is set, otherwise required).",
    )
    parser.add_argument(
        "--model_config_file",
        default="",
        help="A ModelServerConfig text proto listing the models to serve, "
        "with version policies and labels.",
    )
    parser.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=_seconds,
        default=0.0,
        help="Seconds between re-reads of --model_config_file; 0 reads it "
        "once.",
    )
    parser.add_argument(
        "--file_system_poll_wait_seconds",
        type=_seconds,
        default=DEFAULT_FILE_SYSTEM_POLL_WAIT_SECONDS,
        help="Seconds between polls of the base paths for new versions; 0 "
        "polls once, at startup.",
    )


def _add_lifecycle_flags(parser):
    parser.add_argument(
        "--max_num_load_retries",
        type=_non_negative_int,
        default=DEFAULT_MAX_NUM_LOAD_RETRIES,
        help="Times a failed load is retried before giving up; 0 tries once.",
    )
    parser.add_argument(
        "--load_retry_interval_micros",
        type=_int32,
        default=DEFAULT_LOAD_RETRY_INTERVAL_MICROS,
        help="Microseconds between load retries; negative does not wait.",
    )
    _add_bool(
        parser,
        "--allow_version_labels_for_unavailable_models",
        False,
        "Allow version labels naming versions that are not loaded yet.",
    )
    _add_bool(
        parser,
        "--enable_model_warmup",
        True,
        "Replay assets.extra/tf_serving_warmup_requests before serving.",
    )
    parser.add_argument(
        "--num_request_iterations_for_warmup",
        type=_non_negative_int,
        default=1,
        help="Times each warmup request is replayed; used only if > 0.",
    )
    _add_bool(
        parser,
        "--prefer_tflite_model",
        False,
        "Serve a version's model.tflite with LiteRT when it has one.",
    )
    parser.add_argument(
        "--saved_model_tags",
        type=_tags,
        default=("serve",),
        help="Comma-separated tag set of the MetaGraph to load from each "
        "SavedModel (default: serve).",
    )
    _add_bool(
        parser,
        "--enable_signature_method_name_check",
        False,
        "Require Classify/Regress signatures to carry their method_name "
        "(leave off to serve native TF2 classification/regression models).",
    )
    _add_thread_count(
        parser,
        "--tensorflow_session_parallelism",
        "Threads for running a TensorFlow session (intra- and inter-op).",
    )
    _add_thread_count(
        parser,
        "--tensorflow_intra_op_parallelism",
        "Threads parallelizing the execution of an individual op.",
    )
    _add_thread_count(
        parser,
        "--tensorflow_inter_op_parallelism",
        "Threads running independent ops simultaneously.",
    )


def _add_session_flags(parser):
    parser.add_argument(
        "--tensorflow_session_config_file",
        default="",
        help="A tensorflow.ConfigProto text proto for the sessions; the "
        "thread flags override its thread counts.",
    )
    parser.add_argument(
        "--per_process_gpu_memory_fraction",
        type=_fraction,
        default=0.0,
        help="Share of each GPU's memory a session takes (0: TensorFlow "
        "picks); no effect without a GPU.",
    )
    parser.add_argument(
        "--mixed_precision",
        default="",
        help="bfloat16: run sessions with oneDNN bfloat16 auto mixed "
        "precision.",
    )
    parser.add_argument(
        "--platform_config_file",
        default="",
        help="A PlatformConfigMap text proto for the tensorflow platform; "
        "replaces the batching, session, warmup and TFLite flags.",
    )
    _add_bool(
        parser,
        "--enable_per_model_batching_parameters",
        False,
        "With --enable_batching, batch a model only if its version has a "
        "batching_params.pbtxt, with those parameters.",
    )
    parser.add_argument(
        "--num_load_threads",
        type=_non_negative_int,
        default=0,
        help="Versions loaded at once; 0 loads them one by one.",
    )
    parser.add_argument(
        "--num_tflite_pools",
        type=_non_negative_int,
        default=DEFAULT_NUM_TFLITE_POOLS,
        help="LiteRT interpreters per TFLite model, each running one "
        "request at a time (default: one per CPU).",
    )


def _add_inapplicable_flags(parser):
    """TensorFlow Serving's flags that change nothing here (see
    `inapplicable_flags`); None when not given."""
    for flag in (
        "--flush_filesystem_caches",
        "--remove_unused_fields_from_bundle_metagraph",
        "--xla_cpu_compilation_enabled",
        "--xla_gpu_compilation_enabled",
        "--skip_initialize_tpu",
    ):
        _add_bool(parser, flag, None, _INAPPLICABLE[flag[2:]])
    for flag in ("--num_unload_threads", "--num_tflite_interpreters_per_pool"):
        parser.add_argument(
            flag, type=_non_negative_int, help=_INAPPLICABLE[flag[2:]]
        )
    parser.add_argument(
        "--thread_pool_factory_config_file",
        help=_INAPPLICABLE["thread_pool_factory_config_file"],
    )


def _add_request_flags(parser):
    _add_bool(parser, "--enable_batching", False, "Batch requests together.")
    parser.add_argument(
        "--batching_parameters_file",
        default="",
        help="A BatchingParameters text proto (needs --enable_batching).",
    )
    parser.add_argument(
        "--rest_api_port",
        type=_port_number,
        default=0,
        help="Port of the HTTP/REST API; 0 disables it.",
    )
    parser.add_argument(
        "--rest_api_timeout_in_ms",
        type=_non_negative_int,
        default=DEFAULT_REST_API_TIMEOUT_MS,
        help="Timeout of HTTP/REST API calls.",
    )
    parser.add_argument(
        "--rest_api_num_threads",
        type=_non_negative_int,
        default=0,
        help="Threads answering HTTP/REST calls; 0 (default): 4 per core.",
    )
    parser.add_argument(
        "--monitoring_config_file",
        default="",
        help="A MonitoringConfig text proto (Prometheus metrics).",
    )
    _add_bool(
        parser,
        "--rest_api_enable_cors_support",
        False,
        "Add CORS headers to HTTP/REST API responses.",
    )
    _add_bool(
        parser,
        "--enable_serialization_as_tensor_content",
        False,
        "Write Predict outputs as packed tensor_content rather than typed "
        "value fields.",
    )


def _add_transport_flags(parser):
    parser.add_argument(
        "--port",
        type=_port_number,
        default=DEFAULT_PORT,
        help="Port to listen on for gRPC; 0 picks a free port and logs it.",
    )
    parser.add_argument(
        "--grpc_max_threads",
        type=_non_negative_int,
        default=0,
        help="Threads answering gRPC calls; 0 (default): 4 per core, and "
        "with batching at least twice max_batch_size so batches can fill.",
    )
    parser.add_argument(
        "--grpc_socket_path",
        default="",
        help="Also listen for gRPC on this UNIX socket.",
    )
    parser.add_argument(
        "--grpc_channel_arguments",
        type=_channel_arguments,
        default=(),
        help="gRPC server arguments, e.g. "
        "grpc.max_connection_age_ms=2000,grpc.keepalive_time_ms=60000",
    )
    _add_bool(
        parser,
        "--enable_grpc_healthcheck_service",
        False,
        "Serve the standard gRPC health service.",
    )
    parser.add_argument(
        "--ssl_config_file",
        default="",
        help="An SSLConfig text proto: serve gRPC over TLS (mutual TLS "
        "with client_verify).",
    )
    _add_bool(
        parser,
        "--use_alts_credentials",
        False,
        "Serve gRPC with Google ALTS credentials (on Google Cloud).",
    )
    _add_bool(
        parser,
        "--enable_profiler",
        True,
        "Serve TensorFlow's ProfilerService on the gRPC port.",
    )
    parser.add_argument(
        "--auth_token_file",
        default="",
        help="Not in TensorFlow Serving: require 'authorization: Bearer "
        "<token>' metadata, with the token read from this file.",
    )


def _add_thread_count(parser, flag, help_text):
    parser.add_argument(
        flag,
        type=_non_negative_int,
        default=0,
        help=f"{help_text} 0 (default): auto-configured.",
    )


def _add_bool(parser, flag, default, help_text):
    shown = "" if default is None else f" (default: {str(default).lower()})"
    parser.add_argument(
        flag,
        type=_bool,
        nargs="?",
        const=True,
        default=default,
        help=f"{help_text}{shown}",
    )


def _bool(text):
    word = text.lower()
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise argparse.ArgumentTypeError(
        f"expected true, false, 1 or 0, got {text!r}"
    )


def _port_number(text):
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port number between 0 and 65535, got {text!r}"
        )
    return port


def _int32(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in _INT32_RANGE:
        raise argparse.ArgumentTypeError(
            f"expected a 32-bit integer, got {text!r}"
        )
    return value


def _non_negative_int(text):
    value = _int32(text)
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 0, got {text!r}"
        )
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds >= 0, got {text!r}"
        )
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"expected a fraction of GPU memory >= 0, got {text!r}"
        )
    return value


def _tags(text):
    tags = tuple(tag for tag in text.split(",") if tag)
    if not tags:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated MetaGraph tags such as serve,gpu, "
            f"got {text!r}"
        )
    return tags


def _channel_arguments(text):
    """Parses "key=value,key=value" into gRPC server options.

    As in TensorFlow Serving, a value that parses as a 32-bit integer is
    passed as an int, anything else as a string.
    """
    arguments = []
    for item in filter(None, text.split(",")):
        key, equals, value = item.partition("=")
        if not key or not equals or "=" in value:
            raise argparse.ArgumentTypeError(
                "expected comma-separated key=value pairs such as "
                f"grpc.max_connection_age_ms=2000, got {item!r} in {text!r}"
            )
        arguments.append((key, _int_or_text(value)))
    return tuple(arguments)


def _int_or_text(value):
    try:
        number = int(value)
    except ValueError:
        return value
    return number if number in _INT32_RANGE else value
