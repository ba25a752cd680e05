"""The retrieval benchmark behind scripts/bench_retrieval.py.

Queries/s of a dual encoder's exported `search` signature (caption in,
top-k gallery ids out) on random galleries of unit embeddings, side by
side with the numpy brute force a user would write instead (one matmul,
`np.argpartition`, a sort of the k), in the same process and run.

The signature's time includes tokenizing and embedding the captions; the
numpy search starts from embeddings (`task.embed`). So the
`embed_text` signature of the same SavedModel is timed too, and the
signature's search-only time is its total minus that (paired, run by
run). The goal is search-only / numpy >= 1x.

The machine is shared and noisy: the methods are timed in interleaved
runs (A, B, C, A, B, C, ...), each run long enough to span several
calls, and each figure is the median over runs, printed with its spread
and the load average, so a noisy run is seen as one.

It lives in `export` because it measures an export: `models` never
imports `export`.
"""

import math
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from mmkeras.export.saved_model import export_task
from mmkeras.models.gallery import Gallery
from mmkeras.models.presets import dual_encoder
from mmkeras.preprocessing.vocabulary import learn_vocabulary

SIZES = (100_000, 1_000_000)
BATCHES = (1, 16)
EMBEDDING_DIM = 64
K = 10
MODEL_NAME = "retrieval"
CAPTIONS = (
    "a red circle on a white background",
    "two blue squares side by side",
    "a small green triangle in the corner",
    "a yellow star above a black line",
    "three dots in a row",
    "an orange ring inside a purple square",
    "a grey cloud over a brown hill",
    "a striped ball next to a box",
)
METHODS = ("signature", "embed", "numpy")
# Interquartile range over median above which the report calls runs noisy.
NOISY_SPREAD = 0.25


def build_task():
    """A small image-text `DualEncoder` with random weights."""
    return dual_encoder(
        ("image", "text"),
        vocabulary=learn_vocabulary(CAPTIONS),
        embedding_dim=EMBEDDING_DIM,
        image_size=32,
        sequence_length=16,
        hidden_dim=32,
    )


def random_gallery(size, width=EMBEDDING_DIM, seed=0):
    """An image `Gallery` of `size` random unit float32 embeddings."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((size, width), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    rows = np.arange(size).astype(str)
    ids = np.char.add("item-", rows)
    paths = np.char.add(np.char.add("images/", rows), ".jpg")
    return Gallery("image", embeddings, ids, paths)


def numpy_search(queries, embeddings, ids, k):
    """Brute force as a user writes it: all scores, argpartition, sort.

    Returns:
        `(ids, scores)`, `(num_queries, k)` each, best first.
    """
    scores = queries @ embeddings.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1)
    rows = np.take_along_axis(top, order, axis=1)
    return ids[rows], np.take_along_axis(top_scores, order, axis=1)


def interleaved_runs(calls, repeats, run_seconds=0.3, warmup=2):
    """Seconds per call of each callable, from interleaved timed runs.

    Each callable is warmed up, then given the number of calls that takes
    about `run_seconds` (at least one); the runs go A, B, C, A, B, C, ...
    so the machine's noise hits all of them alike.

    Args:
        calls: dict of name to a callable of no arguments.
        repeats: int. Timed runs of each.
        run_seconds: float. Target length of one run.
        warmup: int. Untimed calls of each first.

    Returns:
        dict of name to a list of `repeats` seconds per call, in run order.
    """
    per_run = {}
    for name, call in calls.items():
        for _ in range(warmup):
            call()
        start = time.perf_counter()
        call()
        once = time.perf_counter() - start
        per_run[name] = max(1, math.ceil(run_seconds / max(once, 1e-6)))
    seconds = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            count = per_run[name]
            start = time.perf_counter()
            for _ in range(count):
                call()
            seconds[name].append((time.perf_counter() - start) / count)
    return seconds


def directory_bytes(path):
    """Total size of the files under `path`."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def measure_gallery(
    task,
    gallery,
    batches=BATCHES,
    repeats=7,
    k=K,
    run_seconds=0.3,
    directory=None,
):
    """Exports `task` with `gallery` attached and times the three methods.

    Args:
        task: a `DualEncoder` with a text tower and an image gallery's
            modality.
        gallery: the `Gallery` to search.
        batches: ints. Captions per query batch.
        repeats: int. Interleaved timed runs of each method.
        k: int. Results per query.
        run_seconds: float. Target length of one timed run.
        directory: str or None. Where to export (a temporary directory
            by default, removed afterwards).

    Returns:
        dict: `size`, `gallery_bytes` (embeddings, ids and paths in
        memory), `saved_model_bytes` (on disk), `load_average` (1 min,
        before and after) and `rows`, one dict per batch size (see
        `measure_batch`).
    """
    owned = directory is None
    directory = tempfile.mkdtemp() if owned else directory
    try:
        task.attach_gallery(gallery)
        version_dir = export_task(task, directory, MODEL_NAME)
        loaded = tf.saved_model.load(version_dir)
        before = os.getloadavg()[0]
        rows = [
            measure_batch(task, loaded, gallery, batch, repeats, k, run_seconds)
            for batch in batches
        ]
        return {
            "size": len(gallery),
            "gallery_bytes": sum(
                a.nbytes
                for a in (gallery.embeddings, gallery.ids, gallery.paths)
            ),
            "saved_model_bytes": directory_bytes(version_dir),
            "load_average": (before, os.getloadavg()[0]),
            "rows": rows,
        }
    finally:
        task.gallery = None
        if owned:
            shutil.rmtree(directory, ignore_errors=True)


def measure_batch(task, loaded, gallery, batch, repeats, k=K, run_seconds=0.3):
    """Times one query batch size on a loaded export and in numpy.

    Returns:
        dict: `batch`; `seconds` (method -> seconds per call, one per
        run); queries/s (medians) of `signature` (embedding included),
        `embed` (the `embed_text` signature), `search_only` (median of
        the runs' signature - embed differences; NaN when not positive,
        i.e. lost in noise) and `numpy`; the ratios `total_ratio` and
        `search_ratio` (signature / numpy queries/s: the median of each
        run's ratio to the numpy run beside it, so that a slow spell of
        the machine cancels out); `spread` (method -> the runs'
        interquartile range over their median); `mismatches`, the
        queries whose top-k ids differ between signature and numpy, and
        `max_score_error` between their scores.
    """
    captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(batch)]
    text = tf.constant(captions)
    k_tensor = tf.constant(k)
    search = loaded.signatures["search"]
    embed = loaded.signatures["embed_text"]
    queries = np.asarray(task.embed("text", text))
    embeddings, ids = gallery.embeddings, gallery.ids
    seconds = interleaved_runs(
        {
            "signature": lambda: search(text=text, k=k_tensor),
            "embed": lambda: embed(text=text),
            "numpy": lambda: numpy_search(queries, embeddings, ids, k),
        },
        repeats,
        run_seconds,
    )
    numpy_seconds = np.asarray(seconds["numpy"])
    total = np.asarray(seconds["signature"])
    search_only = total - np.asarray(seconds["embed"])
    rates = {name: _rate(batch, np.median(seconds[name])) for name in METHODS}
    rates["search_only"] = _rate(batch, np.median(search_only))

    outputs = search(text=text, k=k_tensor)
    found_ids = outputs["ids"].numpy().astype(str)
    expected_ids, expected_scores = numpy_search(queries, embeddings, ids, k)
    return {
        "batch": batch,
        "seconds": seconds,
        **rates,
        "total_ratio": _paired_ratio(numpy_seconds, total),
        "search_ratio": _paired_ratio(numpy_seconds, search_only),
        "spread": {name: _spread(s) for name, s in seconds.items()},
        "mismatches": int(np.sum(np.any(found_ids != expected_ids, axis=1))),
        "max_score_error": float(
            np.max(np.abs(outputs["scores"].numpy() - expected_scores))
        ),
    }


def _rate(count, seconds):
    """`count / seconds`, NaN when the time is lost in noise (<= 0)."""
    return float(count / seconds) if seconds > 0 else math.nan


def _paired_ratio(numpy_seconds, seconds):
    """Median over runs of numpy's time over the other's (its speed-up),
    NaN when any of the other's times is lost in noise (<= 0)."""
    if np.any(seconds <= 0):
        return math.nan
    return float(np.median(numpy_seconds / seconds))


def _spread(seconds):
    """Interquartile range over median: how noisy the runs were."""
    low, median, high = np.percentile(seconds, [25, 50, 75])
    return float((high - low) / median)


def format_report(results, k=K):
    """The table of `measure_gallery` results, as printed."""
    lines = [
        f"top-{k} of random unit {EMBEDDING_DIM}-d galleries; "
        f"{os.cpu_count()} cores; queries/s: medians of interleaved runs; "
        "ratios (signature / numpy): medians of the runs' paired ratios",
        "signature: `search` of the loaded SavedModel, caption in (embedding "
        "included); search-only: signature - `embed_text`, run by run; "
        "numpy: q @ gallery.T + argpartition + sort, on task.embed queries",
        "",
        f"{'gallery':>9} {'batch':>5} {'signature':>10} {'search-only':>11} "
        f"{'numpy':>9} {'sig/np':>7} {'search/np':>9} "
        f"{'embed':>9} {'spread s/e/n':>14} {'ids':>9}",
        f"{'':>9} {'':>5} {'q/s':>10} {'q/s':>11} {'q/s':>9} {'':>7} "
        f"{'':>9} {'q/s':>9} {'IQR/median':>14} {'differ':>9}",
    ]
    for result in results:
        for row in result["rows"]:
            spread = "/".join(f"{row['spread'][name]:.2f}" for name in METHODS)
            lines.append(
                f"{result['size']:>9,} {row['batch']:>5} "
                f"{row['signature']:>10.1f} {row['search_only']:>11.1f} "
                f"{row['numpy']:>9.1f} {row['total_ratio']:>6.2f}x "
                f"{row['search_ratio']:>8.2f}x {row['embed']:>9.1f} "
                f"{spread:>14} "
                f"{row['mismatches']:>3}/{row['batch']:<5}"
            )
    lines.append("")
    noisy = max(
        spread
        for result in results
        for row in result["rows"]
        for spread in row["spread"].values()
    )
    if noisy > NOISY_SPREAD:
        lines.append(
            f"Noisy: some runs' IQR/median is {noisy:.2f} (over "
            f"{NOISY_SPREAD}); the cores were busy, rerun to compare."
        )
    for result in results:
        before, after = result["load_average"]
        lines.append(
            f"{result['size']:>9,} items: gallery in memory "
            f"{result['gallery_bytes'] / 2**20:.1f} MiB (embeddings, ids, "
            f"paths), SavedModel on disk "
            f"{result['saved_model_bytes'] / 2**20:.1f} MiB; 1-min load "
            f"average {before:.1f} -> {after:.1f}"
        )
    return "\n".join(lines)


def run(sizes=SIZES, batches=BATCHES, repeats=7, k=K):
    """Measures every gallery size, prints the report, returns results."""
    task = build_task()
    results = []
    for size in sizes:
        gallery = random_gallery(size)
        results.append(measure_gallery(task, gallery, batches, repeats, k))
        del gallery
    print(format_report(results, k))
    return results
