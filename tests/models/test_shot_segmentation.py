import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models import keyshots
from mmkeras.models.shot_segmentation import kernel_temporal_segmentation
from mmkeras.models.shot_segmentation import kernel_temporal_segmentation_tf
from mmkeras.models.shot_segmentation import shot_bounds


def _planted(seed, lengths, noise=0.15, dim=16):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(lengths), dim))
    features = np.repeat(centres, lengths, axis=0)
    return features + noise * rng.normal(size=features.shape)


@pytest.mark.parametrize("seed", range(5))
def test_kts_recovers_planted_change_points(seed):
    rng = np.random.default_rng(100 + seed)
    lengths = rng.integers(3, 12, size=int(rng.integers(2, 7)))
    features = _planted(seed, lengths)
    planted = np.cumsum(lengths)[:-1].tolist()
    assert kernel_temporal_segmentation(features).tolist() == planted
    in_graph = kernel_temporal_segmentation_tf(tf.constant(features), 100)
    assert in_graph.numpy().tolist() == planted


def test_kts_keeps_one_shot_for_a_steady_clip_and_obeys_the_limit():
    steady = np.repeat(_planted(0, [1]), 20, axis=0)
    assert kernel_temporal_segmentation(steady).tolist() == []
    assert kernel_temporal_segmentation_tf(tf.constant(steady), 19).shape == 0
    features = _planted(1, [5, 5, 5, 5])
    assert len(kernel_temporal_segmentation(features, 2)) <= 2
    assert kernel_temporal_segmentation(features[:1]).tolist() == []


def test_kts_rejects_an_empty_sequence():
    with pytest.raises(ValueError, match="at least one frame"):
        kernel_temporal_segmentation(np.zeros((0, 4)))


def test_shot_bounds_map_sampled_positions_to_clip_frames():
    assert shot_bounds([2], 4, 10).tolist() == [[0, 5], [5, 10]]
    with pytest.raises(ValueError, match="cannot have 4 sampled positions"):
        shot_bounds([2], 4, 3)


@pytest.mark.parametrize("seed", range(8))
def test_summarize_in_graph_equals_numpy(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, size=int(rng.integers(1, 6)))
    features = _planted(seed, lengths, noise=0.5)
    scores = rng.random(len(features))
    num_frames = len(features) + int(rng.integers(0, 60))
    expected = keyshots.summarize(scores, features, num_frames)
    got = keyshots.summarize_tf(
        tf.constant(scores), tf.constant(features), num_frames
    )
    assert got["shot_boundaries"].numpy().tolist() == expected.shots.tolist()
    assert (
        got["selected_frames"].numpy().tolist()
        == expected.selected_frames.tolist()
    )
    assert len(expected.selected_frames) <= keyshots.budget_frames(num_frames)


def test_the_summary_holds_the_best_shots_within_the_budget():
    shots = np.array([[0, 3], [3, 5], [5, 20]])
    scores = np.zeros(20)
    scores[3:5] = 1.0
    summary = keyshots.select(scores, shots, budget=0.15)
    assert summary.selected_frames.tolist() == [3, 4]
    assert summary.shot_scores.tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="budget is a fraction"):
        keyshots.select(scores, shots, budget=1.5)


def test_a_perfect_model_matches_the_annotators_and_random_does_not():
    # Two shots of two frames fit the budget: random picks either.
    shots = [[0, 2], [2, 4], [4, 12]]
    annotations = np.array(
        [[0.1] * 2 + [0.9] * 2 + [0.2] * 8, [0.1] * 2 + [0.8] * 2 + [0.3] * 8]
    )
    features = np.repeat(np.eye(3), [2, 2, 8], axis=0)
    result = keyshots.evaluate_summary(
        annotations.mean(axis=0), features, annotations, shots, budget=0.2
    )
    assert result["f_mean"] == result["f_max"] == 1.0
    assert result["f_mean_kts"] == result["f_mean_human"] == 1.0
    assert result["tau"] == pytest.approx(1.0)
    assert result["rho"] == pytest.approx(1.0)
    assert 0.2 < result["f_mean_random"] < 0.8
    assert abs(result["tau_random"]) < 0.5
