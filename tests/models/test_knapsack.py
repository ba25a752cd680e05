import itertools

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models.knapsack import knapsack
from mmkeras.models.knapsack import knapsack_tf


def _brute_force(values, weights, capacity):
    best = 0.0
    for size in range(len(values) + 1):
        for items in itertools.combinations(range(len(values)), size):
            if sum(weights[i] for i in items) <= capacity:
                best = max(best, sum(values[i] for i in items))
    return best


@pytest.mark.parametrize("seed", range(30))
def test_knapsack_finds_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 8))
    values = rng.random(count).round(2)
    weights = rng.integers(1, 10, count)
    capacity = int(rng.integers(0, 25))
    chosen = knapsack(values, weights, capacity)
    assert weights[chosen].sum() <= capacity
    assert values[chosen].sum() == pytest.approx(
        _brute_force(values, weights, capacity)
    )
    in_graph = knapsack_tf(
        tf.constant(values), tf.constant(weights, tf.int32), capacity
    )
    assert in_graph.numpy().tolist() == chosen.tolist()


def test_knapsack_with_no_room_or_no_items_chooses_nothing():
    assert knapsack([1.0, 2.0], [3, 4], 2).tolist() == []
    assert knapsack([], [], 5).tolist() == []
    assert knapsack_tf(tf.zeros([0]), tf.zeros([0], tf.int32), 5).shape == (0,)


def test_knapsack_rejects_bad_weights_and_capacities():
    with pytest.raises(ValueError, match="one weight per value"):
        knapsack([1.0, 2.0], [1], 3)
    with pytest.raises(ValueError, match="positive ints"):
        knapsack([1.0], [0], 3)
    with pytest.raises(ValueError, match="capacity must be an int >= 0"):
        knapsack([1.0], [1], -1)
