"""Shots by kernel temporal segmentation (KTS) of frame features.

KTS (Potapov et al., 2014, as vsLSTM, DR-DSN and DSNet use it): with a
linear kernel on features centred on the clip's mean and L2-normalised
(centring: features that are all positive, as after a ReLU, would
otherwise differ little in angle from shot to shot), the cost of a
segment is its within-segment scatter,
`sum_t K(t, t) - sum_{s, t} K(s, t) / length`;
dynamic programming finds the least total cost for each number `m` of
change points, and the `m` chosen minimises the cost per frame plus
`penalty * m / (2 n) * (log(n / m) + 1)` (the penalty of KTS's
`cpd_auto`, with `vmax` = `penalty`).

`kernel_temporal_segmentation` is the numpy implementation (the device
side and the evaluation run it); `kernel_temporal_segmentation_tf` is the
same programme in TF ops for the exported signature, in float64 and with
the same tie-breaking (the first minimum), so both return the same change
points.
"""

import numpy as np
import tensorflow as tf

PENALTY = 1.0


def _normalise(features):
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(
            "KTS needs frame features (frames, dim) with at least one "
            f"frame, received shape {features.shape}."
        )
    features = features - features.mean(axis=0)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def segment_costs(features):
    """`(n + 1, n + 1)` costs: entry `[i, j]` is the scatter of frames
    `[i, j)` (inf unless `i < j`), for centred, L2-normalised
    `features`."""
    x = _normalise(features)
    n = len(x)
    gram = x @ x.T
    diagonal = np.concatenate([[0.0], np.cumsum(np.diag(gram))])
    summed = np.zeros((n + 1, n + 1))
    summed[1:, 1:] = gram.cumsum(0).cumsum(1)
    corner = np.diag(summed)
    block = corner[None, :] - summed - summed.T + corner[:, None]
    start = np.arange(n + 1)[:, None]
    end = np.arange(n + 1)[None, :]
    length = np.maximum(end - start, 1)
    costs = diagonal[None, :] - diagonal[:, None] - block / length
    return np.where(end > start, costs, np.inf)


def _penalties(count, max_change_points, penalty):
    m = np.arange(max_change_points + 1, dtype=np.float64)
    return penalty * m / (2.0 * count) * (np.log(count / np.maximum(m, 1)) + 1)


def kernel_temporal_segmentation(
    features, max_change_points=None, penalty=PENALTY
):
    """Change points of a sequence of frame features.

    Args:
        features: float array `(frames, dim)`; centred on their mean and
            L2-normalised here.
        max_change_points: int or None. At most this many (None: one less
            than the frames).
        penalty: float. Higher gives fewer, longer shots.

    Returns:
        int array of the frames that start a new shot, increasing (the
        first shot starts at 0, which is not listed).

    Example:
    >>> features = np.repeat(np.eye(3), [4, 2, 5], axis=0)
    >>> kernel_temporal_segmentation(features).tolist()
    [4, 6]
    """
    costs = segment_costs(features)
    n = len(costs) - 1
    limit = n - 1 if max_change_points is None else max_change_points
    limit = max(0, min(int(limit), n - 1))
    best = costs[0]
    totals, links = [best[n]], []
    for _ in range(limit):
        candidates = best[:, None] + costs
        link = np.argmin(candidates, axis=0)
        best = candidates[link, np.arange(n + 1)]
        links.append(link)
        totals.append(best[n])
    scores = np.array(totals) / n + _penalties(n, limit, penalty)
    count = int(np.argmin(scores))
    points, end = [], n
    for k in range(count, 0, -1):
        end = int(links[k - 1][end])
        points.append(end)
    return np.array(sorted(points), np.int64)


def kernel_temporal_segmentation_tf(
    features, max_change_points, penalty=PENALTY
):
    """`kernel_temporal_segmentation` in TF ops (float64), for a graph.

    Args:
        features: float tensor `(frames, dim)`, frames >= 1.
        max_change_points: int32 scalar. At most this many.
        penalty: float.

    Returns:
        int32 tensor of the frames that start a new shot, increasing.

    Example:
    >>> features = tf.constant(np.repeat(np.eye(3), [4, 2, 5], axis=0))
    >>> kernel_temporal_segmentation_tf(features, 10).numpy().tolist()
    [4, 6]
    """
    x = tf.cast(features, tf.float64)
    x = x - tf.reduce_mean(x, axis=0)
    x = x / tf.maximum(tf.norm(x, axis=1, keepdims=True), 1e-12)
    n = tf.shape(x)[0]
    gram = tf.matmul(x, x, transpose_b=True)
    zero = tf.zeros([1], tf.float64)
    diagonal = tf.concat([zero, tf.cumsum(tf.linalg.diag_part(gram))], 0)
    summed = tf.pad(tf.cumsum(tf.cumsum(gram, 0), 1), [[1, 0], [1, 0]])
    corner = tf.linalg.diag_part(summed)
    block = corner[None, :] - summed - tf.transpose(summed) + corner[:, None]
    positions = tf.range(n + 1)
    gaps = positions[None, :] - positions[:, None]
    length = tf.cast(tf.maximum(gaps, 1), tf.float64)
    costs = diagonal[None, :] - diagonal[:, None] - block / length
    infinity = tf.constant(np.inf, tf.float64)
    costs = tf.where(gaps > 0, costs, infinity)
    limit = tf.maximum(
        tf.minimum(tf.cast(max_change_points, tf.int32), n - 1), 0
    )
    links = tf.TensorArray(tf.int32, size=limit, clear_after_read=False)
    totals = tf.TensorArray(tf.float64, size=limit + 1)
    totals = totals.write(0, costs[0, n])

    def step(k, best, links, totals):
        candidates = best[:, None] + costs
        link = tf.argmin(candidates, axis=0, output_type=tf.int32)
        best = tf.reduce_min(candidates, axis=0)
        return k + 1, best, links.write(k, link), totals.write(k + 1, best[n])

    _, _, links, totals = tf.while_loop(
        lambda k, *_: k < limit, step, (0, costs[0], links, totals)
    )
    m = tf.cast(tf.range(limit + 1), tf.float64)
    count_frames = tf.cast(n, tf.float64)
    penalties = (
        penalty
        * m
        / (2.0 * count_frames)
        * (tf.math.log(count_frames / tf.maximum(m, 1.0)) + 1.0)
    )
    scores = totals.stack() / count_frames + penalties
    count = tf.argmin(scores, output_type=tf.int32)

    def back(k, end, points):
        end = links.read(k - 1)[end]
        return k - 1, end, points.write(k - 1, end)

    points = tf.TensorArray(tf.int32, size=count)
    _, _, points = tf.while_loop(lambda k, *_: k > 0, back, (count, n, points))
    return tf.reshape(points.stack(), [-1])


def shot_bounds(change_points, num_positions, num_frames=None):
    """`(shots, 2)` start and end (exclusive) of each shot, in frames.

    Change points are positions among `num_positions` uniformly sampled
    frames; position `i` covers the clip's frames `[i * num_frames //
    num_positions, (i + 1) * num_frames // num_positions)`.

    Args:
        change_points: int array, increasing, in `(0, num_positions)`.
        num_positions: int. Sampled frames.
        num_frames: int or None. Frames of the clip (None: the positions
            are the frames); at least `num_positions`.

    Returns:
        int64 array `(shots, 2)`.

    Example:
    >>> shot_bounds([2, 3], num_positions=4, num_frames=10).tolist()
    [[0, 5], [5, 7], [7, 10]]
    """
    num_frames = num_positions if num_frames is None else int(num_frames)
    if num_frames < num_positions:
        raise ValueError(
            f"A clip of {num_frames} frames cannot have {num_positions} "
            "sampled positions."
        )
    edges = np.concatenate([[0], np.asarray(change_points, np.int64)])
    edges = np.append(edges, num_positions) * num_frames // num_positions
    return np.stack([edges[:-1], edges[1:]], axis=1)


def shot_bounds_tf(change_points, num_positions, num_frames):
    """`shot_bounds` in TF ops: int32 `(shots, 2)`."""
    positions = tf.concat(
        [[0], tf.cast(change_points, tf.int32), [num_positions]], 0
    )
    edges = positions * num_frames // num_positions
    return tf.stack([edges[:-1], edges[1:]], axis=1)
