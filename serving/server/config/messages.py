"""Config messages that tensorflow-serving-api does not ship.

TensorFlow Serving reads MonitoringConfig (monitoring_config.proto),
SSLConfig (ssl_config.proto), BatchingParameters and SessionBundleConfig
(session_bundle_config.proto, the latter inside a PlatformConfigMap's
SavedModelBundleSourceAdapterConfig) as text protos, but only
ModelServerConfig and PlatformConfigMap are in the pip package. The
messages are declared here with the same package, names, field names and
numbers, so the same files parse the same way.

They are built at import time from a FileDescriptorProto, so there is no
.proto compilation step. A private descriptor pool keeps them apart from
the default pool, where a future tensorflow-serving-api could register the
same full names.
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf import wrappers_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import named_tensor_pb2
from tensorflow_serving.config import model_server_config_pb2
from tensorflow_serving.config import platform_config_pb2

PACKAGE = "tensorflow.serving"

# Each message as FileDescriptorProto text: readable, and field numbers can
# be checked line by line against TensorFlow Serving's .proto files.
_MESSAGES = """
name: "mmkeras_serving/tensorflow_serving_configs.proto"
package: "tensorflow.serving"
dependency: "google/protobuf/wrappers.proto"
syntax: "proto3"
message_type {
  name: "PrometheusConfig"
  field { name: "enable" number: 1 label: LABEL_OPTIONAL type: TYPE_BOOL }
  field { name: "path" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type {
  name: "MonitoringConfig"
  field {
    name: "prometheus_config" number: 1 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.serving.PrometheusConfig"
  }
}
message_type {
  name: "SSLConfig"
  field { name: "server_key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING}
  field { name: "server_cert" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING}
  field { name: "custom_ca" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "client_verify" number: 4 label: LABEL_OPTIONAL type: TYPE_BOOL}
}
message_type {
  name: "BatchingParameters"
  field {
    name: "max_batch_size" number: 1 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int64Value"
  }
  field {
    name: "batch_timeout_micros" number: 2 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int64Value"
  }
  field {
    name: "max_enqueued_batches" number: 3 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int64Value"
  }
  field {
    name: "num_batch_threads" number: 4 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int64Value"
  }
  field {
    name: "thread_pool_name" number: 5 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.StringValue"
  }
  field {
    name: "allowed_batch_sizes" number: 6 label: LABEL_REPEATED
    type: TYPE_INT64
  }
  field {
    name: "pad_variable_length_inputs" number: 7 label: LABEL_OPTIONAL
    type: TYPE_BOOL
  }
  field {
    name: "enable_large_batch_splitting" number: 8 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.BoolValue"
  }
  field {
    name: "max_execution_batch_size" number: 9 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int64Value"
  }
}
"""

# session_bundle_config.proto's other messages and the source adapter
# config a PlatformConfigMap holds for the "tensorflow" platform.
_BUNDLE_MESSAGES = """
name: "mmkeras_serving/tensorflow_serving_bundle_configs.proto"
package: "tensorflow.serving"
dependency: "google/protobuf/wrappers.proto"
dependency: "tensorflow/core/protobuf/config.proto"
dependency: "tensorflow/core/protobuf/named_tensor.proto"
dependency: "mmkeras_serving/tensorflow_serving_configs.proto"
syntax: "proto3"
message_type {
  name: "ModelWarmupOptions"
  field {
    name: "num_request_iterations" number: 1 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int32Value"
  }
  field {
    name: "num_model_warmup_threads" number: 2 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int32Value"
  }
  field { name: "model_name" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING}
  field {
    name: "model_version" number: 4 label: LABEL_OPTIONAL type: TYPE_INT64
  }
  field {
    name: "enable_all_batch_sizes_warmup" number: 5 label: LABEL_OPTIONAL
    type: TYPE_BOOL
  }
}
message_type {
  name: "SessionBundleConfig"
  field {
    name: "session_target" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING
  }
  field {
    name: "session_config" number: 2 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.ConfigProto"
  }
  field {
    name: "batching_parameters" number: 3 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.serving.BatchingParameters"
  }
  field {
    name: "in_graph_batching_parameters" number: 7 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.BatchingOptions"
  }
  field {
    name: "session_run_load_threadpool_index" number: 4
    label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".google.protobuf.Int32Value"
  }
  field {
    name: "experimental_transient_ram_bytes_during_load" number: 5
    label: LABEL_OPTIONAL type: TYPE_UINT64
  }
  field {
    name: "saved_model_tags" number: 6 label: LABEL_REPEATED type: TYPE_STRING
  }
  field {
    name: "experimental_fixed_input_tensors" number: 778
    label: LABEL_REPEATED
    type: TYPE_MESSAGE type_name: ".tensorflow.NamedTensorProto"
  }
  field {
    name: "enable_model_warmup" number: 779 label: LABEL_OPTIONAL
    type: TYPE_BOOL
  }
  field {
    name: "model_warmup_options" number: 780 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.serving.ModelWarmupOptions"
  }
  field {
    name: "enable_session_metadata" number: 781 label: LABEL_OPTIONAL
    type: TYPE_BOOL
  }
  field {
    name: "remove_unused_fields_from_bundle_metagraph" number: 782
    label: LABEL_OPTIONAL type: TYPE_BOOL
  }
  field {
    name: "prefer_tflite_model" number: 783 label: LABEL_OPTIONAL
    type: TYPE_BOOL
  }
  field {
    name: "resource_estimation_uses_validation_result" number: 784
    label: LABEL_OPTIONAL type: TYPE_BOOL
  }
  field {
    name: "num_tflite_interpreters" number: 785 label: LABEL_OPTIONAL
    type: TYPE_INT32
  }
  field {
    name: "num_tflite_interpreters_per_pool" number: 786
    label: LABEL_OPTIONAL type: TYPE_INT32
  }
  field {
    name: "num_tflite_pools" number: 787 label: LABEL_OPTIONAL type: TYPE_INT32
  }
  field {
    name: "wrap_session_with_no_threading_params" number: 788
    label: LABEL_OPTIONAL type: TYPE_BOOL
  }
  field {
    name: "enable_per_model_batching_params" number: 789
    label: LABEL_OPTIONAL type: TYPE_BOOL
  }
  field {
    name: "enable_saved_model_config" number: 790 label: LABEL_OPTIONAL
    type: TYPE_BOOL
  }
  field {
    name: "mixed_precision" number: 791 label: LABEL_OPTIONAL
    type: TYPE_STRING
  }
}
message_type {
  name: "SavedModelBundleSourceAdapterConfig"
  field {
    name: "legacy_config" number: 1000 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.serving.SessionBundleConfig"
  }
}
"""


def new_pool(files):
    """A private DescriptorPool holding copies of `files` (FileDescriptors
    of the default pool, e.g. config_pb2.DESCRIPTOR) and what they import,
    for declaring messages that depend on them without touching the
    default pool."""
    pool = descriptor_pool.DescriptorPool()
    added = set()
    for file in files:
        _add_with_dependencies(pool, file, added)
    return pool


def _build_pool():
    pool = new_pool(
        [
            wrappers_pb2.DESCRIPTOR,
            config_pb2.DESCRIPTOR,
            named_tensor_pb2.DESCRIPTOR,
        ]
    )
    for text in (_MESSAGES, _BUNDLE_MESSAGES):
        pool.Add(text_format.Parse(text, descriptor_pb2.FileDescriptorProto()))
    return pool


def _add_with_dependencies(pool, file, added):
    # TensorFlow's own .proto files, copied from the default pool.
    if file.name in added:
        return
    for dependency in file.dependencies:
        _add_with_dependencies(pool, dependency, added)
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    pool.Add(proto)
    added.add(file.name)


# Where the messages below live; text protos holding a google.protobuf.Any
# of them (a PlatformConfigMap) are parsed with it.
POOL = _build_pool()
_CLASSES = {
    name: message_factory.GetMessageClass(
        POOL.FindMessageTypeByName(f"{PACKAGE}.{name}")
    )
    for name in (
        "PrometheusConfig",
        "MonitoringConfig",
        "SSLConfig",
        "BatchingParameters",
        "ModelWarmupOptions",
        "SessionBundleConfig",
        "SavedModelBundleSourceAdapterConfig",
    )
}
PrometheusConfig = _CLASSES["PrometheusConfig"]
MonitoringConfig = _CLASSES["MonitoringConfig"]
SSLConfig = _CLASSES["SSLConfig"]
BatchingParameters = _CLASSES["BatchingParameters"]
ModelWarmupOptions = _CLASSES["ModelWarmupOptions"]
SessionBundleConfig = _CLASSES["SessionBundleConfig"]
SavedModelBundleSourceAdapterConfig = _CLASSES[
    "SavedModelBundleSourceAdapterConfig"
]
PlatformConfigMap = platform_config_pb2.PlatformConfigMap
ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
