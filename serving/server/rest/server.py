"""The REST server: TensorFlow Serving's HTTP API on its own port.

Built on aiohttp: its C HTTP parser and one asyncio event loop accept and
parse many connections on a single thread, while every call's work (JSON
decoding, the TensorFlow call, JSON encoding) runs in a thread pool, where
TensorFlow's ops release the GIL. On 2 cores this keeps connection handling
off the busy threads without the per-connection threads of http.server or
the extra process of an ASGI server (uvicorn + starlette). The event loop
runs in its own thread, so `start()` and `stop()` are plain calls for a
synchronous main().

Like TensorFlow Serving, paths under /v1/ are the API (see `routes`),
the Prometheus page is served at the monitoring path when metrics are
enabled, and any other path is 404. An OPTIONS request to the API is a
CORS preflight: 200 when it has an http(s) Origin, else 400; with
`cors=True` (--rest_api_enable_cors_support) every API answer carries
TensorFlow Serving's CORS headers. A preflight needs no bearer token,
since browsers send none with it. Calls taking longer than
`timeout_ms` are answered 504 (DEADLINE_EXCEEDED); the model call itself
cannot be interrupted and finishes in the background.
"""

import asyncio
import concurrent.futures
import logging
import os
import re
import socket
import threading
import time

import grpc
from aiohttp import web

from serving.server import deadlines
from serving.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.server.rest import auth
from serving.server.rest import routes
from serving.server.rest.api import RestApi
from serving.server.rest.http_status import error_body

logger = logging.getLogger(__name__)

DEFAULT_HOST = "0.0.0.0"
DEFAULT_TIMEOUT_MS = 30000
# Like the gRPC server: images and batches make big bodies.
MAX_BODY_BYTES = 2**31 - 1
# TensorFlow Serving's default --rest_api_num_threads.
DEFAULT_NUM_THREADS = 4 * (os.cpu_count() or 1)
JSON_CONTENT_TYPE = "application/json"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
_HTTP_ORIGIN = re.compile(r"https?://")
# Connections still open once in-flight calls are done (or the grace
# period is over) are closed after this many seconds.
_CLOSE_CONNECTIONS_SECONDS = 0.5


class RestServer:
    """Serves TensorFlow Serving's REST API for a ModelManager.

    Args:
        manager: ModelManager. The servables to serve.
        port: int. The port to bind; 0 lets the OS pick a free one.
        host: str. The interface to bind ("::" for IPv6).
        timeout_ms: int. Per-call deadline (--rest_api_timeout_in_ms);
            0 or less means none.
        monitoring_path: str | None. Where the Prometheus page is served,
            e.g. "/monitoring/prometheus/metrics"; needs `metrics`.
        metrics: Metrics | None. Records every API call; rendered at
            `monitoring_path`.
        auth_token: str | None. If set, every request must send
            `Authorization: Bearer <auth_token>` or gets 401.
        ssl_context: ssl.SSLContext | None. Serve HTTPS with it.
        predictor: callable(request, deadline) -> PredictResponse | None.
            Runs predictions; pass the gRPC service's `Predictor.predict`
            so that REST and gRPC requests batch together. By default
            `predict.predict(manager, request, limits)`.
        limits: RequestLimits | None. Size caps for classify, regress and
            the default predictor; None: the defaults.
        runner: SignatureRunner | None. Runs classify and regress; pass the
            gRPC service's `predictor.runner` to batch them together.
        cors: bool. Add CORS headers to API answers; with `auth_token`,
            Authorization is allowed as a request header too.
        num_threads: int. Calls answered concurrently.
        max_body_bytes: int. Larger bodies get 413.

    Example:

    ```python
    server = RestServer(manager, port=8501, metrics=metrics,
                        monitoring_path="/monitoring/prometheus/metrics")
    port = server.start()
    ...
    server.stop(grace_seconds=5)
    ```
    """

    def __init__(
        self,
        manager,
        port,
        host=DEFAULT_HOST,
        timeout_ms=DEFAULT_TIMEOUT_MS,
        monitoring_path=None,
        metrics=None,
        auth_token=None,
        ssl_context=None,
        predictor=None,
        limits=None,
        num_threads=DEFAULT_NUM_THREADS,
        max_body_bytes=MAX_BODY_BYTES,
        runner=None,
        cors=False,
    ):
        self._api = RestApi(manager, predictor, limits, runner)
        self._port = port
        self._host = host
        self._timeout = timeout_ms / 1000 if timeout_ms > 0 else None
        self._timeout_ms = timeout_ms
        self._metrics_path = monitoring_path if metrics is not None else None
        self._metrics = metrics
        self._auth_token = auth_token
        self._ssl_context = ssl_context
        self._num_threads = num_threads
        self._max_body_bytes = max_body_bytes
        self._cors_headers = _cors_headers(auth_token) if cors else {}
        self._loop = None
        self._thread = None
        self._in_flight = 0

    def start(self):
        """Starts serving; returns the bound port.

        Raises:
            OSError: if the address cannot be bound.
            RuntimeError: if the server was already started.
        """
        if self._loop is not None:
            raise RuntimeError("RestServer.start() was already called.")
        listener = socket.create_server(
            (self._host, self._port),
            family=socket.AF_INET6 if ":" in self._host else socket.AF_INET,
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self._num_threads, thread_name_prefix="rest-worker"
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="rest-server", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(
            self._start_site(listener), self._loop
        ).result()
        return listener.getsockname()[1]

    def stop(self, grace_seconds=5.0):
        """Stops accepting, lets in-flight calls finish, then shuts down.

        Args:
            grace_seconds: float. How long in-flight calls may take.
        """
        if self._loop is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(
            self._shutdown(grace_seconds), self._loop
        ).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _start_site(self, listener):
        app = web.Application(client_max_size=self._max_body_bytes)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_CLOSE_CONNECTIONS_SECONDS,
        )
        await self._runner.setup()
        self._site = web.SockSite(
            self._runner, listener, ssl_context=self._ssl_context
        )
        await self._site.start()

    async def _shutdown(self, grace_seconds):
        await self._site.stop()
        try:
            if self._in_flight:
                await asyncio.wait_for(self._idle.wait(), grace_seconds)
        except TimeoutError:
            logger.warning(
                "%d REST calls still running after %.1f s; closing anyway",
                self._in_flight,
                grace_seconds,
            )
        await self._runner.cleanup()

    async def _handle(self, request):
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._answer(request)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _answer(self, request):
        start = time.perf_counter()
        path = request.rel_url.raw_path
        if request.method == "OPTIONS" and routes.is_api_path(path):
            return self._preflight(request)
        authorized = self._auth_token is None or auth.bearer_token_matches(
            request.headers.get("Authorization"), self._auth_token
        )
        if authorized and path == self._metrics_path:
            return web.Response(
                body=self._metrics.render(),
                headers={"Content-Type": METRICS_CONTENT_TYPE},
            )
        if authorized and not routes.is_api_path(path):
            return _json_response(404, error_body(f"Not found: {path}"))
        if authorized:
            deadline = deadlines.from_time_remaining(self._timeout)
            reply = await self._call_api(request, path, deadline)
        else:
            reply = self._api.describe(request.method, path).fail(
                grpc.StatusCode.UNAUTHENTICATED, auth.UNAUTHENTICATED_MESSAGE
            )
        if self._metrics is not None:
            self._metrics.record_request(
                reply.model_name,
                reply.signature_name,
                "rest",
                reply.code,
                time.perf_counter() - start,
                method=reply.api,
            )
        headers = dict(self._cors_headers)
        if not authorized:
            headers.update(auth.CHALLENGE_HEADERS)
        return _json_response(reply.status, reply.body, headers)

    def _preflight(self, request):
        # As TensorFlow Serving: any http(s) Origin passes, with no body.
        if _HTTP_ORIGIN.search(request.headers.get("Origin", "")):
            return web.Response(status=200, headers=self._cors_headers)
        return _json_response(
            400,
            error_body("Origin header is missing in CORS preflight"),
            self._cors_headers,
        )

    async def _call_api(self, request, path, deadline):
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            reply = self._api.describe(request.method, path).fail(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Request body exceeds the limit of {self._max_body_bytes} "
                "bytes.",
            )
            reply.status = web.HTTPRequestEntityTooLarge.status_code
            return reply
        work = self._loop.run_in_executor(
            self._executor,
            self._api.handle,
            request.method,
            path,
            body,
            deadline,
        )
        try:
            return await asyncio.wait_for(work, deadlines.remaining(deadline))
        except TimeoutError:
            return self._api.describe(request.method, path).fail(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"Deadline exceeded: the call did not finish within the REST "
                f"API timeout of {self._timeout_ms} ms.",
            )


def _cors_headers(auth_token):
    headers = dict(CORS_HEADERS)
    if auth_token:
        headers["Access-Control-Allow-Headers"] += ", Authorization"
    return headers


def _json_response(status, body, headers=None):
    response = web.Response(status=status, body=body, headers=headers)
    response.content_type = JSON_CONTENT_TYPE
    return response
