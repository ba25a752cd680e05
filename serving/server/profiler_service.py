"""TensorFlow's ProfilerService on the server's gRPC port, as TensorFlow
Serving registers it (--enable_profiler, on by default).

`tf.profiler.experimental.client.trace("grpc://HOST:PORT", logdir, ms)`
and TensorBoard's "capture profile" call `Profile` with a
`repository_root` of LOGDIR/plugins/profile, a `session_id` and a
`host_name`. As TensorFlow's own ProfilerServiceImpl does, the handler
profiles this process for the requested duration (ending early on
`Terminate` for its session or when the client cancels), then writes the
trace as an XSpace to REPOSITORY_ROOT/SESSION_ID/HOST_NAME.xplane.pb, or
returns it in the response when `emit_xspace` is set. So the log
directory must be one the server can write, as with TensorFlow Serving;
the bearer token of --auth_token_file guards this service too. `Monitor`
is UNIMPLEMENTED, as in TensorFlow.

The messages are TensorFlow's (tsl/profiler/protobuf/profiler_service.proto
in TensorFlow 2.21), declared here because the pip package does not ship
their Python module. XSpace is carried as bytes: TensorFlow writes
strings in it that are not UTF-8, which Python's protobuf would refuse.

The profile is taken with TensorFlow's ProfilerSession, whose Python
binding is private (tensorflow is pinned to a minor version in setup.py,
and tests/serving/server/test_profiler_service.py runs it with the real
client). That binding hands out the XSpace only by writing it under a
log directory of its choosing, so it writes into a temporary one, and the
file is moved where the client asked. It also ignores the tracer levels
a client sends (TensorFlow 2.21 logs "host_tracer_level expects an i
value" for any Python int), so TensorFlow's default levels apply.
"""

import glob
import logging
import os
import tempfile
import threading
import time

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf import message_factory
from google.protobuf import text_format
from tensorflow.python.profiler.internal import _pywrap_profiler
from tensorflow.tsl.profiler.protobuf import profiler_options_pb2

from serving.server.config import messages

logger = logging.getLogger(__name__)

SERVICE_NAME = "tensorflow.ProfilerService"
XPLANE_SUFFIX = ".xplane.pb"

_MESSAGES = """
name: "mmkeras_serving/profiler_service.proto"
package: "tensorflow"
dependency: "tsl/profiler/protobuf/profiler_options.proto"
syntax: "proto3"
message_type {
  name: "ProfileRequest"
  field {
    name: "duration_ms" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT64
  }
  field { name: "max_events" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "tools" number: 3 label: LABEL_REPEATED type: TYPE_STRING }
  field {
    name: "opts" number: 4 label: LABEL_OPTIONAL
    type: TYPE_MESSAGE type_name: ".tensorflow.ProfileOptions"
  }
  field {
    name: "repository_root" number: 5 label: LABEL_OPTIONAL type: TYPE_STRING
  }
  field { name: "session_id" number: 6 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "host_name" number: 7 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "emit_xspace" number: 9 label: LABEL_OPTIONAL type: TYPE_BOOL }
}
message_type {
  name: "ProfileToolData"
  field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "data" number: 2 label: LABEL_OPTIONAL type: TYPE_BYTES }
}
message_type {
  name: "ProfileResponse"
  field {
    name: "tool_data" number: 6 label: LABEL_REPEATED
    type: TYPE_MESSAGE type_name: ".tensorflow.ProfileToolData"
  }
  field { name: "empty_trace" number: 7 label: LABEL_OPTIONAL type: TYPE_BOOL }
  field { name: "xspace" number: 8 label: LABEL_OPTIONAL type: TYPE_BYTES }
}
message_type {
  name: "TerminateRequest"
  field { name: "session_id" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type { name: "TerminateResponse" }
message_type {
  name: "MonitorRequest"
  field {
    name: "duration_ms" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT64
  }
  field {
    name: "monitoring_level" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32
  }
  field { name: "timestamp" number: 3 label: LABEL_OPTIONAL type: TYPE_BOOL }
}
message_type {
  name: "MonitorResponse"
  field { name: "data" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type {
  name: "XSpaceOutline"
  field { name: "planes" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".tensorflow.XPlaneOutline" }
}
message_type {
  name: "XPlaneOutline"
  field { name: "lines" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".tensorflow.XLineOutline" }
}
message_type {
  name: "XLineOutline"
  field { name: "events" number: 4 label: LABEL_REPEATED type: TYPE_BYTES }
}
"""


def _build_messages():
    pool = messages.new_pool([profiler_options_pb2.DESCRIPTOR])
    pool.Add(text_format.Parse(_MESSAGES, descriptor_pb2.FileDescriptorProto()))
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"tensorflow.{name}")
        )
        for name in (
            "ProfileRequest",
            "ProfileResponse",
            "TerminateRequest",
            "TerminateResponse",
            "MonitorRequest",
            "MonitorResponse",
            "XSpaceOutline",
        )
    }


_CLASSES = _build_messages()
ProfileRequest = _CLASSES["ProfileRequest"]
ProfileResponse = _CLASSES["ProfileResponse"]
TerminateRequest = _CLASSES["TerminateRequest"]
TerminateResponse = _CLASSES["TerminateResponse"]
MonitorRequest = _CLASSES["MonitorRequest"]
MonitorResponse = _CLASSES["MonitorResponse"]
# XSpace with only what is needed to tell an empty trace.
XSpaceOutline = _CLASSES["XSpaceOutline"]


class ProfilerService:
    """Answers tensorflow.ProfilerService calls. Thread-safe.

    Example:

    ```python
    server.add_generic_rpc_handlers((ProfilerService().rpc_handler(),))
    ```
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._stops = {}

    def rpc_handler(self):
        """The grpc.GenericRpcHandler serving this service."""
        methods = {
            "Profile": (self.Profile, ProfileRequest),
            "Terminate": (self.Terminate, TerminateRequest),
            "Monitor": (self.Monitor, MonitorRequest),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    method,
                    request_deserializer=request_class.FromString,
                    response_serializer=lambda response: (
                        response.SerializeToString()
                    ),
                )
                for name, (method, request_class) in methods.items()
            },
        )

    def Profile(self, request, context):
        stop = self._stop_event(request.session_id)
        # Set by Terminate, or when the client cancels or goes away.
        context.add_callback(stop.set)
        try:
            xspace = _profile(request, stop)
            return _response(request, xspace)
        except Exception as error:  # TensorFlow's code for any failure
            logger.warning("Profile request failed: %s", error)
            context.abort(grpc.StatusCode.INTERNAL, str(error))
        finally:
            self._forget(request.session_id, stop)

    def Terminate(self, request, context):
        with self._lock:
            stop = self._stops.get(request.session_id)
        if stop is not None:
            stop.set()
        return TerminateResponse()

    def Monitor(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "unimplemented.")

    def _stop_event(self, session_id):
        stop = threading.Event()
        with self._lock:
            self._stops[session_id] = stop
        return stop

    def _forget(self, session_id, stop):
        with self._lock:
            if self._stops.get(session_id) is stop:
                del self._stops[session_id]


def _profile(request, stop):
    """Profiles this process; returns the serialized XSpace."""
    duration_ms = request.opts.duration_ms or request.duration_ms
    with tempfile.TemporaryDirectory(prefix="profile-") as logdir:
        session = _pywrap_profiler.ProfilerSession()
        _wait_until(request.opts.start_timestamp_ns, stop)
        session.start(logdir, {})
        stop.wait(duration_ms / 1000)
        session.export_to_tb()
        # It writes LOGDIR/plugins/profile/RUN/HOST.xplane.pb.
        (path,) = glob.glob(
            os.path.join(logdir, "plugins", "profile", "*", "*" + XPLANE_SUFFIX)
        )
        with open(path, "rb") as trace_file:
            return trace_file.read()


def _wait_until(start_timestamp_ns, stop):
    # The client may ask every host to start at one instant.
    if start_timestamp_ns:
        stop.wait(max(0, start_timestamp_ns - time.time_ns()) / 1e9)


def _response(request, xspace):
    response = ProfileResponse(empty_trace=is_empty(xspace))
    if request.emit_xspace:
        response.xspace = xspace
    else:
        save_xspace(
            request.repository_root,
            request.session_id,
            request.host_name,
            xspace,
        )
    return response


def is_empty(xspace):
    """Whether a serialized XSpace holds no event (TensorFlow's IsEmpty)."""
    outline = XSpaceOutline.FromString(xspace)
    return not any(
        line.events for plane in outline.planes for line in plane.lines
    )


def save_xspace(repository_root, session_id, host_name, xspace):
    """Writes REPOSITORY_ROOT/SESSION_ID/HOST_NAME.xplane.pb, ':' in the
    file name written as '_', as TensorFlow's SaveXSpace does."""
    directory = os.path.join(repository_root, session_id)
    os.makedirs(directory, exist_ok=True)
    file_name = (host_name + XPLANE_SUFFIX).replace(":", "_")
    path = os.path.join(directory, file_name)
    logger.info("Collecting XSpace to repository: %s", path)
    with open(path, "wb") as trace_file:
        trace_file.write(xspace)
    return path
