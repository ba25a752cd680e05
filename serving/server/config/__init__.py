"""TensorFlow Serving's text-proto configuration files.

`messages` defines the messages tensorflow-serving-api does not ship
(MonitoringConfig, SSLConfig, BatchingParameters); `text_proto` reads any
of them from a file; `model_config` builds and checks ModelServerConfig.
"""
