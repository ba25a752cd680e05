"""Load generation for benchmarks: latency percentiles and throughput.

Used by scripts/bench_serving.py. Concurrency comes from keeping N calls in
flight with gRPC futures (one client thread, no GIL contention among
client threads), so the client costs little CPU next to the server it
measures.
"""

import multiprocessing
import threading
import time

import numpy as np


def timed_calls(call, count):
    """Calls `call()` `count` times back to back; returns the seconds each
    took."""
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def interleaved_latency_percentiles(
    run_blocks, iterations, block=50, warmup=20
):
    """Latencies of several calls measured in interleaved blocks (ABAB...),
    so that the machine's noise over the run hits all alike while each call
    still runs back to back as it would in service.

    Args:
        run_blocks: sequence of callable(count) -> list of seconds, e.g.
            `lambda n: timed_calls(call, n)` or `InProcessBaseline.time`.
        iterations: int. Calls measured for each.
        block: int. Calls per block.
        warmup: int. Untimed calls for each first.

    Returns:
        list of {"p50", "p99"} in milliseconds, in the order of run_blocks.
    """
    for run_block in run_blocks:
        run_block(warmup)
    samples = [[] for _ in run_blocks]
    while len(samples[-1]) < iterations:
        count = min(block, iterations - len(samples[-1]))
        for run_block, seconds in zip(run_blocks, samples, strict=True):
            seconds.extend(run_block(count))
    return [_percentiles(seconds) for seconds in samples]


class InProcessBaseline:
    """Times a SavedModel signature called in a process of its own.

    The benchmark's client must not run TensorFlow itself: its runtime's
    threads would compete with the server's for the same cores and charge
    the server for it. This child process holds the model and runs timed
    blocks of calls on request (multiprocessing "spawn", so no state of
    the parent is copied in).

    Args:
        saved_model_dir: str. One version's SavedModel directory.
        inputs: dict[str, np.ndarray]. Keyword arguments of the signature.
        signature_name: str.
        runtime: str. "function": the signature of `tf.saved_model.load`
            called with tensors, as a Python user calls a model in-process;
            "session": the session callable the model server runs
            (`serving.server.session_servable`), on numpy arrays.
    """

    RUNTIMES = ("function", "session")

    def __init__(
        self, saved_model_dir, inputs, signature_name, runtime="function"
    ):
        if runtime not in self.RUNTIMES:
            raise ValueError(
                f"runtime must be one of {self.RUNTIMES}, got {runtime!r}"
            )
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_baseline_worker,
            args=(saved_model_dir, inputs, signature_name, runtime, child_end),
            daemon=True,
        )
        self._process.start()

    def time(self, count):
        """Runs `count` calls in the child; returns the seconds each took."""
        self._connection.send(count)
        return self._connection.recv()

    def close(self):
        self._connection.send(None)
        self._process.join(timeout=30)


def _baseline_worker(
    saved_model_dir, inputs, signature_name, runtime, connection
):
    call = _RUNTIME_LOADERS[runtime](saved_model_dir, inputs, signature_name)
    while (count := connection.recv()) is not None:
        connection.send(timed_calls(call, count))


def _function_call(saved_model_dir, inputs, signature_name):
    import tensorflow as tf

    signature = tf.saved_model.load(saved_model_dir).signatures[signature_name]
    tensors = {name: tf.constant(value) for name, value in inputs.items()}
    return lambda: signature(**tensors)


def _session_call(saved_model_dir, inputs, signature_name):
    from serving.server import session_servable

    signatures, _ = session_servable.load_session_model(saved_model_dir)
    signature = signatures[signature_name]
    outputs = tuple(sorted(signature.output_specs))
    return lambda: signature.run(inputs, outputs)


_RUNTIME_LOADERS = {"function": _function_call, "session": _session_call}


def _percentiles(seconds):
    milliseconds = np.array(seconds) * 1e3
    return {
        "p50": float(np.percentile(milliseconds, 50)),
        "p99": float(np.percentile(milliseconds, 99)),
    }


def throughput_with_futures(start_call, concurrency, total):
    """Requests per second with `concurrency` calls always in flight.

    Args:
        start_call: callable returning a grpc future (e.g.
            `stub.Predict.future(request)`).
        concurrency: int. Calls kept in flight.
        total: int. Calls to complete.

    Returns:
        (requests_per_second, failures).
    """
    lock = threading.Lock()
    done = threading.Event()
    state = {"started": 0, "finished": 0, "failures": 0}

    def launch():
        with lock:
            if state["started"] >= total:
                return
            state["started"] += 1
        start_call().add_done_callback(finished)

    def finished(future):
        if future.exception() is not None:
            with lock:
                state["failures"] += 1
        with lock:
            state["finished"] += 1
            complete = state["finished"] >= total
        if complete:
            done.set()
        else:
            launch()

    began = time.perf_counter()
    for _ in range(min(concurrency, total)):
        launch()
    done.wait()
    elapsed = time.perf_counter() - began
    return total / elapsed, state["failures"]


def throughput_with_threads(call, concurrency, total):
    """Requests per second from `concurrency` threads sharing `total` calls.

    For blocking clients (HTTP) that have no futures.

    Returns:
        (requests_per_second, failures).
    """
    lock = threading.Lock()
    state = {"left": total, "failures": 0}

    def worker():
        while True:
            with lock:
                if state["left"] == 0:
                    return
                state["left"] -= 1
            try:
                call()
            except Exception:  # counted, the load goes on
                with lock:
                    state["failures"] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total / (time.perf_counter() - began), state["failures"]
