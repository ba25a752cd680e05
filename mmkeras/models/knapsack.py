"""The 0/1 knapsack that picks a summary's shots under a length budget.

Two implementations of one dynamic programme: `knapsack` in numpy (the
device side and the evaluation run it) and `knapsack_tf` in TF ops (the
exported serving signature runs it). Both fill the same table in the same
order and take an item only when it is strictly better, so they choose
the same items (`tests/models/test_knapsack.py` checks both against brute
force and against each other).
"""

import numpy as np
import tensorflow as tf


def _check(values, weights, capacity):
    values = np.asarray(values, np.float64).reshape(-1)
    weights = np.asarray(weights).reshape(-1)
    if len(values) != len(weights):
        raise ValueError(
            f"knapsack needs one weight per value, received {len(values)} "
            f"values and {len(weights)} weights."
        )
    if len(weights) and (weights.dtype.kind not in "iu" or np.any(weights < 1)):
        raise ValueError(
            "knapsack weights must be positive ints (shot lengths in "
            f"frames), received {weights.tolist()}."
        )
    if int(capacity) != capacity or capacity < 0:
        raise ValueError(
            f"knapsack capacity must be an int >= 0, received {capacity!r}."
        )
    return values, weights.astype(np.int64), int(capacity)


def knapsack(values, weights, capacity):
    """The items of largest total value whose weights fit `capacity`.

    Args:
        values: float array `(items,)`, e.g. shot scores.
        weights: positive int array `(items,)`, e.g. shot lengths.
        capacity: int >= 0. The budget, in the weights' unit.

    Returns:
        int array of the chosen items' indices, increasing. Among equally
        valuable choices, an item is taken only if it adds value.

    Example:
    >>> knapsack([3.0, 4.0, 5.0], [2, 3, 4], capacity=5).tolist()
    [0, 1]
    """
    values, weights, capacity = _check(values, weights, capacity)
    table = np.zeros((len(values) + 1, capacity + 1))
    for item, (value, weight) in enumerate(zip(values, weights, strict=True)):
        table[item + 1] = table[item]
        if weight <= capacity:
            taken = table[item, : capacity + 1 - weight] + value
            kept = table[item, weight:]
            table[item + 1, weight:] = np.where(taken > kept, taken, kept)
    chosen, room = [], capacity
    for item in range(len(values), 0, -1):
        if table[item, room] != table[item - 1, room]:
            chosen.append(item - 1)
            room -= weights[item - 1]
    return np.array(sorted(chosen), np.int64)


def knapsack_tf(values, weights, capacity):
    """`knapsack` in TF ops, for a graph (sizes may be unknown).

    Args:
        values: float tensor `(items,)`.
        weights: int32 tensor `(items,)`, each >= 1.
        capacity: int32 scalar >= 0.

    Returns:
        int32 tensor of the chosen items' indices, increasing.

    Example:
    >>> knapsack_tf(
    ...     tf.constant([3.0, 4.0, 5.0]), tf.constant([2, 3, 4]), 5
    ... ).numpy().tolist()
    [0, 1]
    """
    values = tf.cast(values, tf.float64)
    weights = tf.cast(weights, tf.int32)
    capacity = tf.cast(capacity, tf.int32)
    items = tf.shape(values)[0]
    width = capacity + 1
    rows = tf.TensorArray(tf.float64, size=items + 1, clear_after_read=False)
    rows = rows.write(0, tf.zeros([width], tf.float64))

    def fill(item, rows):
        previous = rows.read(item)
        shift = tf.minimum(weights[item], width)
        taken = (
            tf.concat(
                [
                    tf.fill([shift], tf.constant(-np.inf, tf.float64)),
                    previous[: width - shift],
                ],
                axis=0,
            )
            + values[item]
        )
        return item + 1, rows.write(
            item + 1, tf.where(taken > previous, taken, previous)
        )

    _, rows = tf.while_loop(lambda item, _: item < items, fill, (0, rows))
    table = rows.stack()

    def back(item, room, chosen):
        taken = tf.not_equal(table[item, room], table[item - 1, room])
        chosen = chosen.write(item - 1, taken)
        room = tf.where(taken, room - weights[item - 1], room)
        return item - 1, room, chosen

    chosen = tf.TensorArray(tf.bool, size=items)
    _, _, chosen = tf.while_loop(
        lambda item, *_: item > 0, back, (items, capacity, chosen)
    )
    taken = tf.reshape(chosen.stack(), [-1])
    return tf.cast(tf.reshape(tf.where(taken), [-1]), tf.int32)
