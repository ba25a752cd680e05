"""Gradient caching gives the full batch's loss, gradients and step.

Tolerance: float32 sums over the batch in another order differ by
rounding only, so every gradient is compared with
`atol = 1e-5 * (the largest gradient entry)` plus `rtol = 1e-4`; losses
with `rtol = 1e-6`. Under mixed_float16 the towers compute in float16,
so there the step is compared with `atol = 2e-2 * (the largest update)`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models import DualEncoder
from mmkeras.models import dual_encoder
from mmkeras.models.gradient_cache import cached_gradients
from mmkeras.preprocessing import learn_vocabulary
from tests.test_case import as_tensors
from tests.test_case import raw_examples

BATCH = 10
CHUNK = 4  # 10 = 4 + 4 + 2: the last chunk is smaller


def _task(seed=1, **kwargs):
    keras.utils.set_random_seed(seed)
    return dual_encoder(
        ("image", "text"),
        vocabulary=learn_vocabulary(raw_examples(["text"], 8)["text"]),
        embedding_dim=6,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        **{"dropout": 0.0, **kwargs},
    )


def _batch(task, count=BATCH):
    """Model inputs and item keys; rows 0 and 2 hold the same image, rows
    3 and 7 the same caption."""
    raw = raw_examples(["image", "text"], count=count)
    raw["image_id"] = [f"image{i}" for i in range(count)]
    raw["image_id"][2] = raw["image_id"][0]
    raw["text"][7] = raw["text"][3]
    return task.preprocessor(as_tensors(raw))


def _full_batch_gradients(task, x, y):
    with tf.GradientTape() as tape:
        loss = task.compute_loss(x, y, task(x, training=True))
    gradients = tape.gradient(loss, task.trainable_variables)
    return loss, [
        np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy()
        for v, g in zip(task.trainable_variables, gradients, strict=True)
    ]


def _assert_gradients_close(actual, expected):
    atol = 1e-5 * max(np.max(np.abs(e)) for e in expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("loss", ["clip", "sigmoid"])
def test_loss_and_gradients_equal_the_full_batchs(loss):
    task = _task(loss=loss)
    x, y = _batch(task)
    assert not np.all(
        task.pair_loss(None, task(x)) == task.pair_loss(y, task(x))
    ), "the duplicate keys must matter"
    expected_loss, expected = _full_batch_gradients(task, x, y)
    chunked_loss, outputs, gradients = cached_gradients(
        task, x, y, CHUNK, task.pair_loss
    )
    np.testing.assert_allclose(chunked_loss, expected_loss, rtol=1e-6)
    assert outputs["image_embeddings"].shape == (BATCH, 6)
    # The logit scale (and SigLIP's bias) learn from the loss step alone.
    assert np.abs(gradients[-1]).max() > 0
    _assert_gradients_close([g.numpy() for g in gradients], expected)


def test_a_fit_step_moves_the_weights_as_the_full_batch_step():
    weights, losses = {}, {}
    for chunk in (None, CHUNK):
        task = _task(gradient_cache_chunk_size=chunk)
        x, y = _batch(task)
        task.compile(optimizer=keras.optimizers.SGD(0.1))
        # Batches of 6 and 4 rows: the graph sees an unknown batch size.
        history = task.fit(x, y, batch_size=6, verbose=0, shuffle=False)
        losses[chunk] = history.history["loss"][0]
        weights[chunk] = [v.numpy() for v in task.trainable_variables]
    assert losses[CHUNK] == pytest.approx(losses[None], rel=1e-6)
    _assert_gradients_close(weights[CHUNK], weights[None])
    initial = [v.numpy() for v in _task().trainable_variables]
    assert any(
        not np.allclose(w, i)
        for w, i in zip(weights[CHUNK], initial, strict=True)
    )


def test_dropout_masks_are_drawn_once_per_chunk():
    # With dropout the reference is the same chunks run under one tape,
    # from the same random state: the second pass must repeat the first
    # pass's masks, or its gradients would not be those of the loss.
    task = _task(dropout=0.3)
    x, y = _batch(task, count=8)
    seeds = [v for v in task.variables if "seed_generator" in v.path]
    assert seeds, "the towers have dropout"
    start = [v.numpy() for v in seeds]
    with tf.GradientTape() as tape:
        chunks = [
            task({k: v[i : i + 4] for k, v in x.items()}, training=True)
            for i in (0, 4)
        ]
        outputs = keras.tree.map_structure(lambda *c: tf.concat(c, 0), *chunks)
        expected_loss = task.pair_loss(y, outputs)
    expected = [
        tf.convert_to_tensor(g).numpy()
        for g in tape.gradient(expected_loss, task.trainable_variables)
    ]
    end = [v.numpy() for v in seeds]
    for variable, value in zip(seeds, start, strict=True):
        variable.assign(value)
    loss, _, gradients = cached_gradients(task, x, y, 4, task.pair_loss)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6)
    _assert_gradients_close([g.numpy() for g in gradients], expected)
    # The random state moves on as after one ordinary pass.
    for variable, value in zip(seeds, end, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)
    no_dropout = task.pair_loss(y, task(x, training=False))
    assert float(loss) != pytest.approx(float(no_dropout))


def test_mixed_float16_step_is_finite_and_scaled_like_keras():
    updates = {}
    for chunk in (None, CHUNK):
        task = _task(gradient_cache_chunk_size=chunk, dtype="mixed_float16")
        x, y = _batch(task)
        before = [v.numpy() for v in task.trainable_variables]
        # A small loss scale, so the first step's gradients are finite.
        task.compile(
            optimizer=keras.optimizers.LossScaleOptimizer(
                keras.optimizers.SGD(0.1), initial_scale=8.0
            )
        )
        history = task.fit(x, y, batch_size=BATCH, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert int(task.optimizer.iterations) == 1  # not skipped
        updates[chunk] = [
            v.numpy() - b
            for v, b in zip(task.trainable_variables, before, strict=True)
        ]
    assert all(np.all(np.isfinite(u)) for u in updates[CHUNK])
    # Unscaled gradients: an unscaled step would be 8 times larger.
    atol = 2e-2 * max(np.max(np.abs(u)) for u in updates[None])
    for chunked, full in zip(updates[CHUNK], updates[None], strict=True):
        np.testing.assert_allclose(chunked, full, atol=atol)


def test_the_chunk_size_is_saved_and_checked():
    task = _task(gradient_cache_chunk_size=CHUNK)
    config = task.get_config()
    assert config["gradient_cache_chunk_size"] == CHUNK
    assert DualEncoder.from_config(config).gradient_cache_chunk_size == CHUNK
    with pytest.raises(ValueError, match="positive int or None, received 0"):
        _task(gradient_cache_chunk_size=0)
