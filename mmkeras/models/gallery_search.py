"""Exact top-k search of a gallery of embeddings by dot product.

The gallery is scored a chunk of rows at a time and only a running top-k
is kept, so memory is bounded by queries x `chunk_size` scores however
large the gallery is. `search` is TF ops (eager, `tf.function`, or a
SavedModel signature over a `tf.Variable` gallery); `search_numpy` does
the same over a numpy array or a memory map (`np.load(mmap_mode="r")`),
reading one chunk from disk at a time.

Both return the k best scores, best first, with the gallery rows they
came from; equal scores go to the lower row (as a stable sort), so the two
agree. Bad arguments raise ValueError eagerly; inside a graph, what is
known only at run time fails then with InvalidArgumentError and the same
message (INVALID_ARGUMENT from a model server).
"""

import numpy as np
import tensorflow as tf

from mmkeras.preprocessing.decode_limits import check

# With chunk_size=None, `search` scores as many gallery rows at once as
# fit this many bytes of scores: one query scores a 1M gallery in one
# pass (no loop), a batch of 64 in chunks of 64k rows.
SCORE_BUDGET_BYTES = 16 * 2**20


def search(queries, gallery, k, chunk_size=None):
    """The `k` gallery rows scoring highest against each query.

    Args:
        queries: float tensor `(num_queries, width)`.
        gallery: float tensor or `tf.Variable` `(size, width)`.
        k: int or int scalar tensor, 1 <= k <= size.
        chunk_size: int or None. Gallery rows scored at once; None: as
            many as `SCORE_BUDGET_BYTES` of scores hold for these queries.

    Returns:
        `(scores, indices)`: float32 `(num_queries, k)` dot products, best
        first, and int64 `(num_queries, k)` gallery rows.

    Example:
    >>> from mmkeras.models.gallery_search import search
    >>> gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], "float32")
    >>> scores, indices = search([[0.0, 1.0]], gallery, k=2, chunk_size=2)
    >>> indices.numpy(), scores.numpy()
    (array([[1, 2]]), array([[1. , 0.8]], dtype=float32))
    """
    queries = tf.cast(queries, tf.float32)
    gallery = tf.convert_to_tensor(gallery)
    if chunk_size is not None:
        _check_chunk_size(chunk_size)
    _check_ranks(queries.shape.rank, gallery.shape.rank)
    checks = _check_arguments(
        _dim(queries, 0),
        _dim(queries, 1),
        _dim(gallery, 0),
        _dim(gallery, 1),
        k,
    )
    with tf.control_dependencies(checks):
        queries = tf.identity(queries)
    scores, indices = _running_top_k(
        queries, gallery, tf.cast(k, tf.int32), chunk_size
    )
    if isinstance(k, int):
        scores.set_shape([queries.shape[0], k])
        indices.set_shape([queries.shape[0], k])
    return scores, indices


def search_numpy(queries, gallery, k, chunk_size=65536):
    """`search` in numpy, for a gallery in memory or memory-mapped.

    Only one chunk of the gallery is read (and converted to float32) at a
    time; memory is a few times queries x `chunk_size` x 4 bytes.

    Args:
        queries: float array `(num_queries, width)`.
        gallery: float array `(size, width)`, e.g. `np.load(path,
            mmap_mode="r")`.
        k: int, 1 <= k <= size.
        chunk_size: int or None. Gallery rows scored at once; None: as
            many as `SCORE_BUDGET_BYTES` of scores hold for these queries.

    Returns:
        `(scores, indices)`: float32 `(num_queries, k)` dot products, best
        first, and int64 `(num_queries, k)` gallery rows.

    Example:
    >>> from mmkeras.models.gallery_search import search_numpy
    >>> gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], "float32")
    >>> scores, indices = search_numpy([[0.0, 1.0]], gallery, k=2)
    >>> indices, scores
    (array([[1, 2]]), array([[1. , 0.8]], dtype=float32))
    """
    queries = np.asarray(queries, dtype=np.float32)
    _check_chunk_size(chunk_size)
    _check_ranks(queries.ndim, np.ndim(gallery))
    if not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an int, got {k!r}.")
    _check_arguments(*queries.shape, *gallery.shape, int(k))
    best_scores = np.zeros((len(queries), 0), np.float32)
    best_indices = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(gallery), chunk_size):
        chunk = np.asarray(gallery[start : start + chunk_size], np.float32)
        scores = queries @ chunk.T
        if np.isnan(scores).any():
            raise ValueError(
                f"Scores against gallery rows {start} to "
                f"{start + len(chunk) - 1} are NaN; the queries or those "
                "rows hold NaN or infinite values."
            )
        chunk_scores, columns = _top_k_numpy(scores, min(k, len(chunk)))
        # Earlier rows first, so the merge's ties still go to the lower row.
        merged = np.concatenate([best_scores, chunk_scores], axis=1)
        rows = np.concatenate([best_indices, columns + start], axis=1)
        best_scores, positions = _top_k_numpy(merged, min(k, merged.shape[1]))
        best_indices = np.take_along_axis(rows, positions, axis=1)
    return best_scores, best_indices


def _dim(tensor, axis):
    """A Python int when the size is known before run time, else a tensor."""
    size = tensor.shape[axis]
    return size if size is not None else tf.shape(tensor)[axis]


def _check_chunk_size(chunk_size):
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}.")


def _check_ranks(query_rank, gallery_rank):
    for name, rank in (("queries", query_rank), ("gallery", gallery_rank)):
        if rank is not None and rank != 2:
            raise ValueError(
                f"{name} must be a (rows, width) matrix, received rank {rank}."
            )


def _check_arguments(num_queries, query_width, size, width, k):
    """ValueError for what is known now; graph checks for the rest.

    Each requirement is a test of its values and the message they fill.
    """
    requirements = [
        (
            lambda rows: rows >= 1,
            (num_queries,),
            "queries are empty ({} rows); send at least one embedding",
        ),
        (
            lambda received, expected: received == expected,
            (query_width, width),
            "queries have width {} but the gallery has width {}; was the "
            "gallery built by another model?",
        ),
        (lambda k: k >= 1, (k,), "k={} must be at least 1"),
        (
            lambda k, size: k <= size,
            (k, size),
            "k={} is larger than the gallery ({} embeddings)",
        ),
    ]
    checks = []
    for test, values, template in requirements:
        checks += _require(test, values, template)
    return checks


def _require(test, values, template):
    """`test(*values)`, now when the values are known, else at run time.

    Returns:
        A list of the graph checks to run first (empty when none is left).
    """
    known = [_known(v) for v in values]
    if None not in known:
        if not test(*known):
            raise ValueError(template.format(*known))
        return []
    values = [tf.cast(v, tf.int64) for v in values]
    return [check(test(*values), lambda: tf.strings.format(template, values))]


def _known(value):
    """A Python int for an int or constant tensor, None for a run-time one."""
    if isinstance(value, int | np.integer):
        return int(value)
    static = tf.get_static_value(value)
    return None if static is None else int(static)


def _running_top_k(queries, gallery, k, chunk_size):
    """Scores gallery chunks in turn, keeping each query's top k so far."""
    size = tf.shape(gallery, out_type=tf.int64)[0]
    if chunk_size is None:
        # Fewer, larger chunks: each loop step costs a merge and a copy.
        rows = SCORE_BUDGET_BYTES // 4 // tf.shape(queries, tf.int64)[0]
        chunk_size = tf.maximum(rows, 1)

    def merge_chunk(start, best_scores, best_indices):
        chunk = tf.cast(gallery[start : start + chunk_size], tf.float32)
        scores = tf.matmul(queries, chunk, transpose_b=True)
        chunk_scores, columns = _top_k(scores, k)
        # Earlier rows first: top_k puts equal scores in input order, so
        # ties go to the lower gallery row, chunk after chunk.
        scores = tf.concat([best_scores, chunk_scores], axis=1)
        rows = tf.concat([best_indices, columns + start], axis=1)
        best_scores, positions = _top_k(scores, k)
        best_indices = tf.gather(rows, positions, batch_dims=1)
        return start + chunk_size, best_scores, best_indices

    num_queries = tf.shape(queries)[0]
    _, scores, indices = tf.while_loop(
        lambda start, *_: start < size,
        merge_chunk,
        (
            tf.constant(0, tf.int64),
            tf.zeros([num_queries, 0], tf.float32),
            tf.zeros([num_queries, 0], tf.int64),
        ),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None]),
        ),
        # One chunk's scores at a time: parallel iterations would each
        # hold a (num_queries, chunk_size) matrix.
        parallel_iterations=1,
    )
    return scores, indices


def _top_k(scores, k):
    """tf.math.top_k of up to `k` columns, with int64 column indices."""
    k = tf.minimum(k, tf.shape(scores)[1])
    values, columns = tf.math.top_k(scores, k)
    return values, tf.cast(columns, tf.int64)


def _top_k_numpy(scores, k):
    """The k best columns of each row, best first, ties to the lower column.

    np.partition finds each row's k-th best score in linear time; all
    columns above it are kept, and of those equal to it, the lowest ones,
    so the kept set is what a stable sort would keep.
    """
    num_columns = scores.shape[1]
    if k < num_columns:
        kth = np.partition(scores, num_columns - k, axis=1)[
            :, [num_columns - k]
        ]
        keep = scores > kth
        ties = scores == kth
        room = k - keep.sum(axis=1, keepdims=True)
        keep |= ties & (np.cumsum(ties, axis=1, dtype=np.int32) <= room)
        columns = np.nonzero(keep)[1].reshape(len(scores), k)
    else:
        columns = np.broadcast_to(np.arange(num_columns), scores.shape)
    kept = np.take_along_axis(scores, columns, axis=1)
    order = np.argsort(-kept, axis=1, kind="stable")
    return (
        np.take_along_axis(kept, order, axis=1),
        np.take_along_axis(columns, order, axis=1).astype(np.int64),
    )
