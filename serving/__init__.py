"""A TensorFlow-Serving-compatible model server and its client.

Serves any SavedModel laid out as `<model_base_path>/<version>/`, exactly as
the official `tensorflow_model_server` would, and imports nothing from
`mmkeras`. Modules: `client` (PredictionClient), `tensors` (TensorProto
conversion), `process` (the server as a subprocess), `server` (the server).
"""
