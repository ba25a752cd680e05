"""A TensorFlow-Serving-compatible model server and its clients.

Serves any SavedModel laid out as `<model_base_path>/<version>/`, exactly as
the official `tensorflow_model_server` would, and imports nothing from
`mmkeras`. Packages: `server` (the server), `client` (gRPC and REST
clients); modules: `tensors` (TensorProto conversion), `process` (the
server as a subprocess), `loadgen` (benchmark load).
"""
