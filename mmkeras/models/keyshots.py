"""From frame scores to a keyshot summary (the vsLSTM/DR-DSN/DSNet rule).

The clip is cut into shots (`shot_segmentation`), each shot scores the
mean of its frames' scores, and a 0/1 knapsack (`knapsack`) picks the
shots of largest total score whose frames fit the budget, 15% of the clip
by default. `summarize` runs in numpy (on a device, beside the TFLite
model, and in the evaluation); `summarize_tf` is the same in TF ops, run
by the exported serving signature.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from mmkeras.models import shot_segmentation
from mmkeras.models.knapsack import knapsack
from mmkeras.models.knapsack import knapsack_tf

BUDGET = 0.15


@dataclasses.dataclass
class Summary:
    """A keyshot summary of a clip.

    Attributes:
        shots: int array `(shots, 2)`, each shot's first frame and one
            past its last, in the clip's frames.
        shot_scores: float array `(shots,)`.
        selected_shots: int array of the chosen shots, increasing.
        frames: bool array `(num_frames,)`, True on the summary's frames.
    """

    shots: np.ndarray
    shot_scores: np.ndarray
    selected_shots: np.ndarray
    frames: np.ndarray

    @property
    def selected_frames(self):
        """int array of the summary's frame indices."""
        return np.flatnonzero(self.frames)


def _check_budget(budget):
    if not 0 < budget <= 1:
        raise ValueError(
            f"budget is a fraction of the clip in (0, 1], received {budget!r}."
        )


def budget_frames(num_frames, budget=BUDGET):
    """The most frames a summary of a `num_frames` clip may hold."""
    _check_budget(budget)
    return int(np.floor(budget * num_frames + 1e-9))


def shots_of(features, num_frames=None, max_change_points=None, penalty=None):
    """KTS shots of sampled frames' features, in the clip's frames."""
    penalty = shot_segmentation.PENALTY if penalty is None else penalty
    points = shot_segmentation.kernel_temporal_segmentation(
        features, max_change_points, penalty
    )
    return shot_segmentation.shot_bounds(points, len(features), num_frames)


def select(frame_scores, shots, budget=BUDGET):
    """The knapsack summary of per-frame scores over given shots.

    Args:
        frame_scores: float array `(num_frames,)`, one per clip frame.
        shots: int array `(shots, 2)` covering the clip.
        budget: float. Fraction of the clip the summary may hold.

    Returns:
        A `Summary`.

    Example:
    >>> summary = select(
    ...     np.array([0, 0, 1, 1, 0, 0, 0, 0, 0, 0.0]),
    ...     np.array([[0, 2], [2, 4], [4, 10]]),
    ...     budget=0.2,
    ... )
    >>> summary.selected_frames.tolist()
    [2, 3]
    """
    frame_scores = np.asarray(frame_scores, np.float64)
    shots = np.asarray(shots, np.int64).reshape(-1, 2)
    num_frames = len(frame_scores)
    scores = np.array([frame_scores[a:b].mean() for a, b in shots])
    chosen = knapsack(
        scores, shots[:, 1] - shots[:, 0], budget_frames(num_frames, budget)
    )
    frames = np.zeros(num_frames, bool)
    for a, b in shots[chosen]:
        frames[a:b] = True
    return Summary(shots, scores, chosen, frames)


def position_frames(num_positions, num_frames):
    """int array `(num_frames,)`: the sampled position covering each frame
    (position `i` covers `[i * num_frames // num_positions, ...)`)."""
    starts = np.arange(num_positions + 1) * num_frames // num_positions
    return np.searchsorted(starts, np.arange(num_frames), side="right") - 1


def summarize(
    scores,
    features=None,
    num_frames=None,
    shots=None,
    budget=BUDGET,
    max_change_points=None,
    penalty=None,
):
    """A clip's keyshot summary from its sampled frames' scores.

    This is what a device runs after the TFLite model: KTS over the
    sampled frames' features gives the shots (unless `shots` is given),
    each clip frame takes the score of the sampled frame covering it, and
    the knapsack picks the shots.

    Args:
        scores: float array `(positions,)`, the real sampled frames'
            importance scores.
        features: float array `(positions, dim)`, their features (for
            KTS); not needed with `shots`.
        num_frames: int or None. The clip's frames (None: the positions
            are the frames).
        shots: int array `(shots, 2)` in the clip's frames, or None.
        budget: float. Fraction of the clip the summary may hold.
        max_change_points: int or None. At most this many shot changes.
        penalty: float or None. KTS's penalty (None: the default).

    Returns:
        A `Summary` over the clip's frames.

    Example:
    >>> features = np.repeat(np.eye(3), [4, 2, 4], axis=0)
    >>> scores = np.array([0.1] * 4 + [0.9] * 2 + [0.2] * 4)
    >>> summary = summarize(scores, features, num_frames=20, budget=0.2)
    >>> summary.shots.tolist(), summary.selected_frames.tolist()
    ([[0, 8], [8, 12], [12, 20]], [8, 9, 10, 11])
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(scores) == 0:
        raise ValueError("summarize needs at least one frame score.")
    num_frames = len(scores) if num_frames is None else int(num_frames)
    if shots is None:
        if features is None:
            raise ValueError("summarize needs features (for KTS) or shots.")
        shots = shots_of(features, num_frames, max_change_points, penalty)
    frame_scores = scores[position_frames(len(scores), num_frames)]
    return select(frame_scores, shots, budget)


def summarize_tf(
    scores,
    features,
    num_frames,
    budget=BUDGET,
    max_change_points=None,
    penalty=None,
):
    """`summarize` in TF ops, for one clip in a serving signature.

    Args:
        scores: float tensor `(positions,)`.
        features: float tensor `(positions, dim)`.
        num_frames: int32 scalar, the clip's frames (>= positions).
        budget: float.
        max_change_points: int or None (None: positions - 1).
        penalty: float or None.

    Returns:
        dict of int32 `shot_boundaries` `(shots, 2)`, float32
        `shot_scores` `(shots,)`, int32 `selected_shots` and int32
        `selected_frames` (the summary's frame indices, increasing).
    """
    _check_budget(budget)
    penalty = shot_segmentation.PENALTY if penalty is None else penalty
    positions = tf.shape(scores)[0]
    num_frames = tf.cast(num_frames, tf.int32)
    limit = positions - 1 if max_change_points is None else max_change_points
    points = shot_segmentation.kernel_temporal_segmentation_tf(
        features, limit, penalty
    )
    shots = shot_segmentation.shot_bounds_tf(points, positions, num_frames)
    starts = tf.range(positions + 1) * num_frames // positions
    covering = tf.searchsorted(starts, tf.range(num_frames), side="right") - 1
    frame_scores = tf.gather(tf.cast(scores, tf.float64), covering)
    lengths = shots[:, 1] - shots[:, 0]
    segment_ids = tf.repeat(tf.range(tf.shape(shots)[0]), lengths)
    shot_scores = tf.math.segment_mean(frame_scores, segment_ids)
    capacity = tf.cast(
        tf.floor(budget * tf.cast(num_frames, tf.float64) + 1e-9), tf.int32
    )
    chosen = knapsack_tf(shot_scores, lengths, capacity)
    picked = tf.gather(shots, chosen)
    frames = tf.ragged.range(picked[:, 0], picked[:, 1]).flat_values
    return {
        "shot_boundaries": shots,
        "shot_scores": tf.cast(shot_scores, tf.float32),
        "selected_shots": chosen,
        "selected_frames": tf.cast(frames, tf.int32),
    }
