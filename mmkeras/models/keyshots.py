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


RANDOM_DRAWS = 20


def position_means(values, num_positions):
    """The mean of `values` (one per annotated frame) over the frames each
    of `num_positions` uniformly sampled positions covers (at least one):
    the training targets' rule (`VideoSummaryPreprocessor`).

    Example:
    >>> position_means([0.0, 1.0, 1.0, 1.0], 2).tolist()
    [0.5, 1.0]
    """
    values = np.asarray(values, np.float64)
    count = len(values)
    positions = np.arange(num_positions)
    starts = np.minimum(positions * count // num_positions, count - 1)
    ends = np.minimum(
        np.maximum((positions + 1) * count // num_positions, starts + 1), count
    )
    # Sums per segment (not differences of a running sum), so that equal
    # scores stay equal: rank correlation counts ties.
    return np.add.reduceat(values, starts) / (ends - starts)


def annotator_summary(scores, shots, budget=BUDGET):
    """An annotator's summary: their 0/1 selection as it is, or the
    knapsack summary of their scores over `shots`."""
    scores = np.asarray(scores, np.float64)
    if np.all((scores == 0) | (scores == 1)):
        return scores.astype(bool)
    return select(scores, shots, budget).frames


def evaluate_summary(
    scores, features, annotations, shots=None, budget=BUDGET, rng=None
):
    """One clip's summary metrics: the model's, a random summary's on the
    same shots, and the annotators' leave-one-out agreement.

    The clip is measured on the annotations' timeline (its annotated
    frames; the sampled positions when there are fewer). As in the
    SumMe/TVSum protocol (vsLSTM, DR-DSN, DSNet evaluate on the
    datasets' own change points), the model's summary is `summarize`
    over the clip's `shots` when the record gives them, else over KTS
    shots of `features`; `f_mean_kts` and `f_max_kts` measure the model's
    summary over its own KTS shots in every case (what a served summary
    is). Each annotator's summary is `annotator_summary` over the same
    shots. Kendall's tau and Spearman's rho compare
    the sampled frames' scores with each annotator's mean score over the
    frames each covers, averaged over annotators. The random baseline
    draws uniform scores for the sampled frames `RANDOM_DRAWS` times. The
    human figures compare each annotator with the others, as the model is
    compared with all.

    Args:
        scores: float array `(positions,)` of the real sampled frames.
        features: float array `(positions, dim)`.
        annotations: float array `(annotators, annotated frames)`.
        shots: `(shots, 2)` in annotated frames, or None.
        budget: float.
        rng: numpy Generator or None.

    Returns:
        dict of `f_mean`, `f_max`, `tau`, `rho`, each also with a
        `_random` and a `_human` suffix, and `f_mean_kts`, `f_max_kts`.
    """
    from mmkeras import metrics

    rng = np.random.default_rng(0) if rng is None else rng
    annotations = np.asarray(annotations, np.float64)
    positions = len(scores)
    if positions == 0:
        raise ValueError("The clip has no frame to summarise.")
    timeline = annotations.shape[1]
    if timeline < positions:
        # Annotated more coarsely than sampled: repeat each annotation.
        cover = np.arange(positions) * timeline // positions
        annotations = annotations[:, cover]
        if shots is not None:
            shots = np.asarray(shots) * positions // timeline
        timeline = positions
    model_shots = shots_of(features, timeline)
    reference_shots = model_shots if shots is None else np.asarray(shots)
    users = [annotator_summary(a, reference_shots, budget) for a in annotations]
    at_positions = [position_means(a, positions) for a in annotations]

    def measure(frame_scores, segmentation=reference_shots):
        summary = summarize(
            frame_scores, num_frames=timeline, shots=segmentation, budget=budget
        )
        f_mean, f_max = metrics.summary_f_scores(summary.frames, users)
        return {
            "f_mean": f_mean,
            "f_max": f_max,
            "tau": np.nanmean(
                [metrics.kendall_tau(frame_scores, a) for a in at_positions]
            ),
            "rho": np.nanmean(
                [metrics.spearman_rho(frame_scores, a) for a in at_positions]
            ),
        }

    model = measure(np.asarray(scores, np.float64))
    draws = [measure(rng.random(positions)) for _ in range(RANDOM_DRAWS)]
    random = {k: np.nanmean([d[k] for d in draws]) for k in model}
    human = _leave_one_out(users, at_positions, metrics)
    result = {}
    for key in model:
        result[key] = float(model[key])
        result[f"{key}_random"] = float(random[key])
        result[f"{key}_human"] = float(human[key])
    own = measure(np.asarray(scores, np.float64), model_shots)
    result["f_mean_kts"] = float(own["f_mean"])
    result["f_max_kts"] = float(own["f_max"])
    return result


def _leave_one_out(users, at_positions, metrics):
    """Each annotator against the others, averaged over annotators."""
    if len(users) < 2:
        nan = float("nan")
        return {"f_mean": nan, "f_max": nan, "tau": nan, "rho": nan}
    rows = []
    for one in range(len(users)):
        others = [i for i in range(len(users)) if i != one]
        f_mean, f_max = metrics.summary_f_scores(
            users[one], [users[i] for i in others]
        )
        rows.append(
            {
                "f_mean": f_mean,
                "f_max": f_max,
                "tau": np.nanmean(
                    [
                        metrics.kendall_tau(at_positions[one], at_positions[i])
                        for i in others
                    ]
                ),
                "rho": np.nanmean(
                    [
                        metrics.spearman_rho(at_positions[one], at_positions[i])
                        for i in others
                    ]
                ),
            }
        )
    return {k: np.nanmean([row[k] for row in rows]) for k in rows[0]}
