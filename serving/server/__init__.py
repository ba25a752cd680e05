"""The model server, one idea per module:

- command line and settings: `main`, `flags`, `settings`, `config/` (TF
  Serving's text-proto config files);
- model lifecycle: `server_core` (aspired versions, load-before-unload),
  `version_policy`, `poller`, `load_retry`, `loader`, `tflite_servable`,
  `warmup`, `manager` (lookup by ModelSpec, version states),
  `reload_config`;
- request path: `validation` and `limits` (every TensorProto checked
  before it is decoded), `inputs`, `predict`, `classify`, `regress`,
  `multi_inference`, `example_inference`, `metadata`, `status`,
  `batching/`, `deadlines`;
- transports: `grpc_server`, `prediction_service`, `model_service`, `rpc`
  (errors to status codes), `health`, `tls`, `auth`, `rest/`, `metrics`.
"""
