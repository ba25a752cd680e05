"""Prometheus metrics for the model server, named like TensorFlow Serving's.

TensorFlow Serving exports its `/tensorflow/serving/...` metrics with every
character outside `[a-zA-Z0-9_]` turned into ":", so dashboards written for
it query names such as `:tensorflow:serving:request_count`. This module
exports the same names (colons are valid in Prometheus metric names):

- `:tensorflow:serving:request_count{model_name, signature_name, API,
  entrypoint, status}`: requests answered; `status` is the gRPC code name
  ("OK", "INVALID_ARGUMENT", ...), `API` the RPC ("Predict", ...) and
  `entrypoint` "GRPC" or "REST", as in TensorFlow Serving;
- `:tensorflow:serving:request_latency{...same labels}`: a histogram in
  microseconds with TensorFlow Serving's buckets (10 us x 1.8^i);
- `:tensorflow:serving:batching:processed_batch_size{model_name,
  signature_name}`: a histogram of the batch sizes the batcher ran;
- `:tensorflow:serving:load_attempt_count{model_name, version, status}`:
  model version loads by outcome ("success", "fail", ...).

TensorFlow Serving labels requests only by model, API and entrypoint; the
extra `signature_name` and `status` labels refine the same series, so
queries that aggregate by model_name keep working. Counters are exported
as "untyped" because the Prometheus client library would otherwise rename
them with a `_total` suffix that TensorFlow Serving's names do not have.

Label values come from requests, so each metric keeps at most
`MAX_SERIES` label sets; the rest are counted under model_name="__other__"
so that requests naming random models cannot grow memory without bound.
"""

import bisect
import threading
import time

import grpc
from prometheus_client import CollectorRegistry
from prometheus_client import exposition
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.metrics_core import UntypedMetricFamily
from prometheus_client.utils import floatToGoString

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
BATCH_SIZE = ":tensorflow:serving:batching:processed_batch_size"
LOAD_ATTEMPT_COUNT = ":tensorflow:serving:load_attempt_count"
CONTENT_TYPE = exposition.CONTENT_TYPE_LATEST
MAX_SERIES = 1000
OVERFLOW_MODEL_NAME = "__other__"

REQUEST_LABELS = ("model_name", "signature_name", "API", "entrypoint", "status")
BATCH_LABELS = ("model_name", "signature_name")
LOAD_LABELS = ("model_name", "version", "status")
# TensorFlow Serving's request latency buckets, in microseconds.
LATENCY_BUCKETS_US = tuple(10.0 * 1.8**i for i in range(33))
BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(15))
# An empty signature means the default one for these RPCs, so that a REST
# and a gRPC request for the same signature land in the same series.
_DEFAULT_SIGNATURE_APIS = frozenset({"Predict", "Classify", "Regress"})
_DEFAULT_SIGNATURE = "serving_default"
_SECONDS_TO_MICROSECONDS = 1e6


class Metrics:
    """Request, batching and model-load metrics in their own registry.

    Thread-safe; every `record_*` call costs one lock and a dict update.

    Example:

    ```python
    metrics = Metrics()
    server = grpc.server(executor, interceptors=[metrics.grpc_interceptor()])
    batcher = Batcher(..., on_batch=metrics.record_batch_size)
    metrics.record_load("toy", 2, "success")
    page = metrics.render()  # Prometheus text exposition, bytes
    ```
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._request_count = _Counter(REQUEST_LABELS)
        self._request_latency = _Histogram(REQUEST_LABELS, LATENCY_BUCKETS_US)
        self._batch_size = _Histogram(BATCH_LABELS, BATCH_SIZE_BUCKETS)
        self._load_attempts = _Counter(LOAD_LABELS)
        # Not the global registry: several servers (and tests) can coexist.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def record_request(self, model, signature, api, code, seconds, method=""):
        """Counts one answered request and records its latency.

        Args:
            model: str. The model name the request asked for.
            signature: str. The signature name ("" for the default one).
            api: str. The transport, "grpc" or "rest".
            code: grpc.StatusCode | str. How the request ended.
            seconds: float. Time from arrival to answer.
            method: str. The RPC, e.g. "Predict" or "GetModelStatus".
        """
        if not signature and method in _DEFAULT_SIGNATURE_APIS:
            signature = _DEFAULT_SIGNATURE
        status = code.name if isinstance(code, grpc.StatusCode) else str(code)
        labels = (model, signature, method, api.upper(), status)
        with self._lock:
            self._request_count.add(labels, 1)
            self._request_latency.observe(
                labels, seconds * _SECONDS_TO_MICROSECONDS
            )

    def record_batch_size(self, model, signature, size):
        """Records one processed batch; usable as a batcher's on_batch."""
        with self._lock:
            self._batch_size.observe((model, signature), size)

    def record_load(self, model, version, outcome):
        """Counts one attempt to load a model version ("success", "fail")."""
        with self._lock:
            self._load_attempts.add((model, str(version), outcome), 1)

    def grpc_interceptor(self):
        """Returns a grpc.ServerInterceptor that records every unary RPC."""
        return _MetricsInterceptor(self)

    def render(self):
        """Returns the Prometheus text exposition of all metrics (bytes)."""
        return exposition.generate_latest(self.registry)

    def collect(self):
        """Yields the metric families; called by the registry."""
        with self._lock:
            yield self._request_count.family(
                REQUEST_COUNT, "The total number of requests."
            )
            yield self._request_latency.family(
                REQUEST_LATENCY,
                "Distribution of wall time (in microseconds) for requests.",
            )
            yield self._batch_size.family(
                BATCH_SIZE, "Distribution of the sizes of processed batches."
            )
            yield self._load_attempts.family(
                LOAD_ATTEMPT_COUNT,
                "The number of attempts to load a model version.",
            )


class _Series:
    """Values keyed by label tuples, capped at MAX_SERIES label sets."""

    def __init__(self, label_names):
        self.label_names = label_names
        self.values = {}

    def _slot(self, labels, new_value):
        value = self.values.get(labels)
        if value is None:
            if len(self.values) >= MAX_SERIES:
                labels = (OVERFLOW_MODEL_NAME,) + ("",) * (len(labels) - 1)
                value = self.values.get(labels)
            if value is None:
                value = self.values[labels] = new_value()
        return value


class _Counter(_Series):
    def add(self, labels, amount):
        self._slot(labels, lambda: [0.0])[0] += amount

    def family(self, name, documentation):
        family = UntypedMetricFamily(
            name, documentation, labels=self.label_names
        )
        for labels, (value,) in self.values.items():
            family.add_metric(labels, value)
        return family


class _Histogram(_Series):
    def __init__(self, label_names, bounds):
        super().__init__(label_names)
        self.bounds = bounds

    def observe(self, labels, value):
        # counts[i] holds observations in bucket i (the last is +Inf); the
        # final slot is the running sum.
        counts = self._slot(labels, lambda: [0.0] * (len(self.bounds) + 2))
        counts[bisect.bisect_left(self.bounds, value)] += 1
        counts[-1] += value

    def family(self, name, documentation):
        family = HistogramMetricFamily(
            name, documentation, labels=self.label_names
        )
        limits = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        for labels, counts in self.values.items():
            cumulative, buckets = 0.0, []
            for limit, count in zip(limits, counts[:-1], strict=True):
                cumulative += count
                buckets.append((limit, cumulative))
            family.add_metric(labels, buckets, sum_value=counts[-1])
        return family


class _MetricsInterceptor(grpc.ServerInterceptor):
    """Times unary RPCs and records them with their final status code."""

    def __init__(self, metrics):
        self._metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        return grpc.unary_unary_rpc_method_handler(
            self._timed(handler.unary_unary, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _timed(self, behavior, method):
        def timed_behavior(request, context):
            start = time.perf_counter()
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                self._record(request, context, method, start, failed)

        return timed_behavior

    def _record(self, request, context, method, start, failed):
        # context.abort() sets the code before raising; a servicer that
        # raised anything else ends the RPC as UNKNOWN.
        fallback = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
        code = context.code() or fallback
        spec = getattr(request, "model_spec", None)
        self._metrics.record_request(
            spec.name if spec is not None else "",
            spec.signature_name if spec is not None else "",
            "grpc",
            code,
            time.perf_counter() - start,
            method=method,
        )
