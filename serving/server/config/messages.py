"""Config messages that tensorflow-serving-api does not ship.

TensorFlow Serving reads MonitoringConfig (monitoring_config.proto),
SSLConfig (ssl_config.proto) and BatchingParameters
(session_bundle_config.proto) as text protos, but only ModelServerConfig is
in the pip package. The messages are declared here with the same package,
names, field names and numbers, so the same files parse the same way.

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
from tensorflow_serving.config import model_server_config_pb2

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


def _build_messages():
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    pool.Add(text_format.Parse(_MESSAGES, descriptor_pb2.FileDescriptorProto()))
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{PACKAGE}.{name}")
        )
        for name in (
            "PrometheusConfig",
            "MonitoringConfig",
            "SSLConfig",
            "BatchingParameters",
        )
    }


_CLASSES = _build_messages()
PrometheusConfig = _CLASSES["PrometheusConfig"]
MonitoringConfig = _CLASSES["MonitoringConfig"]
SSLConfig = _CLASSES["SSLConfig"]
BatchingParameters = _CLASSES["BatchingParameters"]
ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
