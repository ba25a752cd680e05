"""The gradient caching benchmark behind scripts/bench_gradcache.py.

A `DualEncoder` (image + text) trained on one large batch, ordinarily and
with gradient caching (`DualEncoder(gradient_cache_chunk_size=...)`),
side by side in one run: training samples/s and peak memory, each beside
its ratio to the full batch.

Memory is measured on a CPU, where TensorFlow reports none
(`tf.config.experimental.get_memory_info` is GPU-only): each
configuration runs in a fresh Python process, which reads its own
resident set size and its peak (`VmRSS`, `VmHWM` in /proc/self/status).
Two figures, because allocators keep memory:

- run peak: the peak over the whole training run (first step with its
  tracing, then the timed steps) above the resident size of the built
  model and its batch, with TensorFlow as installed. oneDNN's CPU
  allocator keeps what a step frees for the next, so a step's own peak
  is not visible there; the run's peak holds every step's.
- step peak: the largest peak of one step after the first above the
  resident size before it (the peak is reset with /proc/self/clear_refs
  before each step). Measured with oneDNN off (`TF_ENABLE_ONEDNN_OPTS=0`:
  TensorFlow's allocator is then malloc) and a fixed mmap threshold, so
  that freed tensors go back to the system and each step starts from the
  same size.

Speed is measured apart, in one process holding every configuration's
model, stepping them in turn (A, B, C, A, B, C, ...): the machine may be
shared, and a busy moment then slows every configuration alike. Each
figure is the median step, with the interquartile range.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH_SIZE = 256
CHUNK_SIZES = (None, 64, 32)
IMAGE_SIZE = 48
SEQUENCE_LENGTH = 36
HIDDEN_DIM = 64
MEMORY_STEPS = 3
SPEED_ROUNDS = 8
CAPTIONS = (
    "a red circle on a white background",
    "two blue squares side by side",
    "a small green triangle in the corner",
    "a yellow star above a black line",
)
# Allocations above this many bytes are mmapped and unmapped when freed.
MMAP_THRESHOLD = 128 * 1024


def build_task(chunk_size, image_size, sequence_length, hidden_dim):
    """An image-text `DualEncoder` with random weights (dropout 0.1)."""
    from mmkeras.models.presets import dual_encoder
    from mmkeras.preprocessing.vocabulary import learn_vocabulary

    return dual_encoder(
        ("image", "text"),
        vocabulary=learn_vocabulary(CAPTIONS),
        embedding_dim=hidden_dim,
        hidden_dim=hidden_dim,
        image_size=image_size,
        sequence_length=sequence_length,
        gradient_cache_chunk_size=chunk_size,
    )


def random_batch(task, batch_size, seed=0):
    """Model inputs (pixels in [-1, 1], token ids, full padding masks) and
    distinct item keys for `batch_size` pairs."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    vocabulary_size = task.preprocessor.features.tokenizer.vocabulary_size
    x = {}
    for name, spec in task.input.items():
        shape = (batch_size, *spec.shape[1:])
        if name == "images":
            value = rng.uniform(-1, 1, shape)
        elif name == "token_ids":
            value = rng.integers(2, vocabulary_size, shape)
        else:
            value = np.ones(shape)
        x[name] = tf.constant(value, dtype=spec.dtype)
    keys = tf.range(batch_size, dtype=tf.int64)
    return x, {"image_keys": keys, "text_keys": keys}


def _ready(
    chunk_size,
    batch_size=BATCH_SIZE,
    image_size=IMAGE_SIZE,
    sequence_length=SEQUENCE_LENGTH,
    hidden_dim=HIDDEN_DIM,
):
    """A compiled task and its batch: `(task, x, y)`."""
    import keras

    keras.utils.set_random_seed(0)
    task = build_task(chunk_size, image_size, sequence_length, hidden_dim)
    x, y = random_batch(task, batch_size)
    task.compile(optimizer=keras.optimizers.AdamW(1e-4))
    return task, x, y


def measure_memory(chunk_size, steps=MEMORY_STEPS, **sizes):
    """The peak memory of training, in this process.

    Args:
        chunk_size: int or None (the full batch).
        steps: int. Steps after the first.
        **sizes: `batch_size`, `image_size`, `sequence_length`,
            `hidden_dim`.

    Returns:
        dict of `run_peak_mb` and `step_peak_mb` (see the module's
        docstring for when each is meaningful).
    """
    task, x, y = _ready(chunk_size, **sizes)
    built = memory_status()["VmRSS"]
    _step(task, x, y)
    run_peak = memory_status()["VmHWM"]
    step_peak = 0
    for _ in range(steps):
        reset_peak_memory()
        before = memory_status()["VmRSS"]
        _step(task, x, y)
        peak = memory_status()["VmHWM"]
        step_peak = max(step_peak, peak - before)
        run_peak = max(run_peak, peak)
    return {
        "run_peak_mb": (run_peak - built) / 1024,
        "step_peak_mb": step_peak / 1024,
    }


def measure_speed(chunk_sizes, rounds=SPEED_ROUNDS, **sizes):
    """Training samples/s of each configuration, stepped in turn.

    Returns:
        One dict per chunk size: `samples_per_second` of the median step
        and `quartiles`, the samples/s of the slower and the faster
        quartile step.
    """
    batch_size = sizes.get("batch_size", BATCH_SIZE)
    ready = [_ready(chunk, **sizes) for chunk in chunk_sizes]
    for task, x, y in ready:
        _step(task, x, y)  # traced, optimizer built
    seconds = [[] for _ in chunk_sizes]
    for _ in range(rounds):
        for times, (task, x, y) in zip(seconds, ready, strict=True):
            start = time.perf_counter()
            _step(task, x, y)
            times.append(time.perf_counter() - start)
    results = []
    for times in seconds:
        slow, median, fast = np.percentile(times, [75, 50, 25])
        results.append(
            {
                "samples_per_second": batch_size / median,
                "quartiles": [batch_size / slow, batch_size / fast],
            }
        )
    return results


def _step(task, x, y):
    loss = task.train_on_batch(x, y)
    if not np.isfinite(loss):
        raise RuntimeError(f"The benchmark's loss is {loss}.")


def memory_status():
    """This process's `VmRSS` and `VmHWM` (peak), in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as f:
        status = f.read()
    return {
        key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1))
        for key in ("VmRSS", "VmHWM")
    }


def reset_peak_memory():
    """Sets this process's `VmHWM` to its current resident size."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def in_subprocess(function, onednn=True, **kwargs):
    """`function(**kwargs)` (a name in this module) in a fresh Python
    process, so that no configuration's memory or allocator state reaches
    another's; `onednn=False` turns oneDNN off there and fixes malloc's
    mmap threshold."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not onednn:
        environment["TF_ENABLE_ONEDNN_OPTS"] = "0"
        environment["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    completed = subprocess.run(
        [sys.executable, "-c", _WORKER, function, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"The benchmark's {function}({kwargs}) failed:\n{completed.stderr}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


_WORKER = (
    "import json, sys\n"
    "from mmkeras.quiet import import_tensorflow_quietly\n"
    "import_tensorflow_quietly()\n"
    "from mmkeras.training import gradient_cache_bench as bench\n"
    "function = getattr(bench, sys.argv[1])\n"
    "print(json.dumps(function(**json.loads(sys.argv[2]))))\n"
)


def run(chunk_sizes=CHUNK_SIZES, repeats=2, rounds=SPEED_ROUNDS, **sizes):
    """Measures every configuration and prints the table.

    Memory: `repeats` fresh processes per configuration, with oneDNN (run
    peak) and without (step peak), interleaved; the median of each.
    Speed: one process, `rounds` steps of each configuration in turn.

    Returns:
        One dict per configuration: `chunk_size`, `samples_per_second`,
        `quartiles`, `run_peak_mb`, `step_peak_mb`.
    """
    peaks = {(c, onednn): [] for c in chunk_sizes for onednn in (1, 0)}
    for _ in range(repeats):
        for onednn in (1, 0):
            for chunk in chunk_sizes:
                peaks[chunk, onednn].append(
                    in_subprocess(
                        "measure_memory", onednn, chunk_size=chunk, **sizes
                    )
                )
    speeds = in_subprocess(
        "measure_speed",
        chunk_sizes=list(chunk_sizes),
        rounds=rounds,
        **sizes,
    )
    rows = []
    for chunk, speed in zip(chunk_sizes, speeds, strict=True):
        rows.append(
            {
                "chunk_size": chunk,
                **speed,
                "run_peak_mb": statistics.median(
                    p["run_peak_mb"] for p in peaks[chunk, 1]
                ),
                "step_peak_mb": statistics.median(
                    p["step_peak_mb"] for p in peaks[chunk, 0]
                ),
            }
        )
    settings = {
        "batch_size": BATCH_SIZE,
        "image_size": IMAGE_SIZE,
        "sequence_length": SEQUENCE_LENGTH,
        "hidden_dim": HIDDEN_DIM,
        **sizes,
    }
    print(
        f"DualEncoder image+text (dropout 0.1, AdamW), batch "
        f"{settings['batch_size']}, image {settings['image_size']}px, text "
        f"{settings['sequence_length']} tokens, hidden "
        f"{settings['hidden_dim']}; speed: median of {rounds} steps each, "
        f"in turn; memory: median of {repeats} fresh processes each; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(format_table(rows))
    return rows


COLUMNS = (
    ("samples/s", "samples_per_second", ".1f"),
    ("run peak MB", "run_peak_mb", ".0f"),
    ("step peak MB (oneDNN off)", "step_peak_mb", ".0f"),
)


def format_table(rows):
    """A text table, one row per configuration, each figure beside its
    ratio to the first row's (the full batch)."""
    base = rows[0]
    widths = [max(len(title), 10) + 2 for title, _, _ in COLUMNS]
    header = f"{'configuration':<16}" + "".join(
        f"{title:>{width}}{'x full':>8}"
        for (title, _, _), width in zip(COLUMNS, widths, strict=True)
    )
    header += f"{'samples/s IQR':>16}"
    lines = [header, "-" * len(header)]
    for row in rows:
        chunk = row["chunk_size"]
        line = f"{'full batch' if chunk is None else f'chunks of {chunk}':<16}"
        for (_, key, spec), width in zip(COLUMNS, widths, strict=True):
            line += f"{row[key]:>{width}{spec}}{row[key] / base[key]:>7.2f}x"
        low, high = row["quartiles"]
        lines.append(line + f"{f'{low:.0f}-{high:.0f}':>16}")
    return "\n".join(lines)
