"""How versions are loaded and run: TensorFlow Serving's SessionBundleConfig.

TensorFlow Serving builds one SessionBundleConfig for the "tensorflow"
platform, either from its flags (server.cc, without
--platform_config_file) or from the PlatformConfigMap that
--platform_config_file names, whose "tensorflow" entry holds a
SavedModelBundleSourceAdapterConfig. With the file, the flags it replaces
(--enable_batching, --batching_parameters_file, the session, thread and
GPU flags, --saved_model_tags, the warmup and TFLite flags,
--mixed_precision) are ignored, and the file's proto3 defaults apply
(warmup, for one, is off unless the file turns it on).

This server applies session_config, batching_parameters (batching is on
when present), enable_per_model_batching_params, saved_model_tags,
enable_model_warmup, model_warmup_options.num_request_iterations,
prefer_tflite_model, num_tflite_pools (or the deprecated
num_tflite_interpreters) and mixed_precision; `unapplied_fields` names
the other fields a config sets.
"""

from serving.server.config import messages
from serving.server.config.text_proto import read_text_proto

TENSORFLOW_PLATFORM = "tensorflow"
# TensorFlow Serving names the batch thread pool so without a parameters
# file; kept for fidelity, the name changes nothing here.
DEFAULT_BATCH_THREAD_POOL = "model_server_batch_threads"
_APPLIED_FIELDS = frozenset(
    {
        "session_config",
        "batching_parameters",
        "enable_per_model_batching_params",
        "saved_model_tags",
        "enable_model_warmup",
        "model_warmup_options",
        "prefer_tflite_model",
        "num_tflite_pools",
        "num_tflite_interpreters",
        "mixed_precision",
        # This server always keeps only the SignatureDefs.
        "remove_unused_fields_from_bundle_metagraph",
    }
)


def from_flags(server_flags):
    """The SessionBundleConfig TensorFlow Serving builds from its flags.

    Raises:
        OSError, ValueError: if a file the flags name cannot be read.
    """
    config = messages.SessionBundleConfig()
    if server_flags.enable_batching:
        parameters = config.batching_parameters
        if server_flags.batching_parameters_file:
            parameters.CopyFrom(
                read_text_proto(
                    server_flags.batching_parameters_file,
                    messages.BatchingParameters,
                )
            )
        else:
            parameters.thread_pool_name.value = DEFAULT_BATCH_THREAD_POOL
        config.enable_per_model_batching_params = (
            server_flags.enable_per_model_batching_parameters
        )
    _fill_session_config(config.session_config, server_flags)
    config.saved_model_tags.extend(server_flags.saved_model_tags)
    config.enable_model_warmup = server_flags.enable_model_warmup
    if server_flags.num_request_iterations_for_warmup > 0:
        config.model_warmup_options.num_request_iterations.value = (
            server_flags.num_request_iterations_for_warmup
        )
    config.prefer_tflite_model = server_flags.prefer_tflite_model
    config.num_tflite_pools = server_flags.num_tflite_pools
    config.mixed_precision = server_flags.mixed_precision
    return config


def from_platform_config_file(path):
    """The "tensorflow" platform's SessionBundleConfig in a PlatformConfigMap
    text proto.

    Raises:
        OSError: if the file cannot be read.
        ValueError: if it does not parse or has no SavedModel config for
            the tensorflow platform.
    """
    config_map = read_text_proto(
        path, messages.PlatformConfigMap, messages.POOL
    )
    if TENSORFLOW_PLATFORM not in config_map.platform_configs:
        raise ValueError(
            f"Platform config file {path!r} has no platform_configs entry "
            f'for "{TENSORFLOW_PLATFORM}", the platform of every model '
            f"this server serves; its entries are "
            f"{sorted(config_map.platform_configs)}."
        )
    adapter_config = config_map.platform_configs[
        TENSORFLOW_PLATFORM
    ].source_adapter_config
    adapter = messages.SavedModelBundleSourceAdapterConfig()
    if not adapter_config.Unpack(adapter):
        raise ValueError(
            f"Platform config file {path!r}: the tensorflow platform's "
            "source_adapter_config must be a tensorflow.serving."
            "SavedModelBundleSourceAdapterConfig, got "
            f"{adapter_config.type_url or 'nothing'}."
        )
    return adapter.legacy_config


def unapplied_fields(config):
    """Names of the fields `config` sets that this server does not apply."""
    names = [
        field.name
        for field, _ in config.ListFields()
        if field.name not in _APPLIED_FIELDS
    ]
    names += [
        f"model_warmup_options.{field.name}"
        for field, _ in config.model_warmup_options.ListFields()
        if field.name != "num_request_iterations"
    ]
    return sorted(names)


def warmup_iterations(config):
    """Times each warmup request runs (TensorFlow Serving: once unless
    num_request_iterations is above 0)."""
    iterations = config.model_warmup_options.num_request_iterations.value
    return iterations if iterations > 0 else 1


def num_tflite_interpreters(config):
    """LiteRT interpreters per TFLite model, as TensorFlow Serving picks."""
    pools = config.num_tflite_pools or config.num_tflite_interpreters
    return max(pools, 1)


def _fill_session_config(session_config, server_flags):
    # In server.cc's order: the file, the GPU share, then the threads,
    # which are always written (0 lets TensorFlow choose).
    if server_flags.tensorflow_session_config_file:
        session_config.CopyFrom(
            read_text_proto(
                server_flags.tensorflow_session_config_file,
                type(session_config),
            )
        )
    session_config.gpu_options.per_process_gpu_memory_fraction = (
        server_flags.per_process_gpu_memory_fraction
    )
    intra_op, inter_op = server_flags.session_threads()
    session_config.intra_op_parallelism_threads = intra_op
    session_config.inter_op_parallelism_threads = inter_op
