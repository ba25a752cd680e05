"""TensorFlow Serving's REST API (see `server.RestServer`)."""

from serving.server.rest.server import RestServer

__all__ = ["RestServer"]
