"""The standard gRPC health service (grpc.health.v1.Health).

With --enable_grpc_healthcheck_service, load balancers and Kubernetes gRPC
probes can ask the server whether it serves. The overall status ("") and
each TensorFlow Serving service report NOT_SERVING until the models are
loaded, SERVING while the server answers, and NOT_SERVING again from the
start of shutdown, so traffic drains before the port closes.
"""

from grpc_health.v1 import health
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

SERVICE_NAMES = (
    "",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
)


class ServingHealth:
    """Owns the health servicer and the server's reported status.

    Example:

    ```python
    server_health = ServingHealth()
    server_health.add_to_server(server)
    server_health.mark_serving()       # models are loaded
    server_health.mark_shutting_down() # on SIGTERM
    ```
    """

    def __init__(self):
        self.servicer = health.HealthServicer()
        self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)

    def add_to_server(self, server):
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def mark_serving(self):
        self._set_all(health_pb2.HealthCheckResponse.SERVING)

    def mark_shutting_down(self):
        # Also answers NOT_SERVING to any later `set`, and ends Watch streams.
        self.servicer.enter_graceful_shutdown()

    def _set_all(self, status):
        for name in SERVICE_NAMES:
            self.servicer.set(name, status)
