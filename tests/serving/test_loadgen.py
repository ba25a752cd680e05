"""The benchmark's load generators: counts and concurrency, not timings."""

import threading
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf

from serving.loadgen import InProcessBaseline
from serving.loadgen import interleaved_latency_percentiles
from serving.loadgen import throughput_with_futures
from serving.loadgen import throughput_with_threads
from serving.loadgen import timed_calls


class _InFlight:
    """Counts calls and the most that were ever running at once."""

    def __init__(self, fail_every=0):
        self.lock = threading.Lock()
        self.running = self.peak = self.calls = 0
        self.fail_every = fail_every

    def __call__(self):
        with self.lock:
            self.calls += 1
            call_number = self.calls
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.fail_every and call_number % self.fail_every == 0:
                raise RuntimeError("planned failure")
        finally:
            with self.lock:
                self.running -= 1


def test_futures_keep_at_most_concurrency_calls_in_flight():
    work = _InFlight(fail_every=10)
    with futures.ThreadPoolExecutor(max_workers=16) as pool:
        rate, failures = throughput_with_futures(
            lambda: pool.submit(work), concurrency=4, total=100
        )
    assert work.calls == 100
    assert work.peak <= 4
    assert failures == 10
    assert rate > 0


def test_threads_share_the_total_and_count_failures():
    work = _InFlight(fail_every=5)
    rate, failures = throughput_with_threads(work, concurrency=3, total=30)
    assert work.calls == 30
    assert work.peak <= 3
    assert failures == 6
    assert rate > 0


def test_interleaved_latencies_alternate_blocks_of_each_call():
    order = []
    results = interleaved_latency_percentiles(
        [
            lambda count, name=name: timed_calls(
                lambda: order.append(name), count
            )
            for name in "abc"
        ],
        7,
        block=3,
        warmup=2,
    )
    warmup, measured = "".join(order[:6]), "".join(order[6:])
    assert warmup == "aabbcc"
    assert measured == "aaabbbccc" + "aaabbbccc" + "abc"
    assert len(results) == 3
    assert all(r["p50"] <= r["p99"] for r in results)


@pytest.mark.parametrize("runtime", InProcessBaseline.RUNTIMES)
def test_in_process_baseline_times_a_signature_in_its_own_process(
    tmp_path, runtime
):
    module = tf.Module()
    module.serve = tf.function(
        lambda x: {"y": x * 2.0},
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )
    tf.saved_model.save(
        module, str(tmp_path), signatures={"serving_default": module.serve}
    )
    baseline = InProcessBaseline(
        str(tmp_path),
        {"x": np.ones(3, np.float32)},
        "serving_default",
        runtime,
    )
    try:
        seconds = baseline.time(5)
    finally:
        baseline.close()
    assert len(seconds) == 5
    assert all(s > 0 for s in seconds)


def test_in_process_baseline_rejects_an_unknown_runtime(tmp_path):
    with pytest.raises(ValueError, match="runtime must be one of"):
        InProcessBaseline(str(tmp_path), {}, "serving_default", "xla")
