"""Load generation for benchmarks: latency percentiles and throughput.

Used by scripts/bench_serving.py. Concurrency comes from keeping N calls in
flight with gRPC futures (one client thread, no GIL contention among
client threads), so the client costs little CPU next to the server it
measures.
"""

import threading
import time

import numpy as np


def latency_percentiles(call, iterations, warmup=20):
    """Calls `call()` sequentially; returns {"p50", "p99"} in milliseconds."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return _percentiles(samples)


def paired_latency_percentiles(call_a, call_b, iterations, block=50, warmup=20):
    """Latencies of two calls measured in alternating blocks (ABAB...), so
    that the machine's noise over the run hits both alike while each call
    still runs back to back as it would in service; returns
    ({"p50", "p99"}, {"p50", "p99"}) in milliseconds.
    """
    for _ in range(warmup):
        call_a()
        call_b()
    samples = ([], [])
    while len(samples[1]) < iterations:
        count = min(block, iterations - len(samples[1]))
        for call, times in ((call_a, samples[0]), (call_b, samples[1])):
            for _ in range(count):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
    return tuple(_percentiles(times) for times in samples)


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
